"""What the notebooks do, as functions (so it is tested and the notebooks stay thin)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from emowb.data.corpus import Corpus
from emowb.notebook.params import (ConfusionNotebook, EmbeddingsNotebook, EmoDistillNotebook, KDNotebook,
                                   MaskingNotebook, NotebookConfig, TrainNotebook, Workspace, latest)


def prepare(ws: Workspace, features: Sequence[str] = ()) -> Corpus:
    """The workspace's corpus with ``features`` available.

    A COGMEN pickle is imported once into the workspace; a missing ``<workdir>/synth`` is
    generated; extractable feature sets are extracted (cached), others (``cogmen-a``) must be
    stored already.
    """
    from emowb.features import FEATURE_SETS, extract, load_features

    path = ws.corpus_path()
    if ws.is_pickle and not (path / "corpus.json").is_file():
        from emowb.features.imported import import_cogmen

        import_cogmen(ws.corpus, path)
    elif not path.exists():
        if ws.corpus:
            raise FileNotFoundError(f"corpus folder not found: {path}")
        from emowb.data.synth import SynthConfig, generate

        generate(path, SynthConfig(dialogues=ws.dialogues, seed=ws.corpus_seed, utterances=ws.utterances),
                 progress=False, report=False)
    corpus = Corpus.load(path)
    for name in features:
        if name in FEATURE_SETS:
            extract(corpus, name, progress=False)
        else:
            load_features(corpus, name)  # raises a clear error naming the missing set
    return corpus


# ------------------------------------------------------------------------------ train
def train_runs(nb: TrainNotebook, corpus: Corpus) -> list[Path]:
    """Train ``nb``'s configuration once per seed; return the run folders."""
    from emowb.train.run import train_run

    dirs = []
    for seed in nb.seeds:
        run_dir = nb.out("runs", "train", nb.name, f"seed{seed}")
        train_run(nb.run_config(corpus.root, seed), run_dir=run_dir, corpus=corpus)
        dirs.append(run_dir)
    return dirs


def context_matrix(run_dirs: Sequence[Path], *, metric: str = "weighted_f1", split: str = "test") -> pd.DataFrame:
    """Train configuration × test context: ``metric`` as mean ± std over the runs."""
    from emowb.eval.summary import summarise

    rows = []
    for d in run_dirs:
        m = json.loads((Path(d) / "metrics.json").read_text())
        cfg = json.loads((Path(d) / "config.json").read_text())
        mods = cfg["run"]["config"]["model"]["modalities"]
        for ctx, vals in m[split].items():
            rows.append({"train": mods, "context": ctx, metric: vals[metric]})
    df = pd.DataFrame(rows)
    out = df.groupby(["train", "context"])[metric].apply(lambda v: summarise(v).format()).unstack()
    return out[sorted(out.columns, key=lambda c: (-len(c), c))]


# ---------------------------------------------------------------------------- masking
def run_paper_table(nb: MaskingNotebook, corpus: Corpus, *, log=print):
    """The first paper's Tables 2 and 3 (:func:`emowb.train.experiment.masking_table_variants`)."""
    from emowb.train.experiment import masking_table_variants, run_experiment

    variants = masking_table_variants(disjoint=nb.disjoint)
    return run_experiment(nb.experiment(corpus.root, variants, "masking table"), nb.out("masking", "table"),
                          corpus=corpus, log=log, executor=nb.executor)


def _grid_variant(nb: MaskingNotebook, **kw):
    from emowb.train.experiment import Variant

    name = "mask " + " ".join(f"{k}={v}" for k, v in kw.items())
    return Variant(name=name, modalities="av", masking=nb.masking(**kw))


