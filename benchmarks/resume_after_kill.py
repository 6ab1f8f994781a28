"""A COGMEN run at IEMOCAP-4 ``atv`` size killed with SIGKILL mid-epoch resumes to the identical result.

Three runs of the same configuration on the same data (the synthetic IEMOCAP-4-shaped pickle of
``benchmarks/cogmen_vs_reference.py``, imported once), each in its own process, 1 thread:

1. reference: uninterrupted;
2. killed: ``kill -9`` once its ``history.csv`` holds ``--kill-after`` epochs (mid-way through the
   next epoch), then started again on the same folder (resume) to the end.

It prints the wall time of each, which epoch the resume state held (``checkpoint_budget`` decides
how often it is written: fewer writes, more epochs replayed), the checkpoint writes, and whether
``metrics.json``, ``predictions.parquet``, ``history.csv`` (but for its timing column) and the
``best.pt`` weights are identical.

    python benchmarks/resume_after_kill.py --work /tmp/rak [--epochs 6 --kill-after 3 --modalities atv]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _worker(args) -> None:
    import torch

    sys.path.insert(0, str(HERE))
    from cogmen_vs_reference import emowb_run_config
    from emowb.train.run import train_run

    torch.set_num_threads(1)
    spec = {"corpus": args.corpus, "gnn_heads": args.gnn_heads, "epochs": args.epochs, "seed": 24, "threads": 1}
    cfg = emowb_run_config(spec, args.modalities, reference_mode=False)
    cfg = cfg.replace(train=cfg.train.replace(keep_last=False, checkpoint_budget=args.budget))
    t0 = time.perf_counter()
    res = train_run(cfg, run_dir=args.run)
    print(json.dumps({"wall_s": time.perf_counter() - t0, "timings": res.timings}), flush=True)


def _spawn(args, run: Path) -> subprocess.Popen:
    cmd = [sys.executable, __file__, "--worker", "--corpus", str(args.corpus), "--run", str(run),
           "--epochs", str(args.epochs), "--modalities", args.modalities, "--gnn-heads", str(args.gnn_heads),
           "--budget", str(args.budget)]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1", "TQDM_DISABLE": "1"})


def _finish(proc: subprocess.Popen) -> dict:
    out, _ = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"worker failed ({proc.returncode})")
    return json.loads(out.strip().splitlines()[-1])


def _epochs_done(run: Path) -> int:
    h = run / "history.csv"
    return max(0, len(h.read_text().splitlines()) - 1) if h.is_file() else 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", help="working folder (data, corpus, the two run folders)")
    p.add_argument("--epochs", type=int, default=6)
    p.add_argument("--kill-after", type=int, default=3)
    p.add_argument("--modalities", default="atv")
    p.add_argument("--gnn-heads", type=int, default=1)
    p.add_argument("--budget", type=float, default=0.05, help="TrainConfig.checkpoint_budget")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--corpus", help=argparse.SUPPRESS)
    p.add_argument("--run", help=argparse.SUPPRESS)
    a = p.parse_args(argv)
    if a.worker:
        _worker(a)
        return 0
    if not a.work:
        p.error("--work is required")
    import numpy as np
    import pandas as pd
    import torch

    sys.path.insert(0, str(HERE))
    from cogmen_vs_reference import write_reference_pickle
    from emowb.features.imported import import_cogmen

    work = Path(a.work)
    work.mkdir(parents=True, exist_ok=True)
    corpus = work / "corpus"
    if not (corpus / "corpus.json").is_file():
        pkl = work / "data_iemocap_4.pkl"
        write_reference_pickle(pkl, 151, 4490)          # IEMOCAP-4's shape
        import_cogmen(pkl, corpus)
    a.corpus = corpus
    ref, run = work / "uninterrupted", work / "killed"
    for d in (ref, run):
        if d.exists():
            import shutil

            shutil.rmtree(d)
    r_ref = _finish(_spawn(a, ref))
    print(f"uninterrupted: {r_ref['wall_s']:.1f} s wall, checkpoint writes {r_ref['timings'].get('checkpoint_writes')}, "
          f"training thread on checkpoints {r_ref['timings'].get('checkpoint_foreground_s', 0):.2f} s")
    t0 = time.perf_counter()
    proc = _spawn(a, run)
    while _epochs_done(run) < a.kill_after and proc.poll() is None:
        time.sleep(0.2)
    time.sleep(2.0)                                     # into the next epoch
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_s = time.perf_counter() - t0
    killed_epochs = _epochs_done(run)
    state = torch.load(run / "checkpoints" / "last.pt", weights_only=True)["state"]
    print(f"killed (SIGKILL) after {killed_s:.1f} s with {_epochs_done(run)} epoch(s) in history.csv; "
          f"the resume state on disk holds epoch {state['epoch']}")
    r_run = _finish(_spawn(a, run))
    print(f"resumed: {r_run['wall_s']:.1f} s wall to the end: epochs {state['epoch'] + 1}..{a.epochs} trained, "
          f"of which {max(0, killed_epochs - state['epoch'])} replayed lost work")
    same = {f: (ref / f).read_bytes() == (run / f).read_bytes() for f in ("metrics.json", "predictions.parquet")}
    ha, hb = (pd.read_csv(d / "history.csv").drop(columns="time_s") for d in (ref, run))
    same["history.csv (but time_s)"] = ha.equals(hb)
    wa, wb = (torch.load(d / "checkpoints" / "best.pt", weights_only=True) for d in (ref, run))
    same["best.pt weights"] = wa["epoch"] == wb["epoch"] and all(torch.equal(wa["model"][k], wb["model"][k])
                                                                 for k in wa["model"])
    with np.load(ref / "embeddings.npz") as e1, np.load(run / "embeddings.npz") as e2:
        same["embeddings.npz arrays"] = all(np.array_equal(e1[k], e2[k]) for k in e1.files)
    for k, v in same.items():
        print(f"  {k}: {'identical' if v else 'DIFFERENT'}")
    print(json.dumps({"uninterrupted": r_ref, "killed_after_s": killed_s, "resume_epoch": state["epoch"],
                      "resumed": r_run, "identical": same}, default=str))
    return 0 if all(same.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
