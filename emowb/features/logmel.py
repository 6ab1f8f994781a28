"""Log-mel spectrograms without torchaudio: ``torch.stft`` + the mel filterbank of ``transformers``.

:class:`LogMel` is an ``nn.Module`` (waveform (B, S) -> (B, T, n_mels), usable inside a model on
any device); :class:`LogMelExtractor` (the registered feature set ``logmel``, see
:func:`emowb.features.extract.logmel_features`) computes it once per utterance of a corpus and
caches the result as a sequence :class:`~emowb.features.base.FeatureSet`
(``CORPUS/features/logmel-<hash>``), so CPU training of the light student does not recompute
spectrograms every epoch.

Frames: ``n_fft`` = 400 (25 ms at 16 kHz), hop 160 (10 ms, the eGeMAPS LLD rate), Hann window,
centred; power spectrum -> HTK/Slaney mel filterbank (``transformers.audio_utils.mel_filter_bank``)
-> ``log(x + 1e-6)``. A signal of S samples gives ``1 + S // hop`` frames.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from emowb.data.corpus import Corpus
from emowb.features.base import Extractor, FeatureSet
from emowb.features.common import AudioPolicy, audio_jobs, read_job
from emowb.types import Modality

__all__ = ["LogMel", "LogMelExtractor", "load_waveforms"]


class LogMel(nn.Module):
    """Waveform -> log-mel frames.

    Args:
        sr: sample rate; n_fft, hop, n_mels, f_min, f_max (None = sr / 2): the analysis.
        mel_scale: ``"htk"`` or ``"slaney"``; norm: filter normalisation (None or ``"slaney"``).
    """

    def __init__(self, *, sr: int = 16000, n_fft: int = 400, hop: int = 160, n_mels: int = 64,
                 f_min: float = 50.0, f_max: float | None = None, mel_scale: str = "htk",
                 norm: str | None = None) -> None:
        super().__init__()
        from transformers.audio_utils import mel_filter_bank

        self.sr, self.n_fft, self.hop, self.n_mels = int(sr), int(n_fft), int(hop), int(n_mels)
        f_max = float(f_max) if f_max is not None else sr / 2
        if not 0 <= f_min < f_max <= sr / 2:
            raise ValueError(f"LogMel: need 0 <= f_min < f_max <= sr/2, got {f_min}, {f_max}, sr={sr}")
        fb = mel_filter_bank(num_frequency_bins=n_fft // 2 + 1, num_mel_filters=n_mels, min_frequency=f_min,
                             max_frequency=f_max, sampling_rate=sr, norm=norm, mel_scale=mel_scale)
        self.register_buffer("filters", torch.as_tensor(fb, dtype=torch.float32), persistent=False)  # (F, M)
        self.register_buffer("window", torch.hann_window(n_fft), persistent=False)

    def frames(self, n_samples: torch.Tensor | int) -> torch.Tensor | int:
        """Frames for a signal of ``n_samples`` (centred STFT)."""
        return 1 + n_samples // self.hop

    def forward(self, wave: torch.Tensor) -> torch.Tensor:
        """(B, S) or (S,) float waveform -> (B, T, n_mels) / (T, n_mels) log-mel."""
        squeeze = wave.ndim == 1
        x = wave[None] if squeeze else wave
        spec = torch.stft(x.float(), n_fft=self.n_fft, hop_length=self.hop, window=self.window,
                          center=True, return_complex=True)                      # (B, F, T)
        power = spec.abs().pow(2).transpose(1, 2)                                  # (B, T, F)
        mel = torch.log(power @ self.filters + 1e-6)                               # (B, T, M)
        return mel[0] if squeeze else mel


class LogMelExtractor(Extractor):
    """Cached log-mel frames per utterance (sequence feature set ``logmel``, (T_i, n_mels)).

    Unusable audio (missing, silent, too short) is marked invalid with a note and gets one zero
    frame, as every sequence extractor does.
    """

    modality = Modality.AUDIO
    kind = "sequence"

    def __init__(self, name: str = "logmel", *, n_mels: int = 64, n_fft: int = 400, hop: int = 160,
                 f_min: float = 50.0, f_max: float | None = None, max_duration: float | None = 30.0,
                 sr: int = 16000, on_error: str = "raise", progress: bool = False) -> None:
        super().__init__(name)
        self.params = dict(n_mels=int(n_mels), n_fft=int(n_fft), hop=int(hop), f_min=float(f_min),
                           f_max=None if f_max is None else float(f_max))
        self.policy = AudioPolicy(sr=sr, max_duration=max_duration, on_error=on_error)
        self.progress = progress

    def _config(self) -> dict:
        return {**self.params, "audio": self.policy.to_json()}

    def run(self, corpus: Corpus) -> FeatureSet:
        lm = LogMel(sr=self.policy.sr, **self.params)
        seqs, valid, notes = [], [], []
        with torch.inference_mode():
            for job in tqdm(audio_jobs(corpus), desc=self.name, disable=not self.progress):
                wave, note = read_job(job, self.policy)
                if wave is None:
                    seqs.append(np.zeros((1, lm.n_mels), np.float32))
                    valid.append(False)
                else:
                    seqs.append(lm(torch.from_numpy(np.ascontiguousarray(wave))).numpy().astype(np.float32))
                    valid.append(True)
                notes.append(note)
        return self._feature_set(corpus, sequences=seqs, valid=valid, notes=notes)


def load_waveforms(corpus: Corpus, *, sr: int = 16000, max_duration: float | None = 30.0,
                   on_error: str = "raise") -> FeatureSet:
    """Every utterance's waveform as a sequence feature set (S_i, 1) (not cached on disk).

    For the SSL student, which takes raw speech. Unusable audio is invalid with a note.
    """
    policy = AudioPolicy(sr=sr, max_duration=max_duration, on_error=on_error)
    seqs, valid, notes = [], [], []
    for job in audio_jobs(corpus):
        wave, note = read_job(job, policy)
        ok = wave is not None
        seqs.append((wave if ok else np.zeros(1, np.float32)).astype(np.float32).reshape(-1, 1))
        valid.append(ok)
        notes.append(note)
    return FeatureSet(name="wave", modality=Modality.AUDIO, utt_ids=corpus.table["utt_id"].tolist(),
                      sequences=seqs, valid=np.asarray(valid), notes=notes,
                      config={"sr": sr, "max_duration": max_duration})
