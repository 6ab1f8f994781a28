"""``emowb predict`` and ``emowb export``: a trained speech-only student on anyone's audio.

::

    emowb predict talk.wav clips/ list.csv --run RUN --out preds.csv      # files, folders, manifests
    emowb predict clips/ --bundle model/ --out preds.parquet               # ONNX Runtime, no PyTorch model
    emowb predict long.wav --bundle model/ --stream --realtime             # one JSON line per utterance
    ffmpeg -i mic -f s16le -ac 1 -ar 16000 - | emowb predict - --bundle model/ --stream
    emowb export RUN --out model/                                          # ONNX bundle + model card

See ``docs/inference.md``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("predict", help="emotion of each utterance in audio files, folders, manifests or a stream",
                       description=__doc__.splitlines()[0])
    p.add_argument("inputs", nargs="+", help="audio/video files, folders, CSV/Parquet manifests, or - (raw PCM "
                                             "on stdin, with --stream)")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--run", help="a speech-only student's run folder (PyTorch)")
    src.add_argument("--bundle", help="a bundle from emowb export (ONNX Runtime)")
    p.add_argument("--out", help="output .csv / .tsv / .parquet / .jsonl (default: CSV on stdout)")
    p.add_argument("--segment", default="auto", choices=["auto", "vad", "none"],
                   help="cut files into utterances: auto (files longer than --max-utterance), vad (always), none")
    p.add_argument("--max-utterance", type=float, default=20.0, help="seconds; longer files are cut (auto)")
    p.add_argument("--min-silence", type=float, default=0.5, help="pause (s) that ends an utterance")
    p.add_argument("--speaker", default="file", help="whose statistics: file | one | regex:PATTERN (manifests' "
                                                     "speaker column wins)")
    p.add_argument("--speaker-norm", default="running", choices=["running", "offline", "none"],
                   help="speaker statistics: running (causal, default), offline (all of a speaker's inputs "
                        "first: as training), none (the training prior)")
    p.add_argument("--on-error", default="report", choices=["report", "raise"],
                   help="an unusable file: a row with its error (report) or stop (raise)")
    p.add_argument("--stream", action="store_true", help="score as the audio arrives: one JSON line per utterance")
    p.add_argument("--realtime", action="store_true", help="with --stream and a file: read it at real-time pace")
    p.add_argument("--chunk-ms", type=float, default=20.0, help="stream chunk length")
    p.add_argument("--rate", type=int, default=None, help="sample rate of raw PCM on stdin (required for -)")
    p.add_argument("--channels", type=int, default=1, help="channels of raw PCM on stdin")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--corpus", help="with --run: the training corpus' folder, if it moved since training")
    p.set_defaults(func=cmd_predict)

    e = sub.add_parser("export", help="a student run -> ONNX bundle with model card",
                       description="Export a speech-only student run folder to a self-contained ONNX bundle.")
    e.add_argument("run", help="the student's run folder")
    e.add_argument("--out", required=True, help="bundle folder")
    e.add_argument("--force", action="store_true", help="overwrite an existing bundle")
    e.add_argument("--corpus", help="the training corpus' folder, if it moved since training")
    e.set_defaults(func=cmd_export)


def _vad(a):
    from emowb.infer.vad import VADConfig

    return VADConfig(min_silence=a.min_silence, max_utterance=a.max_utterance)


def cmd_predict(a: argparse.Namespace) -> int:
    import torch

    from emowb.config import ConfigError
    from emowb.infer.predictor import load_predictor
    from emowb.infer.serve import event_line, predict_files, read_pcm, stream, write_table

    torch.set_num_threads(max(1, a.threads))
    if a.bundle and a.corpus:
        raise ConfigError("--corpus goes with --run: a bundle needs no corpus")
    pred = load_predictor(a.bundle or a.run, corpus=a.corpus)
    if a.stream:
        if len(a.inputs) != 1:
            raise ConfigError("--stream takes one input: a file or - (raw PCM on stdin)")
        chunk_s = a.chunk_ms / 1000.0
        if a.inputs[0] == "-":
            if not a.rate:
                raise ConfigError("raw PCM on stdin has no header: say its sample rate with --rate (and --channels)")
            chunks = read_pcm(sys.stdin.buffer, chunk=max(1, int(a.rate * chunk_s)), channels=a.channels)
            sr = a.rate
        else:
            from emowb.data.audio import read_audio

            clip = read_audio(a.inputs[0], sr=pred.sr)
            sr = pred.sr
            n = max(1, int(sr * chunk_s))
            chunks = (clip.samples[i:i + n] for i in range(0, len(clip.samples), n))
        out = open(a.out, "w") if a.out else sys.stdout
        try:
            for ev in stream(pred, chunks, sr=sr, vad=_vad(a), realtime=a.realtime, chunk_seconds=chunk_s):
                print(event_line(ev), file=out, flush=True)
        finally:
            if out is not sys.stdout:
                out.close()
        return 0
    df = predict_files(pred, a.inputs, segment_mode=a.segment, speaker=a.speaker, speaker_norm=a.speaker_norm,
                       vad=_vad(a), on_error=a.on_error)
    write_table(df, a.out)
    n_bad = int((df["error"].fillna("") != "").sum())
    scored = len(df) - n_bad
    print(f"emowb predict: {scored} utterance(s) scored from {df['source'].nunique()} input(s)"
          + (f"; {n_bad} not scored (see the error column)" if n_bad else "")
          + (f" -> {a.out}" if a.out else ""), file=sys.stderr)
    if "label" in df and df["label"].notna().any():
        have = df[df["label"].notna() & df["pred"].notna()]
        if len(have):
            from emowb.eval.metrics import compute_metrics

            pos = {lab: i for i, lab in enumerate(pred.labels)}
            unknown = sorted(set(have["label"]) - set(pos))
            if unknown:
                print(f"emowb predict: labels {unknown} are not the model's classes {pred.labels}; no score",
                      file=sys.stderr)
            else:
                m = compute_metrics([pos[x] for x in have["label"]], [pos[x] for x in have["pred"]], pred.labels)
                print(f"emowb predict: against the manifest's labels ({len(have)} utterances): UA {m['UA']:.3f}, "
                      f"WA {m['WA']:.3f}, weighted F1 {m['weighted_f1']:.3f}", file=sys.stderr)
    return 0 if scored else 1


def cmd_export(a: argparse.Namespace) -> int:
    import json

    from emowb.infer.export import export_bundle

    out = export_bundle(a.run, a.out, force=a.force, corpus=a.corpus)
    meta = json.loads((Path(out) / "bundle.json").read_text())
    par = meta["parity"]
    print(f"emowb export: {out} ({', '.join(sorted(meta['files'].values()))}); ONNX Runtime vs PyTorch on "
          f"{par['n_utterances']} utterances: front end max |Δ| {par['frontend_max_abs']}, logits max |Δ| "
          f"{par['logits_max_abs']}")
    return 0
