"""Serving a predictor: files, folders and manifests -> a table; a live stream -> JSON lines.

:func:`predict_files` scores audio and video files (anything :mod:`emowb.data.audio` decodes:
WAV, FLAC, MP3, MP4 ...), folders (searched recursively) and manifests (CSV / Parquet with a
``path`` or ``audio`` column, optional ``speaker``, ``label`` and ``dialogue``; relative paths are taken from the
manifest's folder). A file longer than ``max_utterance`` seconds is cut into utterances by
:mod:`emowb.infer.vad` (``segment="auto"``), or always (``"vad"``) or never (``"none"``).
Utterances are scored in input order, so running speaker statistics are causal. A dialogue
model (a COGMEN run) reads the utterances of one recording — or of one manifest ``dialogue`` —
as a dialogue, in order.

Handling of awkward input (documented, tested):

- a file at another sample rate is resampled to the model's (16 kHz), several channels are
  averaged to mono; the row's ``note`` says so;
- an unreadable, empty or silent file, or one too short for the features, gets a row with
  ``error`` set and no prediction (``on_error="report"``, the default; a warning names each), or
  stops the run (``on_error="raise"``); a recording in which the VAD finds no speech gets a row
  saying so — nothing is skipped silently;
- :func:`stream` closes an utterance still open when the stream ends mid-utterance (flagged
  ``"cut": true``), and refuses raw input whose rate or channel count it is not told.

Speaker keys (``speaker=``) choose whose running statistics an utterance joins: ``file`` (each
input file is one speaker: a recording of one talker; the default), ``one`` (everything one
speaker), ``regex:PATTERN`` (group 1 of the file name, e.g. ``regex:^(\\d\\d)`` for EmoDB), or a
manifest's ``speaker`` column.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sys
import time
import warnings
from pathlib import Path
from typing import BinaryIO, Iterable, Iterator, Sequence

import numpy as np
import pandas as pd

from emowb.config import ConfigError
from emowb.data.audio import AudioError, read_audio
from emowb.infer.frontend import FrontEndError
from emowb.infer.predictor import Predictor
from emowb.infer.vad import EnergyVAD, VADConfig, segment

__all__ = ["AUDIO_SUFFIXES", "InputItem", "collect_inputs", "predict_files", "stream", "write_table",
           "read_pcm"]

AUDIO_SUFFIXES = (".wav", ".wave", ".flac", ".mp3", ".ogg", ".m4a", ".aac", ".opus", ".mp4", ".mkv", ".webm",
                  ".avi", ".mov")
SEGMENTS = ("auto", "vad", "none")


@dataclasses.dataclass
class InputItem:
    path: Path
    speaker: str | None = None
    label: str | None = None
    dialogue: str | None = None


def collect_inputs(inputs: Sequence[str | Path]) -> list[InputItem]:
    """Expand files, folders (recursive, sorted) and manifests into input items, in order.

    Raises:
        ConfigError: a path that does not exist, an empty folder, a manifest without a path column.
    """
    items: list[InputItem] = []
    for raw in inputs:
        p = Path(raw)
        if not p.exists():
            raise ConfigError(f"input {p} does not exist")
        if p.is_dir():
            files = sorted(f for f in p.rglob("*") if f.is_file() and f.suffix.lower() in AUDIO_SUFFIXES)
            if not files:
                raise ConfigError(f"folder {p} holds no audio file ({', '.join(AUDIO_SUFFIXES[:4])} ...)")
            items += [InputItem(f) for f in files]
        elif p.suffix.lower() in (".csv", ".parquet", ".tsv"):
            df = (pd.read_parquet(p) if p.suffix.lower() == ".parquet"
                  else pd.read_csv(p, sep="\t" if p.suffix.lower() == ".tsv" else ","))
            col = next((c for c in ("path", "audio", "file") if c in df.columns), None)
            if col is None:
                raise ConfigError(f"manifest {p}: no 'path' (or 'audio') column; columns are {list(df.columns)}")
            for i, row in enumerate(df.itertuples(index=False), start=2):
                v = getattr(row, col)
                if not isinstance(v, str) or not v.strip():
                    raise ConfigError(f"manifest {p}, line {i}: empty {col!r}; fill it in or drop the row")
                f = Path(v)
                items.append(InputItem(f if f.is_absolute() else p.parent / f,
                                       speaker=str(row.speaker) if "speaker" in df.columns else None,
                                       label=str(row.label) if "label" in df.columns else None,
                                       dialogue=str(row.dialogue) if "dialogue" in df.columns else None))
        else:
            items.append(InputItem(p))
    return items


def _speaker_of(item: InputItem, rule: str) -> str:
    if item.speaker is not None:
        return item.speaker
    if rule == "file":
        return str(item.path)
    if rule == "one":
        return "speaker"
    if rule.startswith("regex:"):
        m = re.search(rule[6:], item.path.name)
        if not m:
            raise ConfigError(f"speaker rule {rule!r} does not match file name {item.path.name!r}; fix the pattern")
        return m.group(1) if m.groups() else m.group(0)
    raise ConfigError(f"speaker={rule!r}: use file, one or regex:PATTERN")


def _audio_note(clip, sr: int) -> str:
    notes = list(clip.notes)
    if clip.source_sr != sr:
        notes.append(f"resampled {clip.source_sr} -> {sr} Hz")
    if clip.channels > 1:
        notes.append(f"{clip.channels} channels averaged to mono")
    return "; ".join(notes)


def predict_files(predictor: Predictor, inputs: Sequence[str | Path] | Sequence[InputItem], *,
                  segment_mode: str = "auto", speaker: str = "file", speaker_norm: str = "running",
                  vad: VADConfig = VADConfig(), on_error: str = "report") -> pd.DataFrame:
    """Score every utterance of the inputs (see the module docstring).

    Returns:
        One row per utterance: ``source``, ``utterance`` (index within the file), ``start``/``end``
        (seconds), ``speaker``, ``label`` (the manifest's, if any), ``pred``, ``p_<class>`` per
        class, ``note``, ``error``.
    """
    if segment_mode not in SEGMENTS:
        raise ConfigError(f"segment={segment_mode!r}: use one of {SEGMENTS}")
    if on_error not in ("report", "raise"):
        raise ConfigError(f"on_error={on_error!r}: use report or raise")
    items = [i if isinstance(i, InputItem) else None for i in inputs]
    if any(i is None for i in items):
        items = collect_inputs(inputs)  # type: ignore[arg-type]
    sr = predictor.sr
    rows, feats, spk = [], [], []
    for item in items:
        base = {"source": str(item.path), "speaker": _speaker_of(item, speaker), "label": item.label,
                "dialogue": item.dialogue if item.dialogue is not None else str(item.path)}
        try:
            clip = read_audio(item.path, sr=sr)
        except AudioError as e:
            rows.append({**base, "utterance": 0, "start": np.nan, "end": np.nan, "note": "", "error": str(e)})
            feats.append(None)
            continue
        note = _audio_note(clip, sr)
        wave = clip.samples
        dur = len(wave) / sr
        cut = segment_mode == "vad" or (segment_mode == "auto" and dur > vad.max_utterance)
        segs = [(0, len(wave))] if not cut else [(s.start, s.end) for s in segment(wave, sr, vad)]
        if not segs:
            rows.append({**base, "utterance": 0, "start": 0.0, "end": dur, "note": note,
                         "error": "no speech found by the voice-activity detector"})
            feats.append(None)
            continue
        for k, (a, b) in enumerate(segs):
            row = {**base, "utterance": k, "start": a / sr, "end": b / sr, "note": note, "error": ""}
            try:
                f = predictor.features(wave[a:b])
            except FrontEndError as e:
                row["error"] = f"{item.path}: {e}"
                f = None
            rows.append(row)
            feats.append(f)
    bad = [r for r in rows if r["error"]]
    if bad and on_error == "raise":
        raise AudioError(f"{bad[0]['source']}: {bad[0]['error']}")
    for r in bad:
        warnings.warn(f"not scored: {r['source']}: {r['error']}", stacklevel=2)
    ok = [i for i, f in enumerate(feats) if f is not None]
    normed = predictor.normalise([feats[i] for i in ok], [rows[i]["speaker"] for i in ok], speaker_norm)
    # one dialogue per recording (or per manifest 'dialogue'), utterances in input order
    x_of = dict(zip(ok, normed))
    groups: dict[str, list[int]] = {}
    for i in ok:
        groups.setdefault(rows[i]["dialogue"], []).append(i)
    for idx in groups.values():
        for i, p in zip(idx, predictor.score_dialogue([x_of[i] for i in idx], [rows[i]["speaker"] for i in idx])):
            rows[i]["pred"] = p.label
            rows[i].update({f"p_{lab}": float(v) for lab, v in zip(predictor.labels, p.probs)})
    cols = (["source", "dialogue", "utterance", "start", "end", "speaker", "label", "pred"]
            + [f"p_{lab}" for lab in predictor.labels] + ["note", "error"])
    return pd.DataFrame(rows).reindex(columns=cols)


def write_table(df: pd.DataFrame, out: str | Path | None) -> None:
    """Write predictions as CSV, Parquet (``.parquet``) or JSON lines (``.jsonl``); None = stdout CSV."""
    if out is None or str(out) == "-":
        df.to_csv(sys.stdout, index=False)
        return
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    if out.suffix == ".parquet":
        df.to_parquet(tmp, index=False)
    elif out.suffix in (".jsonl", ".ndjson"):
        df.to_json(tmp, orient="records", lines=True)
    elif out.suffix in (".csv", ".tsv"):
        df.to_csv(tmp, index=False, sep="\t" if out.suffix == ".tsv" else ",")
    else:
        raise ConfigError(f"--out {out}: use .csv, .tsv, .parquet or .jsonl")
    tmp.replace(out)


# --------------------------------------------------------------------------- streaming
def read_pcm(fh: BinaryIO, *, chunk: int, channels: int = 1) -> Iterator[np.ndarray]:
    """Raw signed 16-bit little-endian PCM from a binary stream, ``chunk`` frames at a time, mono.

    A trailing partial frame (a byte count not divisible by 2·channels) is dropped with a
    warning (the stream ended mid-sample).
    """
    width = 2 * channels
    rest = b""
    while True:
        data = fh.read(chunk * width)
        if not data:
            break
        data = rest + data
        n = len(data) // width * width
        rest = data[n:]
        x = np.frombuffer(data[:n], dtype="<i2").astype(np.float32) / 32768.0
        yield x.reshape(-1, channels).mean(1) if channels > 1 else x
    if rest:
        warnings.warn(f"stream ended mid-sample: {len(rest)} trailing byte(s) dropped", stacklevel=2)


def stream(predictor: Predictor, chunks: Iterable[np.ndarray], *, sr: int, speaker: str = "stream",
           vad: VADConfig = VADConfig(), realtime: bool = False, chunk_seconds: float = 0.02,
           clock=time.perf_counter) -> Iterator[dict]:
    """Score a stream of mono chunks as it arrives: one event (dict) per utterance as it ends.

    Args:
        chunks: float32 mono sample chunks at ``sr``.
        sr: the stream's sample rate (utterances are resampled to the model's when it differs).
        speaker: the running-statistics key of the stream.
        realtime: pace the chunks at their duration (reading a file as a microphone would
            deliver it); otherwise they are consumed as fast as they come.

    Yields:
        ``{"utterance", "start", "end", "label", "probs", "cut", "detect_delay_s", "compute_s"}``:
        times in seconds of stream; ``detect_delay_s`` = stream time between the utterance's end
        and the detector's decision (the silence it waits for); ``compute_s`` = wall time from
        the arrival of the deciding chunk to the event (features + model).
    """
    from emowb.data.audio import resample

    vad_ = EnergyVAD(sr, vad)
    running = predictor.normaliser.running()
    dialogue = predictor.open_dialogue()                 # a context model keeps the stream's past
    buf = np.zeros(0, np.float32)
    offset = 0                           # stream sample index of buf[0]
    k = 0
    t0 = clock()
    pushed = 0

    def emit(seg, arrived: float, cut: bool) -> dict:
        nonlocal k
        x = buf[seg.start - offset: seg.end - offset]
        if sr != predictor.sr:
            x = resample(x, orig_sr=sr, sr=predictor.sr)
        ev = {"utterance": k, "start": round(seg.start / sr, 3), "end": round(seg.end / sr, 3), "cut": cut}
        try:
            p = dialogue.score(running(predictor.features(x), speaker), speaker)
            ev.update(label=p.label, probs={lab: round(float(v), 4) for lab, v in zip(predictor.labels, p.probs)})
        except FrontEndError as e:
            ev.update(label=None, error=str(e))
        ev["detect_delay_s"] = round((seg.decided - seg.end) / sr, 3)
        ev["compute_s"] = round(clock() - arrived, 4)
        k += 1
        return ev

    for c in chunks:
        c = np.asarray(c, np.float32).reshape(-1)
        if realtime:
            wait = t0 + (pushed + len(c)) / sr - clock()
            if wait > 0:
                time.sleep(wait)
        arrived = clock()
        buf = np.concatenate([buf, c])
        pushed += len(c)
        for seg in vad_.push(c):
            yield emit(seg, arrived, False)
        # keep what an open utterance (plus its padding) may still need
        keep_from = pushed - int((vad.max_utterance + vad.min_silence + 2 * vad.pad + 1.0) * sr)
        if keep_from > offset:
            buf = buf[keep_from - offset:]
            offset = keep_from
    arrived = clock()
    for seg in vad_.flush():
        yield emit(seg, arrived, True)


def event_line(ev: dict) -> str:
    return json.dumps(ev, sort_keys=False)
