"""Importer for a plain manifest: a CSV / TSV / Parquet table with the canonical columns.

Required columns: ``label``, ``speaker`` and ``audio`` (a WAV/FLAC/MP3/OGG file or a video file
whose audio track is used: MP4, AVI, MKV, MOV). Optional: ``utt_id`` (default: the audio file's
stem), ``dialogue_id`` + ``turn`` (default: each utterance its own dialogue, turn 0; with
``dialogue_id`` but no ``turn`` the manifest's row order inside each dialogue), ``group``
(default: the speaker, allowed only when every dialogue has one speaker), ``text``, ``start`` /
``end`` (seconds: cut a segment out of a longer file) and ``face`` (an OpenFace CSV). Any other
column is kept as an extra column.

Relative paths are resolved against the manifest's folder and stored as absolute paths; rows
whose audio file does not exist are excluded and counted (``"audio file missing"``).

Labels: an empty or null label is an error naming the manifest and the row (CSV: its line
number, header = line 1; Parquet: the 1-based row number); fill it in or drop the row. Labels are
compared in a canonical form, stripped of surrounding whitespace and lower-cased (``" Angry"`` and
``"angry"`` are one class, ``angry``); the number of rows whose label changed is logged. ``labels``
(normalised the same way) fixes the label set and its order; rows with other labels are excluded
and counted. Without it the label set is IEMOCAP's four (in their order) when the manifest's
labels are a subset of them, else the sorted labels found: then every label outside the four is
a new class and the class indices are not IEMOCAP's, which is logged as a warning naming each
such label and its count.
"""

from __future__ import annotations

import collections
import os
from pathlib import Path
from typing import Sequence

import numpy as np
import pandas as pd

from emowb.data.corpus import IEMOCAP4, Corpus
from emowb.data.importers._common import Exclusions, SourceError, add_durations, log, write_corpus

REQUIRED = ("label", "speaker", "audio")


def read_manifest(path: str | os.PathLike) -> pd.DataFrame:
    """Read a ``.csv`` / ``.tsv`` / ``.parquet`` manifest; column names are stripped, lower-cased."""
    path = Path(path)
    if not path.is_file():
        raise SourceError(f"manifest not found: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            df = pd.read_parquet(path)
        elif suffix in (".csv", ".tsv", ".txt"):
            df = pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",", dtype=str,
                             keep_default_na=False)
        else:
            raise SourceError(f"manifest {path}: unknown format {suffix!r}; use .csv, .tsv or .parquet")
    except SourceError:
        raise
    except Exception as e:
        raise SourceError(f"cannot read manifest {path}: {e}") from None
    df.columns = [str(c).strip().lower() for c in df.columns]
    missing = [c for c in REQUIRED if c not in df.columns]
    if missing:
        raise SourceError(f"manifest {path} lacks required column(s) {missing}; has {list(df.columns)}")
    if len(df) == 0:
        raise SourceError(f"manifest {path} has no rows")
    return df


