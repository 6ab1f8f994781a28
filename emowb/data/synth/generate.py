"""Render a planned synthetic corpus to disk: WAV per utterance, OpenFace CSV per utterance.

Layout written (atomically: into a temporary sibling folder, renamed at the end)::

    OUT/corpus.json, OUT/utterances.parquet      the canonical corpus (emowb.data.corpus)
    OUT/generator_truth.parquet                   latent variables per utterance (intensity,
                                                  display rule, wording, prosody parameters)
    OUT/audio/<dialogue>/<utt>.wav                16-bit mono WAV at cfg.sample_rate
    OUT/face/<dialogue>/<utt>.csv                 OpenFace 2 CSV (30 fps)
"""

from __future__ import annotations

import dataclasses
import multiprocessing as mp
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pandas as pd
import soundfile as sf

from emowb.data.corpus import Corpus, CorpusInfo, write_table
from emowb.data.synth import face as face_mod
from emowb.data.synth import speech
from emowb.data.synth.plan import Session, Speaker, UttPlan, plan_corpus
from emowb.data.synth.params import SynthConfig
from emowb.utils import atomic_path, die_with_parent

GENERATOR_VERSION = 1


def _render_dialogue(root: str, plans: list[UttPlan], session: Session, speakers: dict[str, Speaker],
                     sr: int, face_noise: float, au_bias: float) -> list[tuple[str, float]]:
    """Render one dialogue's utterances (runs in a worker process)."""
    rir = speech.room_impulse(session.rt60, sr, np.random.default_rng(session.seed))
    out = []
    for p in plans:
        rng = np.random.default_rng(p.seed)
        x = speech.synthesise(p.text, voice=p.voice, rate=p.rate, pitch=p.pitch, range_=p.range_,
                              volume=p.volume, wordgap=p.wordgap)
        y = speech.record(x, sr=sr, rir=rir, gain_db=p.gain_db, snr_db=p.snr_db,
                          noise_level=session.noise_level, pad=p.pad, rng=rng, tilt_db=p.tilt_db)
        wav = Path(root) / "audio" / p.dialogue_id / f"{p.utt_id}.wav"
        wav.parent.mkdir(parents=True, exist_ok=True)
        sf.write(wav, y, sr, subtype="PCM_16", format="WAV")
        spk = speakers[p.speaker]
        frames = face_mod.make_face(emotion=p.label, intensity=p.intensity,
                                    expressivity=spk.face_expressivity, display=p.display,
                                    rest=spk.rest, blink_rate=spk.blink_rate, noise=face_noise, au_bias=au_bias,
                                    lost=p.face_lost, audio=y, sr=sr, rng=rng)
        csv = Path(root) / "face" / p.dialogue_id / f"{p.utt_id}.csv"
        csv.parent.mkdir(parents=True, exist_ok=True)
        csv.write_text(face_mod.to_openface_csv(frames))
        out.append((p.utt_id, len(y) / sr))
    return out


def _worker_init(parent_pid: int | None = None) -> None:
    die_with_parent(parent_pid)  # no orphans when the generating process is killed
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    speech.init()


def generate(out_dir: str | os.PathLike, config: SynthConfig | None = None, *, workers: int = 2,
             overwrite: bool = False, progress: bool = True, report: bool = True) -> Corpus:
    """Generate a synthetic dyadic corpus into ``out_dir``.

    Args:
        out_dir: target folder (must not exist or be empty, unless ``overwrite``).
        config: generator parameters (default :class:`SynthConfig`).
        workers: rendering processes; does not change the output (per-utterance seeds).
        overwrite: replace an existing folder.
        progress: show a progress bar.
        report: print the corpus report and timing when done.

    Returns:
        The loaded, validated :class:`~emowb.data.Corpus`.
    """
    cfg = config or SynthConfig()
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise FileExistsError(f"{out_dir} exists and is not empty (use overwrite=True / --overwrite)")
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    t0 = time.perf_counter()
    speakers, sessions, plans = plan_corpus(cfg)
    spk_by_id = {s.id: s for s in speakers}
    sess_by_id = {s.id: s for s in sessions}
    by_dialogue: dict[str, list[UttPlan]] = {}
    for p in plans:
        by_dialogue.setdefault(p.dialogue_id, []).append(p)
    durations: dict[str, float] = {}
    with atomic_path(out_dir) as tmp:
        tmp.mkdir()
        ctx = mp.get_context("spawn")  # never fork a caller that may hold torch/BLAS threads
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx, initializer=_worker_init,
                                 initargs=(os.getpid(),)) as ex:
            futures = [ex.submit(_render_dialogue, str(tmp), ps, sess_by_id[ps[0].group], spk_by_id,
                                 cfg.sample_rate, cfg.face_noise, cfg.au_bias)
                       for ps in by_dialogue.values()]
            bar = _progress(len(futures), progress)
            for f in futures:
                durations.update(dict(f.result()))
                bar.update(1)
            bar.close()
        table = pd.DataFrame([{
            "utt_id": p.utt_id, "dialogue_id": p.dialogue_id, "turn": p.turn, "speaker": p.speaker,
            "group": p.group, "label": p.label, "text": p.text,
            "audio": f"audio/{p.dialogue_id}/{p.utt_id}.wav", "face": f"face/{p.dialogue_id}/{p.utt_id}.csv",
            "duration": round(durations[p.utt_id], 4)} for p in plans])
        info = CorpusInfo(
            name="synth-dyadic", labels=cfg.labels,
            provenance=(f"emowb synthetic dyadic corpus generator v{GENERATOR_VERSION}: speech by "
                        "eSpeak NG (espeakng-loader), faces in OpenFace 2 CSV schema, transcripts "
                        "from a template grammar; see emowb/data/synth/params.py"),
            licence="Generated data; free to use, no restrictions (CC0).",
            generator={"version": GENERATOR_VERSION, "config": cfg.to_json(),
                       "speakers": [dataclasses.asdict(s) for s in speakers],
                       "sessions": [dataclasses.asdict(s) for s in sessions]})
        Corpus(tmp, table, info).save()
        truth = pd.DataFrame([{k: v for k, v in dataclasses.asdict(p).items()
                               if k not in ("text", "pad", "group", "dialogue_id", "turn", "speaker")}
                              for p in plans])
        write_table(tmp / "generator_truth.parquet", truth)
    corpus = Corpus.load(out_dir)
    if report:
        print(corpus.report())
        print(f"generated in {time.perf_counter() - t0:.1f} s with {workers} worker(s) -> {out_dir}")
    return corpus


def _progress(total: int, enabled: bool):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="synth dialogues", unit="dlg", disable=not enabled)
