"""Inference latency of the speech-only students vs the audio+video teacher's pipeline, and the
streaming path on a 60-s recording. Measured, 1 CPU thread.

Per 3-s utterance (a real corpus utterance cut or looped to exactly 3 s), features + model:

- each student given by ``--run NAME=RUN_DIR`` (an EmoDistill student run folder: MLP on eGeMAPS,
  log-mel CNN, pooled Whisper tiny.en / base), with PyTorch (the run folder) and with ONNX
  Runtime (the bundle ``emowb export`` writes; exported here into ``--work`` when missing);
- the AV teacher's pipeline: eGeMAPS functionals of the audio + the action-unit statistics of the
  utterance's OpenFace CSV + COGMEN-AV (SeqContext + graph, the SLT paper's sizes) over the
  utterance's dialogue (10 utterances; the bidirectional model must rerun the dialogue for
  each new utterance). OpenFace itself (video -> CSV) is not installed here and is NOT counted:
  the teacher's figure is a lower bound.

Repeats are interleaved (one of each pipeline per round) and the median / min / max reported;
ratios are of medians measured side by side.

Streaming (``--stream-run``): utterances of the run's test speakers concatenated with pauses of
0.8-1.5 s of low noise into ~60 s, fed in 20-ms chunks to :func:`emowb.infer.stream`:
utterances found vs true (a found one matches a true one when they overlap by half of the
shorter), label accuracy on the matched ones, the time from an utterance's end to its event
(detector wait + compute), and the real-time factor (compute seconds / audio seconds).

Usage::

    python benchmarks/infer_latency.py --run mlp=RUN1 --run cnn=RUN2 --run whisper-tiny.en=RUN3 \
        --run whisper-base=RUN4 --stream-run RUN1 --work /tmp/lat --repeats 30 \
        [--json benchmarks/results/infer_latency.json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))      # benchmarks._corpora


def three_seconds(corpus, i: int = 0) -> np.ndarray:
    from emowb.data.audio import load_audio

    w = load_audio(corpus.path("audio", i), sr=16000)
    return np.resize(w, 48000).astype(np.float32)          # cut or loop to exactly 3 s


def av_pipeline(work: Path):
    """A callable wave -> logits running the AV teacher's inference for one new utterance."""
    from benchmarks._corpora import synth_corpus
    from emowb.batching.dialogues import build_dialogues, collate
    from emowb.features import extract
    from emowb.features.face import au_statistics, read_openface
    from emowb.infer.frontend import OpenSmileFrontEnd
    from emowb.models.cogmen import COGMEN, CogmenConfig
    from emowb.types import Modality

    corpus = synth_corpus(work / "synth", dialogues=5, seed=0)
    feats = {Modality.AUDIO: extract(corpus, "egemaps", num_workers=1, progress=False),
             Modality.VIDEO: extract(corpus, "openface-au", progress=False)}
    cfg = CogmenConfig(modalities="av", seq_layers=4, gnn_heads=7)
    torch.manual_seed(0)
    model = COGMEN(cfg, input_dims={m: f.dim for m, f in feats.items()}, n_classes=len(corpus.labels)).eval()
    dlg = build_dialogues(corpus, feats, graph=cfg.graph_spec())[0]
    dlg_len = len(dlg)
    face_csv = corpus.path("face", 0)
    smile = OpenSmileFrontEnd({"kind": "opensmile", "feature_set": "eGeMAPSv02"})

    def run(wave: np.ndarray) -> np.ndarray:
        a = smile(wave)                                                  # audio functionals
        v = au_statistics(read_openface(face_csv))                      # face statistics (CSV)
        d = dlg
        d.features[Modality.AUDIO][-1] = torch.from_numpy(a)             # the new utterance's inputs
        d.features[Modality.VIDEO][-1] = torch.from_numpy(v.astype(np.float32))
        with torch.inference_mode():
            return model(collate([d])).logits[-1].numpy()

    return run, dlg_len


def timed(fn, x) -> float:
    t = time.perf_counter()
    fn(x)
    return time.perf_counter() - t


