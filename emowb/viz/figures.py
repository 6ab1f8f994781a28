"""Saving figures the same way everywhere."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from emowb.utils import atomic_path


def save_figure(fig, name: str, *, out_dir: str | os.PathLike = "figures",
                formats: Sequence[str] = ("png", "pdf"), dpi: int = 150) -> list[Path]:
    """Write ``fig`` as ``out_dir/name.{png,pdf}`` (atomically) and return the paths."""
    if not name or "/" in name:
        raise ValueError(f"figure name must be a plain file stem, got {name!r}")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for fmt in formats:
        path = out / f"{name}.{fmt}"
        with atomic_path(path, suffix=f".{fmt}") as tmp:
            # no creation date in PDFs: the same run gives byte-identical files (clean git diffs)
            meta = {"CreationDate": None} if fmt == "pdf" else None
            fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight", metadata=meta)
        paths.append(path)
    return paths
