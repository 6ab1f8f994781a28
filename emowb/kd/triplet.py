"""COGMEN triplet KD (first paper, Table 1): audio+video teacher -> audio-only student.

Per fold and seed:

1. the **teacher** COGMEN_T (default audio + video, SeqContext 4, graph heads 7; optionally the
   masked model, ``teacher_masking``) is trained with the shared trainer, frozen, and its
   post-graph embeddings (and logits) for every utterance of the fold are cached
   (:mod:`emowb.kd.cache`), computed with all its modalities available;
2. for each student size (Table 1: same sizes, smaller SeqContext, smaller graph) an audio-only
   **student** COGMEN_S is trained with :class:`~emowb.kd.losses.TripletKDLoss`
   (``alpha · L_triplet + ce_weight · L_CE``; a projection is learned when the embedding widths
   differ), and the same student without KD (cross-entropy only) as the reference.

Everything is scored on the test fold: the teacher with audio + video and with audio only (video
unavailable, filled as the model is configured), the students with audio. Results: mean ± std
over folds × seeds of weighted F1 (the paper's "F1"), UA and WA.

Output folder::

    OUT/teacher/...            (the teacher runs live in the corpus' kd_cache)
    OUT/<kd|nokd>/<size>/<fold>/seed<k>/   student run folders
    OUT/runs.csv, OUT/summary.csv, OUT/table.md, OUT/results.json
"""

from __future__ import annotations

import dataclasses
import re
import time
from pathlib import Path
from typing import Callable, Mapping, Sequence

import pandas as pd
import torch

from emowb.config import Config, ConfigError, require
from emowb.data.corpus import Corpus
from emowb.data.splits import Split
from emowb.eval.contexts import ModalityContext, parse_contexts
from emowb.eval.metrics import SCALAR_METRICS
from emowb.eval.summary import summarise, summarise_frame, to_markdown
from emowb.features.base import FeatureSet
from emowb.kd.cache import TeacherCache, TeacherOutputs, fold_utterances, full_outputs, predict_outputs
from emowb.kd.losses import TripletKDLoss, TripletLossConfig
from emowb.models.cogmen import CogmenConfig
from emowb.train.masking import MaskingConfig
from emowb.train.run import (DataConfig, RunConfig, build_model, load_inputs, make_fold_splits, prepare_data,
                             train_run)
from emowb.train.trainer import FitResult, TrainConfig, Trainer
from emowb.types import Modality
from emowb.utils import atomic_path, seed_everything, write_json

__all__ = ["StudentSize", "TABLE1_SIZES", "TripletConfig", "TripletKD", "TripletResult", "run_triplet"]

VOLATILE_TRAIN = ("progress", "keep_last", "save_train_embeddings", "num_threads")


@dataclasses.dataclass(frozen=True, kw_only=True)
class StudentSize(Config):
    """A student's sizes (one Table-1 row).

    Attributes:
        name: row label.
        seq_layers: SeqContext transformer layers.
        gnn_heads: graph-transformer heads.
    """

    name: str
    seq_layers: int
    gnn_heads: int

    def validate(self) -> None:
        require(self.seq_layers >= 1 and self.gnn_heads >= 1,
                f"StudentSize {self.name!r}: seq_layers and gnn_heads must be >= 1")

    @property
    def slug(self) -> str:
        return re.sub(r"[^A-Za-z0-9]+", "-", self.name).strip("-").lower()


#: Table 1 of the first paper: teacher [SeqContext 4, GNN 7] and three students.
TABLE1_SIZES = (StudentSize(name="same sizes", seq_layers=4, gnn_heads=7),
                StudentSize(name="smaller SeqContext", seq_layers=2, gnn_heads=7),
                StudentSize(name="smaller graph", seq_layers=4, gnn_heads=3))