def run_grid(nb: MaskingNotebook, corpus: Corpus, *, log=print) -> pd.DataFrame:
    """COGMEN-Mask over the grid of start probability × mask length × granularity.

    Returns:
        One row per run: start_prob, mask_length, granularity, fold, seed, f1_av, f1_a.
    """
    from emowb.train.experiment import run_experiment

    grid = [dict(start_prob=sp, mask_length=ml, granularity=g) for g in nb.grid_granularity
            for ml in nb.grid_mask_length for sp in nb.grid_start_prob]
    variants = [_grid_variant(nb, **g) for g in grid]
    res = run_experiment(nb.experiment(corpus.root, variants, "masking grid"), nb.out("masking", "grid"),
                         corpus=corpus, log=log, executor=nb.executor)
    params = {v.name: g for v, g in zip(variants, grid)}
    wide = res.runs.pivot_table(index=["model", "fold", "seed"], columns="context", values="weighted_f1").reset_index()
    wide = wide.rename(columns={"av": "f1_av", "a": "f1_a", "v": "f1_v"})
    return pd.concat([pd.DataFrame([params[m] for m in wide["model"]]), wide.drop(columns="model")], axis=1)


def slider_runner(nb: MaskingNotebook, corpus: Corpus) -> Callable[[dict], dict]:
    """The sliders' callback: train COGMEN-Mask with the slider values, return its test F1."""
    from emowb.train.experiment import run_experiment

    def run(values: dict) -> dict:
        v = _grid_variant(nb, **values)
        res = run_experiment(nb.experiment(corpus.root, [v], "masking sliders"), nb.out("masking", "sliders"),
                             corpus=corpus, log=None)
        f1 = res.runs.groupby("context")["weighted_f1"].mean()
        return {"values": values, "AV": float(f1.get("av", np.nan)), "A": float(f1.get("a", np.nan)),
                "V": float(f1.get("v", np.nan))}

    return run


