"""The notebooks, executed for real through papermill (a Jupyter kernel), at the tiny size."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pandas as pd
import papermill as pm
import pytest

from emowb import notebook as nbcfg
from emowb.notebook.build import NOTEBOOKS_DIR, parse, render
from emowb.notebook.runner import ORDER, PRESETS, parameters_for, run_notebooks

CONFIGS = {"data": nbcfg.DataNotebook, "train": nbcfg.TrainNotebook, "masking": nbcfg.MaskingNotebook,
           "kd": nbcfg.KDNotebook, "emodistill": nbcfg.EmoDistillNotebook,
           "embeddings": nbcfg.EmbeddingsNotebook, "confusion": nbcfg.ConfusionNotebook,
           "reproduce": nbcfg.ReproduceNotebook}

FIGURES = {
    "data": ["data_counts", "data_dialogues", "data_features", "data_face_trace"],
    "train": ["train_curves"],
    "masking": ["masking_grid_feature", "masking_sliders"],
    "kd": ["kd_curves", "kd_confusion"],
    "emodistill": ["emodistill_sweeps"],
    "embeddings": ["embeddings_teacher_vs_kd_student", "embeddings_teacher_vs_student_nokd"],
    "confusion": ["confusion_teacher_vs_student", "confusion_student_nokd_vs_kd", "confusion_cogmen_a_vs_mask"],
}


@pytest.mark.parametrize("name", ORDER)
def test_notebook_matches_its_source(name):
    """notebooks/*.ipynb are generated from notebooks/src/*.py (jupytext): they must not drift
    apart, and the committed .ipynb is the normalized one (no outputs, stable ids)."""
    src = (NOTEBOOKS_DIR / "src" / f"{name}.py").read_text()
    assert (NOTEBOOKS_DIR / f"{name}.ipynb").read_text() == render(parse(src)), \
        (f"notebooks/{name}.ipynb differs from notebooks/src/{name}.py: run `python -m emowb.notebook.build` "
         "(or `--sync` when the .ipynb was edited without jupytext)")


@pytest.mark.parametrize("name", ORDER)
def test_parameters_cell_declares_exactly_the_config(name):
    declared = set(pm.inspect_notebook(str(NOTEBOOKS_DIR / f"{name}.ipynb")))
    assert declared == set(CONFIGS[name].field_names())
    nb = nbformat.read(NOTEBOOKS_DIR / f"{name}.ipynb", as_version=4)
    tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1 and nb.cells.index(tagged[0]) <= 1


@pytest.mark.parametrize("size", sorted(PRESETS))
def test_presets_only_set_declared_parameters(size, tmp_path):
    for name in ORDER:
        params = parameters_for(name, size=size, workdir=tmp_path, figures_dir=tmp_path)
        assert params["workdir"] == str(tmp_path)
        # every preset value builds a valid config (defaults fill the rest)
        ns = {k: v.default for k, v in CONFIGS[name].__dataclass_fields__.items()} | params
        CONFIGS[name].from_namespace(ns)


def test_missing_parameter_is_an_error():
    with pytest.raises(ValueError, match="does not declare"):
        nbcfg.ConfusionNotebook.from_namespace({"workdir": "x", "figures_dir": "f"})


@pytest.fixture(scope="module")
def tiny_workspace(tmp_path_factory):
    work = tmp_path_factory.mktemp("nb")
    runs = run_notebooks(work / "ws", size="tiny", figures_dir=work / "figures", log=None)
    return work, runs


def test_all_notebooks_execute_and_write_their_outputs(tiny_workspace):
    work, runs = tiny_workspace
    assert list(runs["notebook"]) == list(ORDER)
    for name in ORDER:
        out = nbformat.read(work / "ws" / "notebooks" / f"{name}.ipynb", as_version=4)
        errors = [o for c in out.cells if c.cell_type == "code" for o in c.get("outputs", [])
                  if o.get("output_type") == "error"]
        assert not errors, f"{name}: {errors}"
        for fig in FIGURES.get(name, []):
            for ext in ("png", "pdf"):
                assert (work / "figures" / f"{fig}.{ext}").stat().st_size > 1000, f"{name}: {fig}.{ext}"
    ws = work / "ws"
    table = pd.read_csv(ws / "masking" / "table" / "runs.csv")
    assert {"COGMEN-A", "COGMEN-AV", "COGMEN-Mask (utterance)", "COGMEN-Mask (feature)"} <= set(table["model"])
    assert set(table["context"]) == {"a", "av", "v"}
    kd = pd.read_csv(next((ws / "kd").glob("*/runs.csv")))
    assert {"teacher", "student-kd", "student"} == set(kd["role"])
    assert (next((ws / "emodistill").glob("*/ablation_runs.csv"))).is_file()
    align = pd.read_csv(ws / "embeddings" / "alignment.csv", index_col=0)
    assert align["linear_cka"].between(0, 1).all()
    # executed copies are clean: no widget reprs, no printed path lists, no absolute repository paths
    root = str(Path(__file__).resolve().parents[1])
    for name in ORDER:
        out = nbformat.read(work / "ws" / "notebooks" / f"{name}.ipynb", as_version=4)
        text = "".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
                       for c in out.cells for o in c.get("outputs", []))
        assert "VBox(children" not in text and "PosixPath(" not in text and root + "/" not in text, name
    # the notebooks write their reading of the numbers
    md = lambda name: "".join(str(o.get("data", {}).get("text/markdown", ""))  # noqa: E731
                              for c in nbformat.read(work / "ws" / "notebooks" / f"{name}.ipynb", as_version=4).cells
                              for o in c.get("outputs", []))
    assert "KD changed the audio-only student's test weighted F1 by" in md("kd")
    assert "linear CKA" in md("embeddings") and "With KD the student's embeddings" in md("embeddings")
    assert "predicts every class" in md("confusion") or "never predicts" in md("confusion")
    report = (ws / "reproduce" / "report.md").read_text()
    assert "Table 2" in report and "Table 1" in report and "ablations" in report
    assert "0.636" in report  # the published COGMEN-A number sits beside ours


