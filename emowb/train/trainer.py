"""One trainer for every model in the workbench.

:class:`Trainer` trains any ``nn.Module`` whose ``forward(batch)`` returns a
:class:`~emowb.models.output.ModelOutput`, with a pluggable :class:`~emowb.train.api.TrainLoss`
(cross-entropy by default), an optional random batch transform (masked training), and a set of
evaluation contexts (modality subsets). It does:

- early stopping on the dev ``weighted_f1`` of the selection context (``patience`` epochs),
  ReduceLROnPlateau (on the dev loss like the reference, or on dev weighted F1);
- a checkpoint of the best model (``checkpoints/best.pt``, model only) and of the full training
  state (``checkpoints/last.pt``: model, optimiser, scheduler, RNG states, history), so a run
  that is interrupted at any point and started again with ``resume=True`` ends with exactly the
  result of an uninterrupted run (same seed, same data, same CPU). Both are snapshots written
  by a background thread, after the first epoch and then only as often as
  ``TrainConfig.checkpoint_budget`` allows (at IEMOCAP-4 ``atv`` size ``last.pt`` is ~320 MB):
  a resumed run replays the epochs since the last write, deterministically;
- per-epoch dev scores from confusion counts accumulated on tensors (sklearn only for the
  final report);
- fixed seeds and ``torch.use_deterministic_algorithms`` during ``fit``; bf16 autocast on CUDA
  only; a tqdm progress bar (``progress=False`` to silence it).

Run folder::

    RUN/
      config.json          everything that defines the run: train config (its result fields),
                           the run record (``run``: method, variant, fold, seed, identity, the
                           run's config, split, corpus fingerprint, KD inputs; see
                           :class:`RunRecord`), model class, contexts, masking, labels
      history.csv          per epoch: lr, train loss (+ parts), dev loss and metrics, mask counts
      metrics.json         best epoch; dev and test metrics per evaluation context (written
                           last: a folder is finished when it holds every artefact, and
                           resuming one that lacks some writes them again)
      predictions.parquet  utt_id, dialogue_id, split, context, scored, y_true, y_pred, p_<label>
      embeddings.npz       utt_id, split, context, embedding (N, H), y_true, y_pred
      checkpoints/best.pt  the best model's state dict (+ epoch, dev score)
      checkpoints/last.pt  the full training state (removed at the end if keep_last=False)

Checkpoints are ``*.pt`` (git-ignored).
"""

from __future__ import annotations

import contextlib
import concurrent.futures
import copy
import dataclasses
import enum
import json
import math
import os
import random
import time
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from emowb.config import SCHEMA_VERSION, Config, identity, require, setting
from emowb.eval.metrics import SCALAR_METRICS, compute_metrics, scalar_metrics_from_confusion
from emowb.models.output import ModelOutput
from emowb.train.api import CLASS_WEIGHTS, CrossEntropyLoss, TrainLoss, balanced_class_weights
from emowb.utils import atomic_path, resolve_device, seed_everything, stable_hash, write_json

__all__ = ["Optimizer", "LrMonitor", "TrainConfig", "Trainer", "TrainerError", "Evaluation",
           "FitResult", "RUN_FILES", "RunRecord", "load_best", "is_finished", "missing_files"]

#: Test hook (crash-safety tests only): ``EMOWB_TEST_CRASH_AT=<point>`` ends the process at that
#: point with ``os._exit(137)``, as ``kill -9`` would (no ``finally``, no clean-up). Points:
#: ``epoch:N`` (after the first optimiser step of epoch N, nothing of it saved), ``best:N`` (in
#: the writer thread, right after a ``best.pt`` of epoch N), ``last:N`` (at the end of epoch N,
#: after its ``history.csv`` and any checkpoint it wrote),
#: ``results`` (while writing ``embeddings.npz``: its temporary is on disk, not yet renamed) and
#: ``metrics`` (right after ``metrics.json``, before ``last.pt`` is removed).
CRASH_ENV = "EMOWB_TEST_CRASH_AT"


def _crash_point(point: str) -> None:
    if os.environ.get(CRASH_ENV) == point:
        os._exit(137)


RUN_FILES = ("config.json", "history.csv", "metrics.json", "predictions.parquet", "embeddings.npz",
             "checkpoints/best.pt")



class TrainerError(RuntimeError):
    """A run that cannot start or resume (e.g. a run folder holding a different config)."""


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """What a run is, as every method records it: the ``run`` block of ``config.json``.

    One shape for every method (COGMEN runs, triplet-KD students and teachers, EmoDistill
    students)::

        {"schema": SCHEMA_VERSION, "method": "triplet", "variant": "<row label>", "fold": "logo-Ses05",
         "seed": 0, "identity": "<hash>", "config": {<the run's config>},
         "config_type": "emowb.train.run:RunConfig", "split": {<the split>},
         "corpus_fingerprint": "<hash>", **inputs}      # e.g. "features": {...}, "kd": {...}

    Attributes:
        method: the method's name (``cogmen``, ``triplet``, ``emodistill``).
        config: the run's configuration (:class:`~emowb.train.run.RunConfig` for COGMEN runs and
            triplet-KD students, the experiment's config narrowed to the run for EmoDistill);
            :func:`emowb.train.run.load_run` reads it back.
        split: the :class:`~emowb.data.splits.Split` trained on.
        corpus_fingerprint: the corpus' content fingerprint (not its path).
        seed: the run's training seed.
        variant: the row label of the run (not part of the identity: two rows may share a run).
        inputs: the other inputs that change results, JSON-ready (feature-set configurations,
            the KD loss and the teachers' cache keys).
    """

    method: str
    config: Config
    split: Any
    corpus_fingerprint: str
    seed: int
    variant: str | None = None
    inputs: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        clash = {"schema", "method", "variant", "fold", "seed", "identity", "config", "config_type", "split",
                 "corpus_fingerprint"} & set(self.inputs)
        if clash:
            raise ValueError(f"RunRecord.inputs must not use the record's own keys {sorted(clash)}")

    @property
    def identity(self) -> str:
        """:func:`emowb.config.identity` of everything that changes the run's results."""
        return identity(self.config, corpus_fingerprint=self.corpus_fingerprint, method=self.method,
                        split=self.split.to_json(), inputs=dict(self.inputs))

    def to_json(self) -> dict:
        cls = type(self.config)
        return _json_ready({"schema": SCHEMA_VERSION, "method": self.method, "variant": self.variant,
                            "fold": self.split.name, "seed": self.seed, "identity": self.identity,
                            "config": self.config.to_dict(), "config_type": f"{cls.__module__}:{cls.__qualname__}",
                            "split": self.split.to_json(), "corpus_fingerprint": self.corpus_fingerprint,
                            **self.inputs})

    def canonical(self, stored: Mapping[str, Any]) -> dict:
        """A stored ``run`` block in the form two records of the same run agree on.

        The configuration is re-read through the current config class and reduced to the fields
        that change results (:meth:`~emowb.config.Config.result_dict`), so a runtime option or a
        field added later with its default does not make it another run; the row label, the
        config's class path and the stored identity hash are left out (the fields it hashes are
        compared themselves).
        """
        out = {k: v for k, v in _json_ready(dict(stored)).items()
               if k not in ("variant", "identity", "config_type")}
        if isinstance(out.get("config"), dict):
            out["config"] = _reparse(out["config"], type(self.config))
        return out


