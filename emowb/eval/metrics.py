"""Classification metrics, defined once and used everywhere (trainer, experiments, notebooks).

The field mixes up "WA" and "UA"; emowb uses these names and no others:

==============  ===========================================================================
name            definition (sklearn)
==============  ===========================================================================
``WA``          weighted accuracy = plain accuracy, ``accuracy_score`` (share of utterances
                classified correctly; "weighted" because classes weigh by their frequency)
``UA``          unweighted average recall = balanced accuracy, ``balanced_accuracy_score``
                (mean over the classes present in ``y_true`` of each class's recall)
``weighted_f1`` ``f1_score(average="weighted")``: per-class F1 averaged with weights = support
                (the COGMEN papers' "F1")
``macro_f1``    ``f1_score(average="macro")``: unweighted mean of per-class F1 over the classes
                that occur in ``y_true`` or ``y_pred``
``per_class``   per-class ``precision``, ``recall``, ``f1``, ``support``
                (``precision_recall_fscore_support``), keyed by label name
``confusion``   ``confusion_matrix`` over all classes in label order; rows = true class,
                columns = predicted class
==============  ===========================================================================

Zero divisions (a class never predicted) count as 0, never as a warning.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from sklearn import metrics as skm

#: The scalar metrics, in the order tables print them.
SCALAR_METRICS = ("WA", "UA", "weighted_f1", "macro_f1")

__all__ = ["SCALAR_METRICS", "WA", "UA", "weighted_f1", "macro_f1", "per_class", "confusion",
           "compute_metrics", "scalar_metrics_from_confusion"]


def _check(y_true, y_pred) -> tuple[np.ndarray, np.ndarray]:
    yt = np.asarray(y_true).reshape(-1)
    yp = np.asarray(y_pred).reshape(-1)
    if yt.shape != yp.shape:
        raise ValueError(f"y_true has {yt.size} items but y_pred has {yp.size}")
    if yt.size == 0:
        raise ValueError("no utterances to score (empty y_true)")
    return yt, yp


def WA(y_true, y_pred) -> float:  # noqa: N802 - the field's name for it
    """Weighted accuracy = accuracy."""
    yt, yp = _check(y_true, y_pred)
    return float(skm.accuracy_score(yt, yp))


def UA(y_true, y_pred) -> float:  # noqa: N802
    """Unweighted average recall = balanced accuracy (classes present in ``y_true``)."""
    yt, yp = _check(y_true, y_pred)
    present = np.unique(yt)
    return float(np.mean(skm.recall_score(yt, yp, labels=present, average=None, zero_division=0)))


def weighted_f1(y_true, y_pred) -> float:
    """Support-weighted mean of per-class F1."""
    yt, yp = _check(y_true, y_pred)
    return float(skm.f1_score(yt, yp, average="weighted", zero_division=0))


def macro_f1(y_true, y_pred) -> float:
    """Unweighted mean of per-class F1 over classes in ``y_true`` ∪ ``y_pred``."""
    yt, yp = _check(y_true, y_pred)
    return float(skm.f1_score(yt, yp, average="macro", zero_division=0))


def per_class(y_true, y_pred, labels: Sequence[str]) -> dict[str, dict[str, float]]:
    """Per-class precision / recall / F1 / support, keyed by label name (all classes)."""
    yt, yp = _check(y_true, y_pred)
    p, r, f, s = skm.precision_recall_fscore_support(yt, yp, labels=list(range(len(labels))),
                                                     average=None, zero_division=0)
    return {lab: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]),
                  "support": int(s[i])} for i, lab in enumerate(labels)}


def confusion(y_true, y_pred, n_classes: int) -> np.ndarray:
    """(C, C) int64 counts; rows = true class, columns = predicted class."""
    yt, yp = _check(y_true, y_pred)
    return skm.confusion_matrix(yt, yp, labels=list(range(n_classes))).astype(np.int64)


def compute_metrics(y_true, y_pred, labels: Sequence[str]) -> dict:
    """All metrics of the table above, as a JSON-ready dict.

    Args:
        y_true, y_pred: class indices (N,) into ``labels``.
        labels: the label names in class-index order.

    Returns:
        ``{"WA", "UA", "weighted_f1", "macro_f1", "per_class", "confusion", "n"}``.
    """
    yt, yp = _check(y_true, y_pred)
    c = len(labels)
    bad = (yt < 0) | (yt >= c) | (yp < 0) | (yp >= c)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"class index out of range 0..{c - 1} at position {i}: "
                         f"y_true={yt[i]}, y_pred={yp[i]}")
    return {
        "WA": WA(yt, yp),
        "UA": UA(yt, yp),
        "weighted_f1": weighted_f1(yt, yp),
        "macro_f1": macro_f1(yt, yp),
        "per_class": per_class(yt, yp, labels),
        "confusion": confusion(yt, yp, c).tolist(),
        "n": int(yt.size),
    }


def scalar_metrics_from_confusion(cm) -> dict[str, float]:
    """:data:`SCALAR_METRICS` from a (C, C) confusion matrix (rows = true, columns = predicted).

    The same definitions as the functions above (sklearn's, zero divisions as 0), computed from
    counts: the training loop accumulates the counts on tensors per batch and calls this once per
    evaluation pass instead of four sklearn calls on the whole prediction vectors (sklearn is kept
    for the final report, :func:`compute_metrics`; ``tests/test_metrics.py`` checks that both
    agree). With ``tp, fp, fn, support`` per class::

        WA          = Σ tp / Σ support
        UA          = mean of tp / support over classes with support > 0
        F1_c        = 2 tp / (2 tp + fp + fn)   (0 where the denominator is 0)
        weighted_f1 = Σ F1_c · support_c / Σ support
        macro_f1    = mean of F1_c over classes that occur in y_true or y_pred

    Args:
        cm: (C, C) integer counts (numpy array or tensor).
    """
    cm = np.asarray(cm, dtype=np.float64)
    total = cm.sum()
    if total <= 0:
        raise ValueError("no utterances to score (empty confusion matrix)")
    tp = np.diag(cm)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    fp, fn = predicted - tp, support - tp
    denom = 2 * tp + fp + fn
    f1 = np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)
    present = support > 0
    occurring = present | (predicted > 0)
    return {"WA": float(tp.sum() / total),
            "UA": float(np.mean(tp[present] / support[present])),
            "weighted_f1": float((f1 * support).sum() / total),
            "macro_f1": float(f1[occurring].mean())}
