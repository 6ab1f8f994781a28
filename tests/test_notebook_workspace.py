"""Notebooks paired with their sources by jupytext; workspace paths against the repository root;
figures in the workspace unless the demo asks for the committed ``figures/``."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

from emowb.notebook import workspace
from emowb.notebook.build import NOTEBOOKS_DIR, SRC_DIR, build, parse, render, stale, sync, to_source
from emowb.notebook.params import EmbeddingsNotebook

ROOT = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------ workspace
def test_repo_root_is_the_checkout():
    assert workspace.repo_root() == ROOT.resolve()
    assert NOTEBOOKS_DIR == ROOT.resolve() / "notebooks"


def test_resolve_and_relative(tmp_path):
    root = workspace.repo_root()
    assert workspace.resolve("out/demo") == root / "out" / "demo"
    assert workspace.resolve(tmp_path) == tmp_path
    assert workspace.relative(root / "out" / "demo") == "out/demo"
    assert workspace.relative("figures") == "figures"
    assert workspace.relative(tmp_path) == str(tmp_path)
    assert workspace.figures("out/demo", "") == root / "out" / "demo" / "figures"
    assert workspace.figures("out/demo", "figures") == root / "figures"
    assert workspace.figures(tmp_path, "") == tmp_path / "figures"


def test_workdir_is_relative_to_the_repo_whatever_the_cwd():
    """JupyterLab runs a notebook's kernel in notebooks/: out/demo must still be <repo>/out/demo."""
    code = ("from emowb.notebook.params import EmbeddingsNotebook\n"
            "nb = EmbeddingsNotebook(workdir='out/demo', figures_dir='')\n"
            "print(nb.root)\n")
    for cwd in (NOTEBOOKS_DIR, ROOT / "emowb"):
        r = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, check=True)
        assert Path(r.stdout.strip()) == ROOT.resolve() / "out" / "demo"


