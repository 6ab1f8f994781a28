"""Importers for corpora whose labels are coded in the file names: EmoDB, RAVDESS, CREMA-D.

All three are isolated-utterance corpora: each utterance is its own dialogue (turn 0) and the
split group is the speaker (actor). ``classes=4`` keeps the four IEMOCAP classes
(neutral, happy, sad, angry) and excludes the rest with a count recorded in ``corpus.json``
(``extra.excluded``); ``classes="all"`` keeps every emotion of the corpus (IEMOCAP's four first,
then the others). Files whose names do not follow the corpus pattern are counted and logged too.

File-name schemes:

- EmoDB ``03a01Fa.wav``: speaker ``03``, sentence ``a01``, emotion letter (W anger, L boredom,
  E disgust, A fear, F happiness, T sadness, N neutral), version letter.
- RAVDESS ``03-01-06-01-02-01-12.wav``: modality (01 audio-video, 02 video-only, 03 audio-only),
  vocal channel (01 speech, 02 song), emotion (01 neutral, 02 calm, 03 happy, 04 sad, 05 angry,
  06 fearful, 07 disgust, 08 surprised), intensity (01 normal, 02 strong), statement, repetition,
  actor (odd = male). Video-only files have no audio and are excluded; when a recording exists
  both as audio-only WAV and as audio-video MP4 the WAV is kept. *Calm* is not mapped to neutral
  in 4-class mode (it is excluded and counted), following common practice.
- CREMA-D ``1001_DFA_ANG_XX.wav``: actor, sentence code, emotion (ANG, DIS, FEA, HAP, NEU, SAD),
  level (LO, MD, HI, XX).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Callable

from emowb.data.corpus import IEMOCAP4, Corpus
from emowb.data.importers._common import (Exclusions, SourceError, add_durations, find_files,
                                          map_label, parse_classes, write_corpus)

AUDIO_SUFFIXES = (".wav", ".flac", ".mp3", ".ogg", ".mp4", ".avi")

# --------------------------------------------------------------------------------- EmoDB
EMODB_EMOTIONS = {"N": "neutral", "F": "happy", "T": "sad", "W": "angry", "A": "fear",
                  "E": "disgust", "L": "bored"}
EMODB_SENTENCES = {
    "a01": "Der Lappen liegt auf dem Eisschrank.",
    "a02": "Das will sie am Mittwoch abgeben.",
    "a04": "Heute abend könnte ich es ihm sagen.",
    "a05": "Das schwarze Stück Papier befindet sich da oben neben dem Holzstück.",
    "a07": "In sieben Stunden wird es soweit sein.",
    "b01": "Was sind denn das für Tüten, die da unter dem Tisch stehen?",
    "b02": "Sie haben es gerade hochgetragen und jetzt gehen sie wieder runter.",
    "b03": "An den Wochenenden bin ich jetzt immer nach Hause gefahren und habe Agnes besucht.",
    "b09": "Ich will das eben wegbringen und dann mit Karl was trinken gehen.",
    "b10": "Die wird auf dem Platz sein, wo wir sie immer hinlegen.",
}
EMODB_FEMALE = {"08", "09", "13", "14", "16"}
_EMODB_RE = re.compile(r"^(\d\d)([ab]\d\d)([WLEAFTN])([a-z])$")

# ------------------------------------------------------------------------------- RAVDESS
RAVDESS_EMOTIONS = {"01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry",
                    "06": "fear", "07": "disgust", "08": "surprise"}
RAVDESS_SENTENCES = {"01": "Kids are talking by the door.", "02": "Dogs are sitting by the door."}
_RAVDESS_RE = re.compile(r"^(0[1-3])-(0[12])-(0[1-8])-(0[12])-(0[12])-(0[12])-(\d\d)$")

# ------------------------------------------------------------------------------- CREMA-D
CREMAD_EMOTIONS = {"NEU": "neutral", "HAP": "happy", "SAD": "sad", "ANG": "angry",
                   "FEA": "fear", "DIS": "disgust"}
CREMAD_SENTENCES = {
    "IEO": "It's eleven o'clock.", "TIE": "That is exactly what happened.",
    "IOM": "I'm on my way to the meeting.", "IWW": "I wonder what this is about.",
    "TAI": "The airplane is almost full.", "MTI": "Maybe tomorrow it will be cold.",
    "IWL": "I would like a new alarm clock.", "ITH": "I think I have a doctor's appointment.",
    "DFA": "Don't forget a jacket.", "ITS": "I think I've seen this before.",
    "TSI": "The surface is slick.", "WSI": "We'll stop in a couple of minutes.",
}
_CREMAD_RE = re.compile(r"^(\d{4})_([A-Z]{3})_([A-Z]{3})_([A-Z]{2})$")


def _label_set(emotions: dict[str, str], classes: str) -> tuple[dict[str, str], tuple[str, ...]]:
    """(raw code -> label) for the chosen class set, and the ordered label tuple."""
    if classes == "4":
        return {k: v for k, v in emotions.items() if v in IEMOCAP4}, IEMOCAP4
    others = sorted(set(emotions.values()) - set(IEMOCAP4))
    return dict(emotions), IEMOCAP4 + tuple(others)


def _import(src: str | os.PathLike, out_dir: str | os.PathLike, *, name: str, classes,
            emotions: dict[str, str], parse: Callable[[Path, Exclusions], dict | None],
            provenance: str, licence: str, copy_media: bool) -> Corpus:
    src = Path(src)
    if not src.is_dir():
        raise SourceError(f"{name}: source folder not found: {src}")
    classes = parse_classes(classes, ("4", "all"))
    mapping, labels = _label_set(emotions, classes)
    excl = Exclusions()
    rows = []
    files = find_files(src, AUDIO_SUFFIXES)
    if not files:
        raise SourceError(f"{name}: no audio files ({', '.join(AUDIO_SUFFIXES)}) under {src}")
    for p in files:
        r = parse(p, excl)
        if r is None:
            continue
        lab = map_label(r.pop("raw_label"), mapping, excl, p.name)
        if lab is None:
            continue
        rows.append({"utt_id": p.stem, "dialogue_id": p.stem, "turn": 0, "label": lab,
                     "audio": str(p.resolve()), **r})
    rows = _dedupe(rows, excl)
    add_durations(rows, excl)
    return write_corpus(rows, out_dir, name=name, labels=labels, provenance=provenance,
                        licence=licence, excl=excl, copy_media=copy_media,
                        extra={"classes": classes, "source": str(src.resolve()),
                               "label_map": mapping})


def _dedupe(rows: list[dict], excl: Exclusions) -> list[dict]:
    """One row per ``recording`` key: audio-only files before audio-video ones, then by path."""
    out, seen = [], set()
    for r in sorted(rows, key=lambda r: (r["recording"], r["_rank"], r["audio"])):
        key = r.pop("recording")
        r.pop("_rank")
        if key in seen:
            excl.add("duplicate recording (kept one file)", Path(r["audio"]).suffix, r["audio"])
            continue
        seen.add(key)
        out.append(r)
    return out


# -------------------------------------------------------------------------------- parsers
def _parse_emodb(p: Path, excl: Exclusions) -> dict | None:
    m = _EMODB_RE.match(p.stem)
    if not m:
        excl.add("file name does not follow the EmoDB pattern SSTTTEV", p.suffix, p.name)
        return None
    spk, sent, emo, _ = m.groups()
    return {"speaker": spk, "group": spk, "raw_label": emo, "text": EMODB_SENTENCES.get(sent, ""),
            "sentence": sent, "gender": "F" if spk in EMODB_FEMALE else "M",
            "recording": p.stem, "_rank": 0 if p.suffix.lower() in (".wav", ".flac") else 1}


def _parse_ravdess(p: Path, excl: Exclusions, *, channel: str) -> dict | None:
    m = _RAVDESS_RE.match(p.stem)
    if not m:
        excl.add("file name does not follow the RAVDESS pattern MM-VV-EE-II-SS-RR-AA", p.suffix, p.name)
        return None
    modality, vocal, emo, intensity, stmt, rep, actor = m.groups()
    if modality == "02":
        excl.add("video-only file (no audio)", "02", p.name)
        return None
    if (channel == "speech" and vocal != "01") or (channel == "song" and vocal != "02"):
        excl.add(f"vocal channel not {channel}", "song" if vocal == "02" else "speech", p.name)
        return None
    spk = f"Actor_{actor}"
    return {"speaker": spk, "group": spk, "raw_label": emo, "text": RAVDESS_SENTENCES[stmt],
            "sentence": stmt, "intensity": "strong" if intensity == "02" else "normal",
            "gender": "M" if int(actor) % 2 else "F", "vocal_channel": "song" if vocal == "02" else "speech",
            "recording": "-".join(m.groups()[1:]), "_rank": 0 if modality == "03" else 1}


def _parse_cremad(p: Path, excl: Exclusions) -> dict | None:
    m = _CREMAD_RE.match(p.stem)
    if not m:
        excl.add("file name does not follow the CREMA-D pattern AAAA_SSS_EEE_LL", p.suffix, p.name)
        return None
    actor, sent, emo, level = m.groups()
    if emo not in CREMAD_EMOTIONS:
        excl.add("unknown CREMA-D emotion code", emo, p.name)
        return None
    return {"speaker": actor, "group": actor, "raw_label": emo, "text": CREMAD_SENTENCES.get(sent, ""),
            "sentence": sent, "level": level, "recording": p.stem,
            "_rank": 0 if p.suffix.lower() in (".wav", ".flac") else 1}


# -------------------------------------------------------------------------------- public
def import_emodb(src: str | os.PathLike, out_dir: str | os.PathLike, *, classes: int | str = 4,
                 copy_media: bool = False) -> Corpus:
    """Import EmoDB (``SSTTTEV.wav``/``.flac`` files, any folder layout under ``src``).

    Args:
        src: folder holding the audio files (searched recursively).
        out_dir: the corpus folder to write.
        classes: ``4`` (N neutral, F happy, T sad, W angry) or ``"all"`` (7 classes).
        copy_media: copy the audio into ``out_dir/media`` instead of referencing it.

    Returns:
        The saved :class:`~emowb.data.corpus.Corpus` (extra columns: sentence, gender, duration).
    """
    return _import(src, out_dir, name="emodb", classes=classes, emotions=EMODB_EMOTIONS,
                   parse=_parse_emodb, copy_media=copy_media,
                   provenance=f"EmoDB (Burkhardt et al., Interspeech 2005), imported from {src}",
                   licence="EmoDB: free for research use")


def import_ravdess(src: str | os.PathLike, out_dir: str | os.PathLike, *, classes: int | str = 4,
                   channel: str = "speech", copy_media: bool = False) -> Corpus:
    """Import RAVDESS (``Actor_*/MM-VV-EE-II-SS-RR-AA.wav`` or ``.mp4``).

    Args:
        src: folder holding the files (searched recursively).
        out_dir: the corpus folder to write.
        classes: ``4`` or ``"all"`` (8 classes incl. calm and surprise).
        channel: ``"speech"`` (default), ``"song"`` or ``"both"``.
        copy_media: copy the audio into ``out_dir/media``.
    """
    if channel not in ("speech", "song", "both"):
        raise ValueError(f"channel={channel!r}: use 'speech', 'song' or 'both'")
    return _import(src, out_dir, name="ravdess", classes=classes, emotions=RAVDESS_EMOTIONS,
                   parse=lambda p, e: _parse_ravdess(p, e, channel=channel), copy_media=copy_media,
                   provenance=f"RAVDESS (Livingstone & Russo, 2018), imported from {src}",
                   licence="RAVDESS: CC BY-NC-SA 4.0")


def import_cremad(src: str | os.PathLike, out_dir: str | os.PathLike, *, classes: int | str = 4,
                  copy_media: bool = False) -> Corpus:
    """Import CREMA-D (``AudioWAV/1001_DFA_ANG_XX.wav``).

    Args:
        src: folder holding the files (searched recursively).
        out_dir: the corpus folder to write.
        classes: ``4`` or ``"all"`` (6 classes).
        copy_media: copy the audio into ``out_dir/media``.
    """
    return _import(src, out_dir, name="crema-d", classes=classes, emotions=CREMAD_EMOTIONS,
                   parse=_parse_cremad, copy_media=copy_media,
                   provenance=f"CREMA-D (Cao et al., 2014), imported from {src}",
                   licence="CREMA-D: Open Database License")
