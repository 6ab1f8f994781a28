"""The masking table (``emowb experiment``) with each executor: identical metrics, wall times side by side,
and a Ray sweep that survives a worker killed with ``kill -9``.

Each sweep runs in its own process (``python -m emowb experiment ... --executor X``) into its own
output folder; the per-run metrics (runs.csv without the folders' location) must be identical.
The last sweep runs on a local Ray cluster while this script kills (SIGKILL) one Ray worker that
is training a run, ``--kill-after`` seconds in; Ray retries the run, which resumes from its last
checkpoint, and the table must again be the local one.

    python benchmarks/scaling_table.py /tmp/scale/synth50 --work /tmp/scale --epochs 3 \\
        --out benchmarks/results/scaling_masking_table
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pandas as pd


def sweep(corpus: str, out: Path, executor: str, a, *, kill_after: float | None = None) -> dict:
    cmd = [sys.executable, "-m", "emowb", "experiment", corpus, "--out", str(out), "--protocol", a.protocol,
           "--seeds", a.seeds, "--epochs", str(a.epochs), "--threads", "1", "--executor", executor]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    t0 = time.perf_counter()
    with open(out.with_suffix(".log"), "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        killed: list[dict] = []
        if kill_after is not None:
            threading.Thread(target=_kill_a_worker, args=(proc, kill_after, killed), daemon=True).start()
        rc = proc.wait()
    seconds = time.perf_counter() - t0
    if rc != 0:
        raise SystemExit(f"{executor} sweep failed (exit {rc}); see {out.with_suffix('.log')}")
    return {"executor": executor, "seconds": round(seconds, 1), "killed": killed}


def _kill_a_worker(proc: subprocess.Popen, after: float, killed: list) -> None:
    """SIGKILL one Ray worker process (a descendant of ``proc``) while it trains a run."""
    import psutil

    time.sleep(after)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        try:
            kids = psutil.Process(proc.pid).children(recursive=True)
        except psutil.NoSuchProcess:
            return
        for p in kids:
            try:
                title = " ".join(p.cmdline())
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                continue
            if title.startswith("ray::") and ("emowb-run" in title or "run_task" in title):  # training a run
                os.kill(p.pid, signal.SIGKILL)
                killed.append({"pid": p.pid, "title": title.strip(), "at_s": round(after, 1)})
                return
        time.sleep(0.5)


def scores(out: Path) -> pd.DataFrame:
    runs = pd.read_csv(out / "runs.csv")
    return runs.assign(run_dir=[Path(d).name for d in runs.run_dir]).sort_values(
        ["model", "fold", "seed", "context"]).reset_index(drop=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("corpus")
    ap.add_argument("--work", type=Path, default=Path("/tmp/scale"))
    ap.add_argument("--protocol", default="logo")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--executors", default="local,processes:2,ray")
    ap.add_argument("--kill-after", type=float, default=60.0, help="seconds into the Ray sweep (negative: skip)")
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/scaling_masking_table"))
    a = ap.parse_args(argv)
    a.work.mkdir(parents=True, exist_ok=True)
    rows, tables = [], {}
    for ex in a.executors.split(","):
        out = a.work / f"sweep-{ex.replace(':', '')}"
        r = sweep(a.corpus, out, ex, a)
        tables[ex] = scores(out)
        rows.append(r)
        print(f"{ex:12s} {r['seconds']:8.1f} s  ({len(tables[ex])} rows)", flush=True)
    if a.kill_after >= 0:
        out = a.work / "sweep-ray-kill"
        r = sweep(a.corpus, out, "ray", a, kill_after=a.kill_after)
        r["executor"] = "ray, one worker killed (kill -9)"
        tables[r["executor"]] = scores(out)
        rows.append(r)
        print(f"{r['executor']:12s} {r['seconds']:8.1f} s  killed {r['killed']}", flush=True)
    ref_name = next(iter(tables))
    ref = tables[ref_name]
    metrics = ["WA", "UA", "weighted_f1", "macro_f1", "best_epoch"]
    for r in rows:
        t = tables[r["executor"]]
        r["rows"] = len(t)
        r["identical_to_" + ref_name] = bool(len(t) == len(ref) and (t[metrics + ["run_dir"]] == ref[metrics + ["run_dir"]]).all().all())
    frame = pd.DataFrame(rows)
    a.out.parent.mkdir(parents=True, exist_ok=True)
    (a.out.with_suffix(".json")).write_text(json.dumps({"corpus": a.corpus, "protocol": a.protocol, "seeds": a.seeds,
                                                        "epochs": a.epochs, "cpus": os.cpu_count(), "sweeps": rows},
                                                       indent=2))
    table_md = (a.work / f"sweep-{ref_name.replace(':', '')}" / "table.md").read_text()
    lines = [f"<!-- python benchmarks/scaling_table.py {a.corpus} --work {a.work} --protocol {a.protocol} --seeds {a.seeds} "
             f"--epochs {a.epochs} --executors {a.executors} --kill-after {a.kill_after}; {os.cpu_count()} CPU cores -->",
             "# The masking table on each executor", "",
             f"10 variants × {len(ref.fold.unique())} folds ({a.protocol}) × {len(a.seeds.split(','))} seeds = "
             f"{ref.run_dir.nunique()} runs, {a.epochs} epochs each (reduced from 50 to fit this machine), 1 torch thread per run.",
             "", "| executor | wall time (s) | runs.csv rows | metrics identical to local |", "|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['executor']} | {r['seconds']} | {r['rows']} | {r['identical_to_' + ref_name]} |")
    for r in rows:
        if r["killed"]:
            lines.append(f"\nKilled: {r['killed']}")
    lines += ["", "The table (identical for every executor):", "", table_md]
    a.out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(frame.to_string(index=False))
    return 0 if all(r["identical_to_" + ref_name] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