def test_figures_go_to_the_workspace_by_default(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    monkeypatch.chdir(NOTEBOOKS_DIR)
    fig, ax = plt.subplots()
    ax.plot([0, 1])
    nb = EmbeddingsNotebook(workdir=str(tmp_path / "ws"), figures_dir="")
    assert nb.save(fig, "x") is None                  # a cell ending with it prints no list of paths
    assert sorted(p.name for p in (tmp_path / "ws" / "figures").iterdir()) == ["x.pdf", "x.png"]
    nb = EmbeddingsNotebook(workdir=str(tmp_path / "ws"), figures_dir=str(tmp_path / "figs"))
    nb.save(fig, "x")
    assert {p.name for p in (tmp_path / "figs").iterdir()} == {"x.png", "x.pdf"}
    assert (tmp_path / "figs" / "x.pdf").is_file()
    plt.close(fig)
    assert not (NOTEBOOKS_DIR / "out").exists()


def test_runner_passes_repo_relative_paths(tmp_path, monkeypatch):
    """Executed notebooks record their parameters: no absolute paths of this machine."""
    import papermill as pm

    from emowb.notebook import runner

    calls = []

    def fake_execute(input_path, output_path, parameters, cwd, **kw):
        calls.append(dict(input=input_path, output=output_path, params=parameters, cwd=cwd, here=os.getcwd()))

    monkeypatch.setattr(pm, "execute_notebook", fake_execute)
    monkeypatch.setattr(workspace, "repo_root", lambda: tmp_path)
    runner.run_notebooks("ws", size="tiny", only=["embeddings"], log=None)
    runner.run_notebooks("ws", size="tiny", only=["embeddings"], figures_dir=tmp_path / "figs", log=None)
    runner.run_notebooks(tmp_path.parent / "elsewhere", size="tiny", only=["embeddings"], log=None)
    (a, b, c) = calls
    assert a["params"]["workdir"] == "ws" and a["params"]["figures_dir"] == ""
    assert a["output"] == "ws/notebooks/embeddings.ipynb" and a["cwd"] == str(tmp_path) == a["here"]
    assert (tmp_path / "ws" / "notebooks").is_dir()
    assert b["params"]["figures_dir"] == "figs"
    assert c["params"]["workdir"] == str(tmp_path.parent / "elsewhere")  # outside the repo: absolute
    assert os.getcwd() != str(tmp_path)  # the runner went back


@pytest.mark.parametrize("argv, figures", [(["demo"], "figures"), (["demo", "--size", "tiny"], ""),
                                          (["notebooks", "--size", "tiny"], ""),
                                          (["demo", "--size", "tiny", "--figures", "f"], "f")])
def test_only_the_demo_writes_the_committed_figures(argv, figures, monkeypatch, tmp_path):
    import pandas as pd

    from emowb.cli import main
    from emowb.notebook import runner

    seen = {}

    def fake_run(workdir, **kw):
        seen.update(kw)
        return pd.DataFrame([{"notebook": "x", "seconds": 0.0, "output": "o"}])

    monkeypatch.setattr(runner, "run_notebooks", fake_run)
    assert main(argv + ["--out", str(tmp_path / "ws")]) == 0
    assert seen["figures_dir"] == figures


# ------------------------------------------------------------------------------ jupytext pairing
def test_jupytext_pairs_notebooks_with_their_sources():
    from jupytext.config import find_jupytext_configuration_file, load_jupytext_config
    from jupytext.paired_paths import paired_paths

    nb = str(NOTEBOOKS_DIR / "kd.ipynb")
    config = load_jupytext_config(nb)
    formats = config.default_formats(nb)
    paths = {p for p, _ in paired_paths(nb, "ipynb", formats)}
    assert paths == {nb, str(SRC_DIR / "kd.py")}
    # executed copies under out/ are not paired with anything
    assert find_jupytext_configuration_file(ROOT / "out" / "demo" / "notebooks") != str(NOTEBOOKS_DIR / "jupytext.toml")


@pytest.mark.parametrize("src", sorted(SRC_DIR.glob("*.py")), ids=lambda p: p.stem)
def test_sources_are_jupytext_canonical(src):
    """A JupyterLab save (jupytext writes the source) leaves an unedited source unchanged."""
    text = src.read_text()
    assert to_source(parse(text)) == text
    nb = parse(text)
    assert [c.id for c in nb.cells] == [f"cell-{i:02d}" for i in range(len(nb.cells))]
    assert all(c.get("outputs", []) == [] for c in nb.cells)
    assert render(parse(text)) == render(parse(text))


def _copy_notebooks(tmp_path: Path) -> Path:
    nbdir = tmp_path / "notebooks"
    shutil.copytree(NOTEBOOKS_DIR, nbdir, ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    assert (nbdir / "jupytext.toml").is_file()
    return nbdir


def test_sync_both_ways(tmp_path):
    nbdir = _copy_notebooks(tmp_path)
    assert stale(nbdir / "src", nbdir) == []

    # 1. edit a cell in JupyterLab: jupytext's contents manager saves the .ipynb and its source
    from jupytext.sync_contentsmanager import TextFileContentsManager

    cm = TextFileContentsManager(root_dir=str(tmp_path))
    model = cm.get("notebooks/kd.ipynb")
    code = [c for c in model["content"].cells if c.cell_type == "code"]
    code[-1].source += "\nprint('edited in the browser')"
    code[-1].outputs = [nbformat.v4.new_output("stream", text="an output\n")]
    cm.save(model, "notebooks/kd.ipynb")
    assert "print('edited in the browser')" in (nbdir / "src" / "kd.py").read_text()
    assert "an output" not in (nbdir / "src" / "kd.py").read_text()
    assert stale(nbdir / "src", nbdir) == ["kd"]  # outputs, metadata: the .ipynb is normalized by build
    assert build(nbdir / "src", nbdir) == [nbdir / "kd.ipynb"]
    assert stale(nbdir / "src", nbdir) == []
    assert "an output" not in (nbdir / "kd.ipynb").read_text()

    # 2. edit the source: sync() brings the .ipynb level
    src = nbdir / "src" / "train.py"
    src.write_text(src.read_text() + "\n# %%\nprint('edited in the source')\n")
    st = (nbdir / "train.ipynb").stat()
    os.utime(src, (st.st_atime + 10, st.st_mtime + 10))
    assert sync(nbdir) == [nbdir / "train.ipynb"]
    nb = nbformat.read(nbdir / "train.ipynb", as_version=4)
    assert nb.cells[-1].source == "print('edited in the source')" and nb.cells[-1].id == f"cell-{len(nb.cells) - 1:02d}"

    # 3. a .ipynb edited without jupytext (plain nbformat): sync() carries the edit to the source
    nb = nbformat.read(nbdir / "data.ipynb", as_version=4)
    nb.cells[0].source += "\n\nEdited without jupytext."
    nbformat.write(nb, nbdir / "data.ipynb")
    st = (nbdir / "src" / "data.py").stat()
    os.utime(nbdir / "data.ipynb", (st.st_atime + 10, st.st_mtime + 10))
    sync(nbdir)
    assert "# Edited without jupytext." in (nbdir / "src" / "data.py").read_text()
    assert stale(nbdir / "src", nbdir) == []
    assert sync(nbdir) == []  # idempotent
