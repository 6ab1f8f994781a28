"""The base types of the features layer: :class:`FeatureSet` (what every extractor returns and
every model consumes), :class:`Extractor` (what every extractor is) and their errors.

A :class:`FeatureSet` holds one row per utterance, either a vector (``values``, shape (N, D)) or a
frame sequence (``sequences``, N arrays of shape (T_i, D)), plus an explicit validity flag: an
utterance whose modality is missing or could not be extracted (no face tracked, silent audio
under the documented fallback, a COGMEN pickle without that modality ...) has ``valid=False``,
zero values, and a note saying why. Nothing is dropped silently.

On disk (one folder, written atomically)::

    meta.json        name, modality, kind ("vector" | "sequence"), dim, config
    index.parquet    utt_id, valid, note
    values.npy       (N, D) float32                 -- kind "vector"
    seq_values.npy   (sum T_i, D) float32           -- kind "sequence"
    seq_offsets.npy  (N + 1,) int64
"""

from __future__ import annotations

import abc
import dataclasses
import json
import os
from pathlib import Path
from typing import ClassVar, Iterable, Sequence

import numpy as np
import pandas as pd

from emowb.data.corpus import Corpus
from emowb.types import Modality
from emowb.utils import atomic_path, write_json

__all__ = ["FeatureError", "ExtractionError", "FeatureSet", "Extractor", "EXTRACTOR_VERSION"]

EXTRACTOR_VERSION = 1


class FeatureError(ValueError):
    """Invalid features: wrong shape, NaN/inf, unknown utterance ids."""


class ExtractionError(FeatureError):
    """An utterance whose input cannot be read (names the utterance and the file)."""


