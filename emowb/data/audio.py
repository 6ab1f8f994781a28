"""One robust audio reader for every audio extractor.

:func:`load_audio` returns float32 mono samples at the requested rate from

- WAV / FLAC / OGG / MP3 / AIFF ... through ``soundfile`` (libsndfile >= 1.1 decodes MP3), and
- the audio track of video files (MP4, AVI, MKV, MOV, WebM) and anything else FFmpeg reads
  (M4A/AAC, WMA, ...) through PyAV (``av``, whose wheels bundle FFmpeg: no system install).

Handling, in order:

- **Channels**: multi-channel audio is downmixed to mono by averaging the channels (equal
  weights; a phase-inverted stereo pair therefore cancels -- use a manifest with a mono file if
  one channel is the speaker).
- **Segment**: ``start`` / ``end`` (seconds) cut a segment out of a longer file. ``start`` beyond
  the end of the file is an error; ``end`` beyond it is cut at the file end and noted.
- **Length cap**: ``max_duration`` keeps only the first ``max_duration`` seconds (noted in
  :attr:`AudioClip.notes`); without it the whole file/segment is decoded.
- **Rate**: any input rate is resampled with ``scipy.signal.resample_poly`` (polyphase,
  Kaiser window), deterministic.
- **Errors**: a missing, empty (0-byte), corrupt or undecodable file, a file with no audio
  stream, or samples that are NaN/inf raise :class:`AudioError` naming the file.
- **Truncated files**: a WAV whose data chunk is shorter than its header declares (a copy or
  download cut short) is read as the samples it holds (libsndfile does so without a word) and
  noted ``"truncated file: header says X s, data has Y s"``: the clip stays valid, the note
  reaches the feature set's notes.

Content that decodes fine but carries no usable speech is *not* an error here: callers ask
:func:`signal_problem`, which reports silent (peak below :data:`SILENCE_FLOOR`, i.e. digital
silence) and very short (< :data:`MIN_DURATION` s, including zero samples) signals; the
feature extractors then mark such utterances invalid with that note (the missing-modality
flag), never drop them.
"""

from __future__ import annotations

import dataclasses
import math
import os
from fractions import Fraction
from pathlib import Path

import numpy as np

#: Shortest signal (seconds) that extractors accept; shorter ones are flagged invalid.
MIN_DURATION = 0.1
#: Peak absolute amplitude (full scale = 1) below which a signal counts as silent (-80 dBFS,
#: about 3 LSB of 16-bit audio: digital silence or a dead microphone).
SILENCE_FLOOR = 1e-4
#: File suffixes that go straight to FFmpeg (PyAV); everything else tries soundfile first.
VIDEO_SUFFIXES = frozenset({".mp4", ".m4a", ".m4v", ".avi", ".mkv", ".mov", ".webm", ".aac",
                            ".wma", ".mpg", ".mpeg", ".3gp", ".flv", ".ts"})


class AudioError(ValueError):
    """Audio that cannot be read: the message names the file."""


@dataclasses.dataclass(frozen=True)
class AudioClip:
    """Decoded audio.

    Attributes:
        samples: (T,) float32 mono at ``sr``.
        sr: sample rate of ``samples``.
        path: the source file.
        source_sr: the file's own sample rate.
        channels: the file's channel count (before downmixing).
        notes: fallbacks applied (segment end cut at file end, truncation), "" free.
    """

    samples: np.ndarray
    sr: int
    path: Path
    source_sr: int
    channels: int
    notes: tuple[str, ...] = ()

    @property
    def duration(self) -> float:
        """Seconds of ``samples``."""
        return len(self.samples) / self.sr


def load_audio(path: str | os.PathLike, *, sr: int = 16000, start: float | None = None,
               end: float | None = None, max_duration: float | None = None) -> np.ndarray:
    """Decode ``path`` to float32 mono at ``sr`` (see the module doc for the handling).

    Args:
        path: the audio or video file.
        sr: target sample rate.
        start: segment start in seconds (None / NaN = 0).
        end: segment end in seconds (None / NaN = end of file).
        max_duration: keep at most this many seconds (None = no cap).

    Returns:
        (T,) float32 samples in [-1, 1] (floating-point files may exceed it).

    Raises:
        AudioError: missing / empty / corrupt / undecodable file, no audio stream, NaN/inf
            samples, or a segment that starts beyond the end of the file.
    """
    return read_audio(path, sr=sr, start=start, end=end, max_duration=max_duration).samples


