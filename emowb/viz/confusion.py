"""Two runs' confusion matrices side by side, their difference, and per-class F1."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from emowb.eval.metrics import compute_metrics


def confusion_counts(preds: pd.DataFrame, n_classes: int) -> np.ndarray:
    """(C, C) counts, rows = true class, columns = predicted class."""
    cm = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(cm, (preds["y_true"].to_numpy(int), preds["y_pred"].to_numpy(int)), 1)
    return cm


def row_normalise(cm: np.ndarray) -> np.ndarray:
    """Each row divided by its total (recall on the diagonal); empty rows stay zero."""
    tot = cm.sum(axis=1, keepdims=True)
    return np.divide(cm, tot, out=np.zeros(cm.shape, float), where=tot > 0)


def _annotations(cm: np.ndarray) -> np.ndarray:
    rn = row_normalise(cm)
    return np.array([[f"{rn[i, j]:.2f}\n({cm[i, j]})" for j in range(cm.shape[1])]
                     for i in range(cm.shape[0])])


def compare_confusions(a: pd.DataFrame, b: pd.DataFrame, *, labels: Sequence[str],
                       names: tuple[str, str] = ("A", "B"), title: str | None = None):
    """Figure: row-normalised confusions of ``a`` and ``b`` (counts shown), B − A, F1 per class.

    Args:
        a, b: prediction frames with ``y_true`` / ``y_pred`` (e.g. :meth:`RunView.preds`).
        labels: class names in index order.
        names: what to call the two runs.

    Returns:
        (figure, table) where table has per-class F1 of both and their difference.
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    c = len(labels)
    cms = [confusion_counts(a, c), confusion_counts(b, c)]
    fig, axes = plt.subplots(1, 4, figsize=(19, 4.4), gridspec_kw={"width_ratios": [1, 1, 1, 1.1]})
    for ax, cm, name in zip(axes[:2], cms, names):
        m = compute_metrics(a["y_true"] if name == names[0] else b["y_true"],
                            a["y_pred"] if name == names[0] else b["y_pred"], labels)
        sns.heatmap(row_normalise(cm), annot=_annotations(cm), fmt="", vmin=0, vmax=1, cmap="Blues",
                    xticklabels=labels, yticklabels=labels, cbar=False, ax=ax, square=True)
        ax.set(title=f"{name}\nwF1 {m['weighted_f1']:.3f}  UA {m['UA']:.3f}  WA {m['WA']:.3f}",
               xlabel="predicted", ylabel="true")
    diff = row_normalise(cms[1]) - row_normalise(cms[0])
    lim = max(0.05, float(np.abs(diff).max()))
    sns.heatmap(diff, annot=True, fmt="+.2f", cmap="RdBu_r", vmin=-lim, vmax=lim, center=0,
                xticklabels=labels, yticklabels=labels, cbar=False, ax=axes[2], square=True)
    axes[2].set(title=f"{names[1]} − {names[0]} (row-normalised)", xlabel="predicted", ylabel="true")
    f1 = pd.DataFrame({
        names[0]: [compute_metrics(a["y_true"], a["y_pred"], labels)["per_class"][lab]["f1"] for lab in labels],
        names[1]: [compute_metrics(b["y_true"], b["y_pred"], labels)["per_class"][lab]["f1"] for lab in labels],
    }, index=list(labels))
    f1.plot.bar(ax=axes[3], rot=0, color=["#7f7f7f", "#1f77b4"])
    axes[3].set(title="F1 per class", ylim=(0, 1), ylabel="F1")
    if title:
        fig.suptitle(title, y=1.04)
    fig.tight_layout()
    f1["difference"] = f1[names[1]] - f1[names[0]]
    return fig, f1
