"""Feature statistics and per-speaker normalisation, shared by dialogue and utterance batches.

- :func:`feature_stats`: per-dimension mean / std of named feature sets over the valid rows
  (vectors) or frames (sequences) of some utterances (the training ones); a
  :class:`FeatureStats` that :func:`~emowb.batching.dialogues.build_dialogues` and
  :func:`~emowb.batching.utterances.build_utterance_data` standardise with.
- :func:`speaker_normalise`: z-score each speaker's features with that speaker's own statistics
  (label-free, so legitimate for test speakers too).

Statistics are computed in float64 and stored as float32; a dimension with std below ``1e-8``
gets std 1 (it is then only centred).

:func:`speaker_normalise` has two behaviours, chosen with explicit arguments, because its two
users always had different ones (they differ numerically on invalid rows):

=====================  =====================================================================
``over="corpus"``      every corpus utterance must have a row; a speaker's statistics are
                       taken over its valid rows in corpus-table order; rows of utterances
                       outside the corpus are left unnormalised (COGMEN's dialogue inputs)
``over="features"``    every row must be a corpus utterance; statistics over a speaker's valid
                       rows in row order (the utterance-level inputs of EmoDistill)
``invalid="zero"``     invalid rows are set to zero (dialogue inputs)
``invalid="keep"``     invalid rows are left as they are (utterance inputs)
=====================  =====================================================================
"""

from __future__ import annotations

import dataclasses
from typing import Hashable, Mapping, Sequence, TypeVar

import numpy as np

from emowb.data.corpus import Corpus
from emowb.features.base import FeatureError, FeatureSet

__all__ = ["FeatureStats", "feature_stats", "speaker_normalise", "mean_std"]

K = TypeVar("K", bound=Hashable)


@dataclasses.dataclass(frozen=True)
class FeatureStats:
    """Per-dimension mean and std of each input (modality or name) over some utterances."""

    mean: dict
    std: dict


def mean_std(v: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std over axis 0 of ``v`` (float64), std below ``1e-8`` replaced by 1."""
    mu, sd = v.mean(0), v.std(0)
    sd[sd < 1e-8] = 1.0
    return mu, sd


def _pool(fs: FeatureSet, rows: np.ndarray) -> np.ndarray:
    """The float64 values of ``rows`` (vectors) or all their frames concatenated (sequences)."""
    if fs.values is not None:
        return fs.values[rows].astype(np.float64)
    return np.concatenate([fs.sequences[i] for i in rows], 0).astype(np.float64)


def feature_stats(features: Mapping[K, FeatureSet], utt_ids: Sequence[str],
                  names: Sequence[K] | None = None) -> FeatureStats:
    """Mean / std per dimension of each input over the valid rows (frames) of ``utt_ids``.

    Args:
        features: input key (a :class:`~emowb.types.Modality` or a name) -> feature set.
        utt_ids: the utterances to take the statistics over (e.g. the training ones).
        names: the keys to compute statistics for (default all).

    Raises:
        FeatureError: an input without a valid row among ``utt_ids``, or an unknown utterance.
    """
    means, stds = {}, {}
    for key in (list(features) if names is None else names):
        fs = features[key]
        idx = fs.index_of(list(utt_ids))
        ok = idx[fs.valid[idx]]
        if ok.size == 0:
            raise FeatureError(f"feature set {fs.name!r} (input {getattr(key, 'value', key)!r}): no valid "
                               f"utterance among the {len(idx)} given; cannot compute statistics")
        mu, sd = mean_std(_pool(fs, ok))
        means[key], stds[key] = mu.astype(np.float32), sd.astype(np.float32)
    return FeatureStats(means, stds)


def speaker_normalise(corpus: Corpus, features: Mapping[K, FeatureSet], names: Sequence[K] | None = None,
                      *, over: str, invalid: str) -> dict[K, FeatureSet]:
    """Z-score every speaker's features with that speaker's own mean / std.

    Vectors are normalised row-wise; frame sequences with the statistics over all frames of the
    speaker's valid utterances. A speaker without a valid utterance is left as is. The returned
    sets are copies (the inputs are untouched) and record ``"speaker_normalised": True`` in their
    config (so cache keys change).

    Args:
        corpus: the corpus (the ``speaker`` of each utterance).
        features: input key -> feature set; keys not in ``names`` are returned unchanged.
        names: the inputs to normalise (default all).
        over: ``"corpus"`` or ``"features"``: which utterances are normalised and in which order
            the statistics are accumulated (see the module docstring).
        invalid: ``"zero"`` (invalid rows become zeros) or ``"keep"`` (left as they are).

    Raises:
        FeatureError: ``over="corpus"`` and a corpus utterance has no row; ``over="features"``
            and a row's utterance is not in the corpus.
        ValueError: unknown ``over`` / ``invalid``.
    """
    if over not in ("corpus", "features"):
        raise ValueError(f"over={over!r}: use 'corpus' or 'features'")
    if invalid not in ("zero", "keep"):
        raise ValueError(f"invalid={invalid!r}: use 'zero' or 'keep'")
    t = corpus.table
    out = dict(features)
    for key in (list(features) if names is None else names):
        fs = features[key]
        if over == "corpus":
            rows = fs.index_of(t["utt_id"].tolist())
            speakers = t["speaker"].to_numpy()
        else:
            spk_of = dict(zip(t["utt_id"], t["speaker"]))
            unknown = [u for u in fs.utt_ids if u not in spk_of]
            if unknown:
                raise FeatureError(f"input {getattr(key, 'value', key)!r}: utterance {unknown[0]!r} is not in "
                                   f"corpus {corpus.name!r}")
            rows = np.arange(len(fs))
            speakers = np.array([spk_of[u] for u in fs.utt_ids])
        vals = None if fs.values is None else fs.values.copy()
        seqs = None if fs.sequences is None else list(fs.sequences)
        for s in np.unique(speakers):
            r = rows[speakers == s]
            ok = r[fs.valid[r]]
            if ok.size == 0:
                continue
            v = _pool(fs, ok)
            mu, sd = mean_std(v)
            if vals is not None:
                vals[ok] = ((v - mu) / sd).astype(np.float32)
            else:
                for i in ok:
                    seqs[i] = ((seqs[i] - mu) / sd).astype(np.float32)
        if invalid == "zero":
            if vals is not None:
                vals[~fs.valid] = 0.0
            else:
                seqs = [np.zeros_like(x) if not ok else x for x, ok in zip(seqs, fs.valid)]
        cfg = {**fs.config, "speaker_normalised": True}
        out[key] = (dataclasses.replace(fs, values=vals, config=cfg) if vals is not None
                    else dataclasses.replace(fs, sequences=seqs, config=cfg))
    return out
