"""Parameters of the synthetic dyadic corpus, with where their values come from.

The generator is meant to be *realistic enough to teach something*, not tuned to a result:
every number below is either taken from the literature on how emotions show in voice and face,
or a recording-condition / population-variability choice stated here. Changing them changes the
corpus (and its ``corpus.json`` records them); nothing in the generator looks at classifiers.

Voice (arousal-dominant). Relative to a speaker's neutral baseline, following the acoustic
correlates summarised by Murray & Arnott (1993, JASA 93(2)), Banse & Scherer (1996, JPSP 70(3))
and Juslin & Laukka (2003, Psych. Bull. 129(5)): anger and joy raise F0 mean, F0 range and
intensity and speed up; anger raises intensity most, joy raises F0 range most; sadness lowers F0,
narrows the range, lowers intensity, slows the rate and lengthens pauses. The eSpeak NG
parameters are rate (words/min), pitch and range (0-99, eSpeak's units), volume (0-200) and
wordgap (units of 10 ms).

Face (valence-dominant), in OpenFace 2 action-unit intensities (0-5), from EMFACS prototypes
(Ekman & Friesen 1978; Friesen & Ekman 1983; as used by e.g. Lucey et al. 2010, CK+): joy =
AU6 + AU12 (+AU25); sadness = AU1 + AU4 + AU15 (+AU17); anger = AU4 + AU5 + AU7 + AU23
(+AU17, AU9/10). Apex intensities of 1.5-3 are typical of posed-to-moderate expressions in
OpenFace output on acted corpora.

What makes no modality perfect (all stated, all documented in corpus.json):
- speakers differ in expressivity (voice and face separately), baseline pitch/rate/volume, and
  resting facial AUs ("resting frown", "resting smile");
- per-utterance emotion intensity varies (Beta distribution), and prosody is jittered;
- display rules: some utterances show an attenuated face (Ekman's display rules / masking);
- recording conditions: each session has its own room (reverberation) and noise floor; each
  utterance a random microphone gain; faces have tracking noise, blinks, tracking-failure bursts
  and occasionally no tracked face at all (missing modality, as in real data);
- transcripts: much of what people say is emotionally neutral wording, and some emotional
  wording belongs to another emotion (irony, venting about the past).
"""

from __future__ import annotations

import dataclasses

from emowb.data.corpus import IEMOCAP4

# --------------------------------------------------------------------------- voice
#: Prosodic deviation from a speaker's neutral voice at full emotional intensity (k = 1), in
#: physical units: F0 mean in semitones, F0 range relative to the speaker's range, loudness and
#: spectral tilt (vocal effort: energy above 1 kHz) in dB, speech rate relative, extra pause
#: between words in units of 10 ms. Magnitudes follow the acted-speech effect sizes in Banse &
#: Scherer (1996) and the cue patterns of Juslin & Laukka (2003, Table 7); tilt follows the
#: vocal-effort findings summarised by Gobl & Ni Chasaide (2003) (tense voice in anger and joy,
#: lax voice in sadness). Per utterance they are scaled by k = intensity * speaker expressivity
#: (mean k is about 0.5), so typical shifts are half of these.
PROSODY = {
    "neutral": dict(f0_st=0.0, range_rel=0.0, loud_db=0.0, tilt_db=0.0, rate_rel=0.00, pause=0.0),
    "happy":   dict(f0_st=4.0, range_rel=0.6, loud_db=4.0, tilt_db=2.0, rate_rel=0.08, pause=0.0),
    "angry":   dict(f0_st=3.0, range_rel=0.4, loud_db=7.0, tilt_db=5.0, rate_rel=0.12, pause=0.0),
    "sad":     dict(f0_st=-2.0, range_rel=-0.4, loud_db=-4.0, tilt_db=-3.0, rate_rel=-0.18, pause=3.0),
}

#: eSpeak NG's pitch parameter, measured with openSMILE's F0 (semitones from 27.5 Hz) over
#: pitch 20..80 on a fixed sentence: 0.155 semitones per unit, i.e. 6.5 units per semitone.
ESPEAK_PITCH_UNITS_PER_ST = 6.5

# --------------------------------------------------------------------------- face
#: OpenFace 2.x action units: intensities (AUxx_r) and presences (AUxx_c, which add AU28).
AU_R = ("AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU12", "AU14",
        "AU15", "AU17", "AU20", "AU23", "AU25", "AU26", "AU45")
AU_C = ("AU01", "AU02", "AU04", "AU05", "AU06", "AU07", "AU09", "AU10", "AU12", "AU14",
        "AU15", "AU17", "AU20", "AU23", "AU25", "AU26", "AU28", "AU45")

#: Apex AU intensities (0-5) of each emotion's prototype at full intensity.
FACE_PROTOTYPES = {
    "neutral": {},
    "happy": {"AU06": 2.2, "AU12": 2.8, "AU25": 0.6, "AU10": 0.4, "AU07": 0.3, "AU14": 0.4},
    "sad": {"AU01": 1.6, "AU04": 1.3, "AU15": 1.7, "AU17": 0.8, "AU14": 0.3},
    "angry": {"AU04": 2.2, "AU05": 1.2, "AU07": 1.8, "AU23": 1.6, "AU17": 0.6, "AU09": 0.4,
              "AU10": 0.4},
}


