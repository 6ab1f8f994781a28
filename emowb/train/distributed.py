"""Multi-process (data-parallel) training of one run, through Lightning Fabric.

``TrainConfig(processes=N)`` (``--set train.processes=4``) trains one run on N processes — N GPUs
on a GPU machine, N groups of CPU cores otherwise — for the runs too large for one device
(fine-tuning an SSL or Whisper student, a large COGMEN). Sweeps of many small runs are faster on
the executors (:mod:`emowb.train.executors`: several runs side by side); this is for one big run.

**Why Lightning Fabric.** It supplies what multi-process training needs and emowb should not
own: the process launcher (``spawn``, so nothing of the parent's CUDA state is inherited), the
process group (NCCL on GPUs, gloo on CPUs, a free rendezvous port), device placement and
PyTorch's own ``DistributedDataParallel`` (bucketed gradient all-reduce overlapped with the
backward pass), while the :class:`~emowb.train.trainer.Trainer` keeps its loop, checkpoints,
resume, early stopping and run folder unchanged: Fabric is used as a library, not as a trainer.
``torchrun`` + ``torch.distributed`` by hand would need the same pieces written here (and a
second entry point); Lightning's full ``Trainer`` would replace ours. Fabric is imported only
when ``processes > 1`` (``pip install lightning==2.6.6``).

How a run is split (:class:`RankContext`):

- the parent process does what needs no training (a finished run is loaded, not trained; a new
  run folder gets its ``config.json``), then Fabric spawns N processes, each with a copy of the
  trainer; rank 0 alone writes the run folder (history, checkpoints, results) and the parent
  reads the result back from it;
- every **global batch** (``batch_size`` items, in the single-process order) is split between the
  ranks (items ``rank::N``); each rank's loss is weighted by its share of the batch's scored
  utterances, so DDP's gradient average equals the gradient of the global batch's mean loss —
  the result matches one process with the same ``batch_size`` up to floating-point summation
  order (``tests/test_distributed.py``). Trainable loss parameters (a KD projection) are averaged
  the same way;
- every rank evaluates dev itself (same weights, same data) and rank 0's score is broadcast, so
  all ranks take the same early-stopping and learning-rate decisions;
- mixed precision is the trainer's own bf16 autocast on CUDA (Fabric runs at ``32-true`` so it
  adds none); all ranks share the seed, so dropout draws equal per position and resume is exact.

Random batch transforms (masked training) draw per local batch, so a masked run on N processes is
a different (equally valid) draw than on one. ``processes=1`` (the default) never imports Fabric,
and its results, files and run identities are exactly what they were before this module existed.
"""

from __future__ import annotations

import copy
import pickle
from typing import TYPE_CHECKING, Any, Iterator

import torch

from emowb.config import ConfigError

if TYPE_CHECKING:  # pragma: no cover
    from emowb.train.trainer import FitResult, Trainer

__all__ = ["RankContext", "fit_in_processes", "LIGHTNING_INSTALL"]

LIGHTNING_INSTALL = "pip install lightning==2.6.6"


def _fabric(config):
    """A Fabric for ``config.processes`` ranks on the run's device (gloo on CPU, NCCL on CUDA)."""
    try:
        from lightning.fabric import Fabric
        from lightning.fabric.strategies import DDPStrategy
    except ImportError:
        raise ConfigError(f"TrainConfig.processes > 1 needs Lightning Fabric: {LIGHTNING_INSTALL}") from None
    from emowb.utils import resolve_device

    cuda = resolve_device(config.device).startswith("cuda")
    if cuda and torch.cuda.device_count() < config.processes:
        raise ConfigError(f"TrainConfig.processes={config.processes} but torch sees {torch.cuda.device_count()} GPU(s)")
    # find_unused_parameters: a masked modality leaves its encoder without gradients in a step
    strategy = DDPStrategy(start_method="spawn", find_unused_parameters=True,
                           process_group_backend="nccl" if cuda else "gloo")
    return Fabric(accelerator="cuda" if cuda else "cpu", devices=config.processes, strategy=strategy,
                  precision="32-true")