def import_manifest(src: str | os.PathLike, out_dir: str | os.PathLike, *,
                    labels: Sequence[str] | None = None, name: str | None = None,
                    copy_media: bool = False) -> Corpus:
    """Import a manifest into a canonical corpus folder.

    Args:
        src: the manifest file.
        out_dir: the corpus folder to write.
        labels: the label set in class order (others are excluded and counted).
        name: corpus name (default: the manifest's stem).
        copy_media: copy audio/face files into ``out_dir/media``.

    Returns:
        The saved corpus.

    Raises:
        SourceError: unreadable manifest, missing columns, an empty / null label (naming the
            row), ambiguous groups, duplicate ids.
    """
    src = Path(src)
    df = read_manifest(src)
    base = src.parent.resolve()
    excl = Exclusions()
    for col in ("audio", "face"):
        if col in df.columns:
            df[col] = [_abs(base, v) for v in df[col]]
    df["label"] = _canonical_labels(df["label"], src)
    found = list(dict.fromkeys(df["label"]))
    if labels is None:
        labels = IEMOCAP4 if set(found) <= set(IEMOCAP4) and len(set(found)) >= 2 else tuple(sorted(found))
        _warn_new_classes(df["label"], labels, src)
    else:
        labels = tuple(canonical_label(lab) for lab in labels)
    labels = tuple(labels)
    keep = df["label"].isin(set(labels)).to_numpy()
    for lab, utt in zip(df.loc[~keep, "label"], df.loc[~keep, "audio"]):
        excl.add("label not in the chosen set", lab, utt)
    df = df[keep].reset_index(drop=True)
    # a missing audio file excludes the row (counted), like a missing WAV in the IEMOCAP importer
    gone = np.array([bool(a) and not Path(a).is_file() for a in df["audio"]], dtype=bool)
    for lab, a in zip(df.loc[gone, "label"], df.loc[gone, "audio"]):
        excl.add("audio file missing", lab, a)
    df = df[~gone].reset_index(drop=True)
    if "utt_id" not in df.columns:
        stems = [Path(a).stem for a in df["audio"]]
        dup = pd.Series(stems).duplicated(keep=False).to_numpy()
        df["utt_id"] = [f"{s}_{i:05d}" if d else s for i, (s, d) in enumerate(zip(stems, dup))]
    if "dialogue_id" not in df.columns:
        df["dialogue_id"] = df["utt_id"]
        df["turn"] = 0
    elif "turn" not in df.columns:
        df["turn"] = df.groupby("dialogue_id", sort=False).cumcount()
    if "group" not in df.columns:
        n_spk = df.groupby("dialogue_id")["speaker"].nunique()
        if (n_spk > 1).any():
            raise SourceError(f"manifest {src}: no 'group' column, and dialogue "
                              f"{n_spk.index[n_spk.to_numpy() > 1][0]!r} has several speakers; "
                              "add a 'group' column (session / recording pair) for speaker-"
                              "independent splits")
        df["group"] = df["speaker"]
    if "text" not in df.columns:
        df["text"] = ""
    rows = df.replace({np.nan: None}).to_dict("records")
    for r in rows:
        for c in ("start", "end"):
            r[c] = float(r[c]) if r.get(c) not in (None, "") else float("nan")
    add_durations(rows, excl)
    return write_corpus(rows, out_dir, name=name or src.stem, labels=labels, excl=excl,
                        copy_media=copy_media, provenance=f"manifest {src.resolve()}",
                        extra={"source": str(src.resolve())})


def _abs(base: Path, v) -> str:
    if v is None or (isinstance(v, float) and np.isnan(v)) or not str(v).strip():
        return ""
    p = Path(str(v).strip()).expanduser()
    return str(p if p.is_absolute() else (base / p).resolve())


def canonical_label(v) -> str:
    """The form labels are compared in: surrounding whitespace stripped, lower-cased."""
    return str(v).strip().lower()


def _is_blank(v) -> bool:
    if v is None or v is pd.NA or v is pd.NaT:
        return True
    if isinstance(v, float) and np.isnan(v):
        return True
    return isinstance(v, str) and not v.strip()


def _row_name(src: Path, i: int) -> str:
    """Where data row ``i`` (0-based) is in the manifest file, for a person to find it."""
    if src.suffix.lower() in (".parquet", ".pq"):
        return f"row {i + 1}"
    return f"line {i + 2}"  # line 1 holds the header


def _canonical_labels(raw: pd.Series, src: Path) -> list[str]:
    """The labels in canonical form; an empty / null label is an error naming the row."""
    values = list(raw)
    blank = [i for i, v in enumerate(values) if _is_blank(v)]
    if blank:
        more = f" (and {len(blank) - 1} more row(s))" if len(blank) > 1 else ""
        what = "null" if not isinstance(values[blank[0]], str) else "empty"
        raise SourceError(f"manifest {src}, {_row_name(src, blank[0])}: {what} label{more}; "
                          "fill in the label or drop the row")
    out = [canonical_label(v) for v in values]
    changed = collections.Counter(str(v) for v, c in zip(values, out) if str(v) != c)
    if changed:
        examples = ", ".join(f"{k!r} -> {canonical_label(k)!r} ({n})" for k, n in changed.most_common(5))
        log.warning("manifest %s: normalised the label of %d row(s) to the canonical form (stripped, "
                    "lower-cased): %s%s", src, sum(changed.values()), examples,
                    ", ..." if len(changed) > 5 else "")
    return out


def _warn_new_classes(found: pd.Series, labels: tuple[str, ...], src: Path) -> None:
    """Warn when an inferred label set is not IEMOCAP's four because of labels outside them."""
    counts = collections.Counter(found)
    new = sorted(lab for lab in counts if lab not in IEMOCAP4)
    if not new or not set(counts) & set(IEMOCAP4):
        return
    log.warning("manifest %s: label(s) %s are not among IEMOCAP's four, so each is a new class and "
                "the label set is the sorted labels found %s: the label indices changed (IEMOCAP "
                "order is %s); pass labels= / --labels to fix the set and its order",
                src, ", ".join(f"{lab!r} ({counts[lab]} rows)" for lab in new), list(labels),
                list(IEMOCAP4))
