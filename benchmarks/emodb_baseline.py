"""The classical baseline every later model must beat: EmoDB 4-class, leave-one-speaker-out.

eGeMAPS (88-d) and ComParE (6373-d) functionals -> StandardScaler -> linear SVM or logistic
regression (``class_weight="balanced"``). The regularisation strength C is chosen per outer fold
by an inner 3-fold grouped (speaker-independent) cross-validation on the training speakers only,
maximising UA, from ``C_GRID``; the test speaker is never seen. Metrics per fold: UA (balanced
accuracy), WA (accuracy), weighted F1 (``emowb.eval.metrics``); reported as mean ± sample std
over the 10 speaker folds, plus the pooled scores over all test predictions.

Usage::

    python benchmarks/emodb_baseline.py [--emodb ../shared/data/emodb] [--work /tmp/emowb-bench]
                                        [--out benchmarks/results/emodb_baseline.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd

from emowb.data.corpus import Corpus
from emowb.eval.linear import C_GRID, CLASSIFIERS, METRICS, linear_probe
from emowb.eval.summary import summarise
from emowb.features import extract
from _corpora import emodb_corpus

ROOT = Path(__file__).resolve().parents[1]
FEATURES = ("egemaps", "compare")


def run(corpus: Corpus, *, seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """Per-fold metrics (one row per feature set x classifier x fold) and pooled scores."""
    t = corpus.table
    y = corpus.y
    rows, pooled = [], {}
    for feat in FEATURES:
        fs = extract(corpus, feat, progress=False).take(t["utt_id"].tolist())
        if not fs.valid.all():
            raise RuntimeError(f"{feat}: {int((~fs.valid).sum())} invalid utterances: "
                               f"{[n for n, v in zip(fs.notes, fs.valid) if not v][:3]}")
        for clf_name in CLASSIFIERS:
            per_fold, pred_all = linear_probe(corpus, fs.values, protocol="loso", classifier=clf_name,
                                              c_grid=C_GRID, seed=seed)
            rows.append(per_fold.assign(features=feat, classifier=clf_name))
            pooled[(feat, clf_name)] = {m: f(y, pred_all) for m, f in METRICS.items()}
    return pd.concat(rows, ignore_index=True), pooled


def table(per_fold: pd.DataFrame, pooled: dict) -> pd.DataFrame:
    out = []
    for (feat, clf), g in per_fold.groupby(["features", "classifier"], sort=False):
        row = {"features": feat, "classifier": clf, "folds": len(g)}
        for m in METRICS:
            s = summarise(g[m])
            row[m] = f"{s.mean:.3f} ± {s.std:.3f}"
            row[f"{m}_pooled"] = round(pooled[(feat, clf)][m], 3)
        row["C (median)"] = float(g["C"].median())
        out.append(row)
    return pd.DataFrame(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--emodb", type=Path, default=ROOT.parent / "shared" / "data" / "emodb")
    ap.add_argument("--work", type=Path, default=Path("/tmp/emowb-bench"),
                    help="where the imported corpus and its feature cache live")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "emodb_baseline.json")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)
    if not a.emodb.is_dir():
        print(f"EmoDB not found at {a.emodb}; nothing to do", file=sys.stderr)
        return 1
    corpus = emodb_corpus(a.emodb, a.work)
    print(corpus)
    t0 = time.perf_counter()
    per_fold, pooled = run(corpus, seed=a.seed)
    tab = table(per_fold, pooled)
    print(tab.to_string(index=False))
    print(f"({time.perf_counter() - t0:.0f} s; mean ± sample std over {tab['folds'].iloc[0]} "
          "leave-one-speaker-out folds; *_pooled = over all test predictions)")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps({
        "corpus": corpus.summary(), "protocol": "loso (10 speakers), C by inner 3-fold grouped CV",
        "c_grid": C_GRID, "table": tab.to_dict("records"),
        "per_fold": per_fold.to_dict("records")}, indent=2, default=float) + "\n")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
