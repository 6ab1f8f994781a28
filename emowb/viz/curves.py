"""Learning curves from ``history.csv`` and heatmaps / lines over masking grids."""

from __future__ import annotations

from typing import Mapping

import pandas as pd


#: Axis words for metric and parameter names.
METRIC_WORDS = {"weighted_f1": "weighted F1", "macro_f1": "macro F1", "UA": "unweighted accuracy (UA)",
                "WA": "weighted accuracy (WA)"}
PARAM_WORDS = {"start_prob": "start probability of a mask", "mask_length": "mask length (positions)",
               "granularity": "masking granularity", "tau": "temperature τ", "alpha": "triplet weight α"}


def words(name: str) -> str:
    """An axis label in words for a metric or parameter column name."""
    return METRIC_WORDS.get(name, PARAM_WORDS.get(name, name.replace("_", " ")))


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
    words = METRIC_WORDS.get(metric, metric)
    for ax, t, yl in zip(axes, ("training loss", "dev loss", f"dev {words}"),
                         ("cross-entropy (+ KD terms)", "cross-entropy", words)):
        ax.set(title=t, xlabel="epoch", ylabel=yl)
    axes[2].set_ylim(0, 1.02)
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
        sns.heatmap(piv, annot=True, fmt=".3f", cmap="viridis", ax=ax, cbar=False, vmin=0, vmax=1)
        ax.set(title=name, xlabel=words(x), ylabel=words(y))
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
    ax.set(title=title, ylabel="test weighted F1 (mean ± std over runs)", xlabel=words(x))
    fig.tight_layout()
    return fig


def plot_temperature_sweeps(sweeps: pd.DataFrame, reference: pd.DataFrame | None = None, *,
                            metric: str = "UA"):
    """EmoDistill's temperature sweeps: ``metric`` against τ, one panel per teacher, mean ± std
    over folds × seeds (error bars), with the student without KD as a reference band.

    Args:
        sweeps: :func:`emowb.eval.reproduce.sweep_frame` (teacher, tau, fold, seed, metrics).
        reference: runs of the student without KD (its ``metric`` column), or None.
    """
    import matplotlib.pyplot as plt

    teachers = list(dict.fromkeys(sweeps["teacher"]))
    fig, axes = plt.subplots(1, len(teachers), figsize=(5.6 * len(teachers), 3.9), sharey=True, squeeze=False)
    for ax, teacher in zip(axes[0], teachers):
        part = sweeps[sweeps["teacher"] == teacher]
        g = part.groupby("tau")[metric]
        mean, std, n = g.mean(), g.std(ddof=1), g.size()
        ax.errorbar(mean.index, mean.values, yerr=std.fillna(0).values, marker="o", capsize=3,
                    label=f"{teacher} teacher only (n={int(n.min())}-{int(n.max())} per τ)")
        if reference is not None and len(reference):
            r = reference[metric].astype(float)
            ax.axhline(r.mean(), color="#7f7f7f", ls="--", label=f"no KD (n={len(r)})")
            if len(r) > 1:
                ax.axhspan(r.mean() - r.std(ddof=1), r.mean() + r.std(ddof=1), color="#7f7f7f", alpha=0.15)
        ticks = sorted(part["tau"].unique())
        ax.set(xscale="log", title=f"{teacher} teacher: vary its temperature", xlabel="temperature τ (log scale)",
               ylabel=f"test {words(metric)}")
        ax.set_xticks(ticks, labels=[f"{t:g}" for t in ticks])
        ax.minorticks_off()
        ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig
