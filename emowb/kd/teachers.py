"""EmoDistill's teachers: prosodic (ResNet-2D over eGeMAPS LLDs) and linguistic (text encoder + head).

Both follow the trainer's model contract (``forward(batch) -> ModelOutput``) and are trained on
labels by the shared :class:`~emowb.train.trainer.Trainer`, then frozen (:func:`freeze`) and run
once to cache their logits and embeddings (:mod:`emowb.kd.cache`).

- :class:`ProsodicTeacher` reads the batch input ``"lld"`` (B, T, 25): eGeMAPS low-level
  descriptor frames (``emowb.features.extract(corpus, "egemaps-lld")``), standardised per
  descriptor, seen as a one-channel T × 25 image::

      (B, 1, T, 25) -> conv3x3 stem (C0) -> 4 residual blocks (C1..C4; strides 1, 2, 2, 2)
      -> mean over descriptors, masked mean over frames -> embedding (B, C4) -> Linear -> (B, C)

- :class:`LinguisticTeacher` is a pre-trained text encoder (the offline all-MiniLM-L6-v2 by
  default, any local BERT-like folder otherwise) with a classification head::

      pooled sentence embedding (B, D) -> Linear -> GELU = embedding (B, H) -> Dropout -> Linear -> (B, C)

  With ``finetune=False`` (default) the encoder is frozen, so its pooled outputs are computed
  once (the cached ``minilm`` / ``text`` feature set, batch input ``"text"``) and only the head
  trains: fast on a CPU. With ``finetune=True`` the encoder is part of the model and trains too;
  the batch then carries token ids (input ``"tokens"``, see :func:`tokenize_texts`).
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Sequence

import numpy as np
import torch
from torch import nn
import torch.nn.functional as F

from emowb.config import Config, require
from emowb.kd.layers import ResidualBlock2d, frame_mask, masked_mean
from emowb.models.output import ModelOutput

__all__ = ["ProsodicTeacherConfig", "ProsodicTeacher", "TextPooling", "LinguisticTeacherConfig",
           "LinguisticTeacher", "freeze", "tokenize_texts", "resolve_text_model"]


def freeze(model: nn.Module) -> nn.Module:
    """Freeze a trained teacher: evaluation mode and no parameter takes gradients."""
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


# --------------------------------------------------------------------------- prosodic
@dataclasses.dataclass(frozen=True, kw_only=True)
class ProsodicTeacherConfig(Config):
    """The prosodic teacher's architecture.

    Attributes:
        stem_channels: channels of the first 3×3 convolution.
        channels: output channels of the residual blocks (the poster's "4-layer ResNet2D": four).
        strides: time/descriptor stride of each block.
        dropout: before the classifier.
        input: the batch input it reads.
    """

    stem_channels: int = 16
    channels: tuple[int, ...] = (16, 32, 64, 128)
    strides: tuple[int, ...] = (1, 2, 2, 2)
    dropout: float = 0.3
    input: str = "lld"

    def validate(self) -> None:
        require(len(self.channels) >= 1 and all(c >= 1 for c in self.channels),
                f"ProsodicTeacherConfig.channels must be positive, got {self.channels}")
        require(len(self.strides) == len(self.channels),
                f"ProsodicTeacherConfig: {len(self.strides)} strides for {len(self.channels)} blocks")
        require(all(s >= 1 for s in self.strides), f"ProsodicTeacherConfig.strides must be >= 1, got {self.strides}")
        require(self.stem_channels >= 1, "ProsodicTeacherConfig.stem_channels must be >= 1")
        require(0 <= self.dropout < 1, f"ProsodicTeacherConfig.dropout must be in [0, 1), got {self.dropout}")


class ProsodicTeacher(nn.Module):
    """ResNet-2D over LLD frames (see the module docstring).

    Args:
        config: :class:`ProsodicTeacherConfig`.
        n_descriptors: LLD width (25 for eGeMAPS).
        n_classes: number of classes.

    ``forward(batch)`` reads ``batch.inputs[config.input]`` (B, T, D) and ``batch.lengths`` and
    returns logits (B, C) and embeddings (B, channels[-1]).
    """

    def __init__(self, config: ProsodicTeacherConfig = ProsodicTeacherConfig(), *, n_descriptors: int,
                 n_classes: int) -> None:
        super().__init__()
        if n_descriptors < 1 or n_classes < 2:
            raise ValueError(f"ProsodicTeacher: need n_descriptors >= 1 and n_classes >= 2, got "
                             f"{n_descriptors}, {n_classes}")
        self.config = config
        self.n_descriptors, self.n_classes = int(n_descriptors), int(n_classes)
        self.stem = nn.Sequential(nn.Conv2d(1, config.stem_channels, 3, padding=1, bias=False),
                                  nn.BatchNorm2d(config.stem_channels), nn.ReLU())
        blocks, c_in = [], config.stem_channels
        for c, s in zip(config.channels, config.strides):
            blocks.append(ResidualBlock2d(c_in, c, stride=s))
            c_in = c
        self.blocks = nn.ModuleList(blocks)
        self.embedding_dim = c_in
        self.drop = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(c_in, self.n_classes)

    @property
    def n_residual_blocks(self) -> int:
        return sum(isinstance(b, ResidualBlock2d) for b in self.blocks)

    def forward(self, batch) -> ModelOutput:
        x = batch.require(self.config.input)                               # (B, T, D)
        if x.ndim != 3 or x.shape[-1] != self.n_descriptors:
            raise ValueError(f"ProsodicTeacher: input {self.config.input!r} must be (B, T, {self.n_descriptors}), "
                             f"got {tuple(x.shape)} (utterances {batch.utt_ids[:3]})")
        lengths = batch.lengths[self.config.input]
        h = self.stem(x.unsqueeze(1))                                        # (B, C0, T, D)
        h = h * frame_mask(lengths, h.shape[2])[:, None, :, None].to(h.dtype)
        for block in self.blocks:
            h, lengths = block(h, lengths)                                   # (B, Ci, T_i, D_i)
        per_frame = h.mean(dim=3).transpose(1, 2)                            # (B, T', C)
        emb = masked_mean(per_frame, frame_mask(lengths, per_frame.shape[1]))  # (B, C)
        return ModelOutput(logits=self.classifier(self.drop(emb)), embeddings=emb)


# --------------------------------------------------------------------------- linguistic
class TextPooling(str, enum.Enum):
    MEAN = "mean"
    CLS = "cls"


def resolve_text_model(model: str | None) -> str:
    """The folder of the text encoder: ``model`` or, when None/empty, the bundled MiniLM."""
    if model:
        return model
    from emowb.features.text import minilm_path

    return minilm_path()


@dataclasses.dataclass(frozen=True, kw_only=True)
class LinguisticTeacherConfig(Config):
    """The linguistic teacher.

    Attributes:
        model: a local BERT-like folder (or cached repo id); ``""`` = the bundled all-MiniLM-L6-v2.
        pooling: :class:`TextPooling` over the last hidden state (MiniLM's own: mean).
        normalize: L2-normalise the pooled vector (MiniLM's sentence-transformers convention).
        finetune: train the encoder too (else it is frozen and its pooled outputs are cached).
        hidden: width of the head's hidden layer = the teacher embedding.
        dropout: before the classifier.
        max_length: longest token sequence.
        input: the batch input (``"text"`` pooled vectors, or ``"tokens"`` when fine-tuning).
    """

    model: str = ""
    pooling: TextPooling = TextPooling.MEAN
    normalize: bool = True
    finetune: bool = False
    hidden: int = 256
    dropout: float = 0.3
    max_length: int = 256

    def validate(self) -> None:
        require(self.hidden >= 1, f"LinguisticTeacherConfig.hidden must be >= 1, got {self.hidden}")
        require(0 <= self.dropout < 1, f"LinguisticTeacherConfig.dropout must be in [0, 1), got {self.dropout}")
        require(self.max_length >= 2, f"LinguisticTeacherConfig.max_length must be >= 2, got {self.max_length}")

    @property
    def input(self) -> str:
        return "tokens" if self.finetune else "text"

    def feature_params(self) -> tuple[str, dict]:
        """``(name, params)`` of the cached pooled-embedding feature set for the frozen encoder."""
        if not self.model:
            if self.pooling is TextPooling.MEAN and self.normalize:
                return "minilm", {"max_length": self.max_length}
        return "text", {"model": resolve_text_model(self.model), "pooling": self.pooling.value,
                        "normalize": self.normalize, "max_length": self.max_length}


def tokenize_texts(texts: Sequence[str], *, model: str, max_length: int) -> tuple[list[np.ndarray], int]:
    """Token ids per text (truncated to ``max_length``) and the tokenizer's pad id."""
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(resolve_text_model(model), local_files_only=True)
    enc = tok(list(texts), truncation=True, max_length=max_length, add_special_tokens=True)
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    return [np.asarray(ids, dtype=np.int64) for ids in enc["input_ids"]], int(pad)


class LinguisticTeacher(nn.Module):
    """Text encoder + classification head (see the module docstring).

    Args:
        config: :class:`LinguisticTeacherConfig`.
        n_classes: number of classes.
        input_dim: width of the cached pooled embeddings (frozen mode; ignored when fine-tuning).

    ``forward(batch)``: frozen mode reads ``batch.inputs["text"]`` (B, D); fine-tune mode reads
    ``batch.inputs["tokens"]`` (B, L) with ``batch.lengths["tokens"]``. Returns logits (B, C) and
    embeddings (B, hidden).
    """

    def __init__(self, config: LinguisticTeacherConfig = LinguisticTeacherConfig(), *, n_classes: int,
                 input_dim: int | None = None) -> None:
        super().__init__()
        if n_classes < 2:
            raise ValueError(f"LinguisticTeacher: n_classes must be >= 2, got {n_classes}")
        self.config = config
        self.n_classes = int(n_classes)
        if config.finetune:
            from transformers import AutoModel

            self.encoder = AutoModel.from_pretrained(resolve_text_model(config.model), local_files_only=True)
            dim = int(self.encoder.config.hidden_size)
        else:
            if input_dim is None or input_dim < 1:
                raise ValueError("LinguisticTeacher(finetune=False) needs input_dim (the cached "
                                 "sentence-embedding width)")
            self.encoder = None
            dim = int(input_dim)
        self.input_dim = dim
        self.hidden = nn.Linear(dim, config.hidden)
        self.drop = nn.Dropout(config.dropout)
        self.classifier = nn.Linear(config.hidden, self.n_classes)
        self.embedding_dim = config.hidden

    def pooled(self, batch) -> torch.Tensor:
        """(B, D) sentence vectors: cached (frozen) or from the encoder (fine-tuning)."""
        c = self.config
        if self.encoder is None:
            x = batch.require("text")
            if x.ndim != 2 or x.shape[1] != self.input_dim:
                raise ValueError(f"LinguisticTeacher: input 'text' must be (B, {self.input_dim}), got "
                                 f"{tuple(x.shape)} (utterances {batch.utt_ids[:3]})")
            return x.float()
        ids = batch.require("tokens")
        mask = frame_mask(batch.lengths["tokens"], ids.shape[1])
        h = self.encoder(input_ids=ids, attention_mask=mask.long()).last_hidden_state   # (B, L, D)
        v = h[:, 0] if c.pooling is TextPooling.CLS else masked_mean(h, mask)
        return F.normalize(v, p=2, dim=-1) if c.normalize else v

    def forward(self, batch) -> ModelOutput:
        emb = F.gelu(self.hidden(self.pooled(batch)))                             # (B, H)
        return ModelOutput(logits=self.classifier(self.drop(emb)), embeddings=emb)
