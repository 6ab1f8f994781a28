"""Build ``notebooks/*.ipynb`` from their reviewable sources ``notebooks/src/*.py``.

Sources use the "percent" cell format: ``# %%`` starts a code cell, ``# %% [markdown]`` a
markdown cell (its lines start with ``# ``), and ``# %% tags=["parameters"]`` the cell papermill
parameterises. ``python -m emowb.notebook.build`` rewrites the notebooks; the test suite checks
that the committed notebooks match their sources.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbformat

NOTEBOOKS_DIR = Path(__file__).resolve().parents[2] / "notebooks"
_MARK = re.compile(r"^# %%(?P<md> \[markdown\])?(?: tags=(?P<tags>\[.*\]))?\s*$")


def parse(text: str) -> nbformat.NotebookNode:
    """Turn a percent-format source into a notebook (no outputs)."""
    cells, kind, tags, lines = [], None, [], []

    def flush() -> None:
        if kind is None:
            return
        body = "\n".join(lines).strip("\n")
        if kind == "markdown":
            body = "\n".join(l[2:] if l.startswith("# ") else l.lstrip("#") for l in body.splitlines())
            cell = nbformat.v4.new_markdown_cell(body)
        else:
            cell = nbformat.v4.new_code_cell(body)
        if tags:
            cell.metadata["tags"] = tags
        cells.append(cell)

    for line in text.splitlines():
        m = _MARK.match(line)
        if m:
            flush()
            kind = "markdown" if m.group("md") else "code"
            tags = json.loads(m.group("tags")) if m.group("tags") else []
            lines = []
        elif kind is not None:
            lines.append(line)
    flush()
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    for i, c in enumerate(nb.cells):  # stable ids -> byte-stable notebooks
        c["id"] = f"cell-{i:02d}"
    return nb


def render(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb) + "\n"


def build(src_dir: Path = NOTEBOOKS_DIR / "src", out_dir: Path = NOTEBOOKS_DIR) -> list[Path]:
    """Write every ``src/*.py`` as ``out_dir/*.ipynb``; return the written paths."""
    written = []
    for src in sorted(src_dir.glob("*.py")):
        nb = parse(src.read_text())
        nbformat.validate(nb)
        path = out_dir / f"{src.stem}.ipynb"
        path.write_text(render(nb))
        written.append(path)
    return written


if __name__ == "__main__":  # pragma: no cover
    for p in build():
        print(p)
    sys.exit(0)
