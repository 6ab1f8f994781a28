"""Read a run folder written by :class:`emowb.train.trainer.Trainer` (no torch needed)."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd


class RunError(FileNotFoundError):
    """A folder that is not a (finished) run."""


@dataclasses.dataclass
class RunView:
    """The analysable contents of a run folder.

    Attributes:
        root: the run folder.
        config: ``config.json``.
        metrics: ``metrics.json`` (best epoch; dev/test metrics per context).
        history: ``history.csv`` (one row per epoch).
        predictions: ``predictions.parquet`` (utt_id, split, context, scored, y_true, y_pred, p_*).
        labels: class names in index order.
    """

    root: Path
    config: dict
    metrics: dict
    history: pd.DataFrame
    predictions: pd.DataFrame
    labels: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.root.name

    @property
    def contexts(self) -> list[str]:
        return list(dict.fromkeys(self.predictions["context"]))

    def preds(self, *, split: str = "test", context: str | None = None,
              scored_only: bool = True) -> pd.DataFrame:
        """Predictions of one split and context (default context: the run's first)."""
        context = context or self.contexts[0]
        p = self.predictions
        sel = (p["split"] == split) & (p["context"] == context)
        if scored_only:
            sel &= p["scored"].astype(bool)
        if not sel.any():
            raise RunError(f"run {self.root}: no predictions for split {split!r}, context "
                           f"{context!r} (have contexts {self.contexts}, splits "
                           f"{sorted(p['split'].unique())})")
        return p[sel].reset_index(drop=True)

    def embeddings(self, *, split: str = "test", context: str | None = None,
                   scored_only: bool = True) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Embeddings of one split and context.

        Returns:
            (utt_ids (N,), embeddings (N, H) float32, y_true (N,) int64).
        """
        path = self.root / "embeddings.npz"
        if not path.is_file():
            raise RunError(f"run {self.root} has no embeddings.npz")
        z = np.load(path, allow_pickle=False)
        context = context or self.contexts[0]
        sel = (z["split"] == split) & (z["context"] == context)
        if scored_only and "scored" in z:
            sel &= z["scored"].astype(bool)
        if not sel.any():
            raise RunError(f"run {self.root}: no embeddings for split {split!r}, context {context!r}")
        return z["utt_id"][sel], z["embedding"][sel].astype(np.float32), z["y_true"][sel].astype(np.int64)

    def score(self, metric: str = "weighted_f1", *, split: str = "test", context: str | None = None) -> float:
        context = context or self.contexts[0]
        try:
            return float(self.metrics[split][context][metric])
        except KeyError as e:
            raise RunError(f"run {self.root}: no {split}/{context}/{metric} in metrics.json") from e


def read_run(path: str | os.PathLike) -> RunView:
    """Open a finished run folder; raise :class:`RunError` naming what is missing."""
    root = Path(path)
    need = ("config.json", "metrics.json", "history.csv", "predictions.parquet")
    missing = [f for f in need if not (root / f).is_file()]
    if missing:
        raise RunError(f"{root} is not a finished run folder: missing {missing}")
    metrics = json.loads((root / "metrics.json").read_text())
    config = json.loads((root / "config.json").read_text())
    labels = tuple(metrics.get("labels") or config.get("labels") or ())
    return RunView(root=root, config=config, metrics=metrics,
                   history=pd.read_csv(root / "history.csv"),
                   predictions=pd.read_parquet(root / "predictions.parquet"), labels=labels)
