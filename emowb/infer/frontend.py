"""Feature front ends for inference: one utterance's waveform -> the features a run was trained on.

Each front end reproduces, for a single waveform, the feature set the run's student read at
training time (same code path, so features of a corpus utterance are identical to the cached
ones):

===============  ==============================================  =====================  ============
front end        training feature set                            output                 ONNX module
===============  ==============================================  =====================  ============
``opensmile``    ``egemaps`` / ``compare`` (openSMILE functionals)  (D,)                  none: openSMILE
``logmel``       ``logmel`` (:class:`emowb.features.logmel.LogMel`)  (T, n_mels)          :class:`DftLogMel`
``whisper``      ``whisper`` with ``layer="all"`` (pooled states)    ((L+1)·D,)           :class:`WhisperPooled`
===============  ==============================================  =====================  ============

:meth:`FrontEnd.module` gives a ``torch`` module ``wave (S,) -> features`` written with ops that
ONNX exports (a DFT as a strided convolution instead of ``torch.stft``), used by
:mod:`emowb.infer.export`; the eager path keeps the training code.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from emowb.data.audio import signal_problem

__all__ = ["FrontEnd", "OpenSmileFrontEnd", "LogMelFrontEnd", "WhisperFrontEnd", "DftLogMel", "WhisperPooled",
           "make_frontend", "FrontEndError"]


class FrontEndError(ValueError):
    """A waveform the front end cannot turn into features (the message says why)."""


class FrontEnd:
    """Waveform (S,) float32 at ``sr`` -> raw (not normalised) features of one utterance.

    Attributes:
        spec: JSON description (``{"kind": ..., ...}``): what a bundle stores to rebuild it.
        sequence: True when the output is (T, D) frames, False for a (D,) vector.
        sr: sample rate the front end reads.
    """

    sequence = False
    sr = 16000

    def __init__(self, spec: dict) -> None:
        self.spec = dict(spec)
        audio = spec.get("audio") or {}
        self.min_duration = float(audio.get("min_duration", 0.1) or 0.0)
        self.silence_floor = float(audio.get("silence_floor", 1e-4) or 0.0)

    def check(self, wave: np.ndarray) -> None:
        """Raise :class:`FrontEndError` for a waveform the training extractor would have refused
        (too short, silent: the same rule and thresholds as the feature set's audio policy)."""
        problem = signal_problem(wave, self.sr, min_duration=self.min_duration, silence_floor=self.silence_floor)
        if problem:
            raise FrontEndError(problem)

    def __call__(self, wave: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def module(self) -> nn.Module | None:
        """A torch module wave (S,) -> features for ONNX export, or None (not a network)."""
        return None


class OpenSmileFrontEnd(FrontEnd):
    """openSMILE functionals (``opensmile.Smile.process_signal``), as the training extractor."""

    def __init__(self, spec: dict) -> None:
        super().__init__(spec)
        import opensmile

        self.smile = opensmile.Smile(feature_set=opensmile.FeatureSet[spec["feature_set"]],
                                     feature_level=opensmile.FeatureLevel.Functionals)

    def __call__(self, wave: np.ndarray) -> np.ndarray:
        self.check(wave)
        return self.smile.process_signal(wave, self.sr).to_numpy(dtype=np.float32)[0]


class LogMelFrontEnd(FrontEnd):
    """Log-mel frames (:class:`emowb.features.logmel.LogMel`), (T, n_mels)."""

    sequence = True

    def __init__(self, spec: dict) -> None:
        super().__init__(spec)
        from emowb.features.logmel import LogMel

        self.params = {k: spec[k] for k in ("n_mels", "n_fft", "hop", "f_min", "f_max")}
        self.logmel = LogMel(sr=self.sr, **self.params)

    def __call__(self, wave: np.ndarray) -> np.ndarray:
        self.check(wave)
        with torch.inference_mode():
            return self.logmel(torch.from_numpy(np.ascontiguousarray(wave, np.float32))).numpy().astype(np.float32)

    def module(self) -> nn.Module:
        return DftLogMel(self.logmel)


class WhisperFrontEnd(FrontEnd):
    """Mean-pooled hidden states of every Whisper encoder layer, layer-major ((L+1)·D,)."""

    def __init__(self, spec: dict) -> None:
        super().__init__(spec)
        from emowb.features.whisper import load_whisper

        if spec.get("pad_30s"):
            raise FrontEndError("a run trained on 30-s padded Whisper features cannot be served yet "
                                "(pad_30s=True); retrain with pad_30s=False")
        self.encoder = load_whisper(spec["model"], progress=False)

    def __call__(self, wave: np.ndarray) -> np.ndarray:
        self.check(wave)
        from emowb.features.whisper import HOP, SR, WINDOW_S

        # the extractor's own rule: 30-s windows, frame-weighted mean of the pooled states
        win = int(WINDOW_S * SR)
        windows = [wave[a:a + win] for a in range(0, len(wave), win)]
        if len(windows) > 1 and len(windows[-1]) < 4 * HOP:
            windows.pop()
        total, count = 0.0, 0
        for w in windows:
            states = self.encoder.encode(w, pad_30s=False)
            pooled = np.concatenate([s.double().mean(0).cpu().numpy() for s in states])
            total = total + pooled * states[0].shape[0]
            count += states[0].shape[0]
        return (total / count).astype(np.float32)

    def module(self) -> nn.Module:
        return WhisperPooled(self.encoder)


# --------------------------------------------------------------------------- exportable modules
def _dft_kernels(n_fft: int, window: torch.Tensor) -> torch.Tensor:
    """(2·F, 1, n_fft) windowed real and imaginary DFT kernels, F = n_fft // 2 + 1."""
    n = torch.arange(n_fft, dtype=torch.float64)
    k = torch.arange(n_fft // 2 + 1, dtype=torch.float64)[:, None]
    ang = 2 * math.pi * k * n / n_fft
    w = window.double()
    return torch.cat([torch.cos(ang) * w, -torch.sin(ang) * w], 0)[:, None, :].float()


def _power_frames(wave: torch.Tensor, kernels: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """Centred (reflect-padded) STFT power of a (S,) wave as a strided convolution: (T, F)."""
    x = F.pad(wave.reshape(1, 1, -1), (n_fft // 2, n_fft // 2), mode="reflect")
    spec = F.conv1d(x, kernels, stride=hop)[0]                          # (2F, T)
    f = kernels.shape[0] // 2
    return (spec[:f] ** 2 + spec[f:] ** 2).transpose(0, 1)                 # (T, F)


class DftLogMel(nn.Module):
    """:class:`~emowb.features.logmel.LogMel` of one wave, (S,) -> (T, n_mels), ONNX-exportable."""

    def __init__(self, logmel) -> None:
        super().__init__()
        self.n_fft, self.hop = logmel.n_fft, logmel.hop
        self.register_buffer("kernels", _dft_kernels(logmel.n_fft, logmel.window))
        self.register_buffer("filters", logmel.filters.clone())

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        power = _power_frames(wave.float(), self.kernels, self.n_fft, self.hop)
        return torch.log(power @ self.filters + 1e-6)


class WhisperPooled(nn.Module):
    """Whisper log-mel + encoder + mean pooling of one wave of at most 30 s: (S,) -> ((L+1)·D,).

    The log-mel follows ``WhisperFeatureExtractor`` (periodic Hann window, 400-point DFT, hop 160,
    Slaney mel filters, ``log10(max(x, 1e-10))``, last frame dropped, clamp at max − 8,
    ``(x + 4) / 4``) and emowb's padding of an odd frame count with the minimum; the encoder is
    :meth:`emowb.features.whisper.WhisperEncoderModel.hidden_states`.
    """

    def __init__(self, encoder) -> None:
        super().__init__()
        fe = encoder.frontend
        self.encoder = encoder
        self.enc = encoder.encoder                           # registered: its weights are exported
        self.n_fft, self.hop = int(fe.n_fft), int(fe.hop_length)
        window = torch.hann_window(self.n_fft, periodic=True, dtype=torch.float64)
        self.register_buffer("kernels", _dft_kernels(self.n_fft, window))
        self.register_buffer("filters", torch.as_tensor(np.asarray(fe.mel_filters), dtype=torch.float32))

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        power = _power_frames(wave.float(), self.kernels, self.n_fft, self.hop)[:-1]   # (T, F)
        mel = torch.log10(torch.clamp(power @ self.filters, min=1e-10))               # (T, M)
        mel = torch.maximum(mel, mel.max() - 8.0)
        mel = (mel + 4.0) / 4.0
        t = mel.shape[0]
        # an odd frame count gets one more frame at the minimum (the stride-2 convolution)
        mel = torch.cat([mel, mel.min().expand(1, mel.shape[1])], 0)[: (t + 1) // 2 * 2]
        states = self.encoder.hidden_states(mel.transpose(0, 1)[None])                # L+1 × (1, T/2, D)
        return torch.cat([s[0].mean(0) for s in states], 0)


def make_frontend(spec: dict) -> FrontEnd:
    """The front end of a spec (:func:`emowb.infer.predictor.frontend_spec` writes them)."""
    kind = spec.get("kind")
    if kind == "opensmile":
        return OpenSmileFrontEnd(spec)
    if kind == "logmel":
        return LogMelFrontEnd(spec)
    if kind == "whisper":
        return WhisperFrontEnd(spec)
    raise FrontEndError(f"unknown front end {kind!r}: this emowb serves opensmile, logmel and whisper")
