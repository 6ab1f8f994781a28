"""Analysis helpers: run reading, confusion comparison, embedding alignment, widgets."""

import json

import numpy as np
import pandas as pd
import pytest

import matplotlib

matplotlib.use("Agg")

from emowb.viz import read_run, save_figure
from emowb.viz.confusion import compare_confusions, confusion_counts, row_normalise
from emowb.viz.embeddings import joint_umap, knn_overlap, linear_cka
from emowb.viz.runs import RunError
from emowb.viz.widgets import MaskingControls, rebalance

LABELS = ("neutral", "happy", "sad", "angry")


@pytest.fixture
def fake_run(tmp_path):
    rng = np.random.default_rng(0)
    n = 40
    y = rng.integers(0, 4, n)
    pred = np.where(rng.random(n) < 0.7, y, rng.integers(0, 4, n))
    rows = []
    for ctx in ("av", "a"):
        rows.append(pd.DataFrame({"utt_id": [f"u{i}" for i in range(n)], "dialogue_id": "d", "split": "test",
                                  "context": ctx, "scored": True, "y_true": y, "y_pred": pred}))
    pd.concat(rows).to_parquet(tmp_path / "predictions.parquet")
    (tmp_path / "metrics.json").write_text(json.dumps({"labels": LABELS, "test": {"av": {"weighted_f1": 0.7}}}))
    (tmp_path / "config.json").write_text("{}")
    pd.DataFrame({"epoch": [1, 2], "train_loss": [1.0, 0.5], "dev_loss": [1.1, 0.9]}).to_csv(tmp_path / "history.csv")
    np.savez(tmp_path / "embeddings.npz", utt_id=np.array([f"u{i}" for i in range(n)] * 2),
             split=np.array(["test"] * 2 * n), context=np.array(["av"] * n + ["a"] * n),
             embedding=rng.normal(size=(2 * n, 8)), y_true=np.r_[y, y], y_pred=np.r_[pred, pred],
             scored=np.ones(2 * n, bool))
    return tmp_path


def test_read_run(fake_run):
    r = read_run(fake_run)
    assert r.labels == LABELS and r.contexts == ["av", "a"]
    assert len(r.preds(context="a")) == 40 and r.score(context="av") == 0.7
    ids, x, y = r.embeddings(context="a")
    assert x.shape == (40, 8) and list(ids[:2]) == ["u0", "u1"]
    with pytest.raises(RunError, match="no predictions"):
        r.preds(context="v")
    with pytest.raises(RunError, match="missing"):
        read_run(fake_run / "nope")


def test_confusion_and_comparison(fake_run, tmp_path):
    r = read_run(fake_run)
    a = r.preds(context="av")
    b = a.assign(y_pred=a["y_true"])      # a perfect run
    cm = confusion_counts(a, 4)
    assert cm.sum() == 40 and np.allclose(row_normalise(cm).sum(1)[cm.sum(1) > 0], 1)
    fig, f1 = compare_confusions(a, b, labels=LABELS, names=("real", "perfect"))
    assert (f1["perfect"] == 1).all() and (f1["difference"] >= 0).all()
    paths = save_figure(fig, "cmp", out_dir=tmp_path / "figs")
    assert [p.suffix for p in paths] == [".png", ".pdf"] and all(p.stat().st_size > 1000 for p in paths)


def test_cka_properties():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 10))
    q, _ = np.linalg.qr(rng.normal(size=(10, 10)))
    assert linear_cka(x, 3 * x @ q) == pytest.approx(1.0, abs=1e-9)     # rotation + scale invariant
    assert linear_cka(x, rng.normal(size=(200, 6))) < 0.2
    assert knn_overlap(x, x @ q, k=5) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        linear_cka(x, x[:10])


def test_joint_umap_shapes_and_width_check():
    rng = np.random.default_rng(0)
    t = rng.normal(size=(60, 6))
    t2, s2 = joint_umap(t, t + 0.01 * rng.normal(size=t.shape), n_neighbors=10)
    assert t2.shape == s2.shape == (60, 2)
    assert np.median(np.linalg.norm(t2 - s2, axis=1)) < np.median(np.linalg.norm(t2 - t2[::-1], axis=1))
    with pytest.raises(ValueError, match="procrustes"):
        joint_umap(t, rng.normal(size=(60, 4)))
    t2, s2 = joint_umap(t, rng.normal(size=(60, 4)), align="procrustes", n_neighbors=10)
    assert s2.shape == (60, 2)


