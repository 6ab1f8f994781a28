"""Per-utterance facial action-unit statistics from OpenFace 2 CSVs (``openface-au``).

For each utterance's CSV (``face`` column), over the frames with ``success == 1`` (and, when the
row has ``start``/``end``, a ``timestamp`` inside that segment -- the CSV then covers a longer
recording on the audio's clock):

- the 17 intensities ``AUxx_r``: mean, std, max  (51 values, AU-major: AU01_r mean, std, max, ...)
- the 18 presences ``AUxx_c``: mean (share of frames with the AU present)  (18 values)

giving a 69-d vector in the order of :func:`feature_names`. Column headers are stripped, so the
leading spaces real OpenFace writes (``" timestamp"``, ``" AU01_r"``) do not matter.

Fallbacks: no face CSV (``face == ""``) -> invalid, ``"no face"``; no frame with
``success == 1`` (in the segment) -> invalid, with a note naming the file. A CSV that cannot be
parsed or lacks a needed column is an :class:`ExtractionError` naming the utterance, the file and
the column (or, with ``on_error="flag"``, an invalid row with that note).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from emowb.data.corpus import Corpus
from emowb.features.base import ExtractionError, Extractor, FeatureSet
from emowb.features.common import OnError, finite_or_flag
from emowb.types import Modality

AU_R = ("01", "02", "04", "05", "06", "07", "09", "10", "12", "14", "15", "17", "20", "23", "25", "26", "45")
AU_C = ("01", "02", "04", "05", "06", "07", "09", "10", "12", "14", "15", "17", "20", "23", "25", "26", "28", "45")
R_STATS = ("mean", "std", "max")


def feature_names(aus_r=AU_R, aus_c=AU_C) -> list[str]:
    """Column names of the ``openface-au`` vector, in order."""
    return [f"AU{a}_r_{s}" for a in aus_r for s in R_STATS] + [f"AU{a}_c_mean" for a in aus_c]


def read_openface(path) -> pd.DataFrame:
    """Read an OpenFace CSV with stripped column names (raises on unreadable files)."""
    df = pd.read_csv(path, skipinitialspace=True)
    df.columns = [str(c).strip() for c in df.columns]
    return df


def au_statistics(df: pd.DataFrame, *, aus_r=AU_R, aus_c=AU_C, start: float | None = None,
                  end: float | None = None) -> np.ndarray | None:
    """The statistics vector (len(aus_r)*3 + len(aus_c),) or None when no frame qualifies.

    Raises:
        KeyError: a needed column (``success``, ``timestamp`` for segments, an AU) is missing.
    """
    cols_r, cols_c = [f"AU{a}_r" for a in aus_r], [f"AU{a}_c" for a in aus_c]
    need = ["success"] + cols_r + cols_c + (["timestamp"] if start is not None or end is not None else [])
    missing = [c for c in need if c not in df.columns]
    if missing:
        raise KeyError(f"missing column(s) {missing}")
    keep = pd.to_numeric(df["success"], errors="coerce").to_numpy() == 1
    if start is not None or end is not None:
        ts = pd.to_numeric(df["timestamp"], errors="coerce").to_numpy()
        keep &= (ts >= (start or 0.0)) & (ts <= (end if end is not None else np.inf))
    if not keep.any():
        return None
    r = df.loc[keep, cols_r].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
    c = df.loc[keep, cols_c].apply(pd.to_numeric, errors="coerce").to_numpy(np.float64)
    stats = np.stack([r.mean(0), r.std(0), r.max(0)], axis=1).reshape(-1)  # AU-major
    return np.concatenate([stats, c.mean(0)]).astype(np.float32)


class FaceExtractor(Extractor):
    """OpenFace AU statistics per utterance (vector, 69-d with the default AU lists).

    Args:
        name: feature-set name.
        aus_r: intensity AUs to use (two-digit codes).
        aus_c: presence AUs to use.
        on_error: ``"raise"`` or ``"flag"`` for unreadable CSVs / missing columns.
        progress: show a progress bar; runtime only.
    """

    modality = Modality.VIDEO

    def __init__(self, name: str, *, aus_r=AU_R, aus_c=AU_C, on_error: str = "raise",
                 progress: bool = True) -> None:
        super().__init__(name)
        self.aus_r, self.aus_c = tuple(aus_r), tuple(aus_c)
        self.on_error, self.progress = OnError(on_error), progress

    def _config(self) -> dict:
        return {"aus_r": list(self.aus_r), "aus_c": list(self.aus_c), "r_stats": list(R_STATS),
                "c_stats": ["mean"], "on_error": self.on_error.value}

    def run(self, corpus: Corpus) -> FeatureSet:
        t = corpus.table
        n, dim = len(t), len(self.aus_r) * len(R_STATS) + len(self.aus_c)
        values, valid, notes = np.zeros((n, dim), np.float32), np.zeros(n, bool), ["no face"] * n
        for i in tqdm(range(n), desc=self.name, unit="utt", disable=not self.progress):
            path = corpus.path("face", i)
            if path is None:
                continue
            s, e = float(t["start"].iat[i]), float(t["end"].iat[i])
            seg = (None if math.isnan(s) else s, None if math.isnan(e) else e)
            try:
                vec = au_statistics(read_openface(path), aus_r=self.aus_r, aus_c=self.aus_c,
                                    start=seg[0], end=seg[1])
            except Exception as err:  # unreadable CSV or missing column
                msg = f"OpenFace CSV {path}: {type(err).__name__}: {err}"
                if self.on_error is OnError.RAISE:
                    raise ExtractionError(f"utterance {t['utt_id'].iat[i]!r}: {msg}") from None
                notes[i] = f"unreadable: {msg}"
                continue
            if vec is None:
                where = "" if seg == (None, None) else f" in [{seg[0] or 0:g}, {seg[1]}] s"
                notes[i] = f"no frame with success == 1{where} in {path}"
                continue
            values[i], valid[i], notes[i] = finite_or_flag(vec, "")
        return self._feature_set(corpus, values=values, valid=valid, notes=notes)