@dataclasses.dataclass(frozen=True, kw_only=True)
class TripletConfig(Config):
    """A triplet-KD experiment.

    Attributes:
        name: recorded name.
        data: corpus, feature set per modality, protocol (``data.fold`` is ignored; ``folds``).
        teacher: the teacher COGMEN (its modalities, e.g. ``"av"``).
        teacher_masking: masked training of the teacher (COGMEN-Mask as teacher), None = none.
        student: the base student COGMEN (its modalities, e.g. ``"a"``); sizes override
            ``seq_layers`` / ``gnn_heads``.
        sizes: the student sizes (Table 1's rows).
        student_seq_layers, student_gnn_heads: when set (notebook parameters), one student size
            with these values replaces ``sizes``.
        loss: :class:`~emowb.kd.losses.TripletLossConfig` (``alpha``, ``ce_weight``, ``margin``,
            ``p``, ``mining``).
        train, teacher_train: training of students / teacher (the seed is replaced).
        seeds: seeds.
        teacher_seed: None = each student's seed (a teacher per seed), else one fixed seed.
        folds: fold-name suffixes to run (None = all of ``data.protocol``).
        baseline: also train each student size without KD.
        teacher_context: the context the teacher's embeddings are computed in (default: all of
            its modalities).
    """

    name: str = "triplet-kd"
    data: DataConfig = DataConfig(features={"a": "egemaps", "v": "openface-au"}, protocol="logo")
    teacher: CogmenConfig = CogmenConfig(modalities="av", seq_layers=4, gnn_heads=7)
    teacher_masking: MaskingConfig | None = None
    student: CogmenConfig = CogmenConfig(modalities="a", seq_layers=4, gnn_heads=7)
    sizes: tuple[StudentSize, ...] = TABLE1_SIZES
    student_seq_layers: int | None = None
    student_gnn_heads: int | None = None
    loss: TripletLossConfig = TripletLossConfig()
    train: TrainConfig = TrainConfig(progress=False, keep_last=False)
    teacher_train: TrainConfig = TrainConfig(progress=False, keep_last=False)
    seeds: tuple[int, ...] = (0, 1, 2)
    teacher_seed: int | None = None
    folds: tuple[str, ...] | None = None
    baseline: bool = True
    teacher_context: str | None = None

    def validate(self) -> None:
        require(len(self.seeds) >= 1, "TripletConfig.seeds must not be empty")
        require(len(self.effective_sizes()) >= 1, "TripletConfig.sizes must not be empty")
        t, s = set(self.teacher.mods), set(self.student.mods)
        require(s <= t, f"TripletConfig: the student's modalities {self.student.modalities!r} must be a "
                        f"subset of the teacher's {self.teacher.modalities!r}")
        for v in (self.student_seq_layers, self.student_gnn_heads):
            require(v is None or v >= 1, "TripletConfig.student_seq_layers / student_gnn_heads must be >= 1")
        if self.teacher_context is not None:
            parse_contexts(self.teacher_context, self.teacher.mods)

    def effective_sizes(self) -> tuple[StudentSize, ...]:
        if self.student_seq_layers is None and self.student_gnn_heads is None:
            return tuple(self.sizes)
        sl = self.student_seq_layers if self.student_seq_layers is not None else self.student.seq_layers
        gh = self.student_gnn_heads if self.student_gnn_heads is not None else self.student.gnn_heads
        return (StudentSize(name=f"SeqContext {sl}, GNN {gh}", seq_layers=sl, gnn_heads=gh),)

    def student_config(self, size: StudentSize) -> CogmenConfig:
        return self.student.replace(seq_layers=size.seq_layers, gnn_heads=size.gnn_heads)

    @property
    def teacher_label(self) -> str:
        mask = "-Mask" if self.teacher_masking is not None else ""
        return (f"COGMEN_T{mask}-{self.teacher.modalities.upper()} "
                f"[SeqContext {self.teacher.seq_layers}, GNN {self.teacher.gnn_heads}]")


