"""``emowb notebooks`` (execute the notebooks headless) and ``emowb demo`` (the README's demo)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from emowb.config import parse_assignments


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("notebooks", help="execute all notebooks headless with papermill",
                       description="Execute the notebooks in order (data, train, masking, kd, emodistill, "
                                   "embeddings, confusion, reproduce) into OUT/notebooks; figures go to --figures.")
    p.add_argument("--out", default="out/demo", help="workspace folder (default out/demo)")
    p.add_argument("--size", default="demo", choices=["tiny", "demo", "paper"])
    p.add_argument("--only", default="", help="comma-separated subset, e.g. kd,embeddings")
    p.add_argument("--figures", default="figures")
    p.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                   help="parameter for every notebook that takes it (JSON values), e.g. -p device=cuda")
    p.set_defaults(func=_notebooks)

    p = sub.add_parser("demo", help="the whole demo on the embedded corpus (all notebooks, demo size)")
    p.add_argument("--out", default="out/demo")
    p.add_argument("--figures", default="figures")
    p.add_argument("--size", default="demo", choices=["tiny", "demo", "paper"])
    p.set_defaults(func=_demo)


def _overrides(pairs) -> dict:
    return parse_assignments(pairs, flag="-p")


def _notebooks(a: argparse.Namespace) -> int:
    from emowb.notebook.runner import run_notebooks

    only = [x for x in a.only.split(",") if x] or None
    t0 = time.perf_counter()
    runs = run_notebooks(a.out, size=a.size, only=only, figures_dir=a.figures, overrides=_overrides(a.param))
    print(runs.to_string(index=False))
    print(f"total {time.perf_counter() - t0:.0f} s")
    return 0


def _demo(a: argparse.Namespace) -> int:
    from emowb.notebook.runner import run_notebooks

    t0 = time.perf_counter()
    runs = run_notebooks(a.out, size=a.size, figures_dir=a.figures)
    total = time.perf_counter() - t0
    print("\n" + runs.to_string(index=False))
    figs = sorted(p.name for p in Path(a.figures).glob("*.png"))
    print(f"\n{len(figs)} figures in {a.figures}/: {', '.join(figs)}")
    report = Path(a.out) / "reproduce" / "report.md"
    if report.is_file():
        print("\n" + report.read_text())
    print(f"demo finished in {total / 60:.1f} min; executed notebooks in {Path(a.out) / 'notebooks'}")
    return 0
