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
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, GroupKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from emowb.data.corpus import Corpus, CorpusError
from emowb.data.importers import import_corpus
from emowb.data.splits import make_splits
from emowb.eval.metrics import UA, WA, weighted_f1
from emowb.eval.summary import summarise
from emowb.features import extract

ROOT = Path(__file__).resolve().parents[1]
C_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
FEATURES = ("egemaps", "compare")
METRICS = {"UA": UA, "WA": WA, "weighted_f1": weighted_f1}


def classifiers(seed: int) -> dict:
    return {
        "linear-svm": make_pipeline(StandardScaler(), LinearSVC(class_weight="balanced", max_iter=20000,
                                                                random_state=seed)),
        "logreg": make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=5000,
                                                                     random_state=seed)),
    }


def corpus_at(emodb: Path, work: Path) -> Corpus:
    """The 4-class EmoDB corpus in ``work`` (imported once, then reused)."""
    try:
        return Corpus.load(work / "emodb4")
    except CorpusError:
        return import_corpus("emodb", emodb, work / "emodb4", classes=4)


def run(corpus: Corpus, *, seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """Per-fold metrics (one row per feature set x classifier x fold) and pooled predictions."""
    t = corpus.table
    y = corpus.y
    speakers = t["speaker"].to_numpy()
    folds = make_splits(corpus, "loso", dev_share=0.0)
    rows, pooled = [], {}
    for feat in FEATURES:
        fs = extract(corpus, feat, progress=False).take(t["utt_id"].tolist())
        if not fs.valid.all():
            raise RuntimeError(f"{feat}: {int((~fs.valid).sum())} invalid utterances: "
                               f"{[n for n, v in zip(fs.notes, fs.valid) if not v][:3]}")
        X = fs.values
        for clf_name, clf in classifiers(seed).items():
            pred_all = np.full(len(y), -1)
            for split in folds:
                test = split.test_mask(t)
                train = t["dialogue_id"].isin(set(split.train)).to_numpy()
                grid = GridSearchCV(clf, {clf.steps[-1][0] + "__C": list(C_GRID)},
                                    scoring="balanced_accuracy", cv=GroupKFold(n_splits=3), n_jobs=2)
                t0 = time.perf_counter()
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", ConvergenceWarning)
                    grid.fit(X[train], y[train], groups=speakers[train])
                pred = grid.predict(X[test])
                pred_all[test] = pred
                rows.append({"features": feat, "classifier": clf_name, "fold": split.name,
                             "n_test": int(test.sum()), "C": grid.best_params_[clf.steps[-1][0] + "__C"],
                             "seconds": time.perf_counter() - t0,
                             **{m: f(y[test], pred) for m, f in METRICS.items()}})
            pooled[(feat, clf_name)] = {m: f(y, pred_all) for m, f in METRICS.items()}
    return pd.DataFrame(rows), pooled


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
    corpus = corpus_at(a.emodb, a.work)
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