@dataclasses.dataclass(frozen=True, kw_only=True)
class SynthConfig:
    """Everything that determines a synthetic corpus (with the seed).

    Attributes:
        dialogues: number of dialogues (spread round-robin over sessions).
        sessions: number of sessions (the unit of leave-one-session-out).
        utterances: (min, max) utterances per dialogue, uniform.
        seed: the seed; same seed + same config -> byte-identical corpus.
        sample_rate: audio sample rate of the written WAV files (Hz).
        labels: label set (the generator knows the four IEMOCAP classes).
        label_prior: base rate of each label (IEMOCAP-4's shares: neutral 0.31, happy+excited
            0.30, angry 0.20, sad 0.20, rounded).
        scenario_concentration: Dirichlet concentration of a dialogue's emotion mix around the
            prior; small values give dialogues dominated by one or two emotions, as in IEMOCAP's
            scripted/improvised scenarios.
        p_keep: probability a speaker keeps their previous emotion (emotional inertia; Kuppens
            et al. 2010 report strong autocorrelation of affect).
        p_contagion: probability a speaker takes over the partner's latest emotion
            (emotional contagion; Hatfield et al. 1993). Otherwise the emotion is redrawn from
            the dialogue's mix.
        p_same_speaker: probability that a speaker holds the floor for another utterance.
        intensity_beta: Beta(a, b) of per-utterance emotion intensity, mapped to [0.15, 1].
        voice_expressivity: range of speakers' vocal expressivity (multiplies intensity).
        face_expressivity: range of speakers' facial expressivity.
        p_display_masking: probability an utterance's face is attenuated to 0-30 % (display rules).
        p_face_lost: probability that no face is tracked in a whole utterance.
        face_noise: std of OpenFace-like frame noise (AR(1), 0-5 scale; OpenFace 2's AU
            intensity errors on DISFA are of this order, Baltrusaitis et al. 2018).
        snr_db: range of sessions' mean signal-to-noise ratio (dB); utterances vary +-4 dB.
            All sessions are "studio-like", as IEMOCAP's were recorded in one room.
        rt60: range of sessions' reverberation time (s).
        gain_db: std of speakers' fixed microphone-gain offsets (dB; mic placement, voice
            strength).
        utt_gain_db: std of per-utterance gain variation (dB; head movement relative to the mic).
        au_bias: std of a per-utterance, per-AU offset of the tracked intensities (OpenFace
            errors are correlated within a shot: pose, lighting).
        p_emotional_wording: probability a transcript carries wording of its own emotion.
        p_other_wording: probability it carries wording of another emotion (irony, venting).
    """

    dialogues: int = 50
    sessions: int = 5
    utterances: tuple[int, int] = (18, 32)
    seed: int = 0
    sample_rate: int = 16000
    labels: tuple[str, ...] = IEMOCAP4
    label_prior: tuple[float, ...] = (0.31, 0.29, 0.20, 0.20)
    scenario_concentration: float = 1.0
    p_keep: float = 0.6
    p_contagion: float = 0.15
    p_same_speaker: float = 0.15
    intensity_beta: tuple[float, float] = (2.0, 2.0)
    voice_expressivity: tuple[float, float] = (0.5, 1.3)
    face_expressivity: tuple[float, float] = (0.4, 1.3)
    p_display_masking: float = 0.15
    p_face_lost: float = 0.02
    face_noise: float = 0.5
    snr_db: tuple[float, float] = (20.0, 30.0)
    rt60: tuple[float, float] = (0.2, 0.4)
    gain_db: float = 1.5
    utt_gain_db: float = 1.0
    au_bias: float = 0.25
    p_emotional_wording: float = 0.6
    p_other_wording: float = 0.08

    def __post_init__(self) -> None:
        def need(cond: bool, msg: str) -> None:
            if not cond:
                raise ValueError(f"SynthConfig: {msg}")

        need(self.dialogues >= 1, f"dialogues must be >= 1, got {self.dialogues}")
        need(self.sessions >= 1, f"sessions must be >= 1, got {self.sessions}")
        need(self.dialogues >= self.sessions, f"need at least one dialogue per session "
             f"(dialogues={self.dialogues} < sessions={self.sessions})")
        lo, hi = self.utterances
        need(2 <= lo <= hi, f"utterances must be (min, max) with 2 <= min <= max, got {self.utterances}")
        need(tuple(self.labels) == IEMOCAP4, f"the generator knows the labels {IEMOCAP4}")
        need(len(self.label_prior) == len(self.labels) and abs(sum(self.label_prior) - 1) < 1e-6
             and min(self.label_prior) > 0, "label_prior must be positive and sum to 1")
        need(0 <= self.p_keep and 0 <= self.p_contagion and self.p_keep + self.p_contagion <= 1,
             "p_keep + p_contagion must lie in [0, 1]")
        for name in ("p_same_speaker", "p_display_masking", "p_face_lost", "p_emotional_wording",
                     "p_other_wording"):
            need(0 <= getattr(self, name) <= 1, f"{name} must be a probability")
        need(self.p_emotional_wording + self.p_other_wording <= 1,
             "p_emotional_wording + p_other_wording must be <= 1")
        need(self.sample_rate in (8000, 16000, 22050, 24000, 44100, 48000),
             f"unsupported sample_rate {self.sample_rate}")
        need(self.scenario_concentration > 0, "scenario_concentration must be > 0")

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}
