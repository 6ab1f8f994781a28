"""What every model returns: :class:`ModelOutput` (the trainer, losses and figures read it)."""

from __future__ import annotations

import dataclasses

import torch

__all__ = ["ModelOutput"]


@dataclasses.dataclass
class ModelOutput:
    """What every model returns.

    Attributes:
        logits: (N, C) unnormalised class scores, one row per utterance (node) of the batch.
        embeddings: (N, H) the representation the KD losses and the UMAP figures use
            (COGMEN: the post-graph embedding, after RGCN + graph transformer + BN + LeakyReLU).
        extras: anything else (COGMEN: ``"seq"`` (N, G) the SeqContext output per node).
    """

    logits: torch.Tensor
    embeddings: torch.Tensor
    extras: dict[str, torch.Tensor] = dataclasses.field(default_factory=dict)
