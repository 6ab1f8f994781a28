"""The first paper's Table 1 (COGMEN triplet KD, audio+video teacher -> audio-only student), measured.

For every fold of a speaker-independent protocol and every seed: the teacher COGMEN_T-AV
[SeqContext 4, GNN 7] (scored with AV and with A-only input), and for each student size (same
sizes; SeqContext 2; GNN 3) the audio-only student with triplet KD and the same student without
KD. Optionally also: the same-size student distilled from the masked teacher (COGMEN-Mask), and
with the harder mining strategies. Prints weighted F1 / UA / WA as mean ± std over folds × seeds.

Usage::

    # generate (or reuse) a synthetic corpus in /tmp, extract its features, run Table 1
    python benchmarks/kd_triplet_table.py --corpus /tmp/kd/synth50 --synth-dialogues 50 \
        --out /tmp/kd/triplet --seeds 0,1,2 --batch-size 8 --threads 1 \
        --mask-teacher --minings hard,semi-hard --json benchmarks/results/kd_triplet.json

Every run folder is kept under ``--out`` (finished runs are reused when the script is run again).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd
import torch

from emowb.eval.summary import to_markdown
from emowb.features import extract
from emowb.kd.losses import Mining
from emowb.kd.triplet import TABLE1_SIZES, TripletConfig, run_triplet
from emowb.train.masking import MaskingConfig
from _corpora import synth_corpus


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, required=True, help="corpus folder (generated there if absent)")
    ap.add_argument("--synth-dialogues", type=int, default=50)
    ap.add_argument("--synth-seed", type=int, default=0)
    ap.add_argument("--features", default="a=egemaps,v=openface-au")
    ap.add_argument("--protocol", default="logo", help="speaker-independent protocol (default leave-one-session-out)")
    ap.add_argument("--folds", help="comma-separated fold suffixes (default all)")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--epochs", type=int, default=50)
    ap.add_argument("--batch-size", type=int, default=32, help="dialogues per batch")
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--per-speaker", action="store_true",
                    help="z-score features per speaker first (label-free speaker normalisation)")
    ap.add_argument("--mask-teacher", action="store_true", help="also distil from COGMEN-Mask (same sizes)")
    ap.add_argument("--minings", default="", help="extra mining strategies for the same-size student, e.g. hard,semi-hard")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--json", type=Path, help="write the results here")
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    t_start = time.perf_counter()
    corpus = synth_corpus(a.corpus, dialogues=a.synth_dialogues, seed=a.synth_seed)
    feats = dict(x.split("=", 1) for x in a.features.split(","))
    for name in feats.values():
        extract(corpus, name, progress=False)
    train = {"epochs": a.epochs, "batch_size": a.batch_size, "lr": a.lr, "num_threads": a.threads,
             "progress": False, "keep_last": False}
    flat = {"data.corpus": str(a.corpus), "data.features": feats, "data.protocol": a.protocol,
            "seeds": [int(s) for s in a.seeds.split(",")], "train": train, "teacher_train": train}
    if a.folds:
        flat["folds"] = a.folds.split(",")
    if a.per_speaker:
        flat["data.per_speaker"] = True
    base = TripletConfig.from_params(**flat)
    print(f"{corpus}\nprotocol {a.protocol}, seeds {base.seeds}, {a.epochs} epochs, batch {a.batch_size} "
          f"dialogues, lr {a.lr}, {a.threads} thread(s), features z-scored "
          f"{'per speaker, then ' if a.per_speaker else ''}with training statistics", flush=True)
    results = {}
    main_res = run_triplet(base, a.out / "table1")
    results["table1"] = main_res.summary
    print(main_res.table, flush=True)
    same = (TABLE1_SIZES[0],)
    extra_rows = []
    for mining in [m for m in a.minings.split(",") if m]:
        cfg = base.replace(name=f"triplet-kd mining {mining}", sizes=same, baseline=False,
                           loss=base.loss.replace(mining=Mining(mining)))
        r = run_triplet(cfg, a.out / f"mining-{mining}")
        results[f"mining-{mining}"] = r.summary
        extra_rows.append((f"student + triplet KD, mining {mining}", r.summary))
    if a.mask_teacher:
        cfg = base.replace(name="triplet-kd from COGMEN-Mask", sizes=same, baseline=False,
                           teacher_masking=MaskingConfig())
        r = run_triplet(cfg, a.out / "mask-teacher")
        results["mask-teacher"] = r.summary
        extra_rows.append(("masked teacher and its student", r.summary))
    if extra_rows:
        lines = []
        for what, s in extra_rows:
            for _, row in s.iterrows():
                if row["context"] == "v" or (what.startswith("student") and "COGMEN_T" in row["model"]):
                    continue  # the teacher's rows are in Table 1 already
                lines.append({"experiment": what, "model": row["model"], "context": row["context"],
                              "weighted F1": row["weighted_f1"], "UA": row["UA"], "WA": row["WA"]})
        print("# Same-size student: other mining strategies / masked teacher (mean ± std)\n")
        print(to_markdown(pd.DataFrame(lines).set_index("experiment")))
    print(f"\n({time.perf_counter() - t_start:.0f} s in all)")
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps({
            "corpus": corpus.summary(), "args": {k: str(v) for k, v in vars(a).items()},
            "config": base.to_dict(), **{k: v.to_dict("records") for k, v in results.items()}},
            indent=2, default=float) + "\n")
        print(f"wrote {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
