"""What each modality of the synthetic corpus carries (the foundation issue's sanity table).

Generates the default synthetic corpus (or uses ``--corpus``), extracts eGeMAPS functionals
(voice), OpenFace AU statistics (face) and MiniLM sentence embeddings (text), and scores a
standardised logistic regression per modality under leave-one-session-out (C by inner grouped
CV). Prints UA and weighted F1 as mean ± std over the 5 session folds, and confusion matrices.

Usage::

    python benchmarks/modality_sanity.py [--corpus DIR | --work /tmp/emowb-sanity --seed 0]
                                         [--out benchmarks/results/modality_sanity.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from emowb.data.corpus import Corpus
from emowb.eval.linear import modality_table
from emowb.features import extract
from _corpora import synth_corpus

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, help="an existing corpus folder (default: generate one)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/emowb-sanity"))
    ap.add_argument("--seed", type=int, default=0, help="generator seed when generating")
    ap.add_argument("--dialogues", type=int, default=50)
    ap.add_argument("--protocol", default="logo")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "modality_sanity.json")
    a = ap.parse_args(argv)
    if a.corpus is None:
        a.corpus = a.work / f"synth-d{a.dialogues}-s{a.seed}"
        synth_corpus(a.corpus, dialogues=a.dialogues, seed=a.seed)
    corpus = Corpus.load(a.corpus)
    print(corpus)
    t0 = time.perf_counter()
    sets = {name: extract(corpus, name, progress=False) for name in ("egemaps", "openface-au", "minilm")}
    print(f"features ready in {time.perf_counter() - t0:.0f} s")
    rows = {"voice (eGeMAPS)": sets["egemaps"], "face (OpenFace AU stats)": sets["openface-au"],
            "text (MiniLM)": sets["minilm"], "voice + face": [sets["egemaps"], sets["openface-au"]],
            "voice + face + text": [sets["egemaps"], sets["openface-au"], sets["minilm"]]}
    t0 = time.perf_counter()
    table, confusions = modality_table(corpus, rows, protocol=a.protocol)
    show = table[["modality", "dim", "invalid", "UA", "weighted_f1", "UA_pooled"]]
    print(show.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    for name, cm in confusions.items():
        print(f"\n{name} (rows true, columns predicted, pooled over folds):\n{cm.to_string()}")
    print(f"\n({time.perf_counter() - t0:.0f} s; {a.protocol}, logistic regression, mean ± std over folds)")
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps({"corpus": str(a.corpus), "summary": corpus.summary(),
                                 "protocol": a.protocol, "table": table.to_dict("records"),
                                 "confusions": {k: v.values.tolist() for k, v in confusions.items()}},
                                indent=2, default=float) + "\n")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
