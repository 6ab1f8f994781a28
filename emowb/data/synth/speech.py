"""Real synthesised speech from eSpeak NG (the ``espeakng-loader`` wheel, driven with ctypes).

eSpeak NG keeps internal state between calls (the same text synthesised twice in one process
differs in a few samples), so for byte-identical corpora each utterance is synthesised in a
child forked from a process whose eSpeak was initialised but has never spoken: every child
starts from the same state. A fork costs ~10 ms per utterance. The parent processes are
started with the ``spawn`` method and import nothing but numpy, so forking them is safe.

After synthesis the signal goes through a simple recording channel: resampling to the corpus
rate, the utterance's vocal effort (spectral tilt), the session's room (exponentially decaying noise impulse response with the session's
RT60), microphone gain, and the session's pink-ish background noise at the utterance's SNR.
"""

from __future__ import annotations

import ctypes
import os
import threading

import numpy as np
from scipy.signal import butter, fftconvolve, lfilter, resample_poly, sosfilt

ESPEAK_SR = 22050
_PARAM = {"rate": 1, "volume": 2, "pitch": 3, "range": 4, "wordgap": 7}
_CB_TYPE = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p)

_lib = None
_chunks: list[np.ndarray] = []
_lock = threading.Lock()


class SpeechError(RuntimeError):
    """eSpeak NG could not be loaded or could not synthesise an utterance."""


@_CB_TYPE
def _collect(wav, n, events):  # called by eSpeak with each block of samples
    if n > 0:
        _chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
    return 0


def init() -> None:
    """Load and initialise eSpeak NG in this process (idempotent). Does not synthesise."""
    global _lib
    if _lib is not None:
        return
    try:
        import espeakng_loader
    except ImportError as e:  # pragma: no cover - a hard dependency
        raise SpeechError("the synthetic corpus needs the PyPI package espeakng-loader") from e
    lib = ctypes.CDLL(espeakng_loader.get_library_path())
    lib.espeak_Initialize.restype = ctypes.c_int
    sr = lib.espeak_Initialize(2, 0, espeakng_loader.get_data_path().encode(), 0)  # 2 = synchronous
    if sr != ESPEAK_SR:
        raise SpeechError(f"eSpeak NG initialisation failed (returned {sr})")
    lib.espeak_SetSynthCallback(_collect)
    _lib = lib


def _synth_here(text: str, voice: str, params: dict[str, int]) -> np.ndarray:
    _chunks.clear()
    # voices with "breath"/"roughness" draw noise from eSpeak's generator; its default seed
    # is not fixed, so seed it (the value only has to be the same every time)
    _lib.espeak_ng_SetRandSeed(ctypes.c_long(0))
    if _lib.espeak_SetVoiceByName(voice.encode()) != 0:
        raise SpeechError(f"eSpeak NG has no voice {voice!r}")
    for name, value in params.items():
        _lib.espeak_SetParameter(_PARAM[name], int(value), 0)
    data = text.encode("utf-8")
    err = _lib.espeak_Synth(ctypes.c_char_p(data), len(data) + 1, 0, 0, 0, 1, None, None)  # 1 = UTF-8
    _lib.espeak_Synchronize()
    if err != 0:
        raise SpeechError(f"eSpeak NG failed on {text!r} (error {err})")
    return np.concatenate(_chunks) if _chunks else np.zeros(0, np.int16)


