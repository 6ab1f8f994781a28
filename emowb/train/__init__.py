"""Training: the generic trainer, losses, masked modality training, runs and experiments.

Names are imported lazily (``from emowb.train import Trainer``) so that ``import emowb.train``
stays cheap; see ``docs/training.md``.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "ModelOutput": "emowb.train.api", "TrainLoss": "emowb.train.api",
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
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'emowb.train' has no attribute {name!r}")
