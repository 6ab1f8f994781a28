"""Importer for the raw IEMOCAP release (Busso et al., 2008).

Reads, for each ``SessionN`` under the source folder::

    SessionN/dialog/EmoEvaluation/<dialogue>.txt     "[6.2901 - 8.2357]\\tSes01F_impro01_F000\\tneu\\t[2.5000, 2.5000, 2.5000]"
    SessionN/dialog/transcriptions/<dialogue>.txt    "Ses01F_impro01_F000 [006.2901-008.2357]: Excuse me."
    SessionN/sentences/wav/<dialogue>/<utt>.wav

- dialogue = the EmoEvaluation file's stem; turns ordered by start time (ties by id) and
  numbered 0.. over the utterances kept;
- speaker = session + the gender letter of the utterance id's last group (``Ses01_F``);
  group = session (``Ses01``), so leave-one-session-out is the usual protocol;
- ``classes=4``: neutral, happy (+ excited, as both papers do), sad, angry;
  ``classes=6``: COGMEN's happy, sad, neutral, angry, excited, frustrated (in COGMEN's order);
  ``classes="all"``: every category except ``xxx`` (no majority);
- extra columns: ``label_raw``, ``valence``/``arousal``/``dominance`` (the bracketed
  evaluator means), ``dialog_start``/``dialog_end`` (seconds in the dialogue recording),
  ``duration``. ``start``/``end`` stay empty: each sentence WAV is already the segment.

Utterances whose label is outside the chosen set, or whose WAV is missing, are excluded and
counted; a missing transcript line leaves ``text`` empty and is counted too.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from emowb.data.corpus import IEMOCAP4, Corpus
from emowb.data.importers._common import (Exclusions, SourceError, log, map_label, parse_classes,
                                          write_corpus)

MAP4 = {"neu": "neutral", "hap": "happy", "exc": "happy", "sad": "sad", "ang": "angry"}
LABELS6 = ("happy", "sad", "neutral", "angry", "excited", "frustrated")
MAP6 = {"hap": "happy", "sad": "sad", "neu": "neutral", "ang": "angry", "exc": "excited",
        "fru": "frustrated"}
MAP_ALL = {**MAP6, "sur": "surprise", "fea": "fear", "dis": "disgust", "oth": "other"}
LABELS_ALL = LABELS6 + ("surprise", "fear", "disgust", "other")

_EVAL_RE = re.compile(r"^\[\s*([\d.]+)\s*-\s*([\d.]+)\s*\]\s+(\S+)\s+(\S+)\s+"
                      r"\[\s*([\d.]+),\s*([\d.]+),\s*([\d.]+)\s*\]")
_TRANS_RE = re.compile(r"^(\S+)\s+\[[\d.]+-[\d.]+\]:\s?(.*)$")
_SESSION_RE = re.compile(r"^Session(\d+)$")


def speaker_of(utt_id: str) -> str:
    """``"Ses01F_impro01_F000" -> "Ses01_F"`` (session + gender letter of the last group)."""
    gender = utt_id.rsplit("_", 1)[-1][:1]
    if gender not in ("F", "M"):
        raise SourceError(f"IEMOCAP utterance id {utt_id!r}: cannot read the speaker's gender "
                          "from its last group (expected F000 / M012 ...)")
    return f"{utt_id[:5]}_{gender}"


def parse_evaluation(path: Path) -> list[dict]:
    """The utterance lines of one EmoEvaluation file (start, end, utt_id, raw label, V, A, D)."""
    out = []
    for line in path.read_text(errors="replace").splitlines():
        m = _EVAL_RE.match(line)
        if m:
            s, e, utt, lab, v, a, d = m.groups()
            out.append({"dialog_start": float(s), "dialog_end": float(e), "utt_id": utt,
                        "label_raw": lab, "valence": float(v), "arousal": float(a),
                        "dominance": float(d)})
    return out


def parse_transcriptions(path: Path) -> dict[str, str]:
    """utt_id -> transcript text of one transcription file (other lines are ignored)."""
    if not path.is_file():
        return {}
    out = {}
    for line in path.read_text(errors="replace").splitlines():
        m = _TRANS_RE.match(line.strip())
        if m:
            out[m.group(1)] = m.group(2).strip()
    return out


def import_iemocap(src: str | os.PathLike, out_dir: str | os.PathLike, *, classes: int | str = 4,
                   sessions: list[int] | None = None, copy_media: bool = False) -> Corpus:
    """Import the raw IEMOCAP release into a canonical corpus folder.

    Args:
        src: the IEMOCAP root (holding ``Session1`` ... ``Session5``).
        out_dir: the corpus folder to write.
        classes: ``4``, ``6`` or ``"all"`` (see the module doc).
        sessions: only these session numbers (default: every ``SessionN`` found).
        copy_media: copy the WAVs into ``out_dir/media`` instead of referencing them.

    Returns:
        The saved corpus.

    Raises:
        SourceError: no session folder, or no EmoEvaluation file, under ``src``.
    """
    src = Path(src)
    classes = parse_classes(classes, ("4", "6", "all"))
    mapping, labels = {"4": (MAP4, IEMOCAP4), "6": (MAP6, LABELS6),
                       "all": (MAP_ALL, LABELS_ALL)}[classes]
    found = sorted((int(m.group(1)), p) for p in (src.iterdir() if src.is_dir() else [])
                   if p.is_dir() and (m := _SESSION_RE.match(p.name)))
    if sessions is not None:
        found = [(n, p) for n, p in found if n in set(sessions)]
    if not found:
        raise SourceError(f"iemocap: no Session<N> folder{' for sessions ' + str(sessions) if sessions else ''} "
                          f"under {src}")
    excl = Exclusions()
    rows, n_eval, missing_text = [], 0, 0
    for _, sess in found:
        eval_files = sorted((sess / "dialog" / "EmoEvaluation").glob("*.txt"))
        n_eval += len(eval_files)
        for ev in eval_files:
            dialogue = ev.stem
            texts = parse_transcriptions(sess / "dialog" / "transcriptions" / ev.name)
            kept = []
            for u in parse_evaluation(ev):
                lab = map_label(u["label_raw"], mapping, excl, u["utt_id"])
                if lab is None:
                    continue
                wav = sess / "sentences" / "wav" / dialogue / f"{u['utt_id']}.wav"
                if not wav.is_file():
                    excl.add("audio file missing", dialogue, str(wav))
                    continue
                if u["utt_id"] not in texts:
                    missing_text += 1
                spk = speaker_of(u["utt_id"])
                kept.append({**u, "dialogue_id": dialogue, "speaker": spk, "group": spk[:5],
                             "label": lab, "text": texts.get(u["utt_id"], ""),
                             "audio": str(wav.resolve()),
                             "duration": u["dialog_end"] - u["dialog_start"]})
            kept.sort(key=lambda r: (r["dialog_start"], r["utt_id"]))
            rows += [{**r, "turn": t} for t, r in enumerate(kept)]
    if not n_eval:
        raise SourceError(f"iemocap: no dialog/EmoEvaluation/*.txt under {src} (sessions "
                          f"{[p.name for _, p in found]})")
    if missing_text:
        log.warning("iemocap: %d kept utterance(s) have no transcript line; text left empty",
                    missing_text)
    return write_corpus(rows, out_dir, name="iemocap", labels=labels, excl=excl,
                        copy_media=copy_media, licence="IEMOCAP: licensed by USC SAIL for research",
                        provenance=f"IEMOCAP release (Busso et al., 2008), imported from {src}",
                        extra={"classes": classes, "source": str(src.resolve()), "label_map": mapping,
                               "sessions": [p.name for _, p in found],
                               "utterances_without_transcript": missing_text})
