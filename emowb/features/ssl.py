"""Self-supervised speech encoders (HuBERT, wav2vec 2.0, WavLM ...) through ``transformers``.

The model loads from a local folder or the local HF cache only (``local_files_only=True``).
Each utterance is decoded by :mod:`emowb.data.audio` at 16 kHz, optionally normalised to zero
mean / unit variance (``normalize``: default from the folder's ``preprocessor_config.json``,
else on for models whose feature encoder uses layer norm), passed through the model, and the
hidden states of the chosen ``layer`` are **mean-pooled over the valid frames**.

- ``layer``: an index into the L+1 hidden states (0 = the CNN/projection output, L = the last
  transformer layer; negative counts from the end; default ``-2``, the second-to-last layer the
  COGMEN paper uses), or ``"all"``: every hidden state, stored as a vector of length
  (L+1)·D, layer-major; :func:`split_layers` gives back (N, L+1, D) for a learned weighted sum.
- **Long audio**: utterances are cut into ``chunk_seconds`` windows (default 30 s; attention is
  quadratic in length); the pooled vector is the mean over all frames of all windows.
- **Batching by length**: windows are sorted by length and packed up to ``batch_seconds`` of
  (padded) audio per batch. Models whose feature encoder uses *layer* norm get zero padding plus
  an attention mask. Models using *group* norm (HuBERT-base, wav2vec2-base) are not padding
  invariant -- their first layer normalises over time -- so they only batch windows of identical
  length. Either way an utterance's features do not depend on which batch it lands in.
- ``device="auto"`` uses the GPU when torch sees one.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from emowb.data.corpus import Corpus
from emowb.features.base import Extractor, FeatureError, FeatureSet
from emowb.features.common import AudioPolicy, audio_jobs, finite_or_flag, read_job
from emowb.features.hf import model_fingerprint, resolve_model_dir
from emowb.types import Modality
from emowb.utils import resolve_device

#: Utterances decoded and held in memory at a time.
BLOCK = 256
SSL_TYPES = ("hubert", "wav2vec2", "wavlm", "wav2vec2-conformer", "data2vec-audio", "unispeech-sat")


class SSLExtractor(Extractor):
    """Mean-pooled hidden states of a speech SSL model.

    Args:
        name: feature-set name.
        model: a local model folder or an HF repo id already in the local cache.
        model_type: expected ``config.model_type`` (``"hubert"``, ``"wav2vec2"``, ``"wavlm"``)
            or None for any speech SSL type.
        layer: hidden-state index (default -2) or ``"all"``.
        normalize: normalise each waveform (None = the model's convention).
        chunk_seconds: window length for long utterances.
        sr, min_duration, silence_floor, max_duration, on_error: the :class:`AudioPolicy`
            (``sr`` must match the model's, 16 kHz for all public checkpoints).
        device: ``"auto"``, ``"cpu"``, ``"cuda"``; runtime only.
        batch_seconds: padded seconds of audio per batch; runtime only.
        progress: show a progress bar; runtime only.
    """

    modality = Modality.AUDIO

    def __init__(self, name: str, *, model: str, model_type: str | None = None, layer: int | str = -2,
                 normalize: bool | None = None, chunk_seconds: float = 30.0, sr: int = 16000,
                 min_duration: float = 0.1, silence_floor: float = 1e-4,
                 max_duration: float | None = 600.0, on_error: str = "raise", device: str = "auto",
                 batch_seconds: float = 64.0, progress: bool = True) -> None:
        from transformers import AutoConfig

        super().__init__(name)
        self.path = resolve_model_dir(model)
        self.hf_config = AutoConfig.from_pretrained(self.path, local_files_only=True)
        mtype = self.hf_config.model_type
        if mtype not in SSL_TYPES or (model_type is not None and mtype != model_type):
            want = model_type or " / ".join(SSL_TYPES)
            raise FeatureError(f"{self.path}: model_type {mtype!r} is not {want}")
        n_states = self.hf_config.num_hidden_layers + 1
        if layer != "all":
            if isinstance(layer, str) and not layer.lstrip("-").isdigit():
                raise ValueError(f"layer={layer!r}: use an integer or 'all'")
            layer = int(layer)
            if not -n_states <= layer < n_states:
                raise ValueError(f"layer={layer} out of range for {n_states} hidden states of {self.path}")
            layer = layer % n_states  # canonical, so -2 and L-1 share a cache entry
        self.layer = layer
        self.n_states = n_states
        self.normalize = self._default_normalize() if normalize is None else bool(normalize)
        if chunk_seconds < 1.0:
            raise ValueError(f"chunk_seconds={chunk_seconds} is too short (>= 1 s)")
        self.chunk_seconds = float(chunk_seconds)
        self.policy = AudioPolicy(sr=sr, min_duration=min_duration, silence_floor=silence_floor,
                                  max_duration=max_duration, on_error=on_error)
        self.device, self.batch_seconds, self.progress = device, float(batch_seconds), progress
        self.group_norm = getattr(self.hf_config, "feat_extract_norm", "group") == "group"
        self.min_samples = _receptive_field(self.hf_config)

    def _default_normalize(self) -> bool:
        pre = self.path / "preprocessor_config.json"
        if pre.is_file():
            return bool(json.loads(pre.read_text()).get("do_normalize", False))
        return getattr(self.hf_config, "feat_extract_norm", "group") == "layer"

    def _config(self) -> dict:
        return {"model": str(self.path), "model_type": self.hf_config.model_type,
                "model_fingerprint": model_fingerprint(self.path), "layer": self.layer,
                "n_states": self.n_states, "hidden_size": self.hf_config.hidden_size,
                "normalize": self.normalize, "pooling": "mean", "chunk_seconds": self.chunk_seconds,
                "audio": self.policy.to_json()}

    @property
    def dim(self) -> int:
        d = self.hf_config.hidden_size
        return d * self.n_states if self.layer == "all" else d

    # ------------------------------------------------------------------------ run
    def run(self, corpus: Corpus) -> FeatureSet:
        import torch

        device = resolve_device(self.device)
        model = _load_model(self.path, device)
        jobs = audio_jobs(corpus)
        n, dim = len(jobs), self.dim
        sums = np.zeros((n, dim), np.float64)
        counts = np.zeros(n, np.int64)
        valid, notes = np.ones(n, bool), [""] * n
        win = int(self.chunk_seconds * self.policy.sr)
        min_len = max(int(self.policy.min_duration * self.policy.sr), self.min_samples)
        bar = tqdm(total=n, desc=self.name, unit="utt", disable=not self.progress)
        with torch.inference_mode():
            for lo in range(0, n, BLOCK):  # decode a block, batch it by length, encode it
                windows: list[tuple[int, np.ndarray]] = []   # (utterance index, samples)
                for i in range(lo, min(n, lo + BLOCK)):
                    x, notes[i] = read_job(jobs[i], self.policy)
                    if x is not None and len(x) < self.min_samples:
                        x, notes[i] = None, (f"too short for the model: {len(x)} samples < its receptive "
                                             f"field of {self.min_samples}")
                    if x is None:
                        valid[i] = False
                        continue
                    if self.normalize:
                        x = (x - x.mean()) / np.sqrt(x.var() + 1e-7)
                    windows += [(i, w) for w in _split(x, win, min_len=min_len)]
                for batch in _batches(windows, int(self.batch_seconds * self.policy.sr), self.group_norm):
                    pooled, frames = self._encode(model, [windows[k][1] for k in batch], device)
                    for k, p, f in zip(batch, pooled, frames):
                        sums[windows[k][0]] += p * f
                        counts[windows[k][0]] += f
                bar.update(min(n, lo + BLOCK) - lo)
        bar.close()
        values = np.zeros((n, dim), np.float32)
        for i in np.flatnonzero(valid):
            values[i], valid[i], notes[i] = finite_or_flag((sums[i] / counts[i]).astype(np.float32), notes[i])
        return self._feature_set(corpus, values=values, valid=valid, notes=notes)

    def _encode(self, model, xs: list[np.ndarray], device: str) -> tuple[np.ndarray, np.ndarray]:
        """Mean-pooled states (B, dim) and valid frame counts (B,) of one batch of windows."""
        import torch

        lens = torch.tensor([len(x) for x in xs])
        batch = torch.zeros(len(xs), int(lens.max()))
        for b, x in enumerate(xs):
            batch[b, :len(x)] = torch.from_numpy(x)
        kwargs = {}
        if not self.group_norm:
            kwargs["attention_mask"] = (torch.arange(batch.shape[1])[None] < lens[:, None]).long().to(device)
        out = model(batch.to(device), output_hidden_states=True, **kwargs)
        frames = model._get_feat_extract_output_lengths(lens).to(device)
        states = out.hidden_states if self.layer == "all" else (out.hidden_states[self.layer],)
        t = states[0].shape[1]
        mask = (torch.arange(t, device=device)[None] < frames[:, None]).to(states[0].dtype)
        pooled = [(h * mask[..., None]).sum(1) / frames[:, None].clamp(min=1) for h in states]
        pooled = torch.cat(pooled, dim=1)  # (B, n_layers * D), layer-major
        return pooled.float().cpu().numpy().astype(np.float64), frames.cpu().numpy()


def split_layers(fs: FeatureSet) -> np.ndarray:
    """(N, L+1, D) view of a ``layer="all"`` SSL feature set (layer-major storage)."""
    if fs.config.get("layer") != "all":
        raise FeatureError(f"feature set {fs.name!r} holds one layer ({fs.config.get('layer')}), not 'all'")
    return fs.values.reshape(len(fs), fs.config["n_states"], fs.config["hidden_size"])


def _load_model(path: Path, device: str):
    import transformers
    from transformers import AutoModel

    transformers.utils.logging.disable_progress_bar()
    try:
        model = AutoModel.from_pretrained(path, local_files_only=True)
    finally:
        transformers.utils.logging.enable_progress_bar()
    return model.to(device).eval()


def _receptive_field(cfg) -> int:
    """Fewest input samples that give one output frame of the convolutional feature encoder."""
    n = 1
    for k, st in reversed(list(zip(cfg.conv_kernel, cfg.conv_stride))):
        n = (n - 1) * st + k
    return n


def _split(x: np.ndarray, win: int, *, min_len: int) -> list[np.ndarray]:
    """Windows of ``win`` samples; a last piece shorter than ``min_len`` joins the one before."""
    if len(x) <= win:
        return [x]
    cuts = list(range(0, len(x), win))
    if len(x) - cuts[-1] < min_len:
        cuts.pop()
    return [x[a:b] for a, b in zip(cuts, cuts[1:] + [len(x)])]


def _batches(windows: list[tuple[int, np.ndarray]], budget: int, same_length: bool) -> list[list[int]]:
    """Window indices grouped by length: sorted longest first, padded size <= ``budget``."""
    order = sorted(range(len(windows)), key=lambda k: (-len(windows[k][1]), k))
    out: list[list[int]] = []
    for k in order:
        n = len(windows[k][1])
        cur = out[-1] if out else None
        if cur and (len(cur) + 1) * len(windows[cur[0]][1]) <= budget and \
                (not same_length or len(windows[cur[0]][1]) == n):
            cur.append(k)
        else:
            out.append([k])
    return out
