"""Training: the generic trainer, losses, masked modality training, runs and experiments.

Names are imported lazily (``from emowb.train import Trainer``) so that ``import emowb.train``
stays cheap (the trainer alone pulls in torch and scikit-learn, runs and experiments COGMEN and
torch_geometric); ``__all__`` lists them explicitly. See ``docs/training.md``.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "ModelOutput": "emowb.models.output", "TrainLoss": "emowb.train.api",
    "CrossEntropyLoss": "emowb.train.api", "BatchSource": "emowb.train.api",
    "TrainConfig": "emowb.train.trainer", "Trainer": "emowb.train.trainer",
    "TrainerError": "emowb.train.trainer", "Evaluation": "emowb.train.trainer",
    "FitResult": "emowb.train.trainer",
    "MaskingConfig": "emowb.train.masking", "MaskGranularity": "emowb.train.masking",
    "build_masker": "emowb.train.masking",
    "DataConfig": "emowb.train.run", "RunConfig": "emowb.train.run", "train_run": "emowb.train.run",
    "evaluate_run": "emowb.train.run", "load_trained": "emowb.train.run",
    "ExperimentConfig": "emowb.train.experiment", "Variant": "emowb.train.experiment",
    "run_experiment": "emowb.train.experiment", "masking_table_variants": "emowb.train.experiment",
    "Method": "emowb.train.runner", "RunSpec": "emowb.train.runner", "RunRecord": "emowb.train.runner",
    "LocalExecutor": "emowb.train.runner", "run_method": "emowb.train.runner",
    "load_best": "emowb.train.trainer", "load_run": "emowb.train.run",
}

__all__ = ["BatchSource", "CrossEntropyLoss", "DataConfig", "Evaluation", "ExperimentConfig", "FitResult",
           "MaskGranularity", "MaskingConfig", "ModelOutput", "RunConfig", "TrainConfig", "TrainLoss", "Trainer",
           "TrainerError", "Variant", "build_masker", "evaluate_run", "load_trained", "masking_table_variants",
           "run_experiment", "train_run", "Method", "RunSpec", "RunRecord", "LocalExecutor", "run_method",
           "load_best", "load_run"]


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'emowb.train' has no attribute {name!r}")
