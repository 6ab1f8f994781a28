"""Who speaks, what they feel and say, and how: the whole corpus planned from the seed.

Planning is cheap and sequential; rendering (speech, face) runs in parallel afterwards from
per-utterance seeds, so the result does not depend on the number of workers.

Emotion dynamics per dialogue: a scenario mix ``pi ~ Dirichlet(c * K * prior)``; each speaker
starts from ``pi``; at each of their turns a speaker keeps their previous emotion with
``p_keep`` (inertia), takes over the partner's latest emotion with ``p_contagion`` (contagion),
or redraws from ``pi``. The floor passes to the partner except with ``p_same_speaker``.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from emowb.data.synth.params import AU_R, ESPEAK_PITCH_UNITS_PER_ST, PROSODY, SynthConfig
from emowb.data.synth.text import TOPICS, make_text

FEMALE_VOICES = ("f1", "f2", "f3", "f4", "f5", "belinda", "linda", "steph", "Annie", "aunty")
MALE_VOICES = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "m8", "benjamin", "david", "john", "paul")
ACCENTS = ("en-us", "en", "en-gb-x-rp", "en-gb-scotland", "en-029", "en-gb-x-gbclan", "en-us-nyc")


@dataclasses.dataclass(frozen=True)
class Speaker:
    """A synthetic speaker: an eSpeak voice plus vocal and facial habits."""

    id: str
    group: str
    sex: str
    voice: str
    pitch: float
    range: float
    rate: float
    volume: float
    gain_db: float
    voice_expressivity: float
    face_expressivity: float
    blink_rate: float
    rest: dict


@dataclasses.dataclass(frozen=True)
class Session:
    """Recording conditions shared by a session's dialogues."""

    id: str
    rt60: float
    snr_db: float
    noise_level: float
    seed: int


@dataclasses.dataclass(frozen=True)
class UttPlan:
    """Everything needed to render one utterance."""

    utt_id: str
    dialogue_id: str
    turn: int
    speaker: str
    group: str
    label: str
    text: str
    wording: str
    topic: str
    intensity: float
    display: float
    face_lost: bool
    voice: str
    rate: int
    pitch: int
    range_: int
    volume: int
    wordgap: int
    tilt_db: float
    gain_db: float
    snr_db: float
    pad: tuple
    seed: int


def make_speakers(cfg: SynthConfig) -> tuple[list[Speaker], list[Session]]:
    """Two speakers (F, M) per session, IEMOCAP-style ids ``Ses01_F``; distinct voices."""
    rng = np.random.default_rng([cfg.seed, 0])
    fem, mal = rng.permutation(len(FEMALE_VOICES)), rng.permutation(len(MALE_VOICES))
    speakers, sessions = [], []
    for s in range(cfg.sessions):
        group = f"Ses{s + 1:02d}"
        sessions.append(Session(group, rt60=float(rng.uniform(*cfg.rt60)),
                                snr_db=float(rng.uniform(*cfg.snr_db)),
                                noise_level=float(10 ** (-rng.uniform(50, 65) / 20)),
                                seed=int(rng.integers(2**31))))
        for sex in ("F", "M"):
            pool, order = (FEMALE_VOICES, fem) if sex == "F" else (MALE_VOICES, mal)
            variant = pool[order[s % len(pool)]]
            accent = ACCENTS[rng.integers(len(ACCENTS))]
            rest = {au: float(abs(rng.normal(0, 0.15))) for au in AU_R if au not in ("AU25", "AU26", "AU45")}
            # idiosyncratic resting face: some people look a little stern or a little cheerful
            quirk = rng.choice(["none", "frown", "smile", "brows"], p=[0.4, 0.2, 0.2, 0.2])
            if quirk == "frown":
                rest["AU04"] += rng.uniform(0.4, 1.0)
            elif quirk == "smile":
                rest["AU12"] += rng.uniform(0.4, 1.0)
            elif quirk == "brows":
                rest["AU01"] += rng.uniform(0.3, 0.8)
                rest["AU02"] += rng.uniform(0.3, 0.8)
            speakers.append(Speaker(
                id=f"{group}_{sex}", group=group, sex=sex, voice=f"{accent}+{variant}",
                # eSpeak pitch units; measured mean F0 ~ 200-240 Hz (F), ~ 100-125 Hz (M)
                pitch=float(rng.uniform(55, 75) if sex == "F" else rng.uniform(45, 65)),
                range=float(rng.uniform(35, 65)), rate=float(rng.uniform(150, 190)),
                volume=100.0, gain_db=float(rng.normal(0, cfg.gain_db)),
                voice_expressivity=float(rng.uniform(*cfg.voice_expressivity)),
                face_expressivity=float(rng.uniform(*cfg.face_expressivity)),
                blink_rate=float(rng.uniform(10, 25)), rest=rest))
    return speakers, sessions