class TripletKD:
    """Teachers (cached) and students of one corpus under one :class:`TripletConfig`.

    Args:
        config: the experiment.
        corpus, features: pre-loaded inputs (default: from ``config.data``).
        cache_root: teacher cache folder (default ``CORPUS/kd_cache``).
        log: progress lines (None = silent).
    """

    def __init__(self, config: TripletConfig, *, corpus: Corpus | None = None,
                 features: Mapping[Modality, FeatureSet] | None = None, cache_root: str | Path | None = None,
                 log: Callable[[str], None] | None = print) -> None:
        self.config = config
        if corpus is None or features is None:
            if not config.data.corpus:
                raise ConfigError("TripletConfig.data.corpus is empty: name the corpus folder")
            corpus, features = load_inputs(config.data, config.teacher.mods)
        missing = [m.value for m in config.teacher.mods if m not in features]
        if missing:
            raise ConfigError(f"no features for modality {missing}")
        self.corpus, self.features = corpus, dict(features)
        self.cache = TeacherCache(corpus, cache_root)
        self.log = log or (lambda s: None)
        splits = make_fold_splits(corpus, config.data, folds=config.folds)
        self.splits = splits
        self._prepared: dict = {}

    def _prepare(self, split: Split, model: CogmenConfig):
        key = (split.name, model.modalities, model.graph_spec(), model.speaker_index)
        if key not in self._prepared:
            # per-speaker standardisation is a recent DataConfig option: pass it only when set
            extra = {"per_speaker": True} if getattr(self.config.data, "per_speaker", False) else {}
            self._prepared[key] = prepare_data(self.corpus, self.features, split, model=model,
                                               standardize=self.config.data.standardize, **extra)
        return self._prepared[key]

    def teacher_seed(self, seed: int) -> int:
        return seed if self.config.teacher_seed is None else self.config.teacher_seed

    def teacher(self, split: Split, seed: int, *, allow_compute: bool = True) -> TeacherOutputs:
        """The frozen teacher's outputs for the fold (cached; trained on first use)."""
        c = self.config
        tseed = self.teacher_seed(seed)
        train = c.teacher_train.replace(seed=tseed)
        spec = {"teacher": "cogmen", "model": c.teacher.to_dict(),
                "masking": None if c.teacher_masking is None else c.teacher_masking.to_dict(),
                "train": {k: v for k, v in train.to_dict().items() if k not in VOLATILE_TRAIN},
                "features": {m.value: self.features[m].config for m in c.teacher.mods},
                "feature_names": {m.value: self.features[m].name for m in c.teacher.mods},
                "standardize": c.data.standardize, "split": split.to_json(),
                "context": c.teacher_context,
                **({"per_speaker": True} if getattr(c.data, "per_speaker", False) else {})}
        name = f"cogmen{'-mask' if c.teacher_masking is not None else ''}-{c.teacher.modalities}"

        def compute(run_dir: Path) -> TeacherOutputs:
            cfg = RunConfig(data=c.data.replace(fold=split.name), model=c.teacher, train=train,
                            masking=c.teacher_masking)
            data = self._prepare(split, c.teacher)
            fit = train_run(cfg, run_dir=run_dir, corpus=self.corpus, features=self.features, split=split,
                            prepared=data)
            model = build_model(c.teacher, data, len(self.corpus.labels))
            best = torch.load(Path(run_dir) / "checkpoints" / "best.pt", map_location="cpu", weights_only=True)
            model.load_state_dict(best["model"])
            ctx = ModalityContext(Modality.parse(c.teacher_context or c.teacher.modalities))
            ids, _, logits, embs = predict_outputs(model, {"train": data.train, "dev": data.dev, "test": data.test},
                                                   batch_size=train.batch_size, device=train.device, context=ctx)
            all_ids, split_of = fold_utterances(self.corpus, split)
            part, lg, em, valid = full_outputs(all_ids, split_of, ids, logits, embs)
            return TeacherOutputs(name=name, key="", utt_ids=all_ids, split=part, logits=lg, embeddings=em,
                                  valid=valid, metrics={"dev": fit.metrics["dev"], "test": fit.metrics["test"],
                                                        "best_epoch": fit.best_epoch, "seed": tseed})

        return self.cache.get(name, spec, compute if allow_compute else None, log=self.log)

    def train_student(self, split: Split, size: StudentSize, *, seed: int, kd: bool,
                      run_dir: str | Path | None, resume: bool = True, allow_teacher: bool = True) -> FitResult:
        """Train one audio-only student of ``size`` on a fold, with triplet KD or without."""
        c = self.config
        model_cfg = c.student_config(size)
        base = self._prepare(split, model_cfg)
        # a fresh DialogueData for the training part: the teacher embeddings ride on its dialogues
        data = dataclasses.replace(base, train=_copy_dialogue_data(base.train))
        teacher_key = None
        loss = None
        seed_everything(seed)
        model = build_model(model_cfg, data, len(self.corpus.labels))
        if kd:
            out = self.teacher(split, seed, allow_compute=allow_teacher)
            teacher_key = out.key
            out.attach(data.train)
            loss = TripletKDLoss(c.loss, student_dim=model.config.hidden_size * model.config.gnn_heads,
                                 teacher_dim=out.dim)
        contexts = parse_contexts(None, model_cfg.mods)
        run_cfg = RunConfig(data=c.data.replace(fold=split.name), model=model_cfg, train=c.train.replace(seed=seed))
        trainer = Trainer(model, config=run_cfg.train, train=data.train, dev=data.dev, test=data.test,
                          labels=self.corpus.labels, run_dir=run_dir, loss=loss, contexts=contexts,
                          select_context=model_cfg.modalities,
                          run_config={"config": run_cfg.to_dict(), "split": split.to_json(),
                                      "corpus_fingerprint": self.corpus.fingerprint(),
                                      "kd": {"method": "triplet", "loss": c.loss.to_dict(), "teacher": teacher_key}
                                      if kd else None})
        return trainer.fit(resume=resume)


