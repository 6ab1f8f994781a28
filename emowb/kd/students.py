"""Speech-only students: a backbone, an embedding, a classifier and one projection head per teacher.

::

    speech input -> backbone -> embedding e (B, H) -> Dropout -> Linear -> logits (B, C)
                                               e -> Linear -> proj_linguistic (B, d_L)
                                               e -> Linear -> proj_prosodic  (B, d_P)

``forward(batch)`` returns ``ModelOutput(logits, embeddings=e, extras={"proj_<teacher>": ...})``
(a projection head exists for each teacher width given at construction).

Backbones (:class:`Backbone`), each reading one batch input:

- ``cnn`` (input ``"logmel"`` (B, T, n_mels), see :mod:`emowb.features.logmel`): conv3×3-BN-ReLU-
  maxpool blocks, mean over mel bands, masked mean over frames -> Linear -> ReLU. Light: trains
  from scratch on a CPU.
- ``mlp`` (input ``"functionals"`` (B, D), e.g. openSMILE eGeMAPS): Linear -> ReLU -> Dropout ->
  Linear -> ReLU.
- ``ssl`` (input ``"wave"`` (B, S) at 16 kHz): a speech SSL encoder through ``transformers``
  (HuBERT / wav2vec 2.0 / WavLM from a local folder, ``local_files_only``), mean-pooled over the
  real frames. ``ssl_mode="frozen"``: the encoder is frozen (eval mode, no gradients) and a
  learned softmax-weighted sum of all L+1 hidden states is pooled (SUPERB-style);
  ``"finetune"``: the encoder trains (its CNN feature encoder frozen by default, as usual) and a
  chosen hidden state (default the last) is pooled.
  With a Whisper model (``ssl_model`` = ``base`` / ``tiny.en``, the bundled encoders of
  :mod:`emowb.features.whisper`, or a local Whisper folder) the backbone is
  :class:`WhisperBackbone`: the same two modes, each clip encoded alone (Whisper has no attention
  mask), and in ``finetune`` mode only the top ``ssl_finetune_top`` layers train (0 = all).
- ``ssl-pooled`` (input ``"ssl"`` (B, (L+1)·D): the cached ``ssl`` or ``whisper`` feature set with
  ``layer="all"``): the frozen-mode student without re-running the encoder. Mean pooling and a
  weighted layer sum commute, so this equals ``ssl`` + ``frozen`` up to the encoder's padding.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Mapping

import torch
from torch import nn
import torch.nn.functional as F

from emowb.config import Config, require
from emowb.kd.layers import ConvBlock2d, frame_mask, masked_mean
from emowb.kd.losses import Teacher
from emowb.models.output import ModelOutput

__all__ = ["Backbone", "SSLMode", "StudentConfig", "SpeechStudent", "CnnBackbone", "MlpBackbone",
           "SSLBackbone", "WhisperBackbone", "PooledSSLBackbone", "ssl_frame_lengths", "is_whisper"]


class Backbone(str, enum.Enum):
    CNN = "cnn"
    MLP = "mlp"
    SSL = "ssl"
    SSL_POOLED = "ssl-pooled"


class SSLMode(str, enum.Enum):
    FROZEN = "frozen"        # frozen encoder, learned weighted sum of hidden states
    FINETUNE = "finetune"    # encoder trains; one hidden state


DEFAULT_INPUT = {Backbone.CNN: "logmel", Backbone.MLP: "functionals", Backbone.SSL: "wave",
                 Backbone.SSL_POOLED: "ssl"}


@dataclasses.dataclass(frozen=True, kw_only=True)
class StudentConfig(Config):
    """The speech student.

    Attributes:
        backbone: :class:`Backbone`.
        hidden: embedding width H.
        dropout: dropout in the backbone head and before the classifier.
        cnn_channels: channels of the CNN blocks (each halves time and mel bands).
        mlp_hidden: first hidden width of the MLP.
        ssl_model: the encoder of backbone ``ssl``: a local SSL folder, or a Whisper one
            (``base`` / ``tiny.en`` bundled, or a folder).
        ssl_mode: :class:`SSLMode`.
        ssl_layer: hidden state pooled in ``finetune`` mode (-1 = last).
        ssl_finetune_top: Whisper in ``finetune`` mode: train only the top k encoder layers
            (and the final layer norm); 0 = every layer.
        freeze_feature_encoder: keep the SSL CNN feature encoder frozen when fine-tuning.
        normalize_wave: zero-mean / unit-variance each waveform over its real samples first
            (what the SSL feature extractors do for models trained that way).
        ssl_layers, ssl_dim: layout of the cached ``ssl`` vector for ``ssl-pooled``
            (number of hidden states L+1 and their width D; 0 = infer from the feature set).
        input: the batch input to read ("" = the backbone's default).
    """

    backbone: Backbone = Backbone.CNN
    hidden: int = 128
    dropout: float = 0.3
    cnn_channels: tuple[int, ...] = (16, 32, 64)
    mlp_hidden: int = 256
    ssl_model: str = ""
    ssl_mode: SSLMode = SSLMode.FROZEN
    ssl_layer: int = -1
    ssl_finetune_top: int = 0
    freeze_feature_encoder: bool = True
    normalize_wave: bool = True
    ssl_layers: int = 0
    ssl_dim: int = 0
    input: str = ""

    def validate(self) -> None:
        require(self.hidden >= 1, f"StudentConfig.hidden must be >= 1, got {self.hidden}")
        require(0 <= self.dropout < 1, f"StudentConfig.dropout must be in [0, 1), got {self.dropout}")
        require(len(self.cnn_channels) >= 1 and all(c >= 1 for c in self.cnn_channels),
                f"StudentConfig.cnn_channels must be positive, got {self.cnn_channels}")
        require(self.mlp_hidden >= 1, f"StudentConfig.mlp_hidden must be >= 1, got {self.mlp_hidden}")
        if self.backbone is Backbone.SSL:
            require(bool(self.ssl_model), "StudentConfig.ssl_model: backbone 'ssl' needs a local model folder")

    @property
    def input_name(self) -> str:
        return self.input or DEFAULT_INPUT[self.backbone]


# --------------------------------------------------------------------------- backbones
class CnnBackbone(nn.Module):
    """Log-mel CNN: (B, T, M) -> (B, H)."""

    def __init__(self, *, n_mels: int, channels: tuple[int, ...], hidden: int, dropout: float) -> None:
        super().__init__()
        blocks, c_in = [], 1
        for c in channels:
            blocks.append(ConvBlock2d(c_in, c))
            c_in = c
        self.blocks = nn.ModuleList(blocks)
        self.out = nn.Linear(c_in, hidden)
        self.drop = nn.Dropout(dropout)
        self.n_mels = n_mels

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        h = x.unsqueeze(1)                                                   # (B, 1, T, M)
        for block in self.blocks:
            h, lengths = block(h, lengths)
        per_frame = h.mean(dim=3).transpose(1, 2)                            # (B, T', C)
        pooled = masked_mean(per_frame, frame_mask(lengths, per_frame.shape[1]))
        return F.relu(self.out(self.drop(pooled)))


class MlpBackbone(nn.Module):
    """Functionals MLP: (B, D) -> (B, H)."""

    def __init__(self, *, input_dim: int, width: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(input_dim, width), nn.ReLU(), nn.Dropout(dropout),
                                 nn.Linear(width, hidden), nn.ReLU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x.float())


def ssl_frame_lengths(hf_config, lengths: torch.Tensor) -> torch.Tensor:
    """Encoder frames for waveforms of ``lengths`` samples (the conv feature encoder's formula)."""
    out = lengths
    for k, s in zip(hf_config.conv_kernel, hf_config.conv_stride):
        out = torch.div(out - k, s, rounding_mode="floor") + 1
    return out.clamp(min=0)


class SSLBackbone(nn.Module):
    """A ``transformers`` speech SSL encoder, pooled: (B, S) waveforms -> (B, D) -> (B, H).

    Args:
        path: local model folder (``AutoModel.from_pretrained(path, local_files_only=True)``).
        mode: :class:`SSLMode`.
        layer: the pooled hidden state in ``finetune`` mode.
        freeze_feature_encoder: keep the CNN feature encoder frozen when fine-tuning.
        normalize_wave: per-utterance standardisation of the waveform.
        hidden, dropout: the projection to the embedding.
    """

    def __init__(self, *, path: str, mode: SSLMode, layer: int, freeze_feature_encoder: bool,
                 normalize_wave: bool, hidden: int, dropout: float) -> None:
        super().__init__()
        from transformers import AutoModel

        self.encoder = AutoModel.from_pretrained(path, local_files_only=True)
        cfg = self.encoder.config
        if not hasattr(cfg, "conv_kernel"):
            raise ValueError(f"{path}: model_type {cfg.model_type!r} is not a speech SSL encoder "
                             "(no conv feature encoder)")
        self.mode = SSLMode(mode)
        self.n_states = int(cfg.num_hidden_layers) + 1
        if not -self.n_states <= layer < self.n_states:
            raise ValueError(f"ssl_layer={layer} out of range for {self.n_states} hidden states of {path}")
        self.layer = layer % self.n_states
        self.normalize_wave = normalize_wave
        # group-norm feature encoders (HuBERT-base, wav2vec2-base) were trained without an
        # attention mask: pass one only to layer-norm models, as the HF docs advise
        self.use_attention_mask = getattr(cfg, "feat_extract_norm", "group") == "layer"
        if self.mode is SSLMode.FROZEN:
            for p in self.encoder.parameters():
                p.requires_grad_(False)
            self.layer_weights = nn.Parameter(torch.zeros(self.n_states))
        else:
            self.layer_weights = None
            fe = getattr(self.encoder, "feature_extractor", None)
            if freeze_feature_encoder and fe is not None:
                for p in fe.parameters():
                    p.requires_grad_(False)
        self.out = nn.Linear(int(cfg.hidden_size), hidden)
        self.drop = nn.Dropout(dropout)

    def train(self, mode: bool = True) -> "SSLBackbone":
        super().train(mode)
        if self.mode is SSLMode.FROZEN:
            self.encoder.eval()        # a frozen encoder never runs dropout / layer drop
        return self

    def layer_mix(self) -> torch.Tensor:
        """(L+1,) softmax weights of the hidden states (frozen mode)."""
        if self.layer_weights is None:
            raise ValueError("layer_mix: only the frozen mode has layer weights")
        return torch.softmax(self.layer_weights.float(), dim=0)

    def forward(self, wave: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x = wave.float()
        if x.ndim == 3:
            x = x.squeeze(-1)                                                 # (B, S)
        mask = frame_mask(lengths, x.shape[1])
        if self.normalize_wave:
            mu = masked_mean(x, mask)
            var = masked_mean((x - mu[:, None]) ** 2, mask)
            x = ((x - mu[:, None]) / torch.sqrt(var[:, None] + 1e-7)) * mask
        kwargs = {"attention_mask": mask.long()} if self.use_attention_mask else {}
        if self.mode is SSLMode.FROZEN:
            with torch.no_grad():
                states = self.encoder(x, output_hidden_states=True, **kwargs).hidden_states
            h = torch.stack(states, 0)                                         # (L+1, B, T, D)
            h = (self.layer_mix().to(h.dtype).view(-1, 1, 1, 1) * h).sum(0)    # (B, T, D)
        else:
            out = self.encoder(x, output_hidden_states=self.layer != self.n_states - 1, **kwargs)
            h = out.last_hidden_state if self.layer == self.n_states - 1 else out.hidden_states[self.layer]
        frames = ssl_frame_lengths(self.encoder.config, lengths).clamp(max=h.shape[1])
        pooled = masked_mean(h, frame_mask(frames, h.shape[1]))               # (B, D)
        return F.relu(self.out(self.drop(pooled)))


def is_whisper(model: str) -> bool:
    """Whether ``model`` names a Whisper encoder: ``base`` / ``tiny.en`` or a Whisper folder."""
    import json
    from pathlib import Path

    from emowb.features.whisper import BUNDLED

    if model in BUNDLED:
        return True
    cfg = Path(model).expanduser() / "config.json"
    if cfg.is_file():
        return json.loads(cfg.read_text()).get("model_type") == "whisper"
    return (Path(model).expanduser() / "model.bin").is_file()       # a CTranslate2 folder


class WhisperBackbone(nn.Module):
    """Whisper's encoder on waveforms, pooled: (B, S) -> (B, D) -> (B, H).

    Each clip gets its own log-mel and positional table cut to its length (as the ``whisper``
    feature set computes them), so a clip's states do not depend on its batch.

    Args:
        model: ``base``, ``tiny.en`` or a local Whisper folder (:func:`emowb.features.whisper.load_whisper`).
        mode: :class:`SSLMode`: ``frozen`` = learned softmax weights over the L + 1 states;
            ``finetune`` = the top ``top`` layers train and state ``layer`` is pooled.
        layer: the pooled state in ``finetune`` mode.
        top: layers trained in ``finetune`` mode (0 = all).
        hidden, dropout: the projection to the embedding.
    """

    def __init__(self, *, model: str, mode: SSLMode, layer: int, top: int, hidden: int, dropout: float) -> None:
        super().__init__()
        from emowb.features.whisper import load_whisper

        self._whisper = load_whisper(model, device="cpu")      # the log-mel front end and the encoder
        self.encoder = self._whisper.encoder
        self.mode = SSLMode(mode)
        self.n_states = self._whisper.n_states
        n_layers = self.n_states - 1
        if not -self.n_states <= layer < self.n_states:
            raise ValueError(f"ssl_layer={layer} out of range for {self.n_states} hidden states of Whisper {model}")
        if not 0 <= top <= n_layers:
            raise ValueError(f"ssl_finetune_top={top} out of range: Whisper {model} has {n_layers} layers")
        self.layer = layer % self.n_states
        for p in self.encoder.parameters():
            p.requires_grad_(False)
        if self.mode is SSLMode.FROZEN:
            self.first_trained = n_layers
            self.layer_weights = nn.Parameter(torch.zeros(self.n_states))
        else:
            self.first_trained = 0 if top == 0 else n_layers - top
            self.layer_weights = None
            trained = list(self.encoder.layers)[self.first_trained:] + [self.encoder.layer_norm]
            if top == 0:
                trained += [self.encoder.conv1, self.encoder.conv2]
            for m in trained:
                for p in m.parameters():
                    p.requires_grad_(True)
        self.out = nn.Linear(self._whisper.dim, hidden)
        self.drop = nn.Dropout(dropout)

    def train(self, mode: bool = True) -> "WhisperBackbone":
        super().train(mode)
        if self.mode is SSLMode.FROZEN:
            self.encoder.eval()
        return self

    def layer_mix(self) -> torch.Tensor:
        """(L+1,) softmax weights of the hidden states (frozen mode)."""
        if self.layer_weights is None:
            raise ValueError("layer_mix: only the frozen mode has layer weights")
        return torch.softmax(self.layer_weights.float(), dim=0)

    def forward(self, wave: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        x = wave.float()
        if x.ndim == 3:
            x = x.squeeze(-1)                                                 # (B, S)
        pooled = []
        for b in range(x.shape[0]):
            # at most Whisper's 30-s window (load_waveforms cuts longer clips with a note)
            clip = x[b, :min(int(lengths[b]), 30 * 16000)].detach().cpu().numpy()
            mel = torch.from_numpy(self._whisper.log_mel(clip, pad_30s=False))[None].to(x.device)
            states = self._whisper.hidden_states(mel, trained_from=self.first_trained)
            n = min(self._whisper.frames(len(clip)), states[0].shape[1])
            if self.mode is SSLMode.FROZEN:
                h = torch.stack([s[0, :n] for s in states], 0)                 # (L+1, T, D)
                h = (self.layer_mix().to(h.dtype).view(-1, 1, 1) * h).sum(0)
            else:
                h = states[self.layer][0, :n]
            pooled.append(h.mean(0))
        return F.relu(self.out(self.drop(torch.stack(pooled))))


class PooledSSLBackbone(nn.Module):
    """Weighted sum of cached mean-pooled SSL hidden states: (B, (L+1)·D) -> (B, H)."""

    def __init__(self, *, n_states: int, dim: int, hidden: int, dropout: float) -> None:
        super().__init__()
        self.n_states, self.dim = int(n_states), int(dim)
        self.layer_weights = nn.Parameter(torch.zeros(self.n_states))
        self.out = nn.Linear(self.dim, hidden)
        self.drop = nn.Dropout(dropout)

    def layer_mix(self) -> torch.Tensor:
        return torch.softmax(self.layer_weights.float(), dim=0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.float().view(x.shape[0], self.n_states, self.dim)                # layer-major storage
        pooled = (self.layer_mix().view(1, -1, 1) * h).sum(1)
        return F.relu(self.out(self.drop(pooled)))


# --------------------------------------------------------------------------- student
class SpeechStudent(nn.Module):
    """Backbone + embedding + classifier + projection heads (see the module docstring).

    Args:
        config: :class:`StudentConfig`.
        n_classes: number of classes.
        input_dim: width of the input (mel bands for ``cnn``, functionals for ``mlp``, the cached
            vector for ``ssl-pooled``; unused for ``ssl``).
        teacher_dims: teacher -> embedding width; one projection head each.
    """

    def __init__(self, config: StudentConfig = StudentConfig(), *, n_classes: int, input_dim: int | None = None,
                 teacher_dims: Mapping[Teacher | str, int] | None = None) -> None:
        super().__init__()
        if n_classes < 2:
            raise ValueError(f"SpeechStudent: n_classes must be >= 2, got {n_classes}")
        self.config = config
        self.n_classes = int(n_classes)
        self.input_name = config.input_name
        c = config
        b = c.backbone
        if b is not Backbone.SSL and (input_dim is None or input_dim < 1):
            raise ValueError(f"SpeechStudent({b.value}) needs input_dim (width of input {self.input_name!r})")
        self.input_dim = input_dim
        if b is Backbone.CNN:
            self.backbone: nn.Module = CnnBackbone(n_mels=input_dim, channels=c.cnn_channels, hidden=c.hidden,
                                                   dropout=c.dropout)
        elif b is Backbone.MLP:
            self.backbone = MlpBackbone(input_dim=input_dim, width=c.mlp_hidden, hidden=c.hidden, dropout=c.dropout)
        elif b is Backbone.SSL and is_whisper(c.ssl_model):
            self.backbone = WhisperBackbone(model=c.ssl_model, mode=c.ssl_mode, layer=c.ssl_layer,
                                            top=c.ssl_finetune_top, hidden=c.hidden, dropout=c.dropout)
        elif b is Backbone.SSL:
            self.backbone = SSLBackbone(path=c.ssl_model, mode=c.ssl_mode, layer=c.ssl_layer,
                                        freeze_feature_encoder=c.freeze_feature_encoder,
                                        normalize_wave=c.normalize_wave, hidden=c.hidden, dropout=c.dropout)
        else:
            if not (c.ssl_layers and c.ssl_dim):
                raise ValueError("SpeechStudent(ssl-pooled) needs ssl_layers and ssl_dim (the cached "
                                 "vector's L+1 and D)")
            if c.ssl_layers * c.ssl_dim != input_dim:
                raise ValueError(f"SpeechStudent(ssl-pooled): ssl_layers·ssl_dim = {c.ssl_layers * c.ssl_dim} "
                                 f"!= input width {input_dim}")
            self.backbone = PooledSSLBackbone(n_states=c.ssl_layers, dim=c.ssl_dim, hidden=c.hidden,
                                              dropout=c.dropout)
        self.drop = nn.Dropout(c.dropout)
        self.classifier = nn.Linear(c.hidden, self.n_classes)
        self.projections = nn.ModuleDict({Teacher(t).value: nn.Linear(c.hidden, int(d))
                                          for t, d in sorted((teacher_dims or {}).items(),
                                                             key=lambda kv: Teacher(kv[0]).value)})
        self.embedding_dim = c.hidden

    def embed(self, batch) -> torch.Tensor:
        """(B, H) embeddings of a batch."""
        x = batch.require(self.input_name)
        b = self.config.backbone
        if b in (Backbone.CNN, Backbone.SSL):
            if self.input_name not in batch.lengths:
                raise ValueError(f"SpeechStudent({b.value}): input {self.input_name!r} must be a sequence")
            if b is Backbone.CNN and (x.ndim != 3 or x.shape[-1] != self.input_dim):
                raise ValueError(f"SpeechStudent(cnn): input {self.input_name!r} must be (B, T, {self.input_dim}), "
                                 f"got {tuple(x.shape)} (utterances {batch.utt_ids[:3]})")
            return self.backbone(x, batch.lengths[self.input_name])
        if x.ndim != 2 or x.shape[1] != self.input_dim:
            raise ValueError(f"SpeechStudent({b.value}): input {self.input_name!r} must be (B, {self.input_dim}), "
                             f"got {tuple(x.shape)} (utterances {batch.utt_ids[:3]})")
        return self.backbone(x)

    def forward(self, batch) -> ModelOutput:
        e = self.embed(batch)
        extras = {f"proj_{name}": head(e) for name, head in self.projections.items()}
        return ModelOutput(logits=self.classifier(self.drop(e)), embeddings=e, extras=extras)