def read_audio(path: str | os.PathLike, *, sr: int = 16000, start: float | None = None,
               end: float | None = None, max_duration: float | None = None) -> AudioClip:
    """Like :func:`load_audio` but returns an :class:`AudioClip` with provenance and notes."""
    path = Path(path)
    start = 0.0 if start is None or _isnan(start) else float(start)
    end = None if end is None or _isnan(end) else float(end)
    if sr <= 0:
        raise ValueError(f"sample rate must be positive, got {sr}")
    if start < 0 or (end is not None and end <= start):
        raise AudioError(f"{path}: bad segment start={start} end={end} (need 0 <= start < end)")
    if not path.is_file():
        raise AudioError(f"audio file not found: {path}")
    if path.stat().st_size == 0:
        raise AudioError(f"empty audio file (0 bytes): {path}")
    want = None if end is None else end - start
    notes: list[str] = []
    if max_duration is not None and (want is None or want > max_duration):
        want_capped = float(max_duration)
    else:
        want_capped = want
    if path.suffix.lower() in VIDEO_SUFFIXES:
        x, file_sr, channels, total = _decode_av(path, start, want_capped)
    else:
        try:
            x, file_sr, channels, total = _decode_soundfile(path, start, want_capped)
        except AudioError:
            raise
        except Exception as sf_err:  # libsndfile cannot parse it: let FFmpeg try
            try:
                x, file_sr, channels, total = _decode_av(path, start, want_capped)
            except AudioError as av_err:
                raise AudioError(f"cannot decode audio file {path}: soundfile: {sf_err}; "
                                 f"ffmpeg: {av_err}") from None
    if path.suffix.lower() in (".wav", ".wave"):
        short = wav_truncation(path)
        if short is not None:
            notes.append(f"truncated file: header says {short[0]:.3f} s, data has {short[1]:.3f} s")
    if total is not None and start >= total:
        raise AudioError(f"{path}: segment start {start:.3f} s lies beyond the end of the file "
                         f"({total:.3f} s)")
    if total is not None and end is not None and end > total + 1e-3:
        notes.append(f"segment end {end:.3f} s beyond file end {total:.3f} s; cut at file end")
    full = (total - start) if (want is None and total is not None) else want
    if max_duration is not None and full is not None and full > max_duration:
        notes.append(f"truncated: {full:.1f} s > max_duration {max_duration:g} s")
    if not np.isfinite(x).all():
        raise AudioError(f"{path}: {int((~np.isfinite(x)).sum())} NaN/inf samples (corrupt data)")
    x = x.mean(axis=1) if x.shape[1] > 1 else x[:, 0]
    x = resample(x, orig_sr=file_sr, sr=sr)
    return AudioClip(samples=x, sr=sr, path=path, source_sr=file_sr, channels=channels,
                     notes=tuple(notes))


def resample(x: np.ndarray, *, orig_sr: int, sr: int) -> np.ndarray:
    """Polyphase resampling of a 1-D signal, (T,) -> (T * sr / orig_sr,) float32."""
    x = np.asarray(x, dtype=np.float32)
    if orig_sr == sr or len(x) == 0:
        return np.ascontiguousarray(x)
    from scipy.signal import resample_poly

    ratio = Fraction(int(sr), int(orig_sr))
    y = resample_poly(x.astype(np.float64), ratio.numerator, ratio.denominator)
    return y.astype(np.float32)


def signal_problem(samples: np.ndarray, sr: int, *, min_duration: float = MIN_DURATION,
                   silence_floor: float = SILENCE_FLOOR) -> str:
    """Why a decoded signal is unusable for feature extraction, or "" if it is fine.

    Args:
        samples: (T,) mono signal.
        sr: its sample rate.
        min_duration: shortest acceptable duration in seconds.
        silence_floor: peak absolute amplitude below which the signal is silent.

    Returns:
        "" or a note such as ``"too short: 0.050 s < 0.1 s"`` or ``"silent: peak ..."``.
    """
    dur = len(samples) / sr
    if dur < min_duration:
        return f"too short: {dur:.3f} s < {min_duration:g} s"
    peak = float(np.max(np.abs(samples)))
    if peak < silence_floor:
        db = -math.inf if peak == 0 else 20 * math.log10(peak)
        return f"silent: peak amplitude {peak:.2g} ({db:.0f} dBFS) below the floor {silence_floor:g}"
    return ""


