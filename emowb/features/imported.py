"""Corpora that come with their features: import the corpus *and* store its feature sets.

The data layer only reads a source and writes the corpus (:mod:`emowb.data.importers`); an
importer whose source also holds feature vectors (COGMEN's pickles) returns them, and this module
stores them in the corpus' feature cache (:func:`emowb.features.store.save_features`).

- :func:`import_cogmen`: a COGMEN pickle -> corpus + feature sets ``cogmen-a`` / ``cogmen-v`` /
  ``cogmen-t`` (see :mod:`emowb.data.importers.cogmen` for the formats).
- :data:`IMPORTERS` / :func:`import_corpus`: every importer by kind (``emowb import KIND``): the
  data layer's file / table importers plus ``cogmen``.
"""

from __future__ import annotations

import os
from typing import Callable, Sequence

import numpy as np

from emowb.data.corpus import Corpus
from emowb.data.importers import IMPORTERS as CORPUS_IMPORTERS
from emowb.data.importers import SourceError
from emowb.data.importers.cogmen import FEATURE_NAMES, CogmenImport, import_cogmen_corpus
from emowb.features.base import FeatureSet
from emowb.features.store import save_features
from emowb.types import Modality

__all__ = ["IMPORTERS", "import_corpus", "import_cogmen", "store_cogmen_features"]


def import_cogmen(src: str | os.PathLike, out_dir: str | os.PathLike, **kw) -> Corpus:
    """Import a COGMEN pickle into a canonical feature-only corpus and store its feature sets.

    Arguments are those of :func:`emowb.data.importers.cogmen.import_cogmen_corpus` (``kind``,
    ``classes``, ``name``, ``dev_share``, ``split_name``).

    Returns:
        The saved :class:`~emowb.data.corpus.Corpus` (feature sets stored in its cache).

    Raises:
        SourceError: unreadable pickle, inconsistent lengths, unknown labels or speakers, feature
            vectors of inconsistent width (each names the dialogue / utterance).
    """
    imported = import_cogmen_corpus(src, out_dir, **kw)
    store_cogmen_features(imported)
    return imported.corpus


def store_cogmen_features(imported: CogmenImport) -> None:
    """Store the vectors of a COGMEN import as the feature sets of :data:`FEATURE_NAMES`."""
    for m, fname in FEATURE_NAMES.items():
        save_features(imported.corpus, _feature_set(fname, m, imported.utt_ids, imported.vectors[m],
                                                    imported.file))


def _feature_set(name: str, m: Modality, utt_ids: Sequence[str], vecs: list[np.ndarray], file: str) -> FeatureSet:
    dims = [v.size for v in vecs]
    width = max(set(dims), key=dims.count)
    bad = [i for i, d in enumerate(dims) if d != width]
    if bad:
        raise SourceError(f"{name}: utterance {utt_ids[bad[0]]!r} has a {dims[bad[0]]}-d vector, the others "
                          f"{width}-d ({len(bad)} utterance(s) differ)")
    values = np.stack(vecs).astype(np.float32) if vecs else np.zeros((0, width), np.float32)
    finite = np.isfinite(values).all(axis=1)
    values[~finite] = 0.0
    notes = ["" if ok else "non-finite values in the COGMEN pickle (zeroed)" for ok in finite]
    return FeatureSet(name=name, modality=m, utt_ids=list(utt_ids), values=values, valid=finite, notes=notes,
                      config={"source": "cogmen-pickle", "file": file})


#: Every importer by kind: the data layer's (:data:`emowb.data.importers.IMPORTERS`) and ``cogmen``.
IMPORTERS: dict[str, Callable[..., Corpus]] = {**CORPUS_IMPORTERS, "cogmen": import_cogmen}


def import_corpus(kind: str, src: str | os.PathLike, out_dir: str | os.PathLike, **opts) -> Corpus:
    """Import ``src`` with the importer ``kind`` (any of :data:`IMPORTERS`) into ``out_dir``.

    Raises:
        ValueError: unknown ``kind``.
        SourceError: the source cannot be read (the message names the file).
    """
    if kind not in IMPORTERS:
        raise ValueError(f"unknown importer {kind!r}; choose one of {sorted(IMPORTERS)}")
    return IMPORTERS[kind](src, out_dir, **opts)
