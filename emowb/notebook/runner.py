"""Execute the notebooks headless with papermill, in dependency order, at a chosen size.

Training notebooks write result folders into the workspace; the analysis notebooks
(embeddings, confusion, reproduce) read them back, so the order matters::

    data -> train -> masking -> kd -> emodistill -> embeddings -> confusion -> reproduce

Sizes (parameter presets): ``tiny`` (the test suite: seconds per notebook), ``demo`` (the
notebooks' own defaults: the README's demo, minutes on 2 CPU cores) and ``paper`` (the papers'
protocols: 3 seeds, leave-one-session-out, Table 1's three students, full sweeps — hours on a
CPU, for a GPU machine).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from emowb.notebook.build import NOTEBOOKS_DIR

ORDER = ("data", "train", "masking", "kd", "emodistill", "embeddings", "confusion", "reproduce")
TRAINING = ("train", "masking", "kd", "emodistill")
ANALYSIS = ("embeddings", "confusion", "reproduce")  # read results; take no corpus parameters

from emowb.notebook.presets import PRESETS, preset_values  # noqa: E402  (re-exported)


@contextlib.contextmanager
def _chdir(folder: Path):
    before = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


class NotebookError(RuntimeError):
    """A notebook failed; the message names it and its executed copy."""


@contextlib.contextmanager
def _progress_log(name: str, on: bool):
    """Papermill's cell log (``log_output``) on stderr as ``[name] ...`` lines while ``name`` runs."""
    if not on:
        yield
        return
    logger = logging.getLogger("papermill")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(f"  [{name}] %(message)s"))
    old = (logger.level, logger.propagate)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old[0])
        logger.propagate = old[1]


def notebook_path(name: str) -> Path:
    p = NOTEBOOKS_DIR / f"{name}.ipynb"
    if not p.is_file():
        raise FileNotFoundError(f"{p} not found: the notebooks live in the source checkout's notebooks/ folder")
    return p


def declared_parameters(name: str) -> set[str]:
    """The names the notebook's ``parameters`` cell declares."""
    import papermill as pm

    return set(pm.inspect_notebook(str(notebook_path(name))))


def parameters_for(name: str, *, size: str, workdir: Path, figures_dir: Path,
                   overrides: Mapping[str, object] | None = None) -> dict:
    """The papermill parameters of notebook ``name`` at ``size``: the preset's values, then the
    ``overrides`` that this notebook takes (see :func:`check_overrides` for unknown names)."""
    from emowb.notebook.params import NOTEBOOK_CONFIGS

    params = preset_values(size, name)
    declared = set(NOTEBOOK_CONFIGS[name].field_names())
    unknown = set(params) - declared
    if unknown:
        raise ValueError(f"preset {size!r} sets {sorted(unknown)} that {name}.ipynb does not declare")
    params.update(workdir=str(workdir), figures_dir=str(figures_dir))
    for key, value in (overrides or {}).items():
        if key in declared:
            params[key] = value
    # validate now, in this process, so a bad value fails before minutes of earlier notebooks
    NOTEBOOK_CONFIGS[name].from_params(**params)
    return params


def check_overrides(names: Sequence[str], overrides: Mapping[str, object]) -> None:
    """Raise ``ConfigError`` for an override that none of the notebooks ``names`` takes
    (``emowb notebooks -p devce=cuda``), naming the closest parameter."""
    from emowb.config import ConfigError, suggest
    from emowb.notebook.params import NOTEBOOK_CONFIGS

    known = set().union(*(NOTEBOOK_CONFIGS[n].field_names() for n in names))
    for key in overrides:
        if key not in known:
            raise ConfigError(f"-p {key}: no notebook among {list(names)} takes a parameter {key!r}"
                              f"{suggest(key, known)}")


def run_notebooks(workdir: str | Path, *, size: str = "demo", only: Sequence[str] | None = None,
                  figures_dir: str | Path = "", overrides: Mapping[str, object] | None = None,
                  log=print, progress: bool = True) -> pd.DataFrame:
    """Execute the notebooks in order; executed copies go to ``<workdir>/notebooks/``.

    Relative paths are relative to the repository root, whatever the working directory (as in
    the notebooks themselves, :mod:`emowb.notebook.workspace`); paths inside the repository reach
    the notebooks relative to it, so executed copies do not record this machine's folders.

    Args:
        workdir: the workspace (corpus, runs, results).
        size: ``tiny`` | ``demo`` | ``paper``.
        only: a subset of :data:`ORDER` (kept in that order).
        figures_dir: where the notebooks save figures (PNG + PDF); ``""`` = ``<workdir>/figures``.
            Only ``emowb demo`` passes the repository's ``figures/``.
        overrides: parameters for every notebook that declares them (e.g. ``device="cuda"``).
        progress: show the notebook's progress on stderr while it runs: a line per cell and the
            cells' own output (each run's result line), prefixed with the notebook's name, plus
            papermill's progress bar on a terminal.

    Returns:
        One row per notebook: name, seconds, executed copy.
    Raises:
        NotebookError: naming the failing notebook and its executed copy (with the traceback).
    """
    import papermill as pm

    from emowb.notebook import workspace

    root = workspace.repo_root()
    workdir_param = workspace.relative(workdir)
    figures_param = workspace.relative(figures_dir) if str(figures_dir) else ""
    workdir = workspace.resolve(workdir)
    names = [n for n in ORDER if only is None or n in set(only)]
    unknown = set(only or ()) - set(ORDER)
    if unknown:
        raise ValueError(f"unknown notebook(s) {sorted(unknown)}; have {list(ORDER)}")
    check_overrides(names, overrides or {})
    out = workdir / "notebooks"
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in names:
        params = parameters_for(name, size=size, workdir=workdir_param, figures_dir=figures_param,
                                overrides=overrides)
        target = out / f"{name}.ipynb"
        t0 = time.perf_counter()
        if log:
            log(f"running {name}.ipynb ({size}) ...")
        try:
            # from the repository root, with paths relative to it where they lie inside it:
            # papermill records input and output paths in the executed copy's metadata
            with _chdir(root), _progress_log(name, progress):
                pm.execute_notebook(workspace.relative(notebook_path(name)), workspace.relative(target),
                                    parameters=params, progress_bar=progress and sys.stderr.isatty(),
                                    log_output=progress, cwd=str(root))
        except pm.PapermillExecutionError as e:
            raise NotebookError(f"{name}.ipynb failed (executed copy: {target}): {e.ename}: {e.evalue}") from e
        seconds = time.perf_counter() - t0
        rows.append({"notebook": name, "seconds": round(seconds, 1), "output": str(target)})
        if log:
            log(f"  {name}.ipynb done in {seconds:.0f} s")
    return pd.DataFrame(rows)
