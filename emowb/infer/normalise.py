"""Input normalisation at inference: speaker statistics (offline or running) + training statistics.

A run trained with per-speaker normalisation z-scored each speaker's features with that speaker's
own mean / std over *all* of its utterances, then standardised them with the training split's
statistics (:mod:`emowb.batching.normalise`). At inference the speaker statistics come from one
of three sources (``speaker_norm``):

``offline``
    every utterance of a speaker in the input is seen first and the statistics are taken over
    all of them, exactly as in training and evaluation (so predictions on a corpus' test
    speaker equal the run's own evaluation). Not causal: the last utterance changes the first
    prediction.
``running`` (the default; the only one a stream can use)
    causal statistics: utterance k of a speaker is normalised with the mean / variance of that
    speaker's utterances 1..k, shrunk towards a prior from the training speakers::

        mean_k = (n0 · m0 + Σ_{j<=k} x_j) / (n0 + k)
        var_k  = (n0 · (v0 + m0²) + Σ_{j<=k} x_j²) / (n0 + k) − mean_k²

    ``m0`` = mean of the training utterances' raw features, ``v0`` = the average within-speaker
    variance of the training speakers, ``n0`` = ``prior_count`` pseudo-utterances (default 5; for
    frame sequences the sums run over frames and ``n0`` counts mean-length utterances). A new
    speaker therefore starts from the training speakers' typical statistics and moves to their
    own as they speak.
``none``
    only the prior (``k = 0`` above): every utterance normalised with the training speakers'
    typical statistics.

Then ``(x − train_mean) / train_std`` as in training. A run trained without per-speaker
normalisation skips the first step whatever ``speaker_norm`` says.
"""

from __future__ import annotations

import dataclasses
from typing import Hashable, Sequence

import numpy as np

__all__ = ["SPEAKER_NORMS", "Normaliser", "RunningStats"]

SPEAKER_NORMS = ("running", "offline", "none")


def _rows(x: np.ndarray) -> np.ndarray:
    """A vector (D,) as one row, frames (T, D) as they are, float64."""
    return np.atleast_2d(np.asarray(x, dtype=np.float64))


@dataclasses.dataclass
class Normaliser:
    """The normalisation of one run's inputs (see the module docstring).

    Attributes:
        train_mean, train_std: (D,) float32 standardisation statistics (None: not standardised).
        per_speaker: the run normalised per speaker.
        prior_mean, prior_var: (D,) float64 prior of the running statistics.
        prior_count: pseudo-count n0 of the prior, in rows (utterances or frames).
        sequence: inputs are (T, D) frame sequences.
    """

    train_mean: np.ndarray | None
    train_std: np.ndarray | None
    per_speaker: bool
    prior_mean: np.ndarray | None = None
    prior_var: np.ndarray | None = None
    prior_count: float = 5.0
    sequence: bool = False

    def to_arrays(self) -> dict[str, np.ndarray]:
        out = {}
        for k in ("train_mean", "train_std", "prior_mean", "prior_var"):
            if getattr(self, k) is not None:
                out[k] = np.asarray(getattr(self, k))
        return out

    def to_json(self) -> dict:
        return {"per_speaker": self.per_speaker, "prior_count": self.prior_count, "sequence": self.sequence,
                "standardised": self.train_mean is not None}

    @classmethod
    def from_parts(cls, meta: dict, arrays) -> "Normaliser":
        get = lambda k: np.asarray(arrays[k]) if k in arrays else None  # noqa: E731
        return cls(train_mean=get("train_mean"), train_std=get("train_std"), per_speaker=bool(meta["per_speaker"]),
                   prior_mean=get("prior_mean"), prior_var=get("prior_var"),
                   prior_count=float(meta["prior_count"]), sequence=bool(meta["sequence"]))

    # ------------------------------------------------------------------ the two steps
    def standardise(self, x: np.ndarray) -> np.ndarray:
        if self.train_mean is None:
            return np.asarray(x, np.float32)
        return ((x - self.train_mean) / self.train_std).astype(np.float32)

    def offline(self, feats: Sequence[np.ndarray], speakers: Sequence[Hashable]) -> list[np.ndarray]:
        """Normalise every utterance with its speaker's statistics over all of ``feats`` (the
        training code's rule: :func:`emowb.batching.normalise.speaker_normalise`)."""
        from emowb.batching.normalise import mean_std

        out = [np.asarray(f) for f in feats]
        if self.per_speaker:
            speakers = np.asarray([str(s) for s in speakers])
            for s in np.unique(speakers):
                idx = np.flatnonzero(speakers == s)
                pooled = np.concatenate([_rows(out[i]) for i in idx], 0)
                mu, sd = mean_std(pooled)
                for i in idx:
                    if self.sequence:
                        out[i] = ((out[i] - mu) / sd).astype(np.float32)
                    else:
                        out[i] = ((out[i].astype(np.float64) - mu) / sd).astype(np.float32)
        return [self.standardise(f) for f in out]

    def running(self) -> "RunningStats":
        """Causal per-speaker statistics (one :class:`RunningStats` serves many speakers)."""
        return RunningStats(self)

    def prior_only(self, x: np.ndarray) -> np.ndarray:
        """``speaker_norm="none"``: the prior statistics alone."""
        if not self.per_speaker:
            return self.standardise(x)
        sd = np.sqrt(self.prior_var)
        sd[sd < 1e-8] = 1.0
        return self.standardise(((np.asarray(x) - self.prior_mean) / sd).astype(np.float32))


class RunningStats:
    """Running (causal) per-speaker statistics with a prior (see the module docstring)."""

    def __init__(self, norm: Normaliser) -> None:
        self.norm = norm
        self._sums: dict[Hashable, tuple[float, np.ndarray, np.ndarray]] = {}

    def __call__(self, x: np.ndarray, speaker: Hashable) -> np.ndarray:
        """Add utterance ``x`` ((D,) or (T, D)) to ``speaker``'s statistics and normalise it."""
        n = self.norm
        if not n.per_speaker:
            return n.standardise(x)
        rows = _rows(x)
        if speaker not in self._sums:
            n0 = n.prior_count
            self._sums[speaker] = (n0, n0 * n.prior_mean, n0 * (n.prior_var + n.prior_mean ** 2))
        c, s1, s2 = self._sums[speaker]
        c, s1, s2 = c + rows.shape[0], s1 + rows.sum(0), s2 + (rows ** 2).sum(0)
        self._sums[speaker] = (c, s1, s2)
        mu = s1 / c
        sd = np.sqrt(np.maximum(s2 / c - mu ** 2, 0.0))
        sd[sd < 1e-8] = 1.0
        z = ((np.asarray(x, np.float64) - mu) / sd).astype(np.float32)
        return n.standardise(z)

    def speakers(self) -> list:
        return list(self._sums)
