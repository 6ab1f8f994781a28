"""The contract between models, losses, batches and the trainer.

- A **model** is an ``nn.Module`` whose ``forward(batch)`` returns a
  :class:`~emowb.models.output.ModelOutput` (defined with the models, re-exported here).
- A **batch** is any object with ``labels`` (N,) int64, ``scored`` (N,) bool, ``utt_ids``
  (N strings), ``extra`` (dict of per-utterance tensors, (N, ...)), ``info`` (dict) and
  ``to(device)``; :class:`emowb.batching.dialogues.Batch` is the one COGMEN uses. Extra
  per-utterance tensors (a frozen teacher's cached embeddings, say) ride in ``batch.extra``.
- A **loss** is a :class:`TrainLoss`: ``forward(output, batch) -> (loss, parts)`` where
  ``parts`` maps names to detached scalars that the trainer logs per epoch (``history.csv``
  columns ``train_<name>``). Plug in knowledge distillation by writing one, e.g.::

      class CEPlusTriplet(TrainLoss):
          '''L = a1 * triplet(student emb, teacher emb) + a2 * CE.'''
          def forward(self, output, batch):
              ce, _ = self.ce(output, batch)
              tri = self.triplet(output.embeddings, batch.extra["teacher_emb"], batch.labels)
              loss = self.a1 * tri + self.a2 * ce
              return loss, {"ce": ce.detach(), "triplet": tri.detach()}

- A **batch source** is anything with ``batches(*, batch_size, shuffle, seed, epoch)``
  yielding batches and ``num_batches(batch_size)``
  (:class:`emowb.batching.dialogues.DialogueData`).
"""

from __future__ import annotations

from typing import Any, Iterator, Protocol, runtime_checkable

import torch
from torch import nn
import torch.nn.functional as F

from emowb.models.output import ModelOutput

__all__ = ["ModelOutput", "TrainLoss", "CrossEntropyLoss", "BatchSource"]


class TrainLoss(nn.Module):
    """Base class of training losses: ``forward(output, batch) -> (loss, parts)``."""

    def forward(self, output: ModelOutput, batch: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raise NotImplementedError


class CrossEntropyLoss(TrainLoss):
    """Mean cross-entropy over the scored utterances of a batch.

    ``L = -1/|S| · Σ_{i∈S} w_{y_i} log softmax(z_i)_{y_i} / (Σ_{i∈S} w_{y_i} / |S|)`` where S are the
    utterances with ``batch.scored`` true, ``z_i`` their logits and ``w`` optional class weights
    (``torch.nn.functional.cross_entropy`` with ``weight``; all ones by default). This is
    COGMEN's ``NLLLoss(log_softmax(...))``.

    Args:
        class_weights: optional (C,) weights.
    """

    def __init__(self, class_weights: torch.Tensor | None = None) -> None:
        super().__init__()
        if class_weights is not None:
            self.register_buffer("class_weights", torch.as_tensor(class_weights, dtype=torch.float32))
        else:
            self.class_weights = None

    def forward(self, output: ModelOutput, batch: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        scored = batch.scored
        logits = output.logits[scored].float()
        if logits.shape[0] == 0:
            raise ValueError("a training batch has no scored utterance; check the split's scoring")
        ce = F.cross_entropy(logits, batch.labels[scored], weight=self.class_weights)
        return ce, {"ce": ce.detach()}


@runtime_checkable
class BatchSource(Protocol):
    """Something the trainer can draw batches from."""

    def batches(self, *, batch_size: int, shuffle: bool, seed: int = 0, epoch: int = 0) -> Iterator[Any]:
        ...

    def num_batches(self, batch_size: int) -> int:
        ...
