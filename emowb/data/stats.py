"""Descriptive statistics of a corpus: what data.ipynb shows, computed here so it is tested."""

from __future__ import annotations

import numpy as np
import pandas as pd

from emowb.data.corpus import Corpus


def counts(corpus: Corpus) -> dict[str, pd.DataFrame]:
    """Utterance counts per label crossed with speaker, group and dialogue."""
    t = corpus.table
    labels = list(corpus.labels)
    return {by: pd.crosstab(t[by], t["label"]).reindex(columns=labels, fill_value=0)
            for by in ("speaker", "group", "dialogue_id")}


def label_transitions(corpus: Corpus, *, same_speaker: bool | None = None) -> pd.DataFrame:
    """Row-normalised P(label of the next utterance | label of this one) within dialogues.

    Args:
        same_speaker: True = only consecutive utterances of one speaker (inertia), False = only
            speaker changes (contagion / reaction), None = all consecutive pairs.
    """
    t = corpus.table
    labels = list(corpus.labels)
    prev = t.groupby("dialogue_id", sort=False)[["label", "speaker"]].shift(1)
    pairs = pd.DataFrame({"from": prev["label"], "to": t["label"],
                          "same": prev["speaker"] == t["speaker"]}).dropna(subset=["from"])
    if same_speaker is not None:
        pairs = pairs[pairs["same"] == same_speaker]
    ct = pd.crosstab(pairs["from"], pairs["to"]).reindex(index=labels, columns=labels, fill_value=0)
    return ct.div(ct.sum(axis=1).replace(0, np.nan), axis=0).fillna(0.0)


def turn_taking(corpus: Corpus) -> pd.DataFrame:
    """Per dialogue: utterances, speakers, speaker changes and the longest single-speaker run."""
    rows = []
    for did, d in corpus.table.groupby("dialogue_id", sort=False):
        spk = d["speaker"].to_numpy()
        change = spk[1:] != spk[:-1]
        runs = np.diff(np.flatnonzero(np.r_[True, change, True]))
        rows.append({"dialogue_id": did, "utterances": len(d), "speakers": len(set(spk)),
                     "speaker_changes": int(change.sum()), "longest_run": int(runs.max())})
    return pd.DataFrame(rows)