def stream_check(run_dir: Path, bundle: Path, seconds: float = 60.0) -> dict:
    from emowb.data.audio import load_audio
    from emowb.data.corpus import Corpus
    from emowb.infer import load_bundle, stream
    from emowb.train.run import load_run

    stored = load_run(run_dir)
    corpus = Corpus.load(stored.config.corpus)
    t = corpus.table
    rows = t[t["dialogue_id"].isin(set(stored.split.test))]
    rng = np.random.default_rng(0)
    parts, truth, pos = [], [], 0
    for i in rows.index:
        if pos / 16000 > seconds - 4:
            break
        w = load_audio(corpus.path("audio", i), sr=16000)
        gap = rng.normal(0, 3e-4, int(rng.uniform(0.8, 1.5) * 16000)).astype(np.float32)
        parts += [gap, w]
        truth.append((pos + len(gap), pos + len(gap) + len(w), t.loc[i, "label"]))
        pos += len(gap) + len(w)
    parts.append(rng.normal(0, 3e-4, 16000).astype(np.float32))
    wave = np.concatenate(parts)
    pred = load_bundle(bundle)
    chunks = [wave[i:i + 320] for i in range(0, len(wave), 320)]
    t0 = time.perf_counter()
    events = list(stream(pred, chunks, sr=16000))
    total = time.perf_counter() - t0
    matched, correct = 0, 0
    for a, b, lab in truth:
        hit = [e for e in events if min(b, e["end"] * 16000) - max(a, e["start"] * 16000) > 0.5 * min(b - a, (e["end"] - e["start"]) * 16000)]
        if len(hit) == 1:
            matched += 1
            correct += hit[0]["label"] == lab
    lat = [e["detect_delay_s"] + e["compute_s"] for e in events]
    return {"audio_s": len(wave) / 16000, "true_utterances": len(truth), "found": len(events),
            "matched_one_to_one": matched, "label_accuracy_matched": correct / max(1, matched),
            "end_to_event_s_median": statistics.median(lat), "end_to_event_s_max": max(lat),
            "compute_s_median": statistics.median(e["compute_s"] for e in events),
            "detect_delay_s": statistics.median(e["detect_delay_s"] for e in events),
            "rtf": total / (len(wave) / 16000)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", action="append", default=[], help="NAME=RUN_DIR of a student")
    ap.add_argument("--stream-run", help="the student run of the streaming check (default: the first)")
    ap.add_argument("--work", type=Path, default=Path("/tmp/emowb-latency"))
    ap.add_argument("--repeats", type=int, default=30)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    torch.set_num_threads(1)
    from emowb.data.corpus import Corpus
    from emowb.infer import export_bundle, load_bundle, load_predictor
    from emowb.train.run import load_run

    a.work.mkdir(parents=True, exist_ok=True)
    pipes, bundles = {}, {}
    wave = None
    for spec in a.run:
        name, run = spec.split("=", 1)
        run = Path(run)
        bundle = a.work / f"bundle-{name}"
        if not (bundle / "bundle.json").is_file():
            export_bundle(run, bundle, force=True)
        bundles[name] = (run, bundle)
        if wave is None:
            wave = three_seconds(Corpus.load(load_run(run).config.corpus))
        for backend, pred in (("pytorch", load_predictor(run)), ("onnx", load_bundle(bundle))):
            norm = pred.normaliser.running()

            def f(w, pred=pred, norm=norm):
                return pred.score(norm(pred.features(w), "s"))

            pipes[f"{name} [{backend}]"] = f
    av, dlg_len = av_pipeline(a.work)
    pipes[f"AV teacher: eGeMAPS + AU stats + COGMEN-AV over {dlg_len} utterances [pytorch]"] = av
    for f in pipes.values():                 # warm-up
        f(wave)
    times = {k: [] for k in pipes}
    for _ in range(a.repeats):
        for k, f in pipes.items():
            times[k].append(timed(f, wave))
    av_key = next(k for k in pipes if k.startswith("AV teacher"))
    av_med = statistics.median(times[av_key])
    rows = []
    print(f"{'pipeline (3-s utterance, 1 thread)':78s} {'median ms':>10s} {'min':>7s} {'max':>7s} {'AV/this':>8s}")
    for k, ts in times.items():
        med = statistics.median(ts)
        rows.append({"pipeline": k, "median_ms": 1e3 * med, "min_ms": 1e3 * min(ts), "max_ms": 1e3 * max(ts),
                     "av_over_this": av_med / med})
        print(f"{k:78s} {1e3 * med:10.2f} {1e3 * min(ts):7.2f} {1e3 * max(ts):7.2f} {av_med / med:8.1f}")
    out = {"platform": platform.platform(), "processor": platform.processor(), "torch": torch.__version__,
           "threads": 1, "repeats": a.repeats, "latency": rows}
    srun = Path(a.stream_run) if a.stream_run else next(iter(bundles.values()))[0]
    sb = next(b for r, b in bundles.values() if r == srun)
    out["stream"] = stream_check(srun, sb)
    print("stream:", json.dumps(out["stream"], indent=1))
    if a.json:
        a.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
