"""``notebooks/*.ipynb`` and their reviewable sources ``notebooks/src/*.py``, paired by jupytext.

The sources are jupytext's "percent" format: ``# %%`` starts a code cell, ``# %% [markdown]`` a
markdown cell (its lines start with ``# ``), and ``# %% tags=["parameters"]`` the cell papermill
parameterises. ``notebooks/jupytext.toml`` pairs every ``notebooks/<name>.ipynb`` with
``notebooks/src/<name>.py``, so

- JupyterLab (jupytext's contents manager, installed with ``jupytext``) saves both sides of a
  notebook edited in the browser, and opening a ``.ipynb`` reads its inputs from the ``.py``;
- ``jupytext --sync notebooks/*.ipynb`` brings both sides level (the newer side's inputs win);
- ``python -m emowb.notebook.build`` rewrites the sources' ``parameters`` cells from the schema
  (:func:`emowb.notebook.params.write_parameters_cells`) and regenerates every ``.ipynb`` from its
  source (:func:`build`), byte-stable: no outputs, cell ids ``cell-00``, ``cell-01``, ..., the
  same metadata every time; ``--sync`` first runs jupytext's sync (edits made on either side),
  ``--check`` only reports notebooks that differ from their sources (the test suite checks the same).

Executed copies (``<workdir>/notebooks/``, ``papermill`` outputs) are not paired: the pairing is
configured in ``notebooks/`` only, not in the notebooks' own metadata.
"""

from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path

import jupytext
import nbformat

from emowb.notebook.workspace import repo_root

__all__ = ["NOTEBOOKS_DIR", "SRC_DIR", "SOURCE_FORMAT", "parse", "normalize", "render", "to_source",
           "build", "stale", "sync"]

NOTEBOOKS_DIR = repo_root() / "notebooks"
SRC_DIR = NOTEBOOKS_DIR / "src"
#: the sources' jupytext format (``notebooks/jupytext.toml`` pairs ``ipynb,src//py:percent``)
SOURCE_FORMAT = "py:percent"
#: the jupytext metadata of a paired notebook (jupytext's contents manager writes the same):
#: sources carry no YAML header and no cell metadata but ``tags``
JUPYTEXT_METADATA = {"cell_metadata_filter": "tags,-all", "notebook_metadata_filter": "-all"}
NOTEBOOK_METADATA = {
    "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
    "language_info": {"name": "python"},
    "jupytext": JUPYTEXT_METADATA,
}
#: the only cell metadata kept (papermill's ``parameters`` tag)
CELL_METADATA = ("tags",)


def normalize(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """``nb``'s cells without outputs, execution counts or metadata other than tags, with stable
    ids (``cell-00``, ...) and the fixed notebook metadata: what a committed notebook holds."""
    cells = []
    for i, cell in enumerate(nb.cells):
        meta = {k: cell.metadata[k] for k in CELL_METADATA if cell.get("metadata", {}).get(k)}
        new = {"code": nbformat.v4.new_code_cell, "markdown": nbformat.v4.new_markdown_cell,
               "raw": nbformat.v4.new_raw_cell}[cell.cell_type]
        cells.append(new(cell.source, metadata=meta, id=f"cell-{i:02d}"))
    return nbformat.v4.new_notebook(cells=cells, metadata=copy.deepcopy(NOTEBOOK_METADATA))


def parse(text: str) -> nbformat.NotebookNode:
    """A percent-format source as a (normalized) notebook, read by jupytext."""
    return normalize(jupytext.reads(text, fmt=SOURCE_FORMAT))


def render(nb: nbformat.NotebookNode) -> str:
    """The ``.ipynb`` text of ``nb`` (as jupytext writes it, with a final newline)."""
    text = jupytext.writes(nb, fmt="ipynb")
    return text if text.endswith("\n") else text + "\n"


def to_source(nb: nbformat.NotebookNode) -> str:
    """The percent-format source of ``nb`` (what jupytext writes to ``notebooks/src/``)."""
    nb = nbformat.from_dict(dict(nb, metadata=dict(nb.metadata, jupytext=JUPYTEXT_METADATA)))
    text = jupytext.writes(nb, fmt=SOURCE_FORMAT)
    return text if text.endswith("\n") else text + "\n"


def _pairs(src_dir: Path, out_dir: Path):
    for src in sorted(Path(src_dir).glob("*.py")):
        yield src, Path(out_dir) / f"{src.stem}.ipynb"


def stale(src_dir: Path = SRC_DIR, out_dir: Path = NOTEBOOKS_DIR) -> list[str]:
    """Names of the notebooks that differ from what :func:`build` would write."""
    return [src.stem for src, path in _pairs(src_dir, out_dir)
            if not path.is_file() or path.read_text(encoding="utf-8") != render(parse(src.read_text(encoding="utf-8")))]


def build(src_dir: Path = SRC_DIR, out_dir: Path = NOTEBOOKS_DIR) -> list[Path]:
    """Regenerate every ``out_dir/<name>.ipynb`` from ``src_dir/<name>.py``.

    Only notebooks whose bytes change are written (so unchanged ones keep their timestamps, which
    jupytext compares); returns the written paths.
    """
    written = []
    for src, path in _pairs(src_dir, out_dir):
        nb = parse(src.read_text(encoding="utf-8"))
        nbformat.validate(nb)
        text = render(nb)
        if path.is_file() and path.read_text(encoding="utf-8") == text:
            continue
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def sync(notebooks_dir: Path = NOTEBOOKS_DIR) -> list[Path]:
    """Both ways: ``jupytext --sync`` on every paired notebook (edits made on either side reach the
    other; the newer side's inputs win), then :func:`build` (normalized ``.ipynb``).

    Returns the notebooks :func:`build` rewrote.
    """
    from jupytext.cli import jupytext as jupytext_cli

    notebooks_dir = Path(notebooks_dir)
    names = sorted({p.stem for p in notebooks_dir.glob("*.ipynb")} | {p.stem for p in (notebooks_dir / "src").glob("*.py")})
    paths = [str(notebooks_dir / f"{n}.ipynb") if (notebooks_dir / f"{n}.ipynb").is_file()
             else str(notebooks_dir / "src" / f"{n}.py") for n in names]
    if paths:
        jupytext_cli(["--sync", "--quiet", *paths])
    return build(notebooks_dir / "src", notebooks_dir)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m emowb.notebook.build",
                                 description="Regenerate notebooks/*.ipynb from notebooks/src/*.py (jupytext).")
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--sync", action="store_true",
                      help="first sync both ways with jupytext (edits made in a .ipynb reach its source)")
    mode.add_argument("--check", action="store_true",
                      help="write nothing; exit 1 when a notebook differs from its source")
    a = ap.parse_args(argv)
    if a.check:
        names = stale()
        for n in names:
            print(f"notebooks/{n}.ipynb differs from notebooks/src/{n}.py")
        return 1 if names else 0
    if a.sync:
        sync()  # edits made in a .ipynb reach its source first
    from emowb.notebook.params import write_parameters_cells

    for p in write_parameters_cells(SRC_DIR):  # the parameters cells come from the schema
        print(p)
    written = build()
    for p in written:
        print(p)
    if not written:
        print("notebooks up to date")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