def _json_ready(x: Any) -> Any:
    return json.loads(json.dumps(x, default=str))


def _reparse(d: dict, cls: type) -> dict:
    """``d`` read through ``cls`` and reduced to the fields that change results (``d`` if it does not parse)."""
    try:
        return _json_ready(cls.from_dict(d).result_dict())
    except (ValueError, TypeError):
        return d


def missing_files(run_dir: str | Path) -> list[str]:
    """The :data:`RUN_FILES` that a run folder lacks (``[]`` for a finished run)."""
    return [f for f in RUN_FILES if not (Path(run_dir) / f).is_file()]


def is_finished(run_dir: str | Path) -> bool:
    """Whether a trainer run folder holds a finished run: every one of :data:`RUN_FILES`.

    ``metrics.json`` is written last, but a folder written before that rule (or one whose
    predictions / embeddings were deleted) may hold it without the other artefacts: such a run
    is not finished, and resuming it writes them again.
    """
    return not missing_files(run_dir)


def load_best(model: nn.Module, run_dir: str | Path) -> nn.Module:
    """Load a run folder's best checkpoint (``checkpoints/best.pt``) into ``model``; return it.

    Raises:
        TrainerError: the run has no best checkpoint (it has not finished an epoch).
    """
    best = Path(run_dir) / "checkpoints" / "best.pt"
    if not best.is_file():
        raise TrainerError(f"{run_dir} has no checkpoints/best.pt (the run has not finished an epoch)")
    model.load_state_dict(torch.load(best, map_location="cpu", weights_only=True)["model"])
    return model


class Optimizer(str, enum.Enum):
    ADAM = "adam"
    ADAMW = "adamw"
    SGD = "sgd"
    RMSPROP = "rmsprop"


class LrMonitor(str, enum.Enum):
    """What ReduceLROnPlateau watches."""

    DEV_LOSS = "dev_loss"                # the reference (mode "min")
    DEV_SCORE = "dev_score"              # the selection metric (mode "max")


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainConfig(Config):
    """Training hyper-parameters (defaults: the reference's where it has one).

    Attributes:
        epochs: maximum epochs (the reference trains 55 on IEMOCAP-4).
        batch_size: dialogues per batch (reference 32).
        lr, weight_decay, optimizer: reference 1e-4, 1e-8, Adam.
        max_grad_value: clip gradients by value (reference's ``max_grad_value``; None = off).
        patience: early stopping after this many epochs without a dev improvement (None = off).
        min_delta: the improvement that counts. An epoch that ties the best score exactly counts
            as an improvement when its dev loss is lower (small dev sets saturate).
        select_metric: dev metric for model selection (``weighted_f1``).
        select: ``best`` (the epoch with the best dev score; early stopping after ``patience``) or
            ``last`` (fixed-epoch mode: the model after the last epoch; dev is only logged).
        class_weights: ``none`` or ``balanced``: weight the training cross-entropy (every
            :class:`~emowb.train.api.CrossEntropyLoss` term of the loss) by the training labels'
            ``n / (C · n_c)``. The dev loss stays unweighted.
        lr_monitor, lr_patience, lr_factor: ReduceLROnPlateau (torch defaults 10 / 0.1).
        seed: seeds python, numpy, torch, the batch order and the masking generator.
        device: ``auto`` | ``cpu`` | ``cuda[:N]``; amp: bf16 autocast on CUDA (never on CPU).
        deterministic: ``torch.use_deterministic_algorithms(True, warn_only=True)`` during fit.
        num_threads: torch intra-op threads during fit (None = leave as is).
        progress: tqdm progress bars.
        eval_test_each_epoch: also log test metrics per epoch (never used for selection).
        keep_last: keep ``checkpoints/last.pt`` after a finished run.
        save_train_embeddings: also write training-set embeddings to ``embeddings.npz``.
        processes: train the run on this many processes (GPUs, or groups of CPU cores):
            data-parallel through Lightning Fabric, ``batch_size`` is the global batch
            (:mod:`emowb.train.distributed`). 1 (the default) is left out of the run's identity, so
            single-process runs keep their folders.
    """

    epochs: int = 50
    batch_size: int = 32
    lr: float = setting(1e-3, help="learning rate (the reference implementation uses 1e-4: see the reference preset)")
    weight_decay: float = 1e-8
    optimizer: Optimizer = Optimizer.ADAM
    max_grad_value: float | None = None
    patience: int | None = 10
    min_delta: float = 0.0
    select_metric: str = "weighted_f1"
    select: str = setting("best", help="best: keep the epoch with the best dev score (early stopping after "
                                       "patience); last: fixed-epoch mode, keep the model after the last "
                                       "epoch (no early stopping; dev is only logged) -- for dev sets too "
                                       "small to choose an epoch")
    class_weights: str = setting(
        "none", help="none | balanced: weight the training cross-entropy by the training split's labels, "
                     "n / (C * n_c) (sklearn's balanced; for UA on imbalanced corpora). COGMEN's reference: none")
    lr_monitor: LrMonitor = LrMonitor.DEV_LOSS
    lr_patience: int = 10
    lr_factor: float = 0.1
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    deterministic: bool = True
    num_threads: int | None = setting(
        None, help="torch intra-op threads during fit (None = leave as is). It is part of a run's "
                   "identity: another thread count splits floating-point reductions differently, so "
                   "losses (and at times the selected epoch) differ in the last bits")
    progress: bool = setting(True, changes_results=False, help="tqdm progress bars")
    eval_test_each_epoch: bool = False
    keep_last: bool = setting(True, changes_results=False,
                              help="keep checkpoints/last.pt after a finished run (only what is kept on disk)")
    checkpoint_budget: float = setting(
        0.05, changes_results=False,
        help="the share of training time that writing the resume state (checkpoints/last.pt: model, "
             "optimiser, RNG states) may take. It is written in a background thread after the first "
             "epoch, then after an epoch only once the time since the last write is at least the last "
             "write's duration divided by this share, and at the end; best.pt (model only) is written "
             "with it. A run killed in between resumes from the last write and replays the lost epochs "
             "to the identical result. 1 = after every epoch")
    save_train_embeddings: bool = setting(
        False, changes_results=False,
        help="also write training-set embeddings to embeddings.npz (computed after the results, "
             "with the best model)")
    processes: int = setting(
        1, help="train one run on this many processes (GPUs, or groups of CPU cores), data-parallel "
                "through Lightning Fabric; batch_size stays the global batch. Results match one process "
                "up to floating-point summation order")

    def result_dict(self) -> dict[str, Any]:
        d = super().result_dict()
        if d.get("processes") == 1:
            # the default is left out, so the identities of runs made before the field existed hold
            del d["processes"]
        return d

    def validate(self) -> None:
        require(self.epochs >= 1, f"TrainConfig.epochs must be >= 1, got {self.epochs}")
        require(self.batch_size >= 1, f"TrainConfig.batch_size must be >= 1, got {self.batch_size}")
        require(self.lr > 0, f"TrainConfig.lr must be > 0, got {self.lr}")
        require(self.weight_decay >= 0, f"TrainConfig.weight_decay must be >= 0, got {self.weight_decay}")
        require(self.patience is None or self.patience >= 1,
                f"TrainConfig.patience must be >= 1 or None, got {self.patience}")
        require(self.max_grad_value is None or self.max_grad_value > 0,
                f"TrainConfig.max_grad_value must be > 0 or None, got {self.max_grad_value}")
        require(self.select in ("best", "last"), f"TrainConfig.select must be best or last, got {self.select!r}")
        require(self.select_metric in SCALAR_METRICS,
                f"TrainConfig.select_metric must be one of {SCALAR_METRICS}, got {self.select_metric!r}")
        require(0 < self.lr_factor < 1, f"TrainConfig.lr_factor must be in (0, 1), got {self.lr_factor}")
        require(self.class_weights in CLASS_WEIGHTS,
                f"TrainConfig.class_weights must be one of {CLASS_WEIGHTS}, got {self.class_weights!r}")
        require(self.lr_patience >= 0, f"TrainConfig.lr_patience must be >= 0, got {self.lr_patience}")
        require(self.num_threads is None or self.num_threads >= 1,
                f"TrainConfig.num_threads must be >= 1 or None, got {self.num_threads}")
        require(self.device == "auto" or self.device == "cpu" or self.device.startswith("cuda"),
                f"TrainConfig.device must be 'auto', 'cpu' or 'cuda[:N]', got {self.device!r}")
        require(self.processes >= 1, f"TrainConfig.processes must be >= 1, got {self.processes}")
        require(0 < self.checkpoint_budget <= 1,
                f"TrainConfig.checkpoint_budget must be in (0, 1], got {self.checkpoint_budget}")


