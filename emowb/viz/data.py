"""Figures of data.ipynb: counts, durations, turn-taking, transitions, feature distributions."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd

from emowb.data.corpus import Corpus
from emowb.data.stats import counts, label_transitions, turn_taking
from emowb.features.face import read_openface


def plot_counts(corpus: Corpus):
    """Stacked bars: utterances per label for each session/group and each speaker, + durations."""
    import matplotlib.pyplot as plt

    c = counts(corpus)
    has_dur = "duration" in corpus.table
    fig, axes = plt.subplots(1, 3 if has_dur else 2, figsize=(17 if has_dur else 12, 4))
    c["group"].plot.bar(stacked=True, ax=axes[0], rot=0, title="utterances per group (session)", legend=False)
    c["speaker"].plot.bar(stacked=True, ax=axes[1], rot=45, title="utterances per speaker", legend=False)
    axes[0].set(xlabel="group (session)", ylabel="utterances")
    axes[1].set(xlabel="speaker", ylabel="utterances")
    # the legend beside the bars, not over them
    axes[0].legend(*axes[0].get_legend_handles_labels(), title="label", fontsize=8, loc="upper left",
                   bbox_to_anchor=(1.0, 1.0))
    if has_dur:
        t = corpus.table
        for lab in corpus.labels:
            axes[2].hist(t.loc[t["label"] == lab, "duration"], bins=30, alpha=0.5, label=lab)
        axes[2].set(title="utterance duration", xlabel="duration (s)", ylabel="utterances")
        axes[2].legend(title="label", fontsize=8)
    fig.tight_layout()
    return fig


def plot_dialogue_structure(corpus: Corpus):
    """Turn-taking histograms and label-transition matrices (same speaker vs speaker change)."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    tt = turn_taking(corpus)
    fig, axes = plt.subplots(1, 4, figsize=(20, 4.2))
    from matplotlib.ticker import MaxNLocator

    axes[0].hist(tt["utterances"], bins=15)
    axes[0].set(title="utterances per dialogue", xlabel="utterances in the dialogue", ylabel="dialogues")
    axes[1].hist(tt["longest_run"], bins=np.arange(1, tt["longest_run"].max() + 2) - 0.5)
    axes[1].set(title="longest single-speaker run", xlabel="consecutive turns of one speaker", ylabel="dialogues")
    for ax in axes[:2]:                          # counts: whole-number ticks
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    for ax, same, name in ((axes[2], True, "same speaker (inertia)"), (axes[3], False, "speaker change")):
        sns.heatmap(label_transitions(corpus, same_speaker=same), annot=True, fmt=".2f", cmap="Blues",
                    vmin=0, vmax=1, cbar=False, ax=ax, square=True)
        ax.set(title=f"P(next label | label): {name}", xlabel="next", ylabel="this")
    fig.tight_layout()
    return fig


def plot_feature_distributions(corpus: Corpus, feature_sets: dict, columns: dict[str, Sequence[int | str]]):
    """Violin plots of chosen feature dimensions per label.

    Args:
        feature_sets: name -> :class:`~emowb.features.FeatureSet` (vector kind).
        columns: name -> dimensions to show, as indices or as names
            (:func:`emowb.features.names.feature_names`).
    """
    from emowb.features.names import feature_names
    import matplotlib.pyplot as plt
    import seaborn as sns

    panels = [(n, col) for n, cols in columns.items() for col in cols]
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.8), squeeze=False)
    lab_of = dict(zip(corpus.table["utt_id"], corpus.table["label"]))
    for ax, (name, col) in zip(axes[0], panels):
        fs = feature_sets[name]
        names = feature_names(fs)
        j = names.index(col) if isinstance(col, str) else int(col)
        keep = fs.valid
        df = pd.DataFrame({"value": fs.values[keep, j],
                           "label": [lab_of[u] for u, k in zip(fs.utt_ids, keep) if k]})
        sns.violinplot(data=df, x="label", y="value", order=list(corpus.labels), ax=ax, cut=0,
                       inner="quartile")
        ax.set(title=f"{name}: {col if isinstance(col, str) else names[j] if names else j}", xlabel="",
               ylabel="")
        ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    return fig


def plot_face_trace(corpus: Corpus, utt_id: str, aus: Sequence[str] = ("AU04", "AU06", "AU12", "AU15",
                                                                       "AU25", "AU45")):
    """AU intensity traces of one utterance's OpenFace CSV (failed frames shaded)."""
    import matplotlib.pyplot as plt

    t = corpus.table
    i = int(np.flatnonzero((t["utt_id"] == utt_id).to_numpy())[0])
    path = corpus.path("face", i)
    if path is None:
        raise ValueError(f"utterance {utt_id!r} has no face CSV")
    df = read_openface(path)
    fig, ax = plt.subplots(figsize=(9, 3.2))
    for au in aus:
        ax.plot(df["timestamp"], df[f"{au}_r"], label=au)
    failed = df["success"] == 0
    if failed.any():
        ax.fill_between(df["timestamp"], 0, 5, where=failed, color="grey", alpha=0.2, label="not tracked")
    ax.set(title=f"{utt_id} ({t['label'].iat[i]}): {t['text'].iat[i]}", xlabel="s", ylabel="intensity",
           ylim=(0, 5))
    ax.legend(ncol=4, fontsize=8)
    fig.tight_layout()
    return fig