def synthesise(text: str, *, voice: str, rate: int, pitch: int, range_: int, volume: int,
               wordgap: int = 0) -> np.ndarray:
    """Synthesise ``text`` deterministically in a forked child.

    Returns:
        int16 samples at 22,050 Hz, shape (n,).
    Raises:
        SpeechError: unknown voice, synthesis failure, or no audio produced.
    """
    init()
    params = dict(rate=rate, pitch=pitch, range=range_, volume=volume, wordgap=wordgap)
    with _lock:
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # child: synthesise from eSpeak's pristine state, send bytes, exit
            code = 0
            try:
                os.close(r)
                try:
                    out = b"K" + _synth_here(text, voice, params).astype("<i2").tobytes()
                except Exception as e:  # send the reason to the parent
                    out = b"E" + str(e).encode()
                with os.fdopen(w, "wb") as f:
                    f.write(out)
            except BaseException:
                code = 1
            finally:
                os._exit(code)
        os.close(w)
        with os.fdopen(r, "rb") as f:
            raw = f.read()
        _, status = os.waitpid(pid, 0)
    if status != 0 or not raw:
        raise SpeechError(f"eSpeak NG synthesis crashed for voice {voice!r}, text {text!r}")
    if raw[:1] == b"E":
        raise SpeechError(raw[1:].decode())
    x = np.frombuffer(raw[1:], dtype="<i2")
    if x.size == 0:
        raise SpeechError(f"eSpeak NG produced no audio for {text!r}")
    return x


def pink_noise(n: int, rng: np.random.Generator) -> np.ndarray:
    """Approximately 1/f noise (Kellett's filter on white noise), unit RMS, shape (n,)."""
    b = [0.049922035, -0.095993537, 0.050612699, -0.004408786]
    a = [1, -2.494956002, 2.017265875, -0.522189400]
    x = lfilter(b, a, rng.standard_normal(n + 2000))[2000:]
    return x / (np.sqrt(np.mean(x ** 2)) + 1e-12)


def room_impulse(rt60: float, sr: int, rng: np.random.Generator) -> np.ndarray:
    """A direct path plus exponentially decaying diffuse tail with the given RT60 (s)."""
    n = int(rt60 * sr)
    t = np.arange(n) / sr
    tail = rng.standard_normal(n) * np.exp(-6.9078 * t / rt60)  # -60 dB at rt60
    tail[: int(0.003 * sr)] = 0.0  # first reflections arrive a few ms after the direct sound
    h = 0.25 * tail / (np.sqrt(np.sum(tail ** 2)) + 1e-12)
    h[0] = 1.0
    return h


def tilt(y: np.ndarray, sr: int, tilt_db: float) -> np.ndarray:
    """Vocal effort as spectral tilt: scale the band above 1 kHz by ``tilt_db``."""
    low = sosfilt(butter(2, 1000, "lowpass", fs=sr, output="sos"), y)
    return low + 10 ** (tilt_db / 20) * (y - low)


def record(x: np.ndarray, *, sr: int, rir: np.ndarray, gain_db: float, snr_db: float,
           noise_level: float, pad: tuple[float, float], rng: np.random.Generator,
           tilt_db: float = 0.0) -> np.ndarray:
    """Pass eSpeak output through the session's recording channel.

    Args:
        x: int16 samples at 22,050 Hz.
        sr: output sample rate.
        rir: room impulse response at ``sr``.
        gain_db: microphone gain (including the emotion's loudness change).
        snr_db: speech-to-noise ratio of this utterance.
        noise_level: absolute noise RMS floor of the session (keeps silence non-digital).
        pad: leading and trailing silence in seconds.
        tilt_db: vocal-effort spectral tilt (dB above 1 kHz).
    Returns:
        float32 samples in [-1, 1] at ``sr``.
    """
    y = x.astype(np.float64) / 32768.0
    if sr != ESPEAK_SR:
        g = np.gcd(sr, ESPEAK_SR)
        y = resample_poly(y, sr // g, ESPEAK_SR // g)
    y = tilt(y, sr, tilt_db)
    y = np.concatenate([np.zeros(int(pad[0] * sr)), y, np.zeros(int(pad[1] * sr))])
    y = fftconvolve(y, rir)[: len(y)]
    y *= 10 ** (gain_db / 20)
    active = np.abs(y) > 0.02 * np.abs(y).max()
    speech_rms = np.sqrt(np.mean(y[active] ** 2)) if active.any() else 1e-3
    noise_rms = max(speech_rms * 10 ** (-snr_db / 20), noise_level)
    y = y + noise_rms * pink_noise(len(y), rng)
    return np.tanh(y * 1.2).astype(np.float32) / np.float32(np.tanh(1.2))  # soft limiter, no hard clips