@dataclasses.dataclass
class Evaluation:
    """Predictions of one pass over a data source in one context (all N nodes).

    Attributes:
        utt_ids, dialogue_ids: per node.
        y_true, y_pred: (N,) int64; probs: (N, C) float32; embeddings: (N, H) float32.
        scored: (N,) bool; metrics are computed on the scored nodes only.
        loss: mean cross-entropy over the scored nodes.
        metrics: :func:`emowb.eval.metrics.compute_metrics` of the scored nodes.
    """

    utt_ids: list[str]
    dialogue_ids: list[str]
    y_true: np.ndarray
    y_pred: np.ndarray
    probs: np.ndarray
    embeddings: np.ndarray
    scored: np.ndarray
    loss: float
    metrics: dict


@dataclasses.dataclass
class FitResult:
    """What :meth:`Trainer.fit` returns (also on disk in the run folder)."""

    run_dir: Path | None
    best_epoch: int
    metrics: dict
    history: pd.DataFrame
    #: where this call's time went (not stored: it differs between identical runs), e.g.
    #: ``checkpoint_writes``, ``checkpoint_foreground_s`` (snapshots + waits in the training
    #: thread), ``checkpoint_background_s`` (the writer thread), ``final_eval_s``
    timings: dict = dataclasses.field(default_factory=dict)


def _identity(batch):
    return batch


