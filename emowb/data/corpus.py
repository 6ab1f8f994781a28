"""The canonical corpus format: one folder, one utterance table, one ``corpus.json``.

Layout::

    CORPUS/
      corpus.json          name, labels (ordered), provenance, licence, generator params, ...
      utterances.parquet   one row per utterance (columns below)
      audio/ face/ ...     media, referenced from the table by relative (or absolute) paths

Columns of ``utterances.parquet``:

=============  ========  ====================================================================
column         type      meaning
=============  ========  ====================================================================
utt_id         str       unique utterance id
dialogue_id    str       the conversation it belongs to (a corpus of isolated utterances uses
                         one dialogue per utterance)
turn           int       position in the dialogue (0, 1, ...), unique within a dialogue
speaker        str       speaker id
group          str       the unit of speaker-independent splits (IEMOCAP session, actor);
                         all utterances of a dialogue share one group
label          str       one of ``corpus.json["labels"]``
text           str       transcript ("" when unknown)
audio          str       audio file, relative to the folder (or absolute); "" if none
start, end     float     optional segment inside ``audio`` in seconds (NaN = whole file)
face           str       optional OpenFace CSV of the speaker's face ("" / NaN = none)
=============  ========  ====================================================================

Loading validates everything and raises :class:`CorpusError` naming each offending row.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np
import pandas as pd

from emowb.utils import atomic_path, stable_hash, write_json

TABLE_FILE = "utterances.parquet"
INFO_FILE = "corpus.json"
FORMAT_VERSION = 1

REQUIRED_COLUMNS = ("utt_id", "dialogue_id", "turn", "speaker", "group", "label", "text", "audio")
OPTIONAL_COLUMNS = ("start", "end", "face")
STRING_COLUMNS = ("utt_id", "dialogue_id", "speaker", "group", "label", "text", "audio", "face")

#: The four IEMOCAP classes used by both source papers, in their usual order.
IEMOCAP4 = ("neutral", "happy", "sad", "angry")

_MAX_REPORTED = 20


class CorpusError(ValueError):
    """A corpus table or folder that does not follow the canonical format."""


@dataclasses.dataclass(frozen=True)
class CorpusInfo:
    """The contents of ``corpus.json``.

    Attributes:
        name: short corpus name (``"synth-dyadic"``, ``"emodb"``, ``"iemocap"``).
        labels: the label set, in class-index order.
        provenance: where the data came from (free text).
        licence: licence / terms-of-use note.
        generator: generator parameters for synthetic corpora, else ``None``.
        extra: anything else an importer wants to record (label mapping, dropped counts, ...).
    """

    name: str
    labels: tuple[str, ...]
    provenance: str = ""
    licence: str = ""
    generator: dict | None = None
    extra: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", tuple(self.labels))
        if not self.name:
            raise CorpusError("corpus.json: empty name")
        if len(self.labels) < 2:
            raise CorpusError(f"corpus.json: need at least two labels, got {list(self.labels)}")
        if len(set(self.labels)) != len(self.labels):
            raise CorpusError(f"corpus.json: duplicate labels in {list(self.labels)}")

    def to_json(self) -> dict:
        d = dataclasses.asdict(self)
        d["labels"] = list(self.labels)
        d["format_version"] = FORMAT_VERSION
        return d

    @classmethod
    def from_json(cls, d: dict) -> "CorpusInfo":
        d = dict(d)
        version = d.pop("format_version", FORMAT_VERSION)
        if version != FORMAT_VERSION:
            raise CorpusError(f"corpus.json: format_version {version} is not supported "
                              f"(this emowb reads {FORMAT_VERSION})")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise CorpusError(f"corpus.json: unknown keys {sorted(unknown)}")
        if "name" not in d or "labels" not in d:
            raise CorpusError("corpus.json: 'name' and 'labels' are required")
        return cls(**d)


def _is_blank(v: Any) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip())


def normalise_table(table: pd.DataFrame) -> pd.DataFrame:
    """Coerce dtypes, add missing optional columns, sort by (dialogue_id, turn).

    Does not validate; :func:`validate_table` does.
    """
    t = table.copy()
    missing = [c for c in REQUIRED_COLUMNS if c not in t.columns]
    if missing:
        raise CorpusError(f"utterance table lacks required columns {missing}; "
                          f"required: {list(REQUIRED_COLUMNS)}")
    for c in ("start", "end"):
        if c not in t.columns:
            t[c] = np.nan
        t[c] = pd.to_numeric(t[c], errors="coerce").astype("float64")
    if "face" not in t.columns:
        t["face"] = ""
    for c in STRING_COLUMNS:
        t[c] = [("" if _is_blank(v) else str(v)) for v in t[c]]
        t[c] = t[c].astype(object)
    t["text"] = [str(v) for v in t["text"]]
    turns = pd.to_numeric(t["turn"], errors="coerce")
    if turns.isna().any() or (turns != turns.round()).any():
        bad = int(np.flatnonzero(turns.isna().to_numpy() | (turns != turns.round()).to_numpy())[0])
        raise CorpusError(f"row {bad} (utt_id {t['utt_id'].iloc[bad]!r}): turn "
                          f"{table['turn'].iloc[bad]!r} is not an integer")
    t["turn"] = turns.astype("int64")
    extra_cols = [c for c in t.columns if c not in REQUIRED_COLUMNS + OPTIONAL_COLUMNS]
    t = t[list(REQUIRED_COLUMNS) + list(OPTIONAL_COLUMNS) + extra_cols]
    t = t.sort_values(["dialogue_id", "turn"], kind="stable").reset_index(drop=True)
    return t


def validate_table(table: pd.DataFrame, info: CorpusInfo, *, root: Path | None = None,
                   check_files: bool = True) -> None:
    """Validate a normalised table against ``info``; raise :class:`CorpusError` naming rows.

    Checks: non-empty ids, unique ``utt_id``, known labels, unique turns within a dialogue,
    one group per dialogue, start < end, and (with ``check_files``) that every referenced
    audio / face file exists.
    """
    problems: list[str] = []

    def row(i: int) -> str:
        return f"row {i} (utt_id {table['utt_id'].iat[i]!r})"

    if len(table) == 0:
        raise CorpusError("utterance table is empty")
    labels = set(info.labels)
    for col in ("utt_id", "dialogue_id", "speaker", "group"):
        blank = np.flatnonzero(table[col].map(_is_blank).to_numpy())
        for i in blank:
            what = "empty dialogue (blank dialogue_id)" if col == "dialogue_id" else f"empty {col}"
            problems.append(f"{row(i)}: {what}")
    dup = table["utt_id"].duplicated(keep="first").to_numpy()
    for i in np.flatnonzero(dup):
        first = int(np.flatnonzero((table["utt_id"] == table["utt_id"].iat[i]).to_numpy())[0])
        problems.append(f"{row(i)}: duplicate utt_id (first seen at row {first})")
    for i in np.flatnonzero(~table["label"].isin(labels).to_numpy()):
        problems.append(f"{row(i)}: unknown label {table['label'].iat[i]!r}; "
                        f"known labels: {', '.join(info.labels)}")
    dup_turn = table.duplicated(["dialogue_id", "turn"], keep="first").to_numpy()
    for i in np.flatnonzero(dup_turn):
        problems.append(f"{row(i)}: turn {table['turn'].iat[i]} appears twice in dialogue "
                        f"{table['dialogue_id'].iat[i]!r}")
    for i in np.flatnonzero((table["turn"] < 0).to_numpy()):
        problems.append(f"{row(i)}: negative turn {table['turn'].iat[i]}")
    ngroups = table.groupby("dialogue_id", sort=False)["group"].nunique()
    for did in ngroups.index[ngroups.to_numpy() > 1]:
        groups = sorted(table.loc[table["dialogue_id"] == did, "group"].unique())
        problems.append(f"dialogue {did!r}: utterances in several groups {groups}; a dialogue "
                        "must lie in one group for speaker-independent splits")
    start, end = table["start"].to_numpy(), table["end"].to_numpy()
    has_seg = ~np.isnan(start) | ~np.isnan(end)
    for i in np.flatnonzero(has_seg):
        s, e = start[i], end[i]
        if np.isnan(s):
            s = 0.0
        if (not np.isnan(e) and e <= s) or s < 0:
            problems.append(f"{row(i)}: bad segment start={start[i]} end={end[i]} (need 0 <= start < end)")
    if check_files:
        base = Path(root) if root is not None else Path(".")
        for col in ("audio", "face"):
            for i, p in enumerate(table[col].to_numpy()):
                if p and not resolve(base, p).is_file():
                    problems.append(f"{row(i)}: {col} file not found: {resolve(base, p)}")
    if problems:
        shown = problems[:_MAX_REPORTED]
        more = f"\n  ... and {len(problems) - len(shown)} more" if len(problems) > len(shown) else ""
        where = f" in {root}" if root is not None else ""
        raise CorpusError(f"{len(problems)} problem(s) in the utterance table{where}:\n  "
                          + "\n  ".join(shown) + more)


def resolve(root: Path, p: str) -> Path:
    """A table path, relative to the corpus folder unless absolute."""
    q = Path(p)
    return q if q.is_absolute() else root / q


class Corpus:
    """A validated corpus: its folder, its utterance table and its ``corpus.json``.

    Args:
        root: the corpus folder (media paths are resolved against it).
        table: the utterance table (normalised and validated on construction).
        info: the corpus description.
        check_files: check that every referenced audio/face file exists.
    """

    def __init__(self, root: str | os.PathLike, table: pd.DataFrame, info: CorpusInfo, *,
                 check_files: bool = True) -> None:
        self.root = Path(root)
        self.info = info
        self.table = normalise_table(table)
        validate_table(self.table, info, root=self.root, check_files=check_files)

    # ------------------------------------------------------------------ io
    @classmethod
    def load(cls, root: str | os.PathLike, *, check_files: bool = True) -> "Corpus":
        """Load and validate a corpus folder."""
        root = Path(root)
        if not root.is_dir():
            raise CorpusError(f"corpus folder not found: {root}")
        for f in (INFO_FILE, TABLE_FILE):
            if not (root / f).is_file():
                raise CorpusError(f"{root} is not an emowb corpus: {f} is missing")
        try:
            info = CorpusInfo.from_json(json.loads((root / INFO_FILE).read_text()))
        except json.JSONDecodeError as e:
            raise CorpusError(f"{root / INFO_FILE}: invalid JSON ({e})") from e
        table = pd.read_parquet(root / TABLE_FILE)
        return cls(root, table, info, check_files=check_files)

    def save(self, root: str | os.PathLike | None = None) -> Path:
        """Write ``utterances.parquet`` and ``corpus.json`` (atomically) into ``root``."""
        root = Path(root) if root is not None else self.root
        root.mkdir(parents=True, exist_ok=True)
        write_table(root / TABLE_FILE, self.table)
        write_json(root / INFO_FILE, self.info.to_json())
        return root

    # ------------------------------------------------------------- queries
    @property
    def labels(self) -> tuple[str, ...]:
        return self.info.labels

    @property
    def name(self) -> str:
        return self.info.name

    def __len__(self) -> int:
        return len(self.table)

    def __repr__(self) -> str:
        t = self.table
        return (f"Corpus({self.name!r}, {len(t)} utterances, {t['dialogue_id'].nunique()} dialogues, "
                f"{t['speaker'].nunique()} speakers, {t['group'].nunique()} groups, "
                f"labels={list(self.labels)})")

    @property
    def y(self) -> np.ndarray:
        """Class indices, shape (N,), int64, in table order."""
        index = {lab: i for i, lab in enumerate(self.labels)}
        return self.table["label"].map(index).to_numpy(dtype=np.int64)

    @property
    def dialogues(self) -> list[str]:
        """Dialogue ids in table order."""
        return list(dict.fromkeys(self.table["dialogue_id"]))

    @property
    def groups(self) -> list[str]:
        return sorted(self.table["group"].unique())

    @property
    def speakers(self) -> list[str]:
        return sorted(self.table["speaker"].unique())

    def has_modality(self, column: str) -> bool:
        """True if at least one utterance has a non-empty ``audio``/``face``/``text``."""
        return bool((self.table[column] != "").any())

    def path(self, column: str, i: int) -> Path | None:
        """Absolute path of row ``i``'s ``audio`` or ``face`` file (None when blank)."""
        p = self.table[column].iat[i]
        return resolve(self.root, p) if p else None

    def fingerprint(self) -> str:
        """A hash of the table and labels: caches keyed on it go stale when the corpus changes."""
        cols = ["utt_id", "dialogue_id", "turn", "speaker", "label", "text", "audio", "start", "end", "face"]
        # repr() keeps NaN distinct and avoids pandas' nullable-string NaN propagation
        rows = ["\x1f".join(map(repr, r)) for r in self.table[cols].itertuples(index=False)]
        return stable_hash({"labels": list(self.labels), "rows": rows}, n=16)

    def subset(self, dialogue_ids: Iterable[str]) -> pd.DataFrame:
        """The rows of the given dialogues, in table order."""
        keep = set(dialogue_ids)
        return self.table[self.table["dialogue_id"].isin(keep)]

    def summary(self) -> dict:
        """Counts per label, speaker, group; dialogue sizes; durations if recorded."""
        t = self.table
        sizes = t.groupby("dialogue_id").size()
        out: dict[str, Any] = {
            "name": self.name,
            "utterances": len(t),
            "dialogues": int(t["dialogue_id"].nunique()),
            "speakers": int(t["speaker"].nunique()),
            "groups": int(t["group"].nunique()),
            "utterances_per_dialogue": {"min": int(sizes.min()), "mean": float(sizes.mean()),
                                        "max": int(sizes.max())},
            "per_label": {lab: int((t["label"] == lab).sum()) for lab in self.labels},
            "per_speaker": {k: int(v) for k, v in t["speaker"].value_counts().sort_index().items()},
            "per_group": {k: int(v) for k, v in t["group"].value_counts().sort_index().items()},
            "with_audio": int((t["audio"] != "").sum()),
            "with_face": int((t["face"] != "").sum()),
            "with_text": int((t["text"] != "").sum()),
        }
        if "duration" in t.columns:
            d = t["duration"].astype(float)
            out["duration_s"] = {"total": float(d.sum()), "mean": float(d.mean()),
                                 "min": float(d.min()), "max": float(d.max())}
        return out

    def report(self) -> str:
        """A short human-readable report of :meth:`summary`."""
        s = self.summary()
        t = self.table
        lines = [repr(self)]
        lines.append("utterances per dialogue: min {min}, mean {mean:.1f}, max {max}".format(
            **s["utterances_per_dialogue"]))
        lines.append("per label:   " + ", ".join(f"{k} {v} ({v / s['utterances']:.0%})"
                                                 for k, v in s["per_label"].items()))
        ct = pd.crosstab(t["group"], t["label"]).reindex(columns=list(self.labels), fill_value=0)
        lines.append("per group x label:\n" + ct.to_string())
        spk = t.groupby("speaker").agg(group=("group", "first"), utterances=("utt_id", "size"))
        if "duration" in t.columns:
            spk["minutes"] = t.groupby("speaker")["duration"].sum() / 60
        lines.append("per speaker:\n" + spk.to_string(float_format=lambda x: f"{x:.1f}"))
        if "duration_s" in s:
            d = s["duration_s"]
            lines.append(f"audio: {d['total'] / 60:.1f} min in all; utterances {d['min']:.2f}-"
                         f"{d['max']:.2f} s, mean {d['mean']:.2f} s")
        lines.append(f"with audio {s['with_audio']}, with face {s['with_face']}, "
                     f"with text {s['with_text']}")
        return "\n".join(lines)


def write_table(path: Path, table: pd.DataFrame) -> None:
    """Write a table as Parquet atomically, byte-stable for equal inputs."""
    with atomic_path(path, suffix=".parquet") as tmp:
        table.to_parquet(tmp, index=False, engine="pyarrow", compression="zstd")


def make_table(rows: Sequence[dict]) -> pd.DataFrame:
    """Build a normalised utterance table from a list of row dicts (missing optionals filled)."""
    return normalise_table(pd.DataFrame(list(rows)))
