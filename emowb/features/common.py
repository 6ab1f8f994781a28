"""What extractors share besides their base class (:class:`~emowb.features.base.Extractor`):
the audio policy, audio jobs, NaN/inf flagging.

An extractor is built from keyword parameters. Those that change the output form its
:meth:`~emowb.features.base.Extractor.config` (the cache key); runtime options (``num_workers``,
``device``, ``batch_seconds``, ``batch_size``, ``progress``) do not, because they do not change
the result.

Missing-modality and fallback rules (one note per utterance in ``FeatureSet.notes``):

- no audio file in the table (``audio == ""``)            -> invalid, note ``"no audio"``
- silent (peak < ``silence_floor``) or shorter than ``min_duration``  -> invalid, with the reason
- longer than ``max_duration`` (default 600 s)              -> valid, first ``max_duration`` s
  used, note ``"truncated: ..."``
- segment ``end`` beyond the file end                       -> valid, cut at the end, noted
- truncated WAV (data chunk shorter than its header says)   -> valid, the samples present are
  used, note ``"truncated file: header says X s, data has Y s"``
- NaN/inf in an extractor's output                          -> invalid, row zeroed, noted
- missing / empty / corrupt / undecodable file              -> :class:`ExtractionError` naming
  the utterance and file (``on_error="raise"``, the default), or invalid with note
  ``"unreadable: ..."`` (``on_error="flag"``)

Invalid rows are all-zero vectors, or a single all-zero frame ``(1, D)`` for sequence features.
"""

from __future__ import annotations

import dataclasses
import enum
import math

import numpy as np

from emowb.data.audio import MIN_DURATION, SILENCE_FLOOR, AudioError, read_audio, signal_problem
from emowb.data.corpus import Corpus
from emowb.features.base import ExtractionError

__all__ = ["OnError", "AudioPolicy", "AudioJob", "audio_jobs", "read_job", "finite_or_flag"]


class OnError(str, enum.Enum):
    """What to do with an unreadable input file."""

    RAISE = "raise"   # stop with an error naming the utterance and file
    FLAG = "flag"     # mark the utterance invalid with the error as its note


@dataclasses.dataclass(frozen=True)
class AudioPolicy:
    """How audio is read and which signals count as missing (part of every audio config)."""

    sr: int = 16000
    min_duration: float = MIN_DURATION
    silence_floor: float = SILENCE_FLOOR
    max_duration: float | None = 600.0
    on_error: OnError = OnError.RAISE

    def __post_init__(self) -> None:
        object.__setattr__(self, "on_error", OnError(self.on_error))
        if self.sr <= 0 or self.min_duration < 0 or (self.max_duration is not None and self.max_duration <= 0):
            raise ValueError(f"bad audio policy {self}")

    def to_json(self) -> dict:
        return {"sr": self.sr, "min_duration": self.min_duration, "silence_floor": self.silence_floor,
                "max_duration": self.max_duration, "on_error": self.on_error.value}


@dataclasses.dataclass(frozen=True)
class AudioJob:
    """One utterance's audio to read: picklable, so that worker processes can take it."""

    utt_id: str
    path: str          # "" = no audio
    start: float | None
    end: float | None


def audio_jobs(corpus: Corpus) -> list[AudioJob]:
    """One :class:`AudioJob` per table row, in table order."""
    t = corpus.table
    out = []
    for i in range(len(t)):
        p = corpus.path("audio", i)
        s, e = float(t["start"].iat[i]), float(t["end"].iat[i])
        out.append(AudioJob(t["utt_id"].iat[i], str(p) if p else "",
                            None if math.isnan(s) else s, None if math.isnan(e) else e))
    return out


def read_job(job: AudioJob, policy: AudioPolicy) -> tuple[np.ndarray | None, str]:
    """Decode one job under ``policy``: (samples, note) with samples None when invalid.

    Raises:
        ExtractionError: an unreadable file under ``on_error="raise"``.
    """
    if not job.path:
        return None, "no audio"
    try:
        clip = read_audio(job.path, sr=policy.sr, start=job.start, end=job.end,
                          max_duration=policy.max_duration)
    except AudioError as e:
        if policy.on_error is OnError.RAISE:
            raise ExtractionError(f"utterance {job.utt_id!r}: {e}") from None
        return None, f"unreadable: {e}"
    problem = signal_problem(clip.samples, clip.sr, min_duration=policy.min_duration,
                             silence_floor=policy.silence_floor)
    if problem:
        return None, problem
    return clip.samples, "; ".join(clip.notes)


def finite_or_flag(vec: np.ndarray, note: str) -> tuple[np.ndarray, bool, str]:
    """(values, valid, note): a vector/array with NaN/inf becomes zeros, invalid, with a note."""
    bad = ~np.isfinite(vec)
    if bad.any():
        return np.zeros_like(vec, dtype=np.float32), False, \
            f"non-finite output ({int(bad.sum())} NaN/inf values)" + (f"; {note}" if note else "")
    return vec.astype(np.float32, copy=False), True, note
