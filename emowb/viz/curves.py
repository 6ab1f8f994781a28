"""Learning curves from ``history.csv`` and heatmaps / lines over masking grids."""

from __future__ import annotations

from typing import Mapping

import pandas as pd


def plot_learning_curves(histories: Mapping[str, pd.DataFrame], *, metric: str = "weighted_f1"):
    """Training loss, dev loss and a dev metric per epoch, one line per run.

    Args:
        histories: run name -> ``history.csv`` frame (columns ``epoch``, ``train_loss``,
            ``dev_loss`` and ``dev_<context>_<metric>`` or ``dev_<metric>``).
    """
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
    for name, h in histories.items():
        x = h["epoch"] if "epoch" in h else range(1, len(h) + 1)
        if "train_loss" in h:
            axes[0].plot(x, h["train_loss"], label=name)
        dev_loss = [c for c in h.columns if c.startswith("dev") and c.endswith("loss")]
        if dev_loss:
            axes[1].plot(x, h[dev_loss[0]], label=name)
        dev_metric = [c for c in h.columns if c.startswith("dev") and c.endswith(metric)]
        for c in dev_metric[:1]:
            axes[2].plot(x, h[c], label=name)
    for ax, t in zip(axes, ("train loss", "dev loss", f"dev {metric}")):
        ax.set(title=t, xlabel="epoch")
    axes[2].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_grid_heatmaps(table: pd.DataFrame, *, x: str, y: str, values: Mapping[str, str],
                       title: str = ""):
    """One heatmap per value column over a 2-D parameter grid (mean over seeds/folds).

    Args:
        table: one row per run with parameter columns ``x``, ``y`` and the value columns.
        values: value column -> panel title (e.g. ``{"f1_a": "A-only wF1", "f1_av": "AV wF1"}``).
    """
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, axes = plt.subplots(1, len(values), figsize=(5.2 * len(values), 4.2), squeeze=False)
    for ax, (col, name) in zip(axes[0], values.items()):
        piv = table.pivot_table(index=y, columns=x, values=col, aggfunc="mean")
        sns.heatmap(piv, annot=True, fmt=".3f", cmap="viridis", ax=ax, cbar=False)
        ax.set(title=name)
        ax.invert_yaxis()
    if title:
        fig.suptitle(title, y=1.03)
    fig.tight_layout()
    return fig


def plot_grid_lines(table: pd.DataFrame, *, x: str, values: Mapping[str, str], hue: str | None = None,
                    title: str = ""):
    """Mean ± std of value columns against one parameter (a line per ``hue`` level)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    long = table.melt(id_vars=[c for c in table.columns if c not in values], value_vars=list(values),
                      var_name="context", value_name="score")
    long["context"] = long["context"].map(values)
    fig, ax = plt.subplots(figsize=(6.5, 4))
    sns.lineplot(data=long, x=x, y="score", hue="context", style=hue, marker="o", errorbar="sd", ax=ax)
    ax.set(title=title, ylabel="weighted F1")
    fig.tight_layout()
    return fig
