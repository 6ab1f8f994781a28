"""EmoDistill on real speech: EmoDB, 4 classes, leave-one-speaker-out, measured.

Rows (test UA / WA / weighted F1, mean ± std over the 10 speaker folds × seeds):

- the prosodic teacher alone (ResNet-2D on eGeMAPS LLDs; one per fold, seed 0);
- the light speech student (CNN on log-mel spectrograms) without KD;
- the same student with prosodic KD (logit KD at τ_P and embedding KD from the prosodic teacher);
- the openSMILE + linear baseline of the features issue (``benchmarks/emodb_baseline.py``:
  eGeMAPS functionals, StandardScaler, logistic regression / linear SVM, C by inner grouped CV).

The linguistic teacher is skipped: EmoDB's ten sentences are read in every emotion, so the
transcript carries no information about the label.

Usage::

    python benchmarks/emodb_kd.py [--emodb ../shared/data/emodb] [--work /tmp/kd] --seeds 0,1,2 \
        --threads 1 --json benchmarks/results/emodb_kd.json
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import time
from pathlib import Path

import pandas as pd
import torch

from emowb.data.corpus import Corpus
from emowb.eval.summary import summarise, summarise_frame, to_markdown
from emowb.kd.emodistill import EmoDistillConfig, KDVariant, run_variants
from emowb.kd.losses import Teacher
from _corpora import emodb_corpus

ROOT = Path(__file__).resolve().parents[1]


def linear_baseline(corpus: Corpus, *, seed: int) -> pd.DataFrame:
    """eGeMAPS + linear classifiers, exactly as ``benchmarks/emodb_baseline.py`` runs them."""
    spec = importlib.util.spec_from_file_location("emodb_baseline", ROOT / "benchmarks" / "emodb_baseline.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    mod.FEATURES = ("egemaps",)          # ComParE is not needed for this comparison
    per_fold, _ = mod.run(corpus, seed=seed)
    return per_fold


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--emodb", type=Path, default=ROOT.parent / "shared" / "data" / "emodb")
    ap.add_argument("--work", type=Path, default=Path("/tmp/kd"), help="where the imported corpus lives")
    ap.add_argument("--out", type=Path, help="run folders (default WORK/emodb-kd)")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--folds", help="comma-separated speakers to hold out (default all 10)")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--tau", type=float, default=1.0, help="τ_P of the prosodic logit KD")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    if not a.emodb.is_dir():
        print(f"EmoDB not found at {a.emodb}; nothing to do", file=sys.stderr)
        return 1
    torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    corpus = emodb_corpus(a.emodb, a.work)
    print(corpus, flush=True)
    out = a.out or a.work / "emodb-kd"
    cfg = EmoDistillConfig.from_params(
        name="emodb-kd", corpus=str(corpus.root), protocol="loso", seeds=[int(s) for s in a.seeds.split(",")],
        **{"student.backbone": "cnn", "student.cnn_channels": [8, 16, 32], "n_mels": 40,
           "prosodic.stem_channels": 8, "prosodic.channels": [8, 16, 32, 64],
           "train.epochs": a.epochs, "teacher_train.epochs": a.epochs,
           "train.num_threads": a.threads, "teacher_train.num_threads": a.threads,
           "loss.teachers": ["prosodic"], "loss.tau_prosodic": a.tau,
           **({"folds": a.folds.split(",")} if a.folds else {})})
    variants = [KDVariant(name="CNN student, no KD", loss=cfg.loss.replace(teachers=())),
                KDVariant(name=f"CNN student + prosodic KD (logits τ_P={a.tau:g} + embeddings)", loss=cfg.loss)]
    res = run_variants(cfg, out, variants, corpus=corpus, teachers_alone=(Teacher.PROSODIC,), stem="emodb",
                       title="EmoDB 4-class, leave-one-speaker-out")
    teacher = summarise_frame(res.teachers, by=["teacher"], metrics=["WA", "UA", "weighted_f1"]).iloc[0]
    rows = [{"model": "prosodic teacher alone (ResNet-2D on eGeMAPS LLDs)", "WA": teacher["WA"],
             "UA": teacher["UA"], "weighted F1": teacher["weighted_f1"], "ΔUA vs no KD (paired)": "-"}]
    rows += [{"model": r["variant"], "WA": r["WA"], "UA": r["UA"], "weighted F1": r["weighted_f1"],
              "ΔUA vs no KD (paired)": r["dUA_paired"] + ("" if r["UA_wins"] == "-" else f" ({r['UA_wins']} better)")}
             for _, r in res.summary.iterrows()]
    baseline = None
    if not a.no_baseline:
        baseline = linear_baseline(corpus, seed=0)
        for clf, g in baseline.groupby("classifier", sort=False):
            rows.append({"model": f"openSMILE eGeMAPS + {clf} (features-issue baseline)",
                         **{m: summarise(g[k]).format() for m, k in (("WA", "WA"), ("UA", "UA"),
                                                                     ("weighted F1", "weighted_f1"))},
                         "ΔUA vs no KD (paired)": "-"})
    table = pd.DataFrame(rows).set_index("model")
    print(f"# EmoDB 4-class ({len(corpus)} utterances), leave-one-speaker-out: test, mean ± std over "
          f"{len(res.runs['fold'].unique())} folds × {len(cfg.seeds)} seed(s) (teacher and linear baseline: "
          f"over folds)\n")
    print(to_markdown(table))
    print("\nThe linguistic teacher is not used: EmoDB's 10 sentences are spoken in every emotion, so its "
          "transcripts carry no label information.")
    print(f"({time.perf_counter() - t0:.0f} s in all)")
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps({
            "corpus": corpus.summary(), "config": cfg.to_dict(), "table": table.reset_index().to_dict("records"),
            "students": res.summary.to_dict("records"), "teacher_per_fold": res.teachers.to_dict("records"),
            "student_runs": res.runs.to_dict("records"),
            "baseline_per_fold": None if baseline is None else baseline.to_dict("records")},
            indent=2, default=float) + "\n")
        print(f"wrote {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
