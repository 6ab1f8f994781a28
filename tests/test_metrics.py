"""Metrics defined once (WA, UA, weighted/macro F1, per class, confusion) and run summaries."""

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import balanced_accuracy_score

from emowb.eval.metrics import (SCALAR_METRICS, UA, WA, compute_metrics, confusion, macro_f1, per_class,
                                scalar_metrics_from_confusion, weighted_f1)
from emowb.eval.summary import format_mean_std, matrix_table, summarise, summarise_frame, to_markdown

LABELS = ("neutral", "happy", "sad", "angry")


def test_hand_computed_example():
    # 6 neutral (4 right), 2 happy (2 right), 2 sad (0 right): WA = 6/10, UA = (4/6 + 1 + 0) / 3
    y = [0, 0, 0, 0, 0, 0, 1, 1, 2, 2]
    p = [0, 0, 0, 0, 1, 1, 1, 1, 0, 0]
    assert WA(y, p) == pytest.approx(0.6)
    assert UA(y, p) == pytest.approx((4 / 6 + 1 + 0) / 3)
    assert UA(y, p) == pytest.approx(balanced_accuracy_score(y, p))
    # F1: neutral P=4/6 R=4/6 -> 2/3; happy P=2/4 R=1 -> 2/3; sad 0
    assert weighted_f1(y, p) == pytest.approx((6 * 2 / 3 + 2 * 2 / 3 + 0) / 10)
    assert macro_f1(y, p) == pytest.approx((2 / 3 + 2 / 3 + 0) / 3)
    pc = per_class(y, p, LABELS)
    assert pc["happy"] == {"precision": 0.5, "recall": 1.0, "f1": pytest.approx(2 / 3), "support": 2}
    assert pc["angry"]["support"] == 0 and pc["angry"]["f1"] == 0.0
    cm = confusion(y, p, 4)
    assert cm.shape == (4, 4) and cm[0, 1] == 2 and cm[2, 0] == 2 and cm.sum() == 10


@pytest.mark.parametrize("seed", range(40))
def test_metrics_from_confusion_counts_equal_sklearn(seed):
    """The training loop's count-based metrics equal sklearn's (absent and never-predicted classes too)."""
    rng = np.random.default_rng(seed)
    c = int(rng.integers(2, 7))
    n = int(rng.integers(1, 60))
    # some classes never occur in y_true, some are never predicted
    yt = rng.choice(rng.permutation(c)[: max(1, c - seed % 3)], size=n)
    yp = np.where(rng.random(n) < 0.6, yt, rng.choice(rng.permutation(c)[: max(1, c - seed % 2)], size=n))
    fast = scalar_metrics_from_confusion(confusion(yt, yp, c))
    slow = compute_metrics(yt, yp, [str(i) for i in range(c)])
    for k in SCALAR_METRICS:
        assert fast[k] == pytest.approx(slow[k], abs=1e-12), k


def test_wa_and_ua_differ_on_imbalanced_data():
    y = [0] * 9 + [1]
    p = [0] * 10
    assert WA(y, p) == pytest.approx(0.9) and UA(y, p) == pytest.approx(0.5)


def test_compute_metrics_keys_and_errors():
    m = compute_metrics([0, 1, 2, 3], [0, 1, 2, 2], LABELS)
    assert set(SCALAR_METRICS) <= set(m) and m["n"] == 4 and len(m["confusion"]) == 4
    with pytest.raises(ValueError, match="out of range"):
        compute_metrics([0, 4], [0, 1], LABELS)
    with pytest.raises(ValueError, match="empty"):
        compute_metrics([], [], LABELS)
    with pytest.raises(ValueError, match="3 items but y_pred has 2"):
        WA([0, 1, 2], [0, 1])


def test_summary_mean_std_ci():
    v = [0.60, 0.62, 0.64]
    s = summarise(v)
    assert s.mean == pytest.approx(0.62) and s.std == pytest.approx(0.02) and s.n == 3
    half = 4.302652729911275 * 0.02 / math.sqrt(3)          # t(0.975, 2)
    assert s.ci_low == pytest.approx(0.62 - half) and s.ci_high == pytest.approx(0.62 + half)
    assert s.format() == "0.620 ± 0.020"
    one = summarise([0.5])
    assert math.isnan(one.std) and format_mean_std(one.mean, one.std, 1) == "0.500"
    with pytest.raises(ValueError, match="NaN"):
        summarise([0.5, float("nan")])


def test_summarise_frame_and_matrix():
    runs = pd.DataFrame({"model": ["A", "A", "AV", "AV", "AV", "AV"],
                         "context": ["a", "a", "av", "av", "a", "a"],
                         "weighted_f1": [0.5, 0.7, 0.6, 0.8, 0.3, 0.5]})
    s = summarise_frame(runs, by=["model", "context"], metrics=["weighted_f1"])
    row = s[(s.model == "AV") & (s.context == "av")].iloc[0]
    assert row.weighted_f1_mean == pytest.approx(0.7) and row.weighted_f1_n == 2
    t = matrix_table(s, metric="weighted_f1", column_order=["av", "a"])
    assert t.loc["A", "av"] == "-" and t.loc["AV", "a"] == format_mean_std(0.4, np.std([0.3, 0.5], ddof=1), 2)
    md = to_markdown(t)
    assert md.splitlines()[0] == "| model | av | a |" and "| A | - |" in md