@dataclasses.dataclass
class FeatureSet:
    """Per-utterance features of one modality.

    Attributes:
        name: feature-set name, e.g. ``"egemaps"``, ``"hubert-l11"``, ``"minilm"``, ``"openface-au"``.
        modality: the modality it describes.
        utt_ids: utterance ids, length N.
        values: (N, D) float32 for vector features, else None.
        sequences: N arrays (T_i, D) float32 for frame-level features, else None.
        valid: (N,) bool; False where the modality is missing for that utterance.
        notes: N strings; "" or the reason an utterance is invalid / which fallback applied.
        config: the extractor configuration (what the cache key is built from).
    """

    name: str
    modality: Modality
    utt_ids: list[str]
    values: np.ndarray | None = None
    sequences: list[np.ndarray] | None = None
    valid: np.ndarray | None = None
    notes: list[str] | None = None
    config: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        self.modality = Modality(self.modality)
        self.utt_ids = [str(u) for u in self.utt_ids]
        n = len(self.utt_ids)
        if (self.values is None) == (self.sequences is None):
            raise FeatureError(f"feature set {self.name!r}: give exactly one of values / sequences")
        if len(set(self.utt_ids)) != n:
            dup = pd.Series(self.utt_ids)[pd.Series(self.utt_ids).duplicated()].iloc[0]
            raise FeatureError(f"feature set {self.name!r}: duplicate utt_id {dup!r}")
        self.valid = np.ones(n, bool) if self.valid is None else np.asarray(self.valid, bool)
        self.notes = [""] * n if self.notes is None else [str(x) for x in self.notes]
        if self.valid.shape != (n,) or len(self.notes) != n:
            raise FeatureError(f"feature set {self.name!r}: valid/notes length != {n} utterances")
        if self.values is not None:
            v = np.asarray(self.values, dtype=np.float32)
            if v.ndim != 2 or v.shape[0] != n:
                raise FeatureError(f"feature set {self.name!r}: values must be (N={n}, D), got {v.shape}")
            self.values = v
            self._check_finite(v, range(n))
        else:
            seqs = [np.asarray(s, dtype=np.float32) for s in self.sequences]
            if len(seqs) != n:
                raise FeatureError(f"feature set {self.name!r}: {len(seqs)} sequences for {n} utterances")
            dims = {s.shape[1] for s in seqs if s.ndim == 2}
            if any(s.ndim != 2 for s in seqs) or len(dims) > 1:
                raise FeatureError(f"feature set {self.name!r}: sequences must all be (T_i, D) "
                                   f"with one D, got dims {sorted(dims)}")
            for i, s in enumerate(seqs):
                self._check_finite(s, [i], seq=True)
            self.sequences = seqs

    def _check_finite(self, arr: np.ndarray, rows, seq: bool = False) -> None:
        bad = ~np.isfinite(arr)
        if not bad.any():
            return
        if seq:
            i = list(rows)[0]
        else:
            i = int(np.flatnonzero(bad.any(axis=1))[0])
        raise FeatureError(f"feature set {self.name!r}: NaN/inf in utterance {self.utt_ids[i]!r}; "
                           "extractors must mark such utterances invalid (with a note) and zero them")

    # ----------------------------------------------------------------- shape
    @property
    def kind(self) -> str:
        return "vector" if self.values is not None else "sequence"

    @property
    def dim(self) -> int:
        if self.values is not None:
            return int(self.values.shape[1])
        return int(self.sequences[0].shape[1]) if self.sequences else 0

    def __len__(self) -> int:
        return len(self.utt_ids)

    def __repr__(self) -> str:
        return (f"FeatureSet({self.name!r}, modality={self.modality.value!r}, {self.kind}, "
                f"N={len(self)}, D={self.dim}, invalid={int((~self.valid).sum())})")

    # -------------------------------------------------------------- selection
    def index_of(self, utt_ids: Sequence[str]) -> np.ndarray:
        """Row indices of ``utt_ids``; raises :class:`FeatureError` naming any unknown id."""
        pos = {u: i for i, u in enumerate(self.utt_ids)}
        missing = [u for u in utt_ids if u not in pos]
        if missing:
            raise FeatureError(f"feature set {self.name!r} has no features for {len(missing)} "
                               f"utterance(s), e.g. {missing[:3]}; re-extract for this corpus")
        return np.array([pos[u] for u in utt_ids], dtype=np.int64)

    def take(self, utt_ids: Sequence[str]) -> "FeatureSet":
        """A new feature set with the rows of ``utt_ids``, in that order."""
        idx = self.index_of(utt_ids)
        return dataclasses.replace(
            self, utt_ids=[self.utt_ids[i] for i in idx],
            values=None if self.values is None else self.values[idx],
            sequences=None if self.sequences is None else [self.sequences[i] for i in idx],
            valid=self.valid[idx], notes=[self.notes[i] for i in idx])

    # --------------------------------------------------------------------- io
    def save(self, path: str | os.PathLike) -> Path:
        """Write the set to a folder atomically (a crash leaves no half-written folder)."""
        path = Path(path)
        with atomic_path(path) as tmp:
            tmp.mkdir()
            if self.values is not None:
                np.save(tmp / "values.npy", self.values)
            else:
                lens = np.array([len(s) for s in self.sequences], dtype=np.int64)
                np.save(tmp / "seq_offsets.npy", np.concatenate([[0], np.cumsum(lens)]))
                cat = (np.concatenate(self.sequences, axis=0) if self.sequences
                       else np.zeros((0, self.dim), np.float32))
                np.save(tmp / "seq_values.npy", cat)
            pd.DataFrame({"utt_id": self.utt_ids, "valid": self.valid, "note": self.notes}
                         ).to_parquet(tmp / "index.parquet", index=False)
            write_json(tmp / "meta.json", {"name": self.name, "modality": self.modality.value,
                                           "kind": self.kind, "dim": self.dim, "config": self.config})
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> "FeatureSet":
        """Read a folder written by :meth:`save`.

        Raises:
            FeatureError: not a saved set, or a corrupt one (unreadable files, NaN/inf values):
                the message names the folder and says to re-extract it (``--force``).
        """
        path = Path(path)
        if not (path / "meta.json").is_file():
            raise FeatureError(f"{path} is not a saved feature set (meta.json missing)")
        try:
            meta = json.loads((path / "meta.json").read_text())
            index = pd.read_parquet(path / "index.parquet")
            common = dict(name=meta["name"], modality=Modality(meta["modality"]),
                          utt_ids=index["utt_id"].tolist(), valid=index["valid"].to_numpy(bool),
                          notes=index["note"].tolist(), config=meta.get("config", {}))
            if meta["kind"] == "vector":
                values = np.load(path / "values.npy")
                _check_cached(values, path / "values.npy", lambda r: common["utt_ids"][r])
                return cls(values=values, **common)
            off = np.load(path / "seq_offsets.npy")
            cat = np.load(path / "seq_values.npy")
            _check_cached(cat, path / "seq_values.npy",
                          lambda r: common["utt_ids"][int(np.searchsorted(off, r, side="right")) - 1])
            return cls(sequences=[cat[off[i]:off[i + 1]] for i in range(len(off) - 1)], **common)
        except (FeatureError, OSError, ValueError, KeyError, IndexError, EOFError) as e:
            name = path.name.rsplit("-", 1)[0]
            raise FeatureError(f"corrupt feature cache {path}: {e}; re-extract it with `emowb features "
                               f"{path.parent.parent} --set {name} --force` (or delete the folder)") from None


def _check_cached(arr: np.ndarray, file: Path, utt_of_row) -> None:
    """A cached array must be finite (extractors zero and flag what is not): name the file."""
    bad = ~np.isfinite(arr)
    if bad.any():
        row = int(np.flatnonzero(bad.reshape(len(arr), -1).any(axis=1))[0])
        raise FeatureError(f"{file.name} holds {int(bad.sum())} NaN/inf value(s), the first in utterance "
                           f"{utt_of_row(row)!r}")


class Extractor(abc.ABC):
    """Base class: subclasses set ``modality``/``kind`` and implement ``_config``/``run``."""

    modality: ClassVar[Modality]
    kind: ClassVar[str] = "vector"

    def __init__(self, name: str) -> None:
        self.name = name

    @abc.abstractmethod
    def _config(self) -> dict:
        """The parameters that change the output (JSON-serialisable)."""

    def config(self) -> dict:
        """The cache-key configuration: extractor class, version and output parameters."""
        return {"extractor": type(self).__name__, "version": EXTRACTOR_VERSION, **self._config()}

    @abc.abstractmethod
    def run(self, corpus: Corpus) -> FeatureSet:
        """Extract features for every utterance of ``corpus`` (table order)."""

    def _feature_set(self, corpus: Corpus, *, values=None, sequences=None,
                     valid: Iterable[bool], notes: Iterable[str]) -> FeatureSet:
        return FeatureSet(name=self.name, modality=self.modality,
                          utt_ids=corpus.table["utt_id"].tolist(), values=values,
                          sequences=sequences, valid=np.asarray(list(valid), bool),
                          notes=list(notes), config=self.config())