@pytest.mark.parametrize("changed, value", [("p_none", 0.4), ("p_random", 1.0), ("p_full_a", 0.0)])
def test_rebalance_sums_to_one(changed, value):
    v = dict(p_none=0.1, p_full_a=0.3, p_full_v=0.3, p_random=0.3)
    v[changed] = value
    out = rebalance(v, changed)
    assert out[changed] == value and sum(out.values()) == pytest.approx(1.0)


def test_widgets_click_runs_callback():
    seen = []
    ctl = MaskingControls(on_run=lambda values: seen.append(values) or {"f1": values["p_none"]},
                          render=lambda r: print(r))
    ctl.sliders["p_none"].value = 0.4                       # others rescale: sum stays 1
    assert sum(s.value for s in ctl.sliders.values()) == pytest.approx(1.0)
    assert ctl.sliders["p_full_a"].value == pytest.approx(0.2)
    ctl.mask_length.value = 3
    ctl.button.click()                                      # programmatic click
    assert seen and seen[0]["p_none"] == 0.4 and seen[0]["mask_length"] == 3
    assert ctl.last_result == {"f1": 0.4} and ctl.status.value == "done: run 1"
    ctl.button.click()
    assert list(ctl.history_frame()["f1"]) == [0.4, 0.4] and len(ctl.history) == 2
    with pytest.raises(ValueError):
        MaskingControls(on_run=print, p_none=0.5)


def test_slider_steps_are_shared_in_proportion_and_do_not_drift():
    ctl = MaskingControls(on_run=dict, p_none=0.1, p_full_a=0.5, p_full_v=0.3, p_random=0.1)
    for k in range(1, 21):                                   # twenty 0.01 steps, as a browser sends them
        ctl.sliders["p_none"].value = round(0.1 + 0.01 * k, 3)
    v = ctl.values
    assert v["p_none"] == pytest.approx(0.3)
    # the other three keep their 5 : 3 : 1 proportions (to the shown 0.001), not one absorbing all
    assert v["p_full_a"] == pytest.approx(0.7 * 5 / 9, abs=1e-3)
    assert v["p_full_v"] == pytest.approx(0.7 * 3 / 9, abs=1e-3)
    assert v["p_random"] == pytest.approx(0.7 * 1 / 9, abs=1e-3)
    assert sum(s.value for s in ctl.sliders.values()) == pytest.approx(1.0, abs=1e-9)
    assert sum(v[k] for k in ("p_none", "p_full_a", "p_full_v", "p_random")) == pytest.approx(1.0, abs=1e-9)
    ctl.sliders["p_full_v"].value = 0.5                      # the moved slider keeps exactly its value
    assert ctl.values["p_full_v"] == 0.5


def test_controls_show_a_note_not_a_repr_without_a_front_end():
    ctl = MaskingControls(on_run=dict)
    data = ctl._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data
    assert data["text/plain"].startswith("[masking sliders") and "VBox" not in data["text/plain"]


def test_saved_figures_are_byte_identical_across_saves(tmp_path, monkeypatch):
    """No creation date in the PDF: regenerating a figure later leaves `git diff` clean."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([0, 1, 4])
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")  # matplotlib's clock for PDF dates
    first = [p.read_bytes() for p in save_figure(fig, "f", out_dir=tmp_path / "a")]
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1800000000")  # a save three years later
    second = [p.read_bytes() for p in save_figure(fig, "f", out_dir=tmp_path / "b")]
    plt.close(fig)
    assert [len(b) > 0 for b in first] == [True, True]
    assert first == second


def test_run_picker_redraws_the_chosen_pair():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from emowb.viz.widgets import RunPicker

    drawn = []

    def draw(a, b):
        drawn.append((a["label"], b["label"]))
        fig, ax = plt.subplots()
        return fig

    table = pd.DataFrame({"label": ["teacher", "student", "mask"], "run_dir": ["x", "y", "z"]})
    picker = RunPicker(table, draw=draw)
    picker.button.click()
    picker.a.value, picker.b.value = 2, 0
    picker.button.click()
    assert drawn == [("teacher", "student"), ("mask", "teacher")]
    assert picker._repr_mimebundle_()["text/plain"].startswith("[run picker")
    with pytest.raises(ValueError, match="at least two"):
        RunPicker(table.iloc[:1], draw=draw)