def _prosody(spk: Speaker, emotion: str, k: float, rng: np.random.Generator) -> dict:
    """eSpeak parameters and channel effects of one utterance (k = intensity * expressivity)."""
    d = PROSODY[emotion]
    return dict(
        rate=int(np.clip(spk.rate * (1 + d["rate_rel"] * k) * rng.normal(1, 0.05), 80, 400)),
        pitch=int(np.clip(spk.pitch + ESPEAK_PITCH_UNITS_PER_ST * (d["f0_st"] * k + rng.normal(0, 0.5)), 0, 99)),
        range_=int(np.clip(spk.range * (1 + d["range_rel"] * k) + rng.normal(0, 5), 0, 99)),
        volume=int(round(spk.volume)),
        wordgap=int(round(max(0.0, d["pause"] * k + rng.normal(0, 0.5)))),
        tilt_db=float(d["tilt_db"] * k + rng.normal(0, 0.5)),
        loud_db=float(d["loud_db"] * k),
    )


def plan_corpus(cfg: SynthConfig) -> tuple[list[Speaker], list[Session], list[UttPlan]]:
    """Plan every utterance of the corpus (no audio yet)."""
    speakers, sessions = make_speakers(cfg)
    by_group = {s.id: [p for p in speakers if p.group == s.id] for s in sessions}
    labels = list(cfg.labels)
    prior = np.asarray(cfg.label_prior)
    topics = sorted(TOPICS)
    plans: list[UttPlan] = []
    per_session = [0] * cfg.sessions
    for d in range(cfg.dialogues):
        rng = np.random.default_rng([cfg.seed, 1, d])
        sess = sessions[d % cfg.sessions]
        did = f"{sess.id}_dlg{per_session[d % cfg.sessions]:02d}"
        per_session[d % cfg.sessions] += 1
        pair = by_group[sess.id]
        mix = rng.dirichlet(cfg.scenario_concentration * len(labels) * prior)
        topic = topics[rng.integers(len(topics))]
        n = int(rng.integers(cfg.utterances[0], cfg.utterances[1] + 1))
        current = {p.id: None for p in pair}
        last_emotion: dict[str, str] = {}
        who = int(rng.integers(2))
        for turn in range(n):
            if turn > 0 and rng.random() >= cfg.p_same_speaker:
                who = 1 - who
            spk, partner = pair[who], pair[1 - who]
            u = rng.random()
            if current[spk.id] is not None and u < cfg.p_keep:
                emotion = current[spk.id]
            elif partner.id in last_emotion and u < cfg.p_keep + cfg.p_contagion:
                emotion = last_emotion[partner.id]
            else:
                emotion = labels[rng.choice(len(labels), p=mix)]
            current[spk.id] = last_emotion[spk.id] = emotion
            a, b = cfg.intensity_beta
            intensity = 0.0 if emotion == "neutral" else float(0.15 + 0.85 * rng.beta(a, b))
            text, wording = make_text(emotion=emotion, topic=topic, rng=rng,
                                      p_emotional=cfg.p_emotional_wording, p_other=cfg.p_other_wording)
            masked = rng.random() < cfg.p_display_masking
            display = float(rng.uniform(0.0, 0.3) if masked else rng.uniform(0.7, 1.2))
            prosody = _prosody(spk, emotion, intensity * spk.voice_expressivity, rng)
            loud_db = prosody.pop("loud_db")
            plans.append(UttPlan(
                utt_id=f"{did}_{turn:03d}", dialogue_id=did, turn=turn, speaker=spk.id,
                group=sess.id, label=emotion, text=text, wording=wording, topic=topic,
                intensity=intensity, display=display, face_lost=bool(rng.random() < cfg.p_face_lost),
                voice=spk.voice, **prosody,
                gain_db=float(spk.gain_db + loud_db + rng.normal(0, cfg.utt_gain_db)),
                snr_db=float(sess.snr_db + rng.uniform(-4, 4)),
                pad=(float(rng.uniform(0.1, 0.3)), float(rng.uniform(0.1, 0.3))),
                seed=int(rng.integers(2**31))))
    return speakers, sessions, plans
