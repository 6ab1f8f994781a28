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

__all__ = ["ModelOutput", "TrainLoss", "CrossEntropyLoss", "BatchSource", "CLASS_WEIGHTS",
           "balanced_class_weights"]

#: Values of ``TrainConfig.class_weights``.
CLASS_WEIGHTS = ("none", "balanced")


def balanced_class_weights(labels, n_classes: int) -> torch.Tensor:
    """scikit-learn's "balanced" class weights of training labels: ``w_c = n / (C · n_c)``.

    ``n`` is the number of labels, ``n_c`` those of class c and ``C`` the number of classes that
    occur; a class that does not occur gets 0 (it is never a target). Returns (n_classes,) float32.
    """
    y = torch.as_tensor(labels, dtype=torch.long).flatten()
    if y.numel() == 0:
        raise ValueError("balanced class weights need at least one training label")
    counts = torch.bincount(y, minlength=n_classes).double()[:n_classes]
    present = counts > 0
    w = torch.zeros(n_classes, dtype=torch.float64)
    w[present] = y.numel() / (int(present.sum()) * counts[present])
    return w.float()


class TrainLoss(nn.Module):
    """Base class of training losses: ``forward(output, batch) -> (loss, parts)``."""

    def forward(self, output: ModelOutput, batch: Any) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raise NotImplementedError

    def set_class_weights(self, weights: torch.Tensor | None) -> None:
        """Weight the classes of every cross-entropy term of this loss (:class:`CrossEntropyLoss`
        modules, itself included); the trainer calls it for ``TrainConfig.class_weights``.

        Raises:
            ValueError: the loss has no cross-entropy term to weight.
        """
        terms = [m for m in self.modules() if isinstance(m, CrossEntropyLoss)]
        if not terms:
            raise ValueError(f"{type(self).__name__} has no cross-entropy term (CrossEntropyLoss module) "
                             "to weight; set class_weights='none' or give it one")
        for m in terms:
            m.class_weights = None if weights is None else torch.as_tensor(weights, dtype=torch.float32)


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
        self.register_buffer("class_weights", None if class_weights is None
                             else torch.as_tensor(class_weights, dtype=torch.float32))

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
