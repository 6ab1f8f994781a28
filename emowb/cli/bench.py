"""``emowb bench``: one speech-only benchmark table on any imported corpus.

::

    emowb bench data/emodb --protocol loso --teachers prosodic --out runs/bench-emodb
    emowb bench data/mine --protocol kfold --k 6 --students mlp,ssl-pooled --encoder tiny.en

Rows, each as test UA / WA / weighted F1, mean ± std over the protocol's folds (× seeds for the
trained students):

1. linear probes (logistic regression, C by inner grouped CV; ``emowb.eval.linear``) on each
   openSMILE functional set (``--functionals``) and on each layer of the pre-trained encoder
   (``--encoder``: Whisper ``base`` / ``tiny.en`` / a folder, or ``none``);
2. the EmoDistill teachers alone (``--teachers``);
3. each speech student (``--students``: ``mlp`` on eGeMAPS functionals, ``cnn`` on log-mel,
   ``ssl-pooled`` on the encoder's cached layers) without KD and with EmoDistill's KD from the
   teachers.

Features are z-scored per speaker (label-free) unless ``--no-per-speaker``. Everything is
cached: features in the corpus, teachers in its teacher cache, student runs in ``OUT`` (a rerun
only adds what is missing). The table goes to ``OUT/bench.md`` and ``OUT/bench.json``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="probes, teachers and students ± KD on any corpus: one table",
                       description=__doc__.splitlines()[0])
    p.add_argument("corpus", help="an imported corpus folder")
    p.add_argument("--out", help="output folder (default CORPUS/bench/<protocol>)")
    p.add_argument("--protocol", default="loso", choices=["fixed", "logo", "loso", "kfold", "stratified-kfold"])
    p.add_argument("--k", type=int, default=5, help="folds of kfold / stratified-kfold")
    p.add_argument("--folds", default="", help="comma-separated fold names to run (default all)")
    p.add_argument("--seeds", default="0,1,2", help="student seeds")
    p.add_argument("--functionals", default="egemaps,compare", help="openSMILE sets to probe ('' = none)")
    p.add_argument("--encoder", default="base", help="Whisper base | tiny.en | a folder | none")
    p.add_argument("--students", default="mlp,ssl-pooled", help="student backbones: mlp, cnn, ssl-pooled")
    p.add_argument("--teachers", default="prosodic", help="KD teachers: prosodic, linguistic (comma-separated)")
    p.add_argument("--epochs", type=int, default=40, help="maximum epochs of teachers and students")
    p.add_argument("--no-per-speaker", action="store_true", help="no per-speaker z-scoring of the features")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (results depend on it)")
    p.set_defaults(func=cmd_bench)


def cmd_bench(a: argparse.Namespace) -> int:
    import pandas as pd
    import torch

    from emowb.cli.features import probe_views
    from emowb.config import ConfigError
    from emowb.data.corpus import Corpus
    from emowb.eval.linear import linear_probe
    from emowb.eval.summary import summarise, summarise_frame, to_markdown
    from emowb.features.extract import extract
    from emowb.kd.emodistill import EmoDistill, EmoDistillConfig, KDVariant, run_variants
    from emowb.utils import write_json

    t0 = time.perf_counter()
    torch.set_num_threads(a.threads)
    corpus = Corpus.load(a.corpus)
    out = Path(a.out) if a.out else corpus.root / "bench" / a.protocol
    per_speaker = not a.no_per_speaker
    folds = [f for f in a.folds.split(",") if f] or None
    seeds = [int(s) for s in a.seeds.split(",") if s]
    teachers = [t for t in a.teachers.split(",") if t]
    students = [s for s in a.students.split(",") if s]
    encoder = None if a.encoder in ("", "none") else a.encoder
    if "ssl-pooled" in students and encoder is None:
        raise ConfigError("--students ssl-pooled needs an --encoder (base, tiny.en or a folder)")
    rows: list[dict] = []

    def add(model: str, frame: pd.DataFrame, n: str) -> None:
        s = summarise_frame(frame.assign(_all=0), by=["_all"], metrics=["UA", "WA", "weighted_f1"]).iloc[0]
        rows.append({"model": model, "UA": s["UA"], "WA": s["WA"], "weighted F1": s["weighted_f1"], "runs": n})

    # 1. linear probes
    probes = [(name, extract(corpus, name, progress=False)) for name in a.functionals.split(",") if name]
    if encoder is not None:
        probes.append((f"whisper {encoder}", extract(corpus, "whisper", model=encoder, layer="all", progress=False)))
    for name, fs in probes:
        fs, views = probe_views(corpus, fs, per_speaker=per_speaker)
        for layer, x in views:
            label = f"{name}, layer {layer}" if fs.config.get("layer") == "all" else name
            per_fold, _ = linear_probe(corpus, x, protocol=a.protocol, k=a.k, valid=fs.valid, n_jobs=1)
            if folds:
                per_fold = per_fold[per_fold["fold"].isin(folds)]
            add(f"probe: {label} + logistic regression", per_fold, f"{len(per_fold)} folds")
            print(f"  probe {label}: UA {summarise(per_fold['UA']).format()}", file=sys.stderr, flush=True)

    # 2-3. teachers and students
    for i, backbone in enumerate(students):
        cfg = EmoDistillConfig.from_params(
            name=f"bench {backbone}", corpus=str(corpus.root), protocol=a.protocol, k=a.k, seeds=seeds,
            folds=folds, per_speaker=per_speaker, ssl_features_model=encoder or "",
            **{"student.backbone": backbone, "loss.teachers": teachers, "train.epochs": a.epochs,
               "teacher_train.epochs": a.epochs, "train.num_threads": a.threads,
               "teacher_train.num_threads": a.threads})
        runner = EmoDistill(cfg, corpus=corpus)
        name = {"mlp": "MLP on eGeMAPS", "cnn": "CNN on log-mel",
                "ssl-pooled": f"Whisper {encoder} (layer mix)"}.get(backbone, backbone)
        kd = "+".join(teachers) or "no"
        variants = [KDVariant(name="no KD", loss=cfg.loss.replace(teachers=())),
                    KDVariant(name=f"+ {kd} KD", loss=cfg.loss)]
        res = run_variants(cfg, out / backbone, variants, runner=runner, stem="bench",
                           teachers_alone=teachers if i == 0 else ())
        if i == 0:
            for t, g in res.teachers.groupby("teacher", sort=False):
                add(f"{t} teacher alone", g, f"{len(g)} folds")
        for v, g in res.runs.groupby("variant", sort=False):
            add(f"student: {name}, {v}", g, f"{len(g)} runs")

    table = pd.DataFrame(rows).set_index("model")
    norm = "features z-scored per speaker; " if per_speaker else ""
    text = (f"# {corpus.name}: speech-only benchmark, {a.protocol}"
            f"{f' (k={a.k})' if 'kfold' in a.protocol else ''}\n\n{norm}test, mean ± std over folds "
            f"(× seeds for students)\n\n{to_markdown(table)}\n")
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.md").write_text(text)
    write_json(out / "bench.json", {"corpus": str(corpus.root), "protocol": a.protocol, "k": a.k,
                                    "folds": folds, "seeds": seeds, "encoder": encoder, "teachers": teachers,
                                    "students": students, "per_speaker": per_speaker,
                                    "table": table.reset_index().to_dict("records")})
    print(text)
    print(f"results in {out} ({time.perf_counter() - t0:.0f} s)")
    return 0