def fit_in_processes(trainer: "Trainer", *, resume: bool) -> "FitResult":
    """Train ``trainer``'s run on ``config.processes`` processes; return its result (read back
    from the run folder, the best model loaded into ``trainer.model``)."""
    from emowb.train.trainer import TrainerError

    if trainer.run_dir is None:
        raise TrainerError("TrainConfig.processes > 1 needs a run folder (the ranks hand the result back through it)")
    try:
        pickle.dumps(trainer.callbacks)
    except Exception as e:  # noqa: BLE001 - any pickling failure
        raise TrainerError(f"TrainConfig.processes > 1: the callbacks must be picklable (module-level functions), "
                           f"{e}") from None
    paths = trainer._paths()
    done = trainer._preflight(paths, resume=resume)
    if done is not None:
        return done
    _fabric(trainer.config).launch(_rank_main, trainer, resume)
    return trainer._load_result(paths)


def _rank_main(fabric, trainer: "Trainer", resume: bool):
    """One rank (a spawned process): the trainer's own fit with a :class:`RankContext`."""
    # the spawn pickler hands tensors over in shared memory: without private copies every rank
    # (and the parent) would step the very same weights
    trainer.model = copy.deepcopy(trainer.model)
    trainer.loss_fn = copy.deepcopy(trainer.loss_fn)
    trainer._dist = RankContext(fabric)
    trainer.device = fabric.device
    if not trainer._dist.is_main:
        trainer.config = trainer.config.replace(progress=False)
    trainer.fit(resume=resume)


class RankContext:
    """What the trainer asks of the process group (one per rank)."""

    def __init__(self, fabric) -> None:
        self.fabric = fabric
        self.rank = fabric.global_rank
        self.world = fabric.world_size

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        self.fabric.barrier()

    def broadcast(self, obj: Any) -> Any:
        """Rank 0's ``obj`` on every rank."""
        return self.fabric.broadcast(obj, src=0)

    def wrap(self, model: torch.nn.Module) -> torch.nn.Module:
        """``model`` in DistributedDataParallel (its parameters are shared with ``model``)."""
        return self.fabric.setup_module(model, move_to_device=False)

    def shards(self, source, *, batch_size: int, seed: int, epoch: int) -> Iterator[Any]:
        """This rank's part of every global batch (a rank with nothing gets one item at weight 0:
        every rank must run each step's backward for the all-reduce)."""
        for idx in source.batch_indices(batch_size=batch_size, shuffle=True, seed=seed, epoch=epoch):
            mine = idx[self.rank::self.world]
            yield source.collate(mine or idx[:1]), bool(mine)

    def weight(self, batch, has_items: bool, device) -> torch.Tensor:
        """``world · n_local / n_global`` (scored utterances): DDP's mean of the weighted losses'
        gradients is then the gradient of the global batch's mean loss."""
        n = torch.tensor([float(batch.scored.sum()) if has_items else 0.0], device=device)
        total = self.fabric.all_reduce(n.clone(), reduce_op="sum")
        return (n * self.world / total.clamp_min(1.0)).squeeze(0)

    def average_grads(self, params) -> None:
        """Average the gradients of parameters outside the DDP module (e.g. a KD loss' projection)."""
        grads = [p.grad for p in params if p.grad is not None]
        if not grads:
            return
        flat = self.fabric.all_reduce(torch.cat([g.reshape(-1) for g in grads]), reduce_op="mean")
        for g, v in zip(grads, torch.split(flat, [g.numel() for g in grads])):
            g.copy_(v.view_as(g))

    def mean(self, values: dict[str, float], device) -> dict[str, float]:
        """The ranks' mean of each value (the global batch's loss from the ranks' weighted ones)."""
        if not values:
            return values
        keys = sorted(values)
        t = self.fabric.all_reduce(torch.tensor([float(values[k]) for k in keys], device=device), reduce_op="mean")
        return dict(zip(keys, t.tolist()))
