"""Whisper encoder throughput: files/s and real-time factor, per model and input mode, measured.

For each model (``tiny.en``, ``base``) and input mode (the clip alone with the positional table
cut to it, or padded to Whisper's 30-s window) it encodes the first ``--files`` utterances of a
corpus ``--repeats`` times, all hidden states as the ``whisper`` feature set computes them
(decoding the audio included), and prints the median, min and max of files/s and real-time factor
(encoding seconds / audio seconds), plus the ratio 30-s / cut of the medians. The device is
reported; ``--device cuda`` runs it on a GPU.

Usage::

    python benchmarks/whisper_throughput.py --corpus /tmp/ew/emodb --files 40 --repeats 3 \
        [--threads 2] [--json benchmarks/results/whisper_throughput.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

from emowb.data.corpus import Corpus
from emowb.features.common import AudioPolicy, audio_jobs, read_job
from emowb.features.whisper import load_whisper


def measure(corpus: Corpus, model: str, pad_30s: bool, *, files: int, repeats: int, device: str) -> dict:
    enc = load_whisper(model, device=device)
    jobs = audio_jobs(corpus)[:files]
    policy = AudioPolicy()
    clips = [read_job(j, policy)[0] for j in jobs]
    audio_s = sum(len(x) for x in clips if x is not None) / 16000
    enc.encode(clips[0], pad_30s=pad_30s)   # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for j in jobs:
            x, _ = read_job(j, policy)
            if x is not None:
                [s.mean(0) for s in enc.encode(x, pad_30s=pad_30s)]
        if device.startswith("cuda"):
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    med = statistics.median(times)
    return {"model": model, "input": "30-s window" if pad_30s else "clip (cut)", "device": device,
            "files": len(jobs), "audio_s": round(audio_s, 2), "repeats": repeats,
            "files_per_s_median": len(jobs) / med, "files_per_s_min": len(jobs) / max(times),
            "files_per_s_max": len(jobs) / min(times), "rtf_median": med / audio_s, "seconds": times}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, required=True, help="an imported corpus (emowb import ...)")
    ap.add_argument("--files", type=int, default=40)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--models", default="tiny.en,base")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    corpus = Corpus.load(a.corpus)
    device = a.device
    name = torch.cuda.get_device_name(0) if device.startswith("cuda") else f"{platform.processor() or 'CPU'}, " \
                                                                                f"{a.threads} torch threads"
    rows = []
    for model in a.models.split(","):
        for pad in (False, True):
            r = measure(corpus, model, pad, files=a.files, repeats=a.repeats, device=device)
            rows.append(r)
            print(f"{model:8s} {r['input']:12s} {r['files_per_s_median']:7.2f} files/s "
                  f"(min {r['files_per_s_min']:.2f}, max {r['files_per_s_max']:.2f}), RTF {r['rtf_median']:.4f}",
                  flush=True)
        cut, pad = rows[-2], rows[-1]
        print(f"{model:8s} 30-s window / cut, median time ratio: "
              f"{cut['files_per_s_median'] / pad['files_per_s_median']:.1f}x", flush=True)
    print(f"device: {name}; {rows[0]['files']} files, {rows[0]['audio_s']} s of audio from {a.corpus}")
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps({"device": name, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
