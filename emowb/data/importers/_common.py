"""Shared steps of every importer: label mapping with counted exclusions, writing the corpus.

Media policy: importers do **not** copy audio. The utterance table references the source files
by absolute path, so a 12 GB IEMOCAP stays where it is; the corpus folder then depends on the
source staying in place (``Corpus.load`` names every missing file if it moves). Pass
``copy_media=True`` to copy the files into ``OUT_DIR/media/`` and reference them relatively,
which makes the folder self-contained and movable.
"""

from __future__ import annotations

import collections
import logging
import os
import shutil
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np

from emowb.data.audio import AudioError, audio_duration
from emowb.data.corpus import Corpus, CorpusError, CorpusInfo, make_table

log = logging.getLogger("emowb.import")


class SourceError(CorpusError):
    """A source folder or manifest that an importer cannot read (names the file)."""


class Exclusions:
    """Counts of what an importer left out and why, and of what it kept despite a problem.

    Both are recorded in ``corpus.json`` (``extra.excluded`` / ``extra.kept_with_problems``)
    and logged at WARNING ("excluded ..." / "kept ...").
    """

    def __init__(self) -> None:
        self.by_reason: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        self.examples: dict[str, list[str]] = collections.defaultdict(list)
        self.kept: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        self.kept_examples: dict[str, list[str]] = collections.defaultdict(list)

    def add(self, reason: str, key: str, example: str = "") -> None:
        """Count an utterance / file left out of the corpus."""
        self.by_reason[reason][key] += 1
        if example and len(self.examples[reason]) < 5:
            self.examples[reason].append(example)

    def add_kept(self, reason: str, key: str, example: str = "") -> None:
        """Count an utterance kept in the corpus despite a problem (e.g. an unreadable header)."""
        self.kept[reason][key] += 1
        if example and len(self.kept_examples[reason]) < 5:
            self.kept_examples[reason].append(example)

    def total(self) -> int:
        return sum(sum(c.values()) for c in self.by_reason.values())

    def to_json(self) -> dict:
        return _as_json(self.by_reason, self.examples)

    def kept_json(self) -> dict:
        return _as_json(self.kept, self.kept_examples)

    def log(self, name: str) -> None:
        for reason, c in sorted(self.by_reason.items()):
            log.warning("%s: excluded %d utterance(s)/file(s): %s: %s", name, sum(c.values()),
                        reason, ", ".join(f"{k} {v}" for k, v in sorted(c.items())))
        for reason, c in sorted(self.kept.items()):
            log.warning("%s: kept %d utterance(s) with a problem: %s: %s", name, sum(c.values()),
                        reason, ", ".join(f"{k} {v}" for k, v in sorted(c.items())))

    def summary(self) -> str:
        """One line: what was excluded, per reason and count (for error messages)."""
        return "; ".join(f"{r} {sum(c.values())} (e.g. {', '.join(self.examples.get(r, [])[:2]) or '-'})"
                         for r, c in sorted(self.by_reason.items()))


def _as_json(by_reason: Mapping[str, collections.Counter], examples: Mapping[str, list[str]]) -> dict:
    return {r: {"counts": dict(sorted(c.items())), "total": sum(c.values()),
                "examples": examples.get(r, [])}
            for r, c in sorted(by_reason.items())}


def parse_classes(classes: int | str, allowed: Iterable) -> str:
    """Normalise a ``classes`` option (4, 6, "4", "all") and check it is one of ``allowed``."""
    key = str(classes).strip().lower()
    allowed = [str(a) for a in allowed]
    if key not in allowed:
        raise ValueError(f"classes={classes!r} is not supported here; use one of {allowed}")
    return key


def map_label(raw: str, mapping: Mapping[str, str], excl: Exclusions, utt: str) -> str | None:
    """``mapping[raw]`` or None (counted in ``excl`` under "label not in the chosen set")."""
    lab = mapping.get(raw)
    if lab is None:
        excl.add("label not in the chosen set", raw, utt)
    return lab


#: The problem of a row kept with an unreadable audio header.
HEADER_UNREADABLE = "audio header unreadable (duration left NaN; feature extraction will name the file)"


def add_durations(rows: list[dict], excl: Exclusions) -> None:
    """Set ``duration`` (seconds) from each audio header, or from start/end; NaN when unreadable.

    Rows whose audio header cannot be read are kept (the extractor will name the file) and
    counted as kept with a problem, :data:`HEADER_UNREADABLE`.
    """
    for r in rows:
        if "duration" in r and r["duration"] is not None:
            continue
        s, e = r.get("start"), r.get("end")
        if e is not None and not (isinstance(e, float) and np.isnan(e)):
            r["duration"] = float(e) - float(0.0 if s is None or np.isnan(s) else s)
            continue
        try:
            total = audio_duration(r["audio"]) if r["audio"] else float("nan")
            s = 0.0 if s is None or (isinstance(s, float) and np.isnan(s)) else float(s)
            r["duration"] = total - s
        except AudioError as err:
            r["duration"] = float("nan")
            excl.add_kept(HEADER_UNREADABLE, Path(r["audio"]).suffix or "?", str(err))


def write_corpus(rows: list[dict], out_dir: str | os.PathLike, *, name: str,
                 labels: tuple[str, ...], provenance: str, licence: str = "",
                 excl: Exclusions | None = None, extra: dict | None = None,
                 copy_media: bool = False) -> Corpus:
    """Validate and save a canonical corpus folder from importer rows; log the exclusions."""
    out = Path(out_dir)
    excl = excl or Exclusions()
    if not rows:
        raise SourceError(f"{name}: no utterance left to import"
                          + (f"; excluded: {excl.summary()}" if excl.total() else ""))
    if copy_media:
        _copy_media(rows, out)
    kept = {"kept_with_problems": excl.kept_json()} if excl.kept else {}
    info = CorpusInfo(name=name, labels=labels, provenance=provenance, licence=licence,
                      extra={**(extra or {}), "excluded": excl.to_json(), **kept,
                             "media": "copied into media/" if copy_media else "absolute paths"})
    corpus = Corpus(out, make_table(rows), info)
    corpus.save()
    excl.log(name)
    return corpus


def _copy_media(rows: list[dict], out: Path) -> None:
    srcs = [Path(r[c]) for r in rows for c in ("audio", "face") if r.get(c)]
    if not srcs:
        return
    common = Path(os.path.commonpath([str(p.parent) for p in srcs]))
    for r in rows:
        for c in ("audio", "face"):
            if r.get(c):
                rel = Path("media") / Path(r[c]).relative_to(common)
                (out / rel).parent.mkdir(parents=True, exist_ok=True)
                if not (out / rel).exists():
                    shutil.copy2(r[c], out / rel)
                r[c] = rel.as_posix()


def find_files(src: Path, suffixes: Iterable[str]) -> list[Path]:
    """Files under ``src`` (recursively) with one of ``suffixes``, sorted; hidden ones skipped."""
    sfx = {s.lower() for s in suffixes}
    return sorted(p for p in src.rglob("*") if p.is_file() and p.suffix.lower() in sfx
                  and not any(part.startswith(".") for part in p.relative_to(src).parts))