def _student_history(work: Path, executed: Path) -> pd.DataFrame:
    out = nbformat.read(executed, as_version=4)
    text = "".join(o.get("text", "") for c in out.cells for o in c.get("outputs", []))
    folder = Path(text.split("results in ")[1].split()[0])
    runs = pd.read_csv(folder / "runs.csv")
    run_dir = Path(runs.loc[runs["role"] == "student-kd", "run_dir"].iloc[0])
    return pd.read_csv(run_dir / "history.csv"), folder, text


def test_kd_alpha_parameter_changes_the_run(tiny_workspace):
    """`papermill notebooks/kd.ipynb out.ipynb -p alpha ...` at two values."""
    work, _ = tiny_workspace
    params = parameters_for("kd", size="tiny", workdir=work / "ws", figures_dir=work / "figures")
    results = {}
    for alpha in (0.0, 5.0):
        out = work / f"kd_alpha{alpha}.ipynb"
        pm.execute_notebook(str(NOTEBOOKS_DIR / "kd.ipynb"), str(out), parameters=dict(params, alpha=alpha),
                            progress_bar=False)
        results[alpha] = _student_history(work, out)
    (h0, dir0, text0), (h5, dir5, text5) = results[0.0], results[5.0]
    assert dir0 != dir5                                   # each configuration has its own folder
    assert "alpha = 0.0:" in text0 and "alpha = 5.0:" in text5
    assert h0["train_loss"].iloc[0] != pytest.approx(h5["train_loss"].iloc[0])
    # with alpha = 0 the loss is cross-entropy only
    assert h0["train_loss"].to_numpy() == pytest.approx(h0["train_ce"].to_numpy())


def test_widgets_in_a_kernel(tiny_workspace):
    """Set a slider and click the button programmatically inside a real kernel."""
    work, _ = tiny_workspace
    nb = nbformat.read(NOTEBOOKS_DIR / "masking.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(
        "before = controls.last_result\n"
        "controls.sliders['p_full_v'].value = 0.5\n"
        "assert abs(sum(s.value for s in controls.sliders.values()) - 1) < 1e-9\n"
        "controls.start_prob.value = 0.4\n"
        "controls.button.click()\n"
        "after = controls.last_result\n"
        "assert after is not before and after['values']['p_full_v'] == 0.5\n"
        "assert after['values']['start_prob'] == 0.4 and controls.status.value == 'done: run 2'\n"
        "assert len(controls.history_frame()) == 2\n"
        "print('WIDGET-OK', after['AV'], after['A'])"))
    src = work / "masking_widgets.ipynb"
    nbformat.write(nb, src)
    params = parameters_for("masking", size="tiny", workdir=work / "ws", figures_dir=work / "figures")
    out = work / "masking_widgets_out.ipynb"
    pm.execute_notebook(str(src), str(out), parameters=dict(params, paper_table=False), progress_bar=False)
    text = "".join(o.get("text", "") for c in nbformat.read(out, as_version=4).cells for o in c.get("outputs", []))
    assert "WIDGET-OK" in text
