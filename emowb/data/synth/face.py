"""A face stream in OpenFace 2's CSV schema, from emotion prototypes plus nuisance.

Per frame (30 fps) and action unit::

    AU_r(t) = rest_spk + bias_utt + display * expressivity_spk * intensity * env(t) * prototype[emotion]
              + mouth(t) + blink(t) + AR(1) tracking noise,   clipped to [0, 5]

``env`` is an onset ramp (the expression builds up over 0.2-0.8 s); ``mouth`` drives AU25/AU26
(lips part, jaw drop) from the speech envelope of the utterance's own audio; blinks (AU45) are
a Poisson process at the speaker's blink rate. Presence ``AU_c`` is a noisy threshold of the
intensity, as OpenFace's separate presence classifiers behave. Tracking-failure bursts set
``success = 0`` (OpenFace writes zeros for those frames); with a small probability the whole
utterance has no tracked face (a missing modality).
"""

from __future__ import annotations

import io

import numpy as np
from scipy.signal import lfilter

from emowb.data.synth.params import AU_C, AU_R, FACE_PROTOTYPES

FPS = 30


def speech_envelope(y: np.ndarray, sr: int, n_frames: int) -> np.ndarray:
    """Frame RMS of ``y`` at 30 fps, scaled to [0, 1], shape (n_frames,)."""
    hop = sr / FPS
    env = np.zeros(n_frames)
    for i in range(n_frames):
        seg = y[int(i * hop): int((i + 1) * hop)]
        env[i] = np.sqrt(np.mean(seg ** 2)) if seg.size else 0.0
    peak = np.percentile(env, 95) if n_frames else 0.0
    return np.clip(env / (peak + 1e-9), 0, 1)


def make_face(*, emotion: str, intensity: float, expressivity: float, display: float,
              rest: dict[str, float], blink_rate: float, noise: float, au_bias: float, lost: bool,
              audio: np.ndarray, sr: int, rng: np.random.Generator) -> np.ndarray:
    """Simulate one utterance's OpenFace frames.

    Returns:
        float array (T, 4 + len(AU_R) + len(AU_C)) with columns
        timestamp, confidence, success, then AUxx_r, then AUxx_c (frame index added on write).
    """
    duration = len(audio) / sr
    n = max(1, int(round(duration * FPS)))
    t = np.arange(n) / FPS
    onset = rng.uniform(0.2, 0.8)
    env = np.clip(t / onset, 0, 1)
    proto = FACE_PROTOTYPES[emotion]
    mouth = speech_envelope(audio, sr, n)
    r = np.zeros((n, len(AU_R)))
    bias = rng.normal(0, au_bias, len(AU_R))  # tracking error correlated over the utterance
    for j, au in enumerate(AU_R):
        r[:, j] = rest.get(au, 0.0) + bias[j] + display * expressivity * intensity * env * proto.get(au, 0.0)
    r[:, AU_R.index("AU25")] += 1.6 * mouth
    r[:, AU_R.index("AU26")] += 1.1 * mouth * rng.uniform(0.6, 1.2)
    # blinks: Poisson onsets, 3-7 frames each, intensity 2.5-4
    blink = np.zeros(n)
    for start in np.flatnonzero(rng.random(n) < blink_rate / 60 / FPS):
        length = rng.integers(3, 8)
        blink[start:start + length] = np.maximum(blink[start:start + length],
                                                 rng.uniform(2.5, 4.0) * np.hanning(length + 2)[1:-1][: n - start])
    r[:, AU_R.index("AU45")] += blink
    # AR(1) tracking noise, per AU
    white = rng.standard_normal((n, len(AU_R))) * noise * np.sqrt(1 - 0.7 ** 2)
    r += lfilter([1.0], [1.0, -0.7], white, axis=0)
    r = np.clip(r, 0, 5)
    # presence: noisy threshold on intensity (AU28 lip suck: rare, independent)
    c = np.zeros((n, len(AU_C)))
    for j, au in enumerate(AU_C):
        if au == "AU28":
            c[:, j] = rng.random(n) < 0.02
        else:
            c[:, j] = (r[:, AU_R.index(au)] + rng.normal(0, 0.35, n)) > 1.0
    confidence = np.clip(rng.normal(0.95, 0.02, n), 0, 0.98)
    success = np.ones(n)
    if lost:
        success[:] = 0
    else:  # tracking-failure bursts (head turns, occlusions): ~1 per 6 s
        for start in np.flatnonzero(rng.random(n) < 1 / (6 * FPS)):
            success[start:start + rng.integers(5, 20)] = 0
    failed = success == 0
    confidence[failed] = rng.uniform(0.0, 0.4, failed.sum())
    r[failed] = 0.0
    c[failed] = 0.0
    return np.column_stack([t, confidence, success, r, c])


HEADER = (["frame", "face_id", "timestamp", "confidence", "success"]
          + [f"{au}_r" for au in AU_R] + [f"{au}_c" for au in AU_C])


def to_openface_csv(frames: np.ndarray) -> str:
    """Format frames as OpenFace writes them: ``", "``-separated header, fixed decimals."""
    buf = io.StringIO()
    buf.write(", ".join(HEADER) + "\n")
    n_r = len(AU_R)
    for i, row in enumerate(frames):
        ts, conf, ok = row[0], row[1], row[2]
        r = row[3:3 + n_r]
        c = row[3 + n_r:]
        buf.write(f"{i + 1}, 0, {ts:.3f}, {conf:.2f}, {int(ok)}, "
                  + ", ".join(f"{v:.2f}" for v in r) + ", "
                  + ", ".join(f"{v:.1f}" for v in c) + "\n")
    return buf.getvalue()
