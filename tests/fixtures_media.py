"""Tiny real media for the audio / importer / feature tests: tones, speech-like signals,
video files with an audio track, OpenFace CSVs, and small corpora built from them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf

from emowb.data.corpus import Corpus, CorpusInfo, make_table


def voice(dur: float = 0.6, sr: int = 16000, f0: float = 140.0, seed: int = 0, amp: float = 0.3) -> np.ndarray:
    """A voiced, speech-like signal: harmonic series with jitter and an amplitude envelope."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(dur * sr)) / sr
    f = f0 * (1 + 0.05 * np.sin(2 * np.pi * 3 * t)) + rng.normal(0, 1, len(t)).cumsum() * 0.01
    phase = 2 * np.pi * np.cumsum(f) / sr
    x = sum(np.sin(k * phase) / k for k in range(1, 8))
    env = np.sin(np.pi * t / dur) ** 0.5
    x = amp * env * x / np.max(np.abs(x)) + rng.normal(0, 0.003, len(t))
    return x.astype(np.float32)


def tone(freq: float, dur: float, sr: int, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(dur * sr))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def write_mp4(path: Path, audio: np.ndarray, sr: int, *, video: bool = True) -> Path:
    """An MP4 with an AAC audio track (audio (T,) mono or (T, C)) and a tiny black video track."""
    import av

    a = audio if audio.ndim == 2 else audio[:, None]
    layout = "stereo" if a.shape[1] == 2 else "mono"
    with av.open(str(path), "w") as c:
        st = c.add_stream("aac", rate=sr)
        st.layout = layout
        if video:
            vs = c.add_stream("mpeg4", rate=25)
            vs.width = vs.height = 32
            vs.pix_fmt = "yuv420p"
            for _ in range(int(len(a) / sr * 25)):
                frame = av.VideoFrame.from_ndarray(np.zeros((32, 32, 3), np.uint8), format="rgb24")
                for p in vs.encode(frame):
                    c.mux(p)
            for p in vs.encode():
                c.mux(p)
        fr = av.AudioFrame.from_ndarray(np.ascontiguousarray(a.T, dtype=np.float32), format="fltp",
                                        layout=layout)
        fr.sample_rate = sr
        for p in st.encode(fr):
            c.mux(p)
        for p in st.encode():
            c.mux(p)
    return path


OPENFACE_R = ["01", "02", "04", "05", "06", "07", "09", "10", "12", "14", "15", "17", "20", "23", "25", "26", "45"]
OPENFACE_C = ["01", "02", "04", "05", "06", "07", "09", "10", "12", "14", "15", "17", "20", "23", "25", "26", "28", "45"]


def write_openface(path: Path, n: int = 30, *, success=None, seed: int = 0, au12: float | None = None,
                   fps: float = 30.0) -> Path:
    """An OpenFace-2-style CSV (header with leading spaces, as OpenFace writes it)."""
    rng = np.random.default_rng(seed)
    success = np.ones(n, int) if success is None else np.asarray(success, int)
    cols = {"frame": np.arange(1, n + 1), "face_id": np.zeros(n, int),
            "timestamp": np.round(np.arange(n) / fps, 3), "confidence": np.full(n, 0.98),
            "success": success}
    for a in OPENFACE_R:
        cols[f"AU{a}_r"] = np.round(rng.uniform(0, 2, n), 2)
    if au12 is not None:
        cols["AU12_r"] = np.full(n, au12)
    for a in OPENFACE_C:
        cols[f"AU{a}_c"] = rng.integers(0, 2, n).astype(float)
    lines = [", ".join(cols)]
    for i in range(n):
        lines.append(", ".join(str(cols[k][i]) for k in cols))
    path.write_text("\n".join(lines) + "\n")
    return path


def make_media_corpus(root: Path, specs: list[dict], *, labels=("neutral", "happy", "sad", "angry")) -> Corpus:
    """A corpus of isolated utterances; each spec: utt_id, label, signal (or audio path), sr,
    and optional start/end/face/text/speaker."""
    media = root / "media"
    media.mkdir(parents=True, exist_ok=True)
    rows = []
    for k, s in enumerate(specs):
        audio = s.get("audio")
        if audio is None and s.get("signal") is not None:
            audio = media / f"{s['utt_id']}.wav"
            sf.write(audio, s["signal"], s.get("sr", 16000))
        spk = s.get("speaker", f"S{k % 2}")
        rows.append({"utt_id": s["utt_id"], "dialogue_id": s["utt_id"], "turn": 0, "speaker": spk,
                     "group": spk, "label": s.get("label", labels[k % len(labels)]),
                     "text": s.get("text", ""), "audio": str(audio) if audio else "",
                     "start": s.get("start"), "end": s.get("end"), "face": str(s.get("face") or "")})
    corpus = Corpus(root, make_table(rows), CorpusInfo(name="fixture", labels=labels))
    corpus.save()
    return corpus
