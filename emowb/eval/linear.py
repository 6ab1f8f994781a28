"""Linear probes: the classical baseline (standardised features -> linear SVM / logistic
regression) under a speaker-independent protocol.

The regularisation strength C is chosen per outer fold by an inner 3-fold cross-validation that
is grouped by the corpus ``group`` column (speaker-independent), on the fold's training
dialogues only, maximising UA; classes are balanced. Metrics per fold come from
:mod:`emowb.eval.metrics`, with the fold's fit time (``seconds``: inner CV + refit) and the
iterations the refit took (``n_iter``; ``converged`` is False when it hit the cap).

The linear SVM (liblinear) solves the dual problem when a fold has no more training samples than
features (``n <= d``, e.g. ComParE's 6,373 functionals on a thousand files) and the primal one
otherwise; the other way round it can run for minutes per fit. Its iterations are capped at
:data:`SVM_MAX_ITER`.
"""

from __future__ import annotations

import time
import warnings
from typing import Sequence

import numpy as np
import pandas as pd

from emowb.data.corpus import Corpus
from emowb.data.splits import make_splits
from emowb.eval.metrics import UA, WA, macro_f1, weighted_f1

C_GRID = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
#: Iteration caps of the linear SVM (liblinear passes over the data) and of logistic regression.
SVM_MAX_ITER = 2000
LOGREG_MAX_ITER = 5000
CLASSIFIERS = ("logreg", "linear-svm")
METRICS = {"UA": UA, "WA": WA, "weighted_f1": weighted_f1, "macro_f1": macro_f1}


def svm_dual(n_samples: int, n_features: int) -> bool:
    """liblinear's formulation for a linear SVM on ``n_samples`` × ``n_features`` data: the dual
    when ``n_samples <= n_features``, the primal otherwise (scikit-learn's ``dual="auto"`` rule)."""
    return bool(n_samples <= n_features)


