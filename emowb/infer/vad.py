"""Energy voice-activity detection: a long recording or a live stream -> utterances.

One causal state machine (:class:`EnergyVAD`) serves both files and streams, so a file cut
offline and the same file streamed give the same utterances. Per 10-ms frame:

- frame level ``e`` = 10·log10(mean square + 1e-12) dBFS;
- the noise floor follows the quiet frames: it starts at ``-60`` dBFS (or the first frame's level,
  if louder) and moves towards each non-speech frame's level with time constant ``noise_tau``
  (0.5 s); it drops at once to a quieter frame;
- a frame is *active* when ``e > max(noise + threshold_db, min_level_db)`` (12 dB, -50 dBFS);
- an utterance starts after ``min_speech`` (0.1 s) of consecutive active frames, and ends after
  ``min_silence`` (0.5 s) of inactive frames; it spans its first active frame − ``pad`` to its
  last active frame + ``pad`` (0.1 s). Utterances shorter than ``min_utterance`` (0.3 s) of
  activity are dropped (clicks), longer than ``max_utterance`` (20 s) are closed there.

Why energy and not a neural VAD: it has no weights, costs ~20 µs per frame, and on
concatenated corpus utterances separated by >= 0.6-s pauses it finds the utterances
(``benchmarks/infer_latency.py`` and ``tests/test_infer.py`` measure it); in noisy rooms a
neural VAD (silero-vad) would do better. An utterance is reported ``min_silence`` after it
ends: that wait is the price of not cutting at a breath pause.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Iterator

import numpy as np

__all__ = ["VADConfig", "Segment", "EnergyVAD", "segment"]


@dataclasses.dataclass(frozen=True)
class VADConfig:
    """Settings of :class:`EnergyVAD` (see the module docstring); times in seconds."""

    frame: float = 0.01
    threshold_db: float = 12.0
    min_level_db: float = -50.0
    noise_tau: float = 0.5
    min_speech: float = 0.1
    min_silence: float = 0.5
    min_utterance: float = 0.3
    max_utterance: float = 20.0
    pad: float = 0.1


@dataclasses.dataclass(frozen=True)
class Segment:
    """One utterance found: sample range [start, end) of the stream, and the sample at which
    the detector knew it had ended (``decided``)."""

    start: int
    end: int
    decided: int


class EnergyVAD:
    """Causal energy VAD over a stream of samples (see the module docstring).

    ``push(samples)`` returns the segments that ended within the samples pushed so far;
    ``flush()`` closes an utterance still open at the end of the stream.
    """

    def __init__(self, sr: int, config: VADConfig = VADConfig()) -> None:
        self.sr, self.c = int(sr), config
        self.hop = max(1, int(round(config.frame * sr)))
        self._buf = np.zeros(0, np.float32)
        self._frame = 0                    # frames consumed
        self._noise: float | None = None
        self._alpha = 1.0 - math.exp(-config.frame / config.noise_tau)
        self._run = 0                      # consecutive active frames (before a start)
        self._start: int | None = None     # first active frame of the open utterance
        self._last_active = -1
        self._active_frames = 0

    def _f(self, seconds: float) -> int:
        return max(1, int(round(seconds / self.c.frame)))

    def push(self, samples: np.ndarray) -> list[Segment]:
        x = np.concatenate([self._buf, np.asarray(samples, np.float32).reshape(-1)])
        n = len(x) // self.hop
        self._buf = x[n * self.hop:]
        out: list[Segment] = []
        if n == 0:
            return out
        frames = x[: n * self.hop].reshape(n, self.hop).astype(np.float64)
        levels = 10 * np.log10((frames ** 2).mean(1) + 1e-12)
        for e in levels:
            seg = self._step(float(e))
            if seg is not None:
                out.append(seg)
        return out

    def _step(self, e: float) -> Segment | None:
        c, i = self.c, self._frame
        self._frame += 1
        if self._noise is None:
            self._noise = max(-60.0, min(e, -20.0))
        active = e > max(self._noise + c.threshold_db, c.min_level_db)
        if not active:
            self._noise = e if e < self._noise else self._noise + self._alpha * (e - self._noise)
        if self._start is None:
            self._run = self._run + 1 if active else 0
            if self._run >= self._f(c.min_speech):
                self._start = i - self._run + 1
                self._last_active, self._active_frames = i, self._run
            return None
        if active:
            self._last_active = i
            self._active_frames += 1
        if i - self._last_active >= self._f(c.min_silence) or i - self._start + 1 >= self._f(c.max_utterance):
            return self._close(decided_frame=i + 1)
        return None

    def _close(self, *, decided_frame: int) -> Segment | None:
        c = self.c
        start, last, active = self._start, self._last_active, self._active_frames
        self._start, self._run, self._active_frames = None, 0, 0
        if active < self._f(c.min_utterance):
            return None
        pad = self._f(c.pad)
        a = max(0, start - pad) * self.hop
        b = min(self._frame, last + 1 + pad) * self.hop
        return Segment(start=a, end=b, decided=decided_frame * self.hop)

    def flush(self) -> list[Segment]:
        """Close the utterance open at the end of the stream (a stream that ends mid-utterance)."""
        if self._start is None:
            return []
        seg = self._close(decided_frame=self._frame)
        return [seg] if seg is not None else []


def segment(wave: np.ndarray, sr: int, config: VADConfig = VADConfig()) -> list[Segment]:
    """The utterances of a whole recording (the streaming detector run over it)."""
    vad = EnergyVAD(sr, config)
    return vad.push(wave) + vad.flush()


def iter_chunks(wave: np.ndarray, size: int) -> Iterator[np.ndarray]:
    for a in range(0, len(wave), size):
        yield wave[a:a + size]
