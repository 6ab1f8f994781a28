"""Where the notebooks' relative paths point: the repository root, whatever the working directory.

JupyterLab starts a notebook's kernel in the notebook's folder (``notebooks/``), papermill and
``emowb notebooks`` in the repository root; a relative ``workdir = "out/demo"`` must mean the
same folder in all three. So relative paths are resolved against :func:`repo_root`, never
against the kernel's working directory::

    resolve("out/demo")        # -> <repo>/out/demo, from notebooks/ or from anywhere
    figures("out/demo", "")    # -> <repo>/out/demo/figures (the default: the workspace's own)
    figures("out/demo", "figures")  # -> <repo>/figures (the committed figures: `emowb demo` only)
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["repo_root", "resolve", "figures", "relative"]


def _is_root(folder: Path) -> bool:
    return (folder / "notebooks").is_dir() and (folder / "pyproject.toml").is_file()


def repo_root() -> Path:
    """The repository root: the folder holding ``notebooks/`` and ``pyproject.toml``.

    Found from the package's location (a source checkout or an editable install); for a
    package installed elsewhere, the working directory or the nearest parent of it that looks
    like the repository (a kernel started in ``notebooks/``); failing that, the working directory.
    """
    here = Path(__file__).resolve().parents[2]  # <root>/emowb/notebook/workspace.py
    if _is_root(here):
        return here
    cwd = Path.cwd().resolve()
    for folder in (cwd, *cwd.parents):
        if _is_root(folder):
            return folder
    return cwd


def resolve(path: str | os.PathLike) -> Path:
    """``path`` as an absolute path: absolute paths unchanged, relative ones against :func:`repo_root`."""
    p = Path(path).expanduser()
    return p if p.is_absolute() else repo_root() / p


def figures(workdir: str | os.PathLike, figures_dir: str | os.PathLike = "") -> Path:
    """The figures folder: ``figures_dir`` resolved, or ``<workdir>/figures`` when it is empty."""
    return resolve(figures_dir) if str(figures_dir) else resolve(workdir) / "figures"


def relative(path: str | os.PathLike) -> str:
    """``path`` relative to :func:`repo_root` (POSIX separators) when it lies inside it, else absolute.

    What the runner passes to the notebooks, so that executed notebooks (papermill records its
    parameters) do not carry the machine's absolute paths.
    """
    p = resolve(path)
    root = repo_root()
    try:
        rel = Path(os.path.normpath(p)).relative_to(root)
    except ValueError:
        return str(p)
    return rel.as_posix() if rel.parts else "."