def make_classifier(name: str, *, seed: int = 0, shape: tuple[int, int] | None = None):
    """A scikit-learn pipeline: StandardScaler + the named linear classifier (balanced classes).

    Args:
        shape: (n_samples, n_features) of the training data: the linear SVM's ``dual`` is chosen
            by :func:`svm_dual` (None: scikit-learn's ``"auto"``, the same rule per fit).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import LinearSVC

    if name == "logreg":
        clf = LogisticRegression(class_weight="balanced", max_iter=LOGREG_MAX_ITER, random_state=seed)
    elif name == "linear-svm":
        dual = svm_dual(*shape) if shape is not None else "auto"
        clf = LinearSVC(class_weight="balanced", dual=dual, max_iter=SVM_MAX_ITER, random_state=seed)
    else:
        raise ValueError(f"unknown classifier {name!r}: use one of {CLASSIFIERS}")
    return make_pipeline(StandardScaler(), clf)


def _n_iter(model) -> int:
    est = getattr(model, "best_estimator_", model)
    return int(np.max(est.steps[-1][1].n_iter_))


def linear_probe(corpus: Corpus, values: np.ndarray, *, protocol: str = "logo",
                 classifier: str = "logreg", c_grid: Sequence[float] = C_GRID, seed: int = 0,
                 valid: np.ndarray | None = None, n_jobs: int = 2, k: int = 5) -> tuple[pd.DataFrame, np.ndarray]:
    """Cross-validate a linear classifier on per-utterance features.

    Args:
        corpus: the corpus (its table order defines the rows of ``values``).
        values: (N, D) features in table order.
        protocol: ``logo`` | ``loso`` | ``kfold`` | ``stratified-kfold`` | ``fixed``
            (:func:`emowb.data.make_splits`).
        classifier: ``logreg`` | ``linear-svm``.
        k: number of folds of ``kfold`` / ``stratified-kfold``.
        valid: (N,) bool; invalid rows (missing modality) are left out of training and predicted
            as the training majority class (so they count against the score, not silently drop).

    Returns:
        (per-fold frame with UA, WA, weighted_f1, macro_f1, C, n_test, seconds, n_iter,
        converged; pooled predictions (N,),
        -1 where an utterance was never tested).
    """
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import GridSearchCV, GroupKFold

    t = corpus.table
    if values.shape[0] != len(t):
        raise ValueError(f"values has {values.shape[0]} rows, corpus {len(t)} utterances")
    y = corpus.y
    groups = t["group"].to_numpy()
    valid = np.ones(len(t), bool) if valid is None else np.asarray(valid, bool)
    pred_all = np.full(len(t), -1)
    rows = []
    for split in make_splits(corpus, protocol, dev_share=0.0, seed=seed, k=k):
        test = split.test_mask(t)
        train = t["dialogue_id"].isin(set(split.train)).to_numpy() & valid
        clf = make_classifier(classifier, seed=seed, shape=(int(train.sum()), values.shape[1]))
        step = clf.steps[-1][0]
        n_inner = min(3, len(set(groups[train])))
        t0 = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            if n_inner >= 2 and len(c_grid) > 1:
                model = GridSearchCV(clf, {f"{step}__C": list(c_grid)}, scoring="balanced_accuracy",
                                     cv=GroupKFold(n_splits=n_inner), n_jobs=n_jobs)
                model.fit(values[train], y[train], groups=groups[train])
                best_c = model.best_params_[f"{step}__C"]
            else:
                model = clf.set_params(**{f"{step}__C": c_grid[-1]}).fit(values[train], y[train])
                best_c = c_grid[-1]
        pred = np.full(int(test.sum()), np.bincount(y[train]).argmax())
        ok = valid[test]
        if ok.any():
            pred[ok] = model.predict(values[test][ok])
        pred_all[test] = pred
        seconds = round(time.perf_counter() - t0, 2)
        n_iter = _n_iter(model)
        cap = SVM_MAX_ITER if classifier == "linear-svm" else LOGREG_MAX_ITER
        rows.append({"fold": split.name, "n_test": int(test.sum()), "n_invalid": int((~ok).sum()),
                     "C": best_c, "seconds": seconds, "n_iter": n_iter, "converged": n_iter < cap,
                     **{m: f(y[test], pred) for m, f in METRICS.items()}})
    return pd.DataFrame(rows), pred_all


def modality_table(corpus: Corpus, feature_sets: dict, *, protocol: str = "logo",
                   classifier: str = "logreg", seed: int = 0, k: int = 5) -> tuple[pd.DataFrame, dict]:
    """What each modality carries: a linear probe per feature set (or concatenation of sets).

    Args:
        feature_sets: row name -> a FeatureSet, or a list of FeatureSets to concatenate
            (an utterance is valid only if it is valid in all of them).

    Returns:
        (table with UA / weighted F1 mean ± std over folds and pooled, per-row confusion matrices).
    """
    from emowb.eval.metrics import confusion
    from emowb.eval.summary import summarise

    ids = corpus.table["utt_id"].tolist()
    rows, confusions = [], {}
    for name, sets in feature_sets.items():
        sets = sets if isinstance(sets, (list, tuple)) else [sets]
        taken = [fs.take(ids) for fs in sets]
        x = np.hstack([fs.values for fs in taken])
        valid = np.logical_and.reduce([fs.valid for fs in taken])
        per_fold, pred = linear_probe(corpus, x, protocol=protocol, classifier=classifier, seed=seed,
                                      valid=valid, k=k)
        row = {"modality": name, "dim": x.shape[1], "invalid": int((~valid).sum()), "folds": len(per_fold)}
        for m in ("UA", "weighted_f1"):
            s = summarise(per_fold[m])
            row[m] = f"{s.mean:.3f} ± {s.std:.3f}"
            row[f"{m}_mean"] = s.mean
        tested = pred >= 0
        row["UA_pooled"] = UA(corpus.y[tested], pred[tested])
        rows.append(row)
        confusions[name] = pd.DataFrame(confusion(corpus.y[tested], pred[tested], len(corpus.labels)),
                                        index=corpus.labels, columns=corpus.labels)
    return pd.DataFrame(rows), confusions
