"""What speaker normalisation at inference costs: offline vs running (causal) vs none, measured.

For every student run folder under ``RUNS`` (one per fold of a speaker-independent protocol,
e.g. ``emowb kd emodistill --protocol loso``), the test speaker's files are scored with
``emowb.infer.predict_files`` in file order with each ``speaker_norm`` (and, for ``running``,
several prior weights n0), and UA / WA are compared with the run's own test evaluation.
``offline`` must equal it (same statistics as training); the others show the price of not
having a speaker's future.

Usage::

    python benchmarks/infer_speaker_norm.py RUNS [--priors 1,5,20] [--json benchmarks/results/infer_speaker_norm.json]
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import numpy as np
import pandas as pd
import torch


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", type=Path)
    ap.add_argument("--priors", default="1,5,20")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    torch.set_num_threads(1)
    from emowb.data.corpus import Corpus
    from emowb.eval.metrics import compute_metrics
    from emowb.infer.predictor import run_predictor
    from emowb.infer.serve import predict_files
    from emowb.train.run import load_run

    rows = []
    for cfg_file in sorted(a.runs.rglob("metrics.json")):
        run = cfg_file.parent
        stored = load_run(run)
        corpus = Corpus.load(stored.config.corpus)
        t = corpus.table
        t = t[t["dialogue_id"].isin(set(stored.split.test))]
        paths = [str(corpus.path("audio", i)) for i in t.index]
        pos = {lab: i for i, lab in enumerate(corpus.labels)}
        y = [pos[x] for x in t["label"]]
        own = json.loads(cfg_file.read_text())["test"]["a"]
        row = {"fold": stored.fold, "n": len(paths), "run UA": own["UA"]}
        for prior in [float(x) for x in a.priors.split(",")]:
            pred = run_predictor(run, prior_utterances=prior)[0]
            modes = ["running"] if prior != 5.0 else ["offline", "running", "none"]
            for mode in modes:
                df = predict_files(pred, paths, speaker="one", speaker_norm=mode, segment_mode="none")
                m = compute_metrics(y, [pos[x] for x in df["pred"]], corpus.labels)
                key = mode if mode != "running" else f"running n0={prior:g}"
                row[key] = m["UA"]
        rows.append(row)
        print({k: (round(v, 3) if isinstance(v, float) else v) for k, v in row.items()}, flush=True)
    df = pd.DataFrame(rows)
    cols = [c for c in df.columns if c not in ("fold", "n")]
    print("\nUA over folds, mean ± std (test speaker's files in file order):")
    for c in cols:
        print(f"  {c:16s} {df[c].mean():.3f} ± {df[c].std(ddof=0):.3f}")
    print("offline == run's own evaluation in every fold:", bool(np.allclose(df["offline"], df["run UA"])))
    if a.json:
        a.json.write_text(json.dumps({"folds": rows, "mean": {c: df[c].mean() for c in cols},
                                      "std": {c: df[c].std(ddof=0) for c in cols}}, indent=2))


if __name__ == "__main__":
    main()
