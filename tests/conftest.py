"""Shared fixtures. Heavy fixtures are session-scoped and tiny."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

# Keep every test on CPU with few threads: CI has 2 cores, and determinism checks need it.
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

EMODB = Path(__file__).resolve().parents[2] / "shared" / "data" / "emodb"


@pytest.fixture
def emodb_dir() -> Path:
    if not EMODB.is_dir():
        pytest.skip(f"EmoDB not found at {EMODB} (../shared/data/emodb); skipping real-speech test")
    return EMODB


def make_dyadic_table(n_groups: int = 3, dialogues_per_group: int = 2, utts: int = 6,
                      labels=("neutral", "happy", "sad", "angry"), seed: int = 0) -> pd.DataFrame:
    """A feature-only dyadic table (no media): 2 speakers per group, alternating turns."""
    rng = np.random.default_rng(seed)
    rows = []
    for g in range(n_groups):
        spk = [f"G{g}_F", f"G{g}_M"]
        for d in range(dialogues_per_group):
            did = f"G{g}_d{d}"
            for t in range(utts):
                rows.append(dict(utt_id=f"{did}_{t:03d}", dialogue_id=did, turn=t, speaker=spk[t % 2],
                                 group=f"G{g}", label=labels[rng.integers(len(labels))],
                                 text="", audio=""))
    return pd.DataFrame(rows)


@pytest.fixture
def dyadic_table() -> pd.DataFrame:
    return make_dyadic_table()


BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_benchmark(name: str):
    """Import ``benchmarks/<name>.py`` (not a package) as a module."""
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
