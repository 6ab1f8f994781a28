"""Extraction throughput: files/s and real-time factor (extraction seconds / audio seconds) for
eGeMAPS, ComParE, eGeMAPS LLDs and a tiny randomly initialised HuBERT, plus the cache-hit time of
a second run, on EmoDB and/or any corpus folder (e.g. the synthetic demo corpus).

The tiny HuBERT keeps HuBERT's real convolutional front end (320x downsampling, 50 frames/s) with
2 transformer layers of width 64, so it measures the pipeline (decode, resample, batch, pool), not
a real model's cost; ``--hubert-base`` adds a randomly initialised HuBERT-base (95 M parameters).

Usage::

    python benchmarks/features_throughput.py --emodb ../shared/data/emodb --corpus /tmp/synth \\
        [--work /tmp/emowb-throughput] [--out benchmarks/results/features_throughput.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from emowb.data.audio import audio_duration
from emowb.data.corpus import Corpus
from emowb.data.importers import import_corpus
from emowb.features import extract

ROOT = Path(__file__).resolve().parents[1]


def tiny_hubert(folder: Path, *, base: bool = False) -> Path:
    import transformers

    transformers.set_seed(0)
    if base:
        cfg = transformers.HubertConfig()
    else:
        cfg = transformers.HubertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=2,
                                        intermediate_size=128, conv_dim=(64,) * 7,
                                        num_conv_pos_embeddings=32, num_conv_pos_embedding_groups=4)
    transformers.HubertModel(cfg).save_pretrained(folder)
    return folder


def audio_seconds(corpus: Corpus) -> float:
    t = corpus.table
    if "duration" in t.columns and t["duration"].notna().all():
        return float(t["duration"].sum())
    total = 0.0
    for i in range(len(t)):
        s, e = float(t["start"].iat[i]), float(t["end"].iat[i])
        if np.isnan(e):
            e = audio_duration(corpus.path("audio", i))
        total += e - (0.0 if np.isnan(s) else s)
    return total


def measure(corpus: Corpus, sets: dict[str, tuple[str, dict]]) -> Iterator[dict]:
    """Yield one row per feature set: a forced extraction, then a second (cache-hit) call."""
    secs = audio_seconds(corpus)
    for label, (name, params) in sets.items():
        t0 = time.perf_counter()
        fs = extract(corpus, name, force=True, progress=False, **params)
        dt = time.perf_counter() - t0
        t1 = time.perf_counter()
        again = extract(corpus, name, progress=False, **params)
        hit = time.perf_counter() - t1
        assert np.array_equal(again.valid, fs.valid)
        row = {"corpus": corpus.name, "set": label, "files": len(fs), "dim": fs.dim,
               "invalid": int((~fs.valid).sum()), "audio_s": round(secs, 1),
               "extract_s": round(dt, 2), "files_per_s": round(len(fs) / dt, 1),
               "rtf": round(dt / secs, 4), "cache_hit_s": round(hit, 3)}
        print(row, flush=True)
        yield row


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--emodb", type=Path, help="EmoDB folder (imported 4-class into --work)")
    ap.add_argument("--corpus", type=Path, action="append", default=[], help="a corpus folder")
    ap.add_argument("--work", type=Path, default=Path("/tmp/emowb-throughput"))
    ap.add_argument("--hubert-base", action="store_true", help="also a random HuBERT-base")
    ap.add_argument("--sets", default="egemaps,compare,egemaps-lld,hubert-tiny")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "features_throughput.json")
    a = ap.parse_args(argv)
    corpora = []
    if a.emodb:
        corpora.append(import_corpus("emodb", a.emodb, a.work / "emodb4", classes=4))
    corpora += [Corpus.load(c) for c in a.corpus]
    if not corpora:
        ap.error("give --emodb and/or --corpus")
    models = Path(tempfile.mkdtemp(prefix="emowb-models-"))
    sets = {"egemaps": ("egemaps", {}), "compare": ("compare", {}), "egemaps-lld": ("egemaps-lld", {}),
            "hubert-tiny": ("hubert", {"model": str(tiny_hubert(models / "tiny")), "save_as": "hubert-tiny"})}
    sets = {k: v for k, v in sets.items() if k in a.sets.split(",")}
    if a.hubert_base:
        sets["hubert-base(random)"] = ("hubert", {"model": str(tiny_hubert(models / "base", base=True)),
                                                  "save_as": "hubert-base-random"})
    rows: list[dict] = []
    a.out.parent.mkdir(parents=True, exist_ok=True)
    for c in corpora:
        print(c, flush=True)
        for row in measure(c, sets):  # the JSON is rewritten after every measurement
            rows.append(row)
            a.out.write_text(json.dumps({"rows": rows, "cores": os.cpu_count(),
                                         "load_average_1min": os.getloadavg()[0]}, indent=2) + "\n")
    print(pd.DataFrame(rows).to_string(index=False))
    print(f"cores: {os.cpu_count()}; openSMILE uses {os.cpu_count()} processes; SSL on CPU (torch threads "
          f"{__import__('torch').get_num_threads()}); load average {os.getloadavg()}")
    print(f"wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
