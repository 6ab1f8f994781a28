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

import time
from pathlib import Path
from typing import Mapping, Sequence

import pandas as pd

from emowb.notebook.build import NOTEBOOKS_DIR

ORDER = ("data", "train", "masking", "kd", "emodistill", "embeddings", "confusion", "reproduce")
TRAINING = ("train", "masking", "kd", "emodistill")
ANALYSIS = ("embeddings", "confusion", "reproduce")  # read results; take no corpus parameters

_SMALL_MODEL = dict(hidden_size=16, seq_ff=32, gnn_heads=2, epochs=2, batch_size=4, patience=2)
PRESETS: dict[str, dict[str, dict]] = {
    "tiny": {
        "*": dict(dialogues=5, utterances=[10, 12], threads=1),
        "data": dict(examples=1, probe=False),
        "train": dict(_SMALL_MODEL),
        "masking": dict(_SMALL_MODEL, disjoint=False, grid_start_prob=[0.2], grid_mask_length=[1],
                        grid_granularity=["feature"]),
        "kd": dict(_SMALL_MODEL, seq_layers=1, student_seq_layers=1, student_gnn_heads=2),
        "emodistill": dict(epochs=2, teacher_epochs=2, taus=[1.0]),
        "embeddings": dict(n_neighbors=5),
    },
    "demo": {"*": {}},
    "paper": {
        "*": dict(dialogues=50),
        "train": dict(seeds=[0, 1, 2], protocol="logo", epochs=50),
        "masking": dict(seeds=[0, 1, 2], protocol="logo", epochs=50),
        "kd": dict(seeds=[0, 1, 2], protocol="logo", epochs=50, table1=True),
        "emodistill": dict(seeds=[0, 1, 2], protocol="logo", epochs=40, teacher_epochs=40,
                           taus=[0.5, 1.0, 2.0, 4.0, 8.0]),
    },
}


class NotebookError(RuntimeError):
    """A notebook failed; the message names it and its executed copy."""


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
    """The papermill parameters of notebook ``name`` at ``size``.

    Raises:
        ValueError: a preset names a parameter the notebook does not declare (it would be ignored).
    """
    if size not in PRESETS:
        raise ValueError(f"unknown size {size!r}: use one of {sorted(PRESETS)}")
    preset = PRESETS[size]
    params: dict = {}
    if name not in ANALYSIS:
        params.update(preset.get("*", {}))
    params.update(preset.get(name, {}))
    declared = declared_parameters(name)
    unknown = set(params) - declared
    if unknown:
        raise ValueError(f"preset {size!r} sets {sorted(unknown)} that {name}.ipynb does not declare")
    params.update(workdir=str(workdir), figures_dir=str(figures_dir))
    for key, value in (overrides or {}).items():
        if key in declared:
            params[key] = value
    return params


def run_notebooks(workdir: str | Path, *, size: str = "demo", only: Sequence[str] | None = None,
                  figures_dir: str | Path = "figures", overrides: Mapping[str, object] | None = None,
                  log=print) -> pd.DataFrame:
    """Execute the notebooks in order; executed copies go to ``<workdir>/notebooks/``.

    Args:
        workdir: the workspace (corpus, runs, results).
        size: ``tiny`` | ``demo`` | ``paper``.
        only: a subset of :data:`ORDER` (kept in that order).
        figures_dir: where the notebooks save figures (PNG + PDF).
        overrides: parameters for every notebook that declares them (e.g. ``device="cuda"``).

    Returns:
        One row per notebook: name, seconds, executed copy.
    Raises:
        NotebookError: naming the failing notebook and its executed copy (with the traceback).
    """
    import papermill as pm

    workdir = Path(workdir).resolve()
    figures_dir = Path(figures_dir).resolve()
    names = [n for n in ORDER if only is None or n in set(only)]
    unknown = set(only or ()) - set(ORDER)
    if unknown:
        raise ValueError(f"unknown notebook(s) {sorted(unknown)}; have {list(ORDER)}")
    out = workdir / "notebooks"
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for name in names:
        params = parameters_for(name, size=size, workdir=workdir, figures_dir=figures_dir, overrides=overrides)
        target = out / f"{name}.ipynb"
        t0 = time.perf_counter()
        if log:
            log(f"running {name}.ipynb ({size}) ...")
        try:
            pm.execute_notebook(str(notebook_path(name)), str(target), parameters=params,
                                progress_bar=False, cwd=str(NOTEBOOKS_DIR.parent))
        except pm.PapermillExecutionError as e:
            raise NotebookError(f"{name}.ipynb failed (executed copy: {target}): {e.ename}: {e.evalue}") from e
        seconds = time.perf_counter() - t0
        rows.append({"notebook": name, "seconds": round(seconds, 1), "output": str(target)})
        if log:
            log(f"  {name}.ipynb done in {seconds:.0f} s")
    return pd.DataFrame(rows)
