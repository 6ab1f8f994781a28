"""The synthetic dyadic corpus: determinism, validity, and that its cues point the right way."""

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from emowb.data import Corpus, make_splits
from emowb.data.synth import SynthConfig, generate
from emowb.data.synth import speech
from emowb.data.synth.face import HEADER, make_face
from emowb.data.synth.plan import plan_corpus
from emowb.data.synth.text import EMOTIONAL, make_text
from emowb.utils import atomic_path

TINY = SynthConfig(dialogues=5, sessions=5, utterances=(3, 4), seed=3)


def tree_hash(root: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(p for p in root.rglob("*") if p.is_file()):
        h.update(str(f.relative_to(root)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory) -> Corpus:
    return generate(tmp_path_factory.mktemp("synth") / "c", TINY, workers=2, progress=False, report=False)


def test_valid_corpus(tiny):
    t = tiny.table
    assert 15 <= len(t) <= 20 and t.dialogue_id.nunique() == 5
    assert set(t.label) <= {"neutral", "happy", "sad", "angry"}
    assert t.groupby("speaker").group.nunique().max() == 1       # a speaker lives in one session
    assert t.groupby("dialogue_id").speaker.nunique().max() <= 2  # dyadic
    assert (t.text.str.len() > 0).all()
    for i in range(len(t)):
        x, sr = sf.read(tiny.path("audio", i), dtype="int16")
        assert sr == 16000 and x.ndim == 1
        assert abs(len(x) / sr - t.duration.iat[i]) < 1e-3
        assert np.abs(x).max() > 1000                              # real speech, not silence
    face = pd.read_csv(tiny.path("face", 0), skipinitialspace=True)
    assert list(face.columns) == HEADER
    assert abs(len(face) / 30 - t.duration.iat[0]) < 0.05


def test_deterministic_and_worker_independent(tiny, tmp_path):
    again = generate(tmp_path / "again", TINY, workers=1, progress=False, report=False)
    assert tree_hash(again.root) == tree_hash(tiny.root)
    other = generate(tmp_path / "other", SynthConfig(**{**TINY.__dict__, "seed": 4}), workers=1,
                     progress=False, report=False)
    assert tree_hash(other.root) != tree_hash(tiny.root)


def test_logo_splits_work(tiny):
    splits = make_splits(tiny, "logo", dev_share=0.0)
    assert len(splits) == 5


def test_default_size_plan():
    """The default corpus has IEMOCAP's shape, scaled down (planning only: no audio)."""
    speakers, sessions, plans = plan_corpus(SynthConfig())
    t = pd.DataFrame([p.__dict__ for p in plans])
    assert t.dialogue_id.nunique() >= 40 and len(t) >= 1000
    assert len(speakers) >= 10 and len(sessions) == 5
    assert len({s.voice for s in speakers}) == len(speakers)       # distinct voices
    shares = t.label.value_counts(normalize=True)
    assert shares.min() > 0.1                                      # no class vanishes


def test_inertia_shows_in_dialogues():
    _, _, plans = plan_corpus(SynthConfig())
    t = pd.DataFrame([p.__dict__ for p in plans])
    same = []
    for _, d in t.groupby("dialogue_id"):
        for _, s in d.groupby("speaker"):
            lab = s.label.to_numpy()
            same.extend(lab[1:] == lab[:-1])
    chance = (t.label.value_counts(normalize=True) ** 2).sum()
    assert np.mean(same) > chance + 0.2


@pytest.mark.parametrize("emotion", ["neutral", "happy", "sad", "angry"])
def test_wording(emotion):
    rng = np.random.default_rng(0)
    kinds = [make_text(emotion=emotion, topic="job", rng=rng, p_emotional=0.6, p_other=0.1)[1]
             for _ in range(2000)]
    own = np.mean([k == "own" for k in kinds])
    other = np.mean([k.startswith("other") for k in kinds])
    if emotion == "neutral":
        assert own == 0 and abs(other - 0.1) < 0.03
    else:
        assert abs(own - 0.6) < 0.04 and abs(other - 0.1) < 0.03
        assert not any(k == f"other:{emotion}" for k in kinds)


def _f0_and_level(x: np.ndarray, sr: int) -> tuple[float, float]:
    import opensmile

    sm = opensmile.Smile(feature_set=opensmile.FeatureSet.eGeMAPSv02,
                         feature_level=opensmile.FeatureLevel.Functionals)
    f = sm.process_signal(x.astype(np.float32), sr)
    return float(f["F0semitoneFrom27.5Hz_sma3nz_amean"].iloc[0]), float(f["equivalentSoundLevel_dBp"].iloc[0])


def test_prosody_parameters_move_the_signal():
    """eSpeak's pitch raises F0 and gain raises the level: the cues the generator relies on."""
    text = "I went to the office this morning and talked to my boss."
    lo = speech.synthesise(text, voice="en-us+m3", rate=170, pitch=30, range_=50, volume=100)
    hi = speech.synthesise(text, voice="en-us+m3", rate=170, pitch=70, range_=50, volume=100)
    f_lo, _ = _f0_and_level(lo / 32768, speech.ESPEAK_SR)
    f_hi, _ = _f0_and_level(hi / 32768, speech.ESPEAK_SR)
    assert 4 < f_hi - f_lo < 9                     # ~0.155 semitones per eSpeak pitch unit
    rng = np.random.default_rng(0)
    rir = speech.room_impulse(0.3, 16000, rng)
    kw = dict(sr=16000, rir=rir, snr_db=30, noise_level=1e-4, pad=(0.1, 0.1))
    quiet = speech.record(lo, gain_db=-6, rng=np.random.default_rng(1), **kw)
    loud = speech.record(lo, gain_db=+6, rng=np.random.default_rng(1), **kw)
    assert 9 < _f0_and_level(loud, 16000)[1] - _f0_and_level(quiet, 16000)[1] < 13


def test_face_prototypes_and_lost_faces():
    audio = np.random.default_rng(0).standard_normal(16000 * 2) * 0.1
    common = dict(intensity=1.0, expressivity=1.0, display=1.0, rest={}, blink_rate=15, noise=0.3,
                  au_bias=0.0, audio=audio, sr=16000)
    au12 = HEADER.index("AU12_r") - 2   # make_face has no frame / face_id columns
    au15 = HEADER.index("AU15_r") - 2
    happy = make_face(emotion="happy", lost=False, rng=np.random.default_rng(1), **common)
    neutral = make_face(emotion="neutral", lost=False, rng=np.random.default_rng(1), **common)
    sad = make_face(emotion="sad", lost=False, rng=np.random.default_rng(1), **common)
    assert happy[:, au12].mean() > neutral[:, au12].mean() + 1.0
    assert sad[:, au15].mean() > neutral[:, au15].mean() + 0.7
    lost = make_face(emotion="happy", lost=True, rng=np.random.default_rng(1), **common)
    assert (lost[:, 2] == 0).all() and (lost[:, 3:] == 0).all()


def test_bad_config_and_existing_output(tmp_path):
    with pytest.raises(ValueError, match="dialogues"):
        SynthConfig(dialogues=0)
    with pytest.raises(ValueError, match="utterances"):
        SynthConfig(utterances=(5, 2))
    with pytest.raises(ValueError, match="p_keep"):
        SynthConfig(p_keep=0.9, p_contagion=0.2)
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError):
        generate(tmp_path / "x", TINY, progress=False, report=False)
    assert (tmp_path / "x" / "keep.txt").read_text() == "mine"


def test_atomic_folder_leaves_nothing_on_failure(tmp_path):
    with pytest.raises(RuntimeError):
        with atomic_path(tmp_path / "out") as tmp:
            tmp.mkdir()
            (tmp / "half.wav").write_bytes(b"RIFF")
            raise RuntimeError("interrupted")
    assert list(tmp_path.iterdir()) == []


def test_unknown_voice_is_a_clear_error():
    with pytest.raises(speech.SpeechError, match="no voice"):
        speech.synthesise("hello", voice="xx-nope+zz", rate=170, pitch=50, range_=50, volume=100)