def audio_duration(path: str | os.PathLike) -> float:
    """The duration of a file in seconds from its header (no full decode).

    Raises:
        AudioError: when neither soundfile nor FFmpeg can read the header.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(f"audio file not found: {path}")
    if path.suffix.lower() not in VIDEO_SUFFIXES:
        try:
            import soundfile as sf

            info = sf.info(str(path))
            return info.frames / info.samplerate
        except Exception:  # fall through to FFmpeg
            pass
    try:
        import av

        with av.open(str(path)) as c:
            streams = c.streams.audio
            if not streams:
                raise AudioError(f"no audio stream in {path}")
            s = streams[0]
            if s.duration is not None and s.time_base is not None:
                return float(s.duration * s.time_base)
            if c.duration is not None:
                return c.duration / 1_000_000
    except AudioError:
        raise
    except Exception as e:
        raise AudioError(f"cannot read audio header of {path}: {e}") from None
    return float(len(read_audio(path, sr=8000).samples) / 8000)


def wav_truncation(path: str | os.PathLike) -> tuple[float, float] | None:
    """``(header seconds, data seconds)`` when a RIFF/WAVE file's ``data`` chunk is shorter than
    its header declares (a truncated file), else None (also for files that are not plain RIFF
    WAVs, or whose header leaves the size open: 0 or 0xFFFFFFFF as streaming writers do)."""
    import struct

    path = Path(path)
    try:
        size = path.stat().st_size
        with open(path, "rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            rate = block = 0
            pos = 12
            while pos + 8 <= size:
                f.seek(pos)
                chunk = f.read(8)
                if len(chunk) < 8:
                    return None
                cid, n = chunk[:4], struct.unpack("<I", chunk[4:])[0]
                if cid == b"fmt ":
                    fmt = f.read(min(n, 16))
                    if len(fmt) < 14:
                        return None
                    rate = struct.unpack("<I", fmt[4:8])[0]
                    block = struct.unpack("<H", fmt[12:14])[0]
                elif cid == b"data":
                    if not rate or not block or n in (0, 0xFFFFFFFF):
                        return None
                    have = size - (pos + 8)
                    if have // block >= n // block:   # complete (a partial last frame is not worth a note)
                        return None
                    return (n // block) / rate, (have // block) / rate
                pos += 8 + n + (n & 1)                # chunks are padded to even sizes
    except (OSError, struct.error):
        return None
    return None


# ------------------------------------------------------------------------------- decoders
def _isnan(v: float) -> bool:
    return isinstance(v, float) and math.isnan(v)


def _decode_soundfile(path: Path, start: float, want: float | None):
    """(frames, channels) float32, file rate, channels, file duration."""
    import soundfile as sf

    with sf.SoundFile(str(path)) as f:
        file_sr, channels, frames = f.samplerate, f.channels, f.frames
        if file_sr <= 0:
            raise AudioError(f"{path}: invalid sample rate {file_sr}")
        total = frames / file_sr
        first = int(round(start * file_sr))
        if first >= frames and frames > 0:
            return np.zeros((0, channels), np.float32), file_sr, channels, total
        if first:
            f.seek(first)
        n = -1 if want is None else int(round(want * file_sr))
        x = f.read(frames=n, dtype="float32", always_2d=True)
    return x, file_sr, channels, total


def _decode_av(path: Path, start: float, want: float | None):
    """Decode the first audio stream with FFmpeg; same return as :func:`_decode_soundfile`."""
    try:
        import av
    except ImportError as e:  # pragma: no cover - av is a dependency
        raise AudioError(f"{path}: decoding this format needs PyAV (pip install av): {e}") from None
    try:
        container = av.open(str(path))
    except Exception as e:
        raise AudioError(f"cannot open {path} with FFmpeg: {e}") from None
    with container:
        if not container.streams.audio:
            raise AudioError(f"no audio stream in {path}")
        stream = container.streams.audio[0]
        file_sr = stream.codec_context.sample_rate or stream.rate
        channels = stream.codec_context.channels or 1
        if not file_sr:
            raise AudioError(f"{path}: audio stream has no sample rate")
        first = int(round(start * file_sr))
        stop = None if want is None else first + int(round(want * file_sr))
        resampler = av.AudioResampler(format="fltp", layout=stream.codec_context.layout,
                                      rate=file_sr)
        chunks, pos = [], 0
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    a = out.to_ndarray()  # (channels, n)
                    chunks.append(a[:, max(0, first - pos):None if stop is None else max(0, stop - pos)])
                    pos += a.shape[1]
                if stop is not None and pos >= stop:
                    break
        except Exception as e:
            raise AudioError(f"cannot decode audio of {path}: {e}") from None
    total = pos / file_sr if stop is None or pos < stop else None
    x = np.concatenate(chunks, axis=1).T if chunks else np.zeros((0, channels), np.float32)
    if x.size == 0 and pos == 0:
        raise AudioError(f"{path}: the audio stream decoded to no samples")
    return np.ascontiguousarray(x, dtype=np.float32), file_sr, channels, total