def _snapshot(x: Any) -> Any:
    """A deep copy of a (nested) state dict whose tensors are cloned to the CPU, so a background
    write sees the state of the moment even while training goes on in place."""
    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu", copy=True)
    if isinstance(x, dict):
        return {k: _snapshot(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(_snapshot(v) for v in x)
    return x


class _CheckpointWriter:
    """Runs checkpoint writes in one background thread, one at a time.

    ``submit(fn)`` waits for the previous write, then starts ``fn``; ``wait()`` re-raises a
    failed write's exception in the training thread. Each write is an :func:`atomic_path`, so a
    process killed mid-write leaves the previous checkpoint in place (and a temporary that the
    next write removes).
    """

    def __init__(self) -> None:
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="emowb-checkpoint")
        self._job: concurrent.futures.Future | None = None
        self.writes = 0
        self.last_write_s: float | None = None
        self.background_s = 0.0
        self.foreground_s = 0.0

    def _timed(self, fn) -> None:
        t0 = time.perf_counter()
        fn()
        self.last_write_s = time.perf_counter() - t0
        self.background_s += self.last_write_s

    def submit(self, fn) -> None:
        self.wait()
        self.writes += 1
        self._job = self._pool.submit(self._timed, fn)

    def wait(self) -> None:
        job, self._job = self._job, None
        if job is not None:
            t0 = time.perf_counter()
            job.result()
            self.foreground_s += time.perf_counter() - t0

    def close(self) -> None:
        try:
            self.wait()
        finally:
            self._pool.shutdown(wait=True)


class Trainer:
    """Train and evaluate a model.

    Args:
        model: ``nn.Module``; ``forward(batch) -> ModelOutput``.
        config: :class:`TrainConfig`.
        train, dev: batch sources (``batches(batch_size=, shuffle=, seed=, epoch=)``).
        test: optional batch source scored at the best epoch.
        labels: class names in index order.
        run_dir: the run folder (None = keep nothing on disk; no resume).
        loss: a :class:`~emowb.train.api.TrainLoss` (default cross-entropy).
        train_transform: ``f(batch, generator) -> batch`` applied to each training batch
            (masked training); it may set ``batch.info[...]`` strings that are counted per epoch.
        contexts: name -> ``f(batch) -> batch`` evaluation contexts (default: one, ``"all"``).
        select_context: the context whose dev score selects the model (default: the first).
        run_config: what the run is: a :class:`RunRecord` (every experiment method passes one;
            saved as the ``run`` block of ``config.json``), or a plain JSON-ready mapping.
        callbacks: ``f(epoch, row)`` called after each epoch (its checkpoint may still be being
            written).
    """

    def __init__(self, model: nn.Module, *, config: TrainConfig, train, dev, test=None,
                 labels: Sequence[str], run_dir: str | Path | None = None,
                 loss: TrainLoss | None = None,
                 train_transform: Callable[[Any, torch.Generator], Any] | None = None,
                 contexts: Mapping[str, Callable[[Any], Any]] | None = None,
                 select_context: str | None = None, run_config: RunRecord | Mapping | None = None,
                 callbacks: Sequence[Callable[[int, dict], None]] = ()) -> None:
        self.model = model
        self.config = config
        self.train_data, self.dev_data, self.test_data = train, dev, test
        self.labels = tuple(labels)
        self.run_dir = Path(run_dir) if run_dir is not None else None
        self.loss_fn = loss if loss is not None else CrossEntropyLoss()
        self.train_transform = train_transform
        self.contexts = dict(contexts) if contexts else {"all": _identity}
        self.select_context = select_context or next(iter(self.contexts))
        if self.select_context not in self.contexts:
            raise ValueError(f"select_context {self.select_context!r} is not among the contexts "
                             f"{list(self.contexts)}")
        self.run_config = run_config if isinstance(run_config, RunRecord) else dict(run_config or {})
        self.callbacks = list(callbacks)
        self.device = torch.device(resolve_device(config.device))
        #: the process group's view when this is one rank of a multi-process run (else None)
        self._dist = None
        self.class_weights: torch.Tensor | None = None
        if config.class_weights == "balanced":
            self.class_weights = balanced_class_weights(self._train_labels(), len(self.labels))
            try:
                self.loss_fn.set_class_weights(self.class_weights)
            except ValueError as e:
                raise TrainerError(f"TrainConfig.class_weights='balanced': {e}") from None

    def _train_labels(self) -> torch.Tensor:
        """The scored training labels (a source's ``labels`` / ``scored``, else one pass over its batches)."""
        src = self.train_data
        labels, scored = getattr(src, "labels", None), getattr(src, "scored", None)
        if isinstance(labels, torch.Tensor) and isinstance(scored, torch.Tensor):
            return labels[scored]
        out = [b.labels[b.scored] for b in src.batches(batch_size=self.config.batch_size, shuffle=False)]
        return torch.cat(out)

    # ----------------------------------------------------------------- helpers
    def _autocast(self):
        if self.device.type == "cuda" and self.config.amp:
            return torch.autocast(device_type="cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _config_record(self) -> dict:
        transform = self.train_transform
        masking = getattr(transform, "config", None)
        run = self.run_config
        return {
            "train": self.config.result_dict(),
            "run": run.to_json() if isinstance(run, RunRecord) else run,
            "model": {"class": type(self.model).__name__,
                      "n_parameters": int(sum(p.numel() for p in self.model.parameters())),
                      "config": self.model.config.to_dict() if isinstance(getattr(self.model, "config", None), Config) else None},
            "loss": type(self.loss_fn).__name__,
            **({"class_weights": [round(float(w), 6) for w in self.class_weights]}
               if self.class_weights is not None else {}),
            "labels": list(self.labels),
            "contexts": list(self.contexts),
            "select": {"split": "dev", "context": self.select_context, "metric": self.config.select_metric},
            "train_transform": None if transform is None else {
                "class": type(transform).__name__,
                "config": masking.to_dict() if isinstance(masking, Config) else None},
        }

    def _canonical(self, record: dict) -> dict:
        """A config record re-read through the current config classes, result fields only.

        So a run folder written before a config class gained a field (with its default), or with
        other runtime options (``progress``...: ``changes_results=False``), still counts as the
        same run; a changed value of a field that changes results does not.
        """
        rec = _json_ready(record)
        if isinstance(rec.get("train"), dict):
            rec["train"] = _reparse(rec["train"], TrainConfig)
        model_cfg = getattr(self.model, "config", None)
        if isinstance(model_cfg, Config) and isinstance(rec.get("model", {}).get("config"), dict):
            rec["model"]["config"] = _reparse(rec["model"]["config"], type(model_cfg))
        masking = getattr(self.train_transform, "config", None)
        tt = rec.get("train_transform")
        if isinstance(masking, Config) and isinstance(tt, dict) and isinstance(tt.get("config"), dict):
            tt["config"] = _reparse(tt["config"], type(masking))
        if isinstance(self.run_config, RunRecord) and isinstance(rec.get("run"), dict):
            rec["run"] = self.run_config.canonical(rec["run"])
        return rec

    def _paths(self) -> dict[str, Path]:
        r = self.run_dir
        return {"config": r / "config.json", "history": r / "history.csv", "metrics": r / "metrics.json",
                "predictions": r / "predictions.parquet", "embeddings": r / "embeddings.npz",
                "best": r / "checkpoints" / "best.pt", "last": r / "checkpoints" / "last.pt"}

    def _make_optimizer(self) -> torch.optim.Optimizer:
        c = self.config
        params = [p for p in self.model.parameters() if p.requires_grad]
        params += [p for p in self.loss_fn.parameters() if p.requires_grad]
        cls = {Optimizer.ADAM: torch.optim.Adam, Optimizer.ADAMW: torch.optim.AdamW,
               Optimizer.SGD: torch.optim.SGD, Optimizer.RMSPROP: torch.optim.RMSprop}[c.optimizer]
        return cls(params, lr=c.lr, weight_decay=c.weight_decay)

    # -------------------------------------------------------------- evaluation
    def _outputs(self, source, context: str | Callable | None):
        """``(batch, model output)`` over ``source`` in a context (a name of ``contexts`` or a
        callable), in evaluation mode without gradients; the model's mode is restored after."""
        if isinstance(context, str) and context not in self.contexts:
            raise KeyError(f"unknown evaluation context {context!r}; this trainer has {list(self.contexts)}")
        fn = self.contexts[context] if isinstance(context, str) else (context or _identity)
        self.model.to(self.device)
        was_training = self.model.training
        self.model.eval()
        try:
            for batch in source.batches(batch_size=self.config.batch_size, shuffle=False):
                batch = fn(batch.to(self.device))
                with torch.no_grad(), self._autocast():
                    out: ModelOutput = self.model(batch)
                yield batch, out
        finally:
            self.model.train(was_training)

    @torch.no_grad()
    def evaluate(self, source, *, context: str | Callable | None = None,
                 with_embeddings: bool = True) -> Evaluation:
        """One pass over ``source`` in a context (a name of ``contexts`` or a callable)."""
        utt, dia, yt, yp, pr, em, sc = [], [], [], [], [], [], []
        loss_sum, n_scored = 0.0, 0
        for batch, out in self._outputs(source, context):
            logits = out.logits.float()
            probs = torch.softmax(logits, dim=-1)
            s = batch.scored
            if s.any():
                loss_sum += float(F.cross_entropy(logits[s], batch.labels[s], reduction="sum"))
                n_scored += int(s.sum())
            utt += list(batch.utt_ids)
            node_dialogue = getattr(batch, "node_dialogue", None)
            if node_dialogue is not None:
                dia += [batch.dialogue_ids[i] for i in node_dialogue.tolist()]
            yt.append(batch.labels.cpu())
            yp.append(probs.argmax(-1).cpu())
            pr.append(probs.cpu())
            sc.append(s.cpu())
            if with_embeddings:
                em.append(out.embeddings.float().cpu())
        y_true = torch.cat(yt).numpy()
        y_pred = torch.cat(yp).numpy()
        scored = torch.cat(sc).numpy().astype(bool)
        if not scored.any():
            raise ValueError("no scored utterance in the evaluated data")
        metrics = compute_metrics(y_true[scored], y_pred[scored], self.labels)
        return Evaluation(utt_ids=utt, dialogue_ids=dia or [""] * len(utt), y_true=y_true,
                          y_pred=y_pred, probs=torch.cat(pr).numpy().astype(np.float32),
                          embeddings=(torch.cat(em).numpy().astype(np.float32) if em
                                      else np.zeros((len(utt), 0), np.float32)),
                          scored=scored, loss=loss_sum / max(n_scored, 1), metrics=metrics)

    @torch.no_grad()
    def score(self, source, *, context: str) -> tuple[float, dict[str, float]]:
        """The mean loss and :data:`~emowb.eval.metrics.SCALAR_METRICS` of one pass in a context,
        as the training loop needs them: confusion counts accumulated on tensors, no
        predictions, probabilities or embeddings kept (:meth:`evaluate` keeps them all)."""
        c = len(self.labels)
        counts = torch.zeros(c * c, dtype=torch.int64, device=self.device)
        loss_sum = torch.zeros((), dtype=torch.float64, device=self.device)
        for batch, out in self._outputs(source, context):
            s = batch.scored
            logits, y = out.logits.float()[s], batch.labels[s]
            loss_sum += F.cross_entropy(logits, y, reduction="sum").double()
            counts += torch.bincount(y * c + logits.argmax(-1), minlength=c * c)
        n = int(counts.sum())
        if n == 0:
            raise ValueError("no scored utterance in the evaluated data")
        return float(loss_sum) / n, scalar_metrics_from_confusion(counts.view(c, c).cpu().numpy())

    # ---------------------------------------------------------------- training
    def _train_epoch(self, epoch: int, optimizer, generator: torch.Generator) -> dict[str, float]:
        c = self.config
        self.model.train()
        self.loss_fn.train()
        sums: dict[str, float] = {}
        counts: dict[str, int] = {}
        n = 0
        total = self.train_data.num_batches(c.batch_size)
        bar = tqdm(self.train_data.batches(batch_size=c.batch_size, shuffle=True, seed=c.seed, epoch=epoch),
                   total=total, desc=f"epoch {epoch}", leave=False, disable=not c.progress)
        for batch in bar:
            batch = batch.to(self.device)
            if self.train_transform is not None:
                batch = self.train_transform(batch, generator)
            for k, v in getattr(batch, "info", {}).items():
                key = f"{k}:{v}"
                counts[key] = counts.get(key, 0) + 1
            optimizer.zero_grad(set_to_none=True)
            with self._autocast():
                out = self.model(batch)
                loss, parts = self.loss_fn(out, batch)
            if not torch.isfinite(loss):
                raise TrainerError(f"epoch {epoch}: non-finite training loss {float(loss)} "
                                   f"(dialogues {getattr(batch, 'dialogue_ids', [])[:3]})")
            loss.backward()
            if c.max_grad_value is not None:
                nn.utils.clip_grad_value_(self.model.parameters(), c.max_grad_value)
            optimizer.step()
            if n == 0:
                _crash_point(f"epoch:{epoch}")
            n += 1
            sums["loss"] = sums.get("loss", 0.0) + float(loss.detach())
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + float(v)
            bar.set_postfix(loss=f"{sums['loss'] / n:.4f}")
        row = {f"train_{k}": v / max(n, 1) for k, v in sums.items()}
        row.update(counts)
        return row

    def _train_epoch_ranks(self, epoch: int, optimizer, generator: torch.Generator) -> dict[str, float]:
        """:meth:`_train_epoch` as one rank of a multi-process run: this rank's share of each
        global batch, through the DDP model, the loss weighted by that share
        (:mod:`emowb.train.distributed`)."""
        c, dist = self.config, self._dist
        self.model.train()
        self.loss_fn.train()
        loss_params = [p for p in self.loss_fn.parameters() if p.requires_grad]
        sums: dict[str, float] = {}
        counts: dict[str, int] = {}
        n = 0
        bar = tqdm(dist.shards(self.train_data, batch_size=c.batch_size, seed=c.seed, epoch=epoch),
                   total=self.train_data.num_batches(c.batch_size), desc=f"epoch {epoch}", leave=False,
                   disable=not c.progress)
        for batch, has_items in bar:
            batch = batch.to(self.device)
            if self.train_transform is not None:
                batch = self.train_transform(batch, generator)
            for k, v in getattr(batch, "info", {}).items():
                key = f"{k}:{v}"
                counts[key] = counts.get(key, 0) + 1
            optimizer.zero_grad(set_to_none=True)
            weight = dist.weight(batch, has_items, self.device)
            with self._autocast():
                out = self._ddp_model(batch)
                loss, parts = self.loss_fn(out, batch)
            if not torch.isfinite(loss):
                raise TrainerError(f"epoch {epoch}: non-finite training loss {float(loss)} "
                                   f"(dialogues {getattr(batch, 'dialogue_ids', [])[:3]})")
            self._dist.fabric.backward(loss * weight)
            dist.average_grads(loss_params)
            if c.max_grad_value is not None:
                nn.utils.clip_grad_value_(self.model.parameters(), c.max_grad_value)
            optimizer.step()
            if n == 0 and dist.is_main:
                _crash_point(f"epoch:{epoch}")
            n += 1
            # the ranks' mean of the weighted losses is the global batch's loss
            step = dist.mean({"loss": float(loss.detach()) * float(weight),
                              **{k: float(v) * float(weight) for k, v in parts.items()}}, self.device)
            for k, v in step.items():
                sums[k] = sums.get(k, 0.0) + v
            bar.set_postfix(loss=f"{sums['loss'] / n:.4f}")
        row = {f"train_{k}": v / max(n, 1) for k, v in sums.items()}
        row.update(counts)
        return row

    def _last_state(self, *, optimizer, scheduler, generator, state: dict, finished: bool) -> dict:
        """A snapshot of everything a resumed run needs (``checkpoints/last.pt``).

        The finished state of a run that does not keep ``last.pt`` holds the training state only
        (history, best epoch): it only serves to write the results again if the process dies
        while writing them, and is removed after ``metrics.json``.
        """
        if finished and not self.config.keep_last:
            return {"state": copy.deepcopy(state), "finished": True}
        np_state = np.random.get_state()
        return _snapshot({
            "model": self.model.state_dict(),
            "loss": self.loss_fn.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "generator": generator.get_state(),
            "torch_rng": torch.get_rng_state(),
            "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
            "py_rng": random.getstate(),
            "np_rng": {"name": np_state[0], "keys": torch.from_numpy(np_state[1].astype(np.int64)),
                       "pos": int(np_state[2]), "has_gauss": int(np_state[3]),
                       "cached_gaussian": float(np_state[4])},
            "state": copy.deepcopy(state),
            "finished": finished,
        })

    def _restore_last(self, path: Path, *, optimizer, scheduler, generator) -> dict:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
        if "model" not in ckpt:             # a finished run's light state (keep_last=False)
            return dict(ckpt["state"], finished=True)
        self.model.load_state_dict(ckpt["model"])
        self.loss_fn.load_state_dict(ckpt["loss"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        generator.set_state(ckpt["generator"])
        torch.set_rng_state(ckpt["torch_rng"])
        if ckpt["cuda_rng"] and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(ckpt["cuda_rng"])
        random.setstate(_tuplify(ckpt["py_rng"]))
        s = ckpt["np_rng"]
        np.random.set_state((s["name"], s["keys"].numpy().astype(np.uint32), s["pos"], s["has_gauss"],
                             s["cached_gaussian"]))
        return dict(ckpt["state"], finished=ckpt["finished"])

    def fit(self, *, resume: bool = True) -> FitResult:
        """Train with early stopping, then score the best model on dev and test in every context.

        Args:
            resume: continue from ``checkpoints/last.pt`` if the run folder has one (and return
                the stored result if the run already finished). With ``False`` an existing run
                folder is an error.

        Raises:
            TrainerError: the run folder holds a different configuration, or exists and
                ``resume=False``.
        """
        c = self.config
        if c.processes > 1 and self._dist is None:
            from emowb.train.distributed import fit_in_processes

            return fit_in_processes(self, resume=resume)
        prev_det = torch.are_deterministic_algorithms_enabled()
        prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
        prev_threads = torch.get_num_threads()
        try:
            if c.num_threads is not None:
                torch.set_num_threads(c.num_threads)
            if c.deterministic:
                torch.use_deterministic_algorithms(True, warn_only=True)
            return self._fit(resume=resume)
        finally:
            torch.use_deterministic_algorithms(prev_det, warn_only=prev_warn)
            torch.set_num_threads(prev_threads)

    def _preflight(self, paths: dict[str, Path], *, resume: bool) -> FitResult | None:
        """Check the run folder against this run and write its ``config.json``; the result when
        the run needs no more training (finished, or finished but for lost artefacts)."""
        record = self._config_record()
        if paths["config"].exists():
            if not resume:
                raise TrainerError(f"run folder {self.run_dir} already holds a run; pass resume=True "
                                   "to continue it or choose a new folder")
            old = self._canonical(json.loads(paths["config"].read_text()))
            new = self._canonical(record)
            if stable_hash(old) != stable_hash(new):
                diff = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
                raise TrainerError(f"run folder {self.run_dir} holds a run with a different "
                                   f"configuration (differs in {diff}); use a new folder")
            if paths["metrics"].exists() and not paths["last"].exists():
                if self._complete(paths):
                    return self._load_result(paths)
                state = self._stored_state(paths)
                if state is not None:        # artefacts lost after the results: write them again
                    return self._finish(paths, state)
                paths["metrics"].unlink()    # nothing to rebuild them from: train again
        else:
            write_json(paths["config"], json.loads(json.dumps(record, default=str)))
        return None

    def _fit(self, *, resume: bool) -> FitResult | None:
        c = self.config
        self._timings: dict[str, float] = {}
        dist = self._dist
        main = dist is None or dist.is_main    # only rank 0 of a multi-process run writes the folder
        paths = self._paths() if self.run_dir is not None else None
        if paths is not None and dist is None:   # (the parent of a multi-process run did this)
            done = self._preflight(paths, resume=resume)
            if done is not None:
                return done
        seed_everything(c.seed)
        self.model.to(self.device)
        self.loss_fn.to(self.device)
        optimizer = self._make_optimizer()
        mode = "min" if c.lr_monitor is LrMonitor.DEV_LOSS else "max"
        scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(optimizer, mode=mode, factor=c.lr_factor,
                                                               patience=c.lr_patience)
        generator = torch.Generator().manual_seed(c.seed)
        state = {"epoch": 0, "best_score": -math.inf, "best_epoch": 0, "bad_epochs": 0,
                 "history": [], "stopped_early": False}
        self._best, self._best_dirty = None, False
        if paths is not None and resume and paths["last"].exists():
            state = self._restore_last(paths["last"], optimizer=optimizer, scheduler=scheduler,
                                       generator=generator)
            self._best = self._stored_best(paths, state)
            if dist is not None:
                dist.barrier()               # every rank has read last.pt before rank 0 may remove it
                if state["finished"] and not main:
                    return None
            if state.pop("finished"):
                if self._complete(paths):
                    if not c.keep_last:      # killed after metrics.json, before last.pt was removed
                        paths["last"].unlink()
                    return self._load_result(paths)
                return self._finish(paths, state)  # interrupted while writing the results (or lost some)
        start = state["epoch"] + 1
        if dist is not None:
            self._ddp_model = dist.wrap(self.model)
        writer = _CheckpointWriter() if paths is not None and main else None
        last_submit = time.perf_counter()
        try:
            return self._epochs(state, start=start, paths=paths, writer=writer, last_submit=last_submit,
                                optimizer=optimizer, scheduler=scheduler, generator=generator)
        finally:
            if writer is not None:
                writer.close()

    def _epochs(self, state: dict, *, start: int, paths, writer, last_submit: float, optimizer, scheduler,
                generator) -> FitResult | None:
        c, dist = self.config, self._dist
        main = dist is None or dist.is_main
        bar = tqdm(range(start, c.epochs + 1), desc="train", disable=not c.progress,
                   initial=start - 1, total=c.epochs)
        for epoch in bar:
            if state["stopped_early"]:
                break
            t0 = time.perf_counter()
            row: dict[str, Any] = {"epoch": epoch, "lr": optimizer.param_groups[0]["lr"]}
            train_epoch = self._train_epoch if dist is None else self._train_epoch_ranks
            row.update(train_epoch(epoch, optimizer, generator))
            dev_loss, dev_metrics = self.score(self.dev_data, context=self.select_context)
            score = dev_metrics[c.select_metric]
            if dist is not None:             # every rank takes rank 0's decisions
                score, dev_loss = dist.broadcast((score, dev_loss))
            row["dev_loss"] = dev_loss
            row.update({f"dev_{k}": dev_metrics[k] for k in SCALAR_METRICS})
            if c.eval_test_each_epoch and self.test_data is not None:
                test_loss, test_metrics = self.score(self.test_data, context=self.select_context)
                row["test_loss"] = test_loss
                row.update({f"test_{k}": test_metrics[k] for k in SCALAR_METRICS})
            scheduler.step(dev_loss if c.lr_monitor is LrMonitor.DEV_LOSS else score)
            # ties on the selection metric (small dev sets saturate at F1 = 1) go to the lower dev loss
            improved = (score > state["best_score"] + c.min_delta
                        or (score == state["best_score"] and dev_loss < state.get("best_loss", math.inf)))
            if c.select == "last":                   # fixed-epoch mode: every epoch replaces the kept model
                improved = True
            if improved:
                state.update(best_score=score, best_loss=dev_loss, best_epoch=epoch, bad_epochs=0)
                if main:
                    t1 = time.perf_counter()
                    self._best = {"model": _snapshot(self.model.state_dict()), "epoch": epoch,
                                  "dev_score": score, "metric": c.select_metric}
                    self._best_dirty = True
                    if writer is not None:
                        writer.foreground_s += time.perf_counter() - t1
            else:
                state["bad_epochs"] += 1
            row["best"] = improved
            row["time_s"] = time.perf_counter() - t0
            state["history"].append(row)
            state["epoch"] = epoch
            if c.patience is not None and state["bad_epochs"] >= c.patience and c.select == "best":
                state["stopped_early"] = True
            if writer is not None:
                _write_history(paths["history"], state["history"])
                # the resume state after the first epoch of this process, then within the budget
                since = time.perf_counter() - last_submit
                last = epoch == c.epochs or state["stopped_early"]      # the final write follows
                if not last and (epoch == start or c.checkpoint_budget >= 1 or (
                        writer.last_write_s is not None and since * c.checkpoint_budget >= writer.last_write_s)):
                    self._checkpoint(writer, paths, optimizer=optimizer, scheduler=scheduler,
                                     generator=generator, state=state, finished=False)
                    last_submit = time.perf_counter()
                if os.environ.get(CRASH_ENV) == f"last:{epoch}":
                    writer.wait()
                    _crash_point(f"last:{epoch}")
            bar.set_postfix(dev=f"{score:.4f}", best=f"{state['best_score']:.4f}@{state['best_epoch']}")
            for cb in self.callbacks if main else ():
                cb(epoch, row)
        if writer is not None:
            # the finished state and the last best.pt, written while the results are computed
            # (metrics.json, which marks the run finished, waits for them)
            self._checkpoint(writer, paths, optimizer=optimizer, scheduler=scheduler, generator=generator,
                             state=state, finished=True)
        if dist is not None:
            if writer is not None:
                writer.wait()
            dist.barrier()                   # rank 0's last best.pt is on disk
            if not main:
                return None
        return self._finish(paths, state, writer=writer)

    def _checkpoint(self, writer: _CheckpointWriter, paths, *, optimizer, scheduler, generator, state: dict,
                    finished: bool) -> None:
        """Snapshot the training state now (and the best model if it changed since the last write);
        write ``best.pt`` then ``last.pt`` in the background. ``best.pt`` goes first: a ``last.pt``
        never refers to a best model that is not on disk."""
        t0 = time.perf_counter()
        writer.wait()
        ckpt = self._last_state(optimizer=optimizer, scheduler=scheduler, generator=generator, state=state,
                                finished=finished)
        best = self._best if self._best_dirty else None
        self._best_dirty = False

        def write() -> None:
            if best is not None:
                with atomic_path(paths["best"], suffix=".pt") as tmp:
                    torch.save(best, tmp)
                _crash_point(f"best:{best['epoch']}")
            with atomic_path(paths["last"], suffix=".pt") as tmp:
                torch.save(ckpt, tmp)

        writer.foreground_s += time.perf_counter() - t0
        writer.submit(write)

    @staticmethod
    def _stored_best(paths, state: dict) -> dict | None:
        """``best.pt`` when it is the best model of a restored state (else None: a ``best.pt`` newer
        than ``last.pt`` is written again when the resumed run replays its epoch)."""
        if not paths["best"].is_file():
            return None
        best = torch.load(paths["best"], map_location="cpu", weights_only=True)
        return best if best.get("epoch") == state["best_epoch"] else None

    def _finish(self, paths, state: dict, *, writer: _CheckpointWriter | None = None) -> FitResult:
        c = self.config
        t_eval = time.perf_counter()
        best = getattr(self, "_best", None)
        if best is None or best["epoch"] != state["best_epoch"]:
            if paths is None:
                raise TrainerError("no best model to evaluate (no epoch was trained)")
            best = torch.load(paths["best"], map_location="cpu", weights_only=True)
            if best.get("epoch") != state["best_epoch"]:
                raise TrainerError(f"{paths['best']} holds epoch {best.get('epoch')}, but the run's best epoch "
                                   f"is {state['best_epoch']}; delete the run folder and train again")
        self.model.load_state_dict(best["model"])
        results: dict[str, Any] = {
            "best_epoch": state["best_epoch"], "epochs_run": state["epoch"],
            "stopped_early": state["stopped_early"], "best_dev_score": state["best_score"],
            "select": {"split": "dev", "context": self.select_context, "metric": c.select_metric},
            "labels": list(self.labels),
            "n_parameters": int(sum(p.numel() for p in self.model.parameters())),
            "dev": {}, "test": {}}
        preds, embs = [], []
        splits = [("dev", self.dev_data)] + ([("test", self.test_data)] if self.test_data is not None else [])
        if c.save_train_embeddings:
            splits.append(("train", self.train_data))
        for split, source in splits:
            for ctx in self.contexts:
                ev = self.evaluate(source, context=ctx)
                if split != "train":
                    results[split][ctx] = dict(ev.metrics, loss=ev.loss)
                    preds.append(_prediction_frame(ev, split, ctx, self.labels))
                embs.append((split, ctx, ev))
        history = pd.DataFrame(state["history"])
        if paths is not None:
            # metrics.json is written last: a run killed before it is resumed, never taken as finished
            with atomic_path(paths["predictions"], suffix=".parquet") as tmp:
                pd.concat(preds, ignore_index=True).to_parquet(tmp, index=False)
            with atomic_path(paths["embeddings"], suffix=".npz") as tmp:
                np.savez_compressed(
                    tmp,
                    utt_id=np.array([u for _, _, ev in embs for u in ev.utt_ids]),
                    split=np.array([s for s, _, ev in embs for _ in ev.utt_ids]),
                    context=np.array([x for _, x, ev in embs for _ in ev.utt_ids]),
                    embedding=np.concatenate([ev.embeddings for _, _, ev in embs]),
                    y_true=np.concatenate([ev.y_true for _, _, ev in embs]),
                    y_pred=np.concatenate([ev.y_pred for _, _, ev in embs]),
                    scored=np.concatenate([ev.scored for _, _, ev in embs]),
                    labels=np.array(self.labels))
                _crash_point("results")
            if writer is not None:
                writer.wait()
                self._timings.update(checkpoint_writes=writer.writes, checkpoint_foreground_s=writer.foreground_s,
                                     checkpoint_background_s=writer.background_s)
            write_json(paths["metrics"], results)
            _crash_point("metrics")
            if not c.keep_last and paths["last"].exists():
                paths["last"].unlink()
        timings = getattr(self, "_timings", {})
        timings["final_eval_s"] = time.perf_counter() - t_eval
        return FitResult(run_dir=self.run_dir, best_epoch=state["best_epoch"], metrics=results,
                         history=history, timings=timings)

    @staticmethod
    def _complete(paths) -> bool:
        """Whether every result artefact is on disk (``metrics.json`` alone is not enough)."""
        return all(paths[k].is_file() for k in ("metrics", "predictions", "embeddings", "history", "best"))

    @staticmethod
    def _stored_state(paths) -> dict | None:
        """The end-of-training state of a finished run from ``metrics.json`` + ``history.csv``
        (to rewrite lost artefacts when ``last.pt`` was not kept); None if it cannot be rebuilt."""
        if not (paths["best"].is_file() and paths["history"].is_file()):
            return None
        try:
            m = json.loads(paths["metrics"].read_text())
            return {"epoch": int(m["epochs_run"]), "best_score": float(m["best_dev_score"]),
                    "best_epoch": int(m["best_epoch"]), "bad_epochs": 0,
                    "stopped_early": bool(m["stopped_early"]),
                    "history": pd.read_csv(paths["history"]).to_dict("records")}
        except (ValueError, KeyError, TypeError):
            return None

    def _load_result(self, paths) -> FitResult:
        best = torch.load(paths["best"], map_location="cpu", weights_only=True)
        self.model.load_state_dict(best["model"])
        metrics = json.loads(paths["metrics"].read_text())
        hist = pd.read_csv(paths["history"]) if paths["history"].exists() else pd.DataFrame()
        return FitResult(run_dir=self.run_dir, best_epoch=metrics["best_epoch"], metrics=metrics,
                         history=hist)


def _tuplify(x):
    return tuple(_tuplify(v) for v in x) if isinstance(x, (list, tuple)) else x


def _write_history(path: Path, rows: list[dict]) -> None:
    df = pd.DataFrame(rows)
    count_cols = [c for c in df.columns if ":" in c]
    df[count_cols] = df[count_cols].fillna(0).astype(int)
    with atomic_path(path, suffix=".csv") as tmp:
        df.to_csv(tmp, index=False)


def _prediction_frame(ev: Evaluation, split: str, ctx: str, labels: Sequence[str]) -> pd.DataFrame:
    df = pd.DataFrame({"utt_id": ev.utt_ids, "dialogue_id": ev.dialogue_ids, "split": split,
                       "context": ctx, "scored": ev.scored, "y_true": ev.y_true, "y_pred": ev.y_pred})
    for i, lab in enumerate(labels):
        df[f"p_{lab}"] = ev.probs[:, i]
    return df