def _copy_dialogue_data(src):
    """A DialogueData over copies of the dialogues (so ``add_extra`` does not touch the cached ones)."""
    from emowb.data.dialogues import DialogueData

    return DialogueData([dataclasses.replace(d, extra=dict(d.extra)) for d in src.dialogues])


@dataclasses.dataclass
class TripletResult:
    runs: pd.DataFrame
    summary: pd.DataFrame
    table: str
    out_dir: Path


def run_triplet(config: TripletConfig, out_dir: str | Path, *, corpus: Corpus | None = None,
                features: Mapping[Modality, FeatureSet] | None = None, resume: bool = True,
                log: Callable[[str], None] | None = print) -> TripletResult:
    """Teacher vs KD student vs no-KD student for every size, fold and seed (Table 1).

    Writes ``runs.csv`` (one row per model, fold, seed, context), ``summary.csv`` and
    ``table.md`` (mean ± std of weighted F1, UA, WA) into ``out_dir``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "experiment.json", config.to_dict())
    say = log or (lambda s: None)
    runner = TripletKD(config, corpus=corpus, features=features, log=log)
    sizes = config.effective_sizes()
    student_ctx = config.student.modalities
    rows = []
    total = len(runner.splits) * len(config.seeds) * len(sizes) * (2 if config.baseline else 1)
    k = 0
    for split in runner.splits:
        for seed in config.seeds:
            t0 = time.perf_counter()
            teacher = runner.teacher(split, seed)
            for ctx, m in teacher.metrics["test"].items():
                rows.append({"model": config.teacher_label, "role": "teacher", "size": "", "fold": split.name,
                             "seed": runner.teacher_seed(seed), "context": ctx,
                             **{s: m[s] for s in SCALAR_METRICS}, "run_dir": str(runner.cache.run_dir(teacher.key))})
            if not teacher.from_cache:
                say(f"teacher {split.name} seed {runner.teacher_seed(seed)}: test "
                    + ", ".join(f"{c} F1 {v['weighted_f1']:.3f}" for c, v in teacher.metrics["test"].items())
                    + f" ({time.perf_counter() - t0:.0f} s)")
            for size in sizes:
                for kd in ((True, False) if config.baseline else (True,)):
                    k += 1
                    t0 = time.perf_counter()
                    run_dir = out / ("kd" if kd else "nokd") / size.slug / split.name / f"seed{seed}"
                    res = runner.train_student(split, size, seed=seed, kd=kd, run_dir=run_dir, resume=resume)
                    m = res.metrics["test"][student_ctx]
                    label = (f"COGMEN_S-{student_ctx.upper()} [SeqContext {size.seq_layers}, GNN {size.gnn_heads}] "
                             + ("+ triplet KD" if kd else "no KD"))
                    rows.append({"model": label, "role": "student-kd" if kd else "student", "size": size.name,
                                 "fold": split.name, "seed": seed, "context": student_ctx,
                                 **{s: m[s] for s in SCALAR_METRICS}, "run_dir": str(run_dir)})
                    say(f"[{k}/{total}] {label} {split.name} seed {seed}: F1 {m['weighted_f1']:.3f} UA {m['UA']:.3f} "
                        f"(best epoch {res.best_epoch}, {time.perf_counter() - t0:.0f} s)")
    runs = pd.DataFrame(rows).drop_duplicates(["model", "fold", "seed", "context"])
    summary = summarise_frame(runs, by=["model", "context"], metrics=list(SCALAR_METRICS))
    table = _table(config, summary, runs, sizes)
    with atomic_path(out / "runs.csv", suffix=".csv") as tmp:
        runs.to_csv(tmp, index=False)
    with atomic_path(out / "summary.csv", suffix=".csv") as tmp:
        summary.to_csv(tmp, index=False)
    (out / "table.md").write_text(table)
    write_json(out / "results.json", {"config": config.to_dict(), "summary": summary.to_dict("records"),
                                      "teacher_cache": {"hits": runner.cache.hits, "misses": runner.cache.misses}})
    return TripletResult(runs=runs, summary=summary, table=table, out_dir=out)


def _table(config: TripletConfig, summary: pd.DataFrame, runs: pd.DataFrame, sizes: Sequence[StudentSize]) -> str:
    get = {(r["model"], r["context"]): r for _, r in summary.iterrows()}
    tctx = config.teacher.modalities
    sctx = config.student.modalities
    lines = []
    for size in sizes:
        for label, ctx, what in [(config.teacher_label, tctx, f"{tctx.upper()} inference"),
                                 (config.teacher_label, sctx, f"{sctx.upper()} inference")]:
            r = get.get((label, ctx))
            if r is not None:
                lines.append({"row": size.name, "model": f"{label} ({what})", "weighted F1": r["weighted_f1"],
                              "UA": r["UA"], "WA": r["WA"]})
        for suffix in ("+ triplet KD", "no KD"):
            label = f"COGMEN_S-{sctx.upper()} [SeqContext {size.seq_layers}, GNN {size.gnn_heads}] {suffix}"
            r = get.get((label, sctx))
            if r is not None:
                lines.append({"row": size.name, "model": f"{label} ({sctx.upper()} inference)",
                              "weighted F1": r["weighted_f1"], "UA": r["UA"], "WA": r["WA"]})
    df = pd.DataFrame(lines).set_index("row")
    paired = _paired_deltas(runs, sizes)
    n_folds = runs["fold"].nunique()
    n_seeds = runs.loc[runs["role"] != "teacher", "seed"].nunique()
    mask = "masked (COGMEN-Mask) teacher; " if config.teacher_masking is not None else ""
    return (f"# {config.name}: Table 1 (test, mean ± std over {n_folds} fold(s) × {n_seeds} seed(s))\n\n"
            f"{mask}loss = {config.loss.alpha:g}·triplet(margin {config.loss.margin:g}, p {config.loss.p:g}, "
            f"mining {config.loss.mining.value}) + {config.loss.ce_weight:g}·CE\n\n{to_markdown(df)}\n"
            + (f"\nPaired difference, student with KD − without KD (same fold and seed):\n\n{to_markdown(paired)}\n"
               if paired is not None else ""))


def _paired_deltas(runs: pd.DataFrame, sizes: Sequence[StudentSize]) -> pd.DataFrame | None:
    """Per size: mean ± std over (fold, seed) of KD − no-KD in weighted F1 / UA / WA, and wins."""
    st = runs[runs["role"].isin(["student", "student-kd"])]
    if st.empty or set(st["role"]) != {"student", "student-kd"}:
        return None
    rows = []
    for size in sizes:
        g = st[st["size"] == size.name]
        kd = g[g["role"] == "student-kd"].set_index(["fold", "seed"])
        base = g[g["role"] == "student"].set_index(["fold", "seed"])
        both = kd.index.intersection(base.index)
        if len(both) == 0:
            continue
        row = {"row": size.name, "pairs": len(both)}
        for m, label in (("weighted_f1", "Δ weighted F1"), ("UA", "Δ UA"), ("WA", "Δ WA")):
            d = (kd.loc[both, m] - base.loc[both, m]).to_numpy(dtype=float)
            row[label] = summarise(d).format()
        d = (kd.loc[both, "weighted_f1"] - base.loc[both, "weighted_f1"]).to_numpy(dtype=float)
        row["KD better (F1)"] = f"{int((d > 0).sum())}/{len(d)}"
        rows.append(row)
    return pd.DataFrame(rows).set_index("row") if rows else None
