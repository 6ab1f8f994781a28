"""EmoDistill's ablation table and temperature sweeps with a light student, measured.

Teachers (per fold, one seed, cached): the prosodic ResNet-2D on eGeMAPS LLDs and the linguistic
teacher (all-MiniLM-L6-v2, frozen, + head) on the transcripts. Student: a light backbone trained
from scratch on a CPU (``cnn`` on log-mel spectrograms or ``mlp`` on eGeMAPS functionals).
Rows: EmoDistill, w/o L_logits, w/o L_embeddings, w/o each teacher, w/o both (= the student
without KD), each teacher alone; sweeps: prosodic teacher only over τ_P, linguistic teacher only
over τ_L. WA / UA / weighted F1 as mean ± std over folds × seeds (teachers: over folds).

Usage::

    python benchmarks/emodistill_table.py --corpus /tmp/kd/synth50 --backbone mlp --seeds 0,1,2 \
        --out /tmp/kd/emodistill-mlp --threads 1 --json benchmarks/results/emodistill_mlp.json

Any configuration field can be overridden with ``--set key=value`` (e.g. ``--set alpha=0.5``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

from emowb.config import parse_assignments
from emowb.kd.emodistill import EmoDistillConfig, run_ablations
from _corpora import synth_corpus


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, required=True, help="corpus folder (generated there if absent)")
    ap.add_argument("--synth-dialogues", type=int, default=50)
    ap.add_argument("--synth-seed", type=int, default=0)
    ap.add_argument("--backbone", choices=("cnn", "mlp"), default="mlp")
    ap.add_argument("--protocol", default="logo")
    ap.add_argument("--folds", help="comma-separated fold suffixes (default all)")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--taus", default="0.5,1,2,4,8")
    ap.add_argument("--no-sweeps", action="store_true")
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    t0 = time.perf_counter()
    corpus = synth_corpus(a.corpus, dialogues=a.synth_dialogues, seed=a.synth_seed)
    flat = {"corpus": str(a.corpus), "protocol": a.protocol, "seeds": [int(s) for s in a.seeds.split(",")],
            "student.backbone": a.backbone, "train.epochs": a.epochs, "teacher_train.epochs": a.epochs,
            "train.num_threads": a.threads, "teacher_train.num_threads": a.threads,
            # CPU-sized teacher and student (the defaults are GPU-sized)
            "prosodic.stem_channels": 8, "prosodic.channels": [8, 16, 32, 64],
            "student.cnn_channels": [8, 16, 32], "n_mels": 40}
    if a.folds:
        flat["folds"] = a.folds.split(",")
    flat.update(parse_assignments(a.set, flag="--set"))
    cfg = EmoDistillConfig.from_params(**flat)
    print(f"{corpus}\nprotocol {cfg.protocol}, seeds {cfg.seeds}, student {cfg.student.backbone.value}, "
          f"loss α={cfg.loss.alpha:g} β={cfg.loss.beta:g} γ={cfg.loss.gamma:g} τ_L={cfg.loss.tau_linguistic:g} "
          f"τ_P={cfg.loss.tau_prosodic:g} KL {cfg.loss.direction.value}, {a.threads} thread(s)", flush=True)
    res = run_ablations(cfg, a.out, taus=[float(t) for t in a.taus.split(",")], sweeps=not a.no_sweeps,
                        corpus=corpus)
    print(res.text)
    print(f"({time.perf_counter() - t0:.0f} s in all)")
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        payload = json.loads((a.out / "results.json").read_text())
        payload["corpus"] = corpus.summary()
        payload["args"] = {k: str(v) for k, v in vars(a).items()}
        a.json.write_text(json.dumps(payload, indent=2, default=float) + "\n")
        print(f"wrote {a.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
