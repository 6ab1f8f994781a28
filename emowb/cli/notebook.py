"""``emowb notebooks`` (execute the notebooks headless) and ``emowb demo`` (the README's demo)."""

from __future__ import annotations

import argparse
import time

from emowb.config import parse_assignments


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("notebooks", help="execute all notebooks headless with papermill",
                       description="Execute the notebooks in order (data, train, masking, kd, emodistill, "
                                   "embeddings, confusion, reproduce) into OUT/notebooks; figures go to "
                                   "OUT/figures (or --figures). Relative paths are relative to the repository root.")
    p.add_argument("--out", default="out/demo", help="workspace folder (default out/demo)")
    p.add_argument("--size", default="demo", choices=["tiny", "demo", "paper"])
    p.add_argument("--only", default="", help="comma-separated subset, e.g. kd,embeddings")
    p.add_argument("--figures", default="",
                   help="figures folder (default: OUT/figures; the committed figures/ are `emowb demo`'s)")
    p.add_argument("-p", "--param", action="append", default=[], metavar="KEY=VALUE",
                   help="parameter for every notebook that takes it (JSON values), e.g. -p device=cuda")
    p.add_argument("--executor", default=None, metavar="local|processes[:N]|ray[:ADDRESS]",
                   help="where the sweeps of masking, kd and emodistill train their runs (= -p executor=...)")
    p.set_defaults(func=_notebooks)

    p = sub.add_parser("demo", help="the whole demo on the embedded corpus (all notebooks, demo size)",
                       description="Run every notebook at the demo size into OUT; the figures go to the "
                                   "repository's figures/ (the README's). Relative paths are relative to "
                                   "the repository root.")
    p.add_argument("--out", default="out/demo")
    p.add_argument("--figures", default=None,
                   help="figures folder (default: figures/ at the demo size, OUT/figures at the others)")
    p.add_argument("--size", default="demo", choices=["tiny", "demo", "paper"])
    p.set_defaults(func=_demo)


def _overrides(pairs) -> dict:
    return parse_assignments(pairs, flag="-p")


def _notebooks(a: argparse.Namespace) -> int:
    from emowb.notebook.runner import run_notebooks

    only = [x for x in a.only.split(",") if x] or None
    t0 = time.perf_counter()
    overrides = _overrides(a.param)
    if a.executor:
        overrides["executor"] = a.executor
    runs = run_notebooks(a.out, size=a.size, only=only, figures_dir=a.figures, overrides=overrides)
    print(runs.to_string(index=False))
    print(f"total {time.perf_counter() - t0:.0f} s")
    return 0


def _demo(a: argparse.Namespace) -> int:
    from emowb.notebook import workspace
    from emowb.notebook.runner import run_notebooks

    # only the demo itself writes the committed figures/; other sizes keep theirs in the workspace
    figures = a.figures if a.figures is not None else ("figures" if a.size == "demo" else "")
    t0 = time.perf_counter()
    runs = run_notebooks(a.out, size=a.size, figures_dir=figures)
    total = time.perf_counter() - t0
    print("\n" + runs.to_string(index=False))
    fig_dir = workspace.figures(a.out, figures)
    figs = sorted(p.name for p in fig_dir.glob("*.png"))
    print(f"\n{len(figs)} figures in {workspace.relative(fig_dir)}/: {', '.join(figs)}")
    report = workspace.resolve(a.out) / "reproduce" / "report.md"
    if report.is_file():
        print("\n" + report.read_text())
    print(f"demo finished in {total / 60:.1f} min; executed notebooks in "
          f"{workspace.relative(workspace.resolve(a.out) / 'notebooks')}")
    return 0