def plot_slider_result(result: dict):
    """Bar chart of one slider run: test weighted F1 with each input available at test time."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 3.2))
    keys = [("AV", "audio + video"), ("A", "audio only"), ("V", "video only")]
    vals = [result[k] for k, _ in keys]
    ax.bar([name for _, name in keys], vals, color=["#1f77b4", "#d62728", "#7f7f7f"])
    for i, v in enumerate(vals):
        ax.text(i, v + 0.01, f"{v:.3f}", ha="center")
    v = result.get("values", {})
    setting = ", ".join(f"{_WORDS.get(k, k)} {v[k]:g}" for k in ("p_none", "p_full_a", "p_full_v", "p_random") if k in v)
    ax.set(ylim=(0, 1), ylabel="test weighted F1", xlabel="modalities available at test time",
           title="COGMEN-Mask trained with the slider values")
    if setting:
        ax.text(0.5, -0.32, setting, transform=ax.transAxes, ha="center", fontsize=8)
    fig.tight_layout()
    return fig


_WORDS = {"p_none": "no mask", "p_full_a": "audio off", "p_full_v": "video off", "p_random": "random"}


# --------------------------------------------------------------------------------- kd
def run_kd(nb: KDNotebook, corpus: Corpus, *, config=None, out_dir=None, log=print):
    """Triplet KD (:func:`emowb.kd.triplet.run_triplet`) into a folder keyed by the config.

    ``config`` (default ``nb.triplet_config``) and ``out_dir`` (default: the workspace folder of
    that configuration) let ``emowb kd triplet`` run the same path with extra ``--set`` keys.
    """
    from emowb.kd.triplet import run_triplet

    config = config or nb.triplet_config(corpus.root)
    out = out_dir or nb.out_dir(corpus.root, config)
    return run_triplet(config, out, corpus=corpus, log=log, executor=nb.executor)


def run_emodistill(nb: EmoDistillNotebook, corpus: Corpus, *, config=None, out_dir=None, log=print):
    """EmoDistill's ablations and sweeps (:func:`emowb.kd.emodistill.run_ablations`) into a folder
    keyed by the configuration (``config`` / ``out_dir`` as in :func:`run_kd`)."""
    from emowb.kd.emodistill import run_ablations

    config = config or nb.config(corpus.root)
    out = out_dir or nb.out_dir(corpus.root, config)
    return run_ablations(config, out, taus=nb.taus, sweeps=nb.sweeps, corpus=corpus, log=log, executor=nb.executor)


def kd_runs(kd_dir: str | Path, *, fold: str = "", seed: int = -1) -> dict[str, Path]:
    """Run folders of one fold and seed of a triplet-KD output: teacher, student-kd, student.

    The student is the first size in the output; fold/seed default to the first available.
    """
    runs = pd.read_csv(Path(kd_dir) / "runs.csv")
    if fold:
        runs = runs[runs["fold"].str.endswith(fold)]
    if seed >= 0:
        runs = runs[runs["seed"] == seed]
    if runs.empty:
        raise FileNotFoundError(f"{kd_dir}: no runs for fold {fold!r}, seed {seed}")
    first = runs.iloc[0]
    runs = runs[(runs["fold"] == first["fold"]) & (runs["seed"] == first["seed"])]
    out = {}
    for role in ("teacher", "student-kd", "student"):
        r = runs[runs["role"] == role]
        if len(r):
            out[role] = Path(r["run_dir"].iloc[0])
    return out


def find(ws: NotebookConfig, given: str, kind: str) -> Path:
    """``given`` if set, else the newest output of ``kind`` (``kd``, ``masking``, ``emodistill``)."""
    if given:
        return Path(given)
    folder = {"kd": ws.root / "kd", "emodistill": ws.root / "emodistill", "masking": ws.root / "masking"}[kind]
    marker = "results.json" if kind != "masking" else "runs.csv"
    found = (folder / "table") if kind == "masking" and (folder / "table" / "runs.csv").is_file() else latest(folder, marker)
    if found is None:
        raise FileNotFoundError(f"no {kind} results in {folder}: run notebooks/{'masking' if kind == 'masking' else kind}.ipynb first")
    return found


# ------------------------------------------------------------------------- embeddings
def paired_embeddings(teacher_dir: Path, student_dir: Path, *, split: str = "test"):
    """Teacher (its full-modality context) and student embeddings of the same utterances.

    Returns:
        (utt_ids (N,), teacher (N, Dt), student (N, Ds), y (N,), labels)
    """
    from emowb.viz.runs import read_run

    t, s = read_run(teacher_dir), read_run(student_dir)
    t_ids, t_x, t_y = t.embeddings(split=split, context=t.contexts[0])
    s_ids, s_x, _ = s.embeddings(split=split, context=s.contexts[0])
    pos = {u: i for i, u in enumerate(s_ids)}
    keep = [i for i, u in enumerate(t_ids) if u in pos]
    if not keep:
        raise ValueError(f"{teacher_dir} and {student_dir} share no {split} utterances")
    idx = np.array([pos[t_ids[i]] for i in keep])
    return t_ids[keep], t_x[keep], s_x[idx], t_y[keep], t.labels


def masking_pair(masking_dir: Path) -> tuple[Path, Path]:
    """Run folders of COGMEN-A and COGMEN-Mask (utterance) for the same fold and seed."""
    runs = pd.read_csv(Path(masking_dir) / "runs.csv")
    a = runs[runs["model"] == "COGMEN-A"]
    m = runs[runs["model"].str.startswith("COGMEN-Mask") & ~runs["model"].str.contains("disjoint")]
    if a.empty or m.empty:
        raise FileNotFoundError(f"{masking_dir}: needs COGMEN-A and COGMEN-Mask runs (the paper table)")
    first = a.iloc[0]
    m = m[(m["fold"] == first["fold"]) & (m["seed"] == first["seed"])]
    return Path(first["run_dir"]), Path(m["run_dir"].iloc[0])


def confusion_pairs(nb: ConfusionNotebook) -> list[dict]:
    """The comparisons confusion.ipynb draws: teacher vs student, COGMEN-A vs COGMEN-Mask."""
    pairs = []
    try:
        kd = kd_runs(find(nb, nb.kd_dir, "kd"))
        pairs.append({"name": "confusion_teacher_vs_student", "a": kd["teacher"], "ctx_a": None,
                      "b": kd["student-kd"], "ctx_b": "a", "names": ("teacher (AV)", "KD student (A)")})
        if "student" in kd:
            pairs.append({"name": "confusion_student_nokd_vs_kd", "a": kd["student"], "ctx_a": "a",
                          "b": kd["student-kd"], "ctx_b": "a", "names": ("student, no KD (A)", "KD student (A)")})
    except FileNotFoundError as e:
        print(f"skipping teacher vs student: {e}")
    try:
        a, m = masking_pair(find(nb, nb.masking_dir, "masking"))
        pairs.append({"name": "confusion_cogmen_a_vs_mask", "a": a, "ctx_a": "a", "b": m, "ctx_b": "a",
                      "names": ("COGMEN-A (A)", "COGMEN-Mask (A)")})
    except FileNotFoundError as e:
        print(f"skipping COGMEN-A vs COGMEN-Mask: {e}")
    return pairs


def embeddings_setup(nb: EmbeddingsNotebook) -> dict[str, Path]:
    return kd_runs(find(nb, nb.kd_dir, "kd"), fold=nb.fold, seed=nb.seed)


# --------------------------------------------------------------------------------- reading results
def kd_interpretation(result, runs: dict[str, Path]) -> str:
    """What the KD notebook's own numbers say (markdown): the paired effect of KD on the
    students' test weighted F1 / UA over folds × seeds, and the classes each model never
    predicts (first fold and seed)."""
    from emowb.eval.interpret import never_predicted, paired_effect
    from emowb.viz.runs import read_run

    r = result.runs
    lines = []
    for size, g in r[r["role"].isin(["student", "student-kd"])].groupby("size", sort=False):
        for metric, words in (("weighted_f1", "test weighted F1"), ("UA", "test UA")):
            piv = g.pivot_table(index=["fold", "seed"], columns="role", values=metric)
            if {"student", "student-kd"} <= set(piv.columns):
                d = (piv["student-kd"] - piv["student"]).dropna()
                what = f"the audio-only student's {words}" + (f" ({size} student)" if r["size"].nunique() > 2 else "")
                lines.append("- " + paired_effect(d, change="KD", metric=what))
    if not lines:
        lines.append("- No student without KD was trained (baseline off): nothing to pair the KD student with.")
    fold_seed = ""
    for role, name, ctx in (("teacher", "The teacher (audio + video)", None), ("student-kd", "The KD student", "a"),
                            ("student", "The student without KD", "a")):
        if role in runs:
            v = read_run(runs[role])
            p = v.preds(context=ctx)
            fold_seed = f" (test part of the first fold and seed, {len(p)} utterances)"
            lines.append("- " + never_predicted(p["y_true"], p["y_pred"], list(v.labels), name=name))
    return f"**What these numbers say**{fold_seed}:\n\n" + "\n".join(lines)


def confusion_interpretation(a, b, names: tuple[str, str], *, split: str, ctx_a, ctx_b) -> str:
    """Classes each of two runs never predicts, and their UA / weighted F1, as markdown."""
    from emowb.eval.interpret import never_predicted
    from emowb.eval.metrics import UA, weighted_f1

    out = []
    for v, name, ctx in ((a, names[0], ctx_a), (b, names[1], ctx_b)):
        p = v.preds(split=split, context=ctx)
        out.append(f"- {name}: UA {UA(p['y_true'], p['y_pred']):.3f}, weighted F1 "
                   f"{weighted_f1(p['y_true'], p['y_pred']):.3f} on {len(p)} utterances. "
                   + never_predicted(p["y_true"], p["y_pred"], list(v.labels), name="It"))
    return "\n".join(out)


def candidate_runs(pairs: Sequence[dict]) -> pd.DataFrame:
    """The runs of the confusion pairs, one row per (run folder, context), for a :class:`RunPicker`."""
    rows, seen = [], set()
    for pair in pairs:
        for side in ("a", "b"):
            key = (str(pair[side]), pair[f"ctx_{side}"])
            if key not in seen:
                seen.add(key)
                rows.append({"label": pair["names"][0 if side == "a" else 1], "run_dir": key[0], "context": key[1]})
    return pd.DataFrame(rows)


def compare_picked(split: str):
    """The RunPicker's drawing: the confusion comparison of two chosen runs."""
    from emowb.viz.confusion import compare_confusions
    from emowb.viz.runs import read_run

    def draw(ra, rb):
        a, b = read_run(ra["run_dir"]), read_run(rb["run_dir"])
        fig, _ = compare_confusions(a.preds(split=split, context=ra["context"] or None),
                                    b.preds(split=split, context=rb["context"] or None),
                                    labels=a.labels, names=(ra["label"], rb["label"]))
        return fig

    return draw
