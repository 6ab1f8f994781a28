"""Importers: turn a corpus as researchers have it into a canonical corpus folder.

``import_corpus(kind, src, out_dir, **opts)`` dispatches on :data:`IMPORTERS`:

==========  ============================================================  =====================
kind        source                                                        options
==========  ============================================================  =====================
manifest    CSV / TSV / Parquet with the canonical columns                labels, name
iemocap     the raw IEMOCAP release (Session1..5)                         classes 4|6|all, sessions
cogmen      COGMEN's ``IEMOCAP_features_4.pkl`` ... (``cogmen.py``)        see that module
ravdess     RAVDESS ``Actor_*/03-01-...wav`` (or ``.mp4``)                 classes 4|all, channel
crema-d     CREMA-D ``AudioWAV/1001_DFA_ANG_XX.wav``                       classes 4|all
emodb       EmoDB ``03a01Fa.wav`` / ``.flac``                              classes 4|all
==========  ============================================================  =====================

Every file-based importer also takes ``copy_media`` (see ``_common``: by default audio is
referenced by absolute path, not copied). Exclusions (labels outside the chosen set, missing
files, names that do not parse) are counted in ``corpus.json`` ``extra.excluded`` and logged.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from typing import Callable

from emowb.data.corpus import Corpus
from emowb.data.importers._common import SourceError
from emowb.data.importers.filenames import import_cremad, import_emodb, import_ravdess
from emowb.data.importers.iemocap import import_iemocap
from emowb.data.importers.manifest import import_manifest


def import_cogmen(src: str | os.PathLike, out_dir: str | os.PathLike, **kw) -> Corpus:
    """Lazy entry to ``emowb.data.importers.cogmen.import_cogmen`` (COGMEN's pickles)."""
    name = "emowb.data.importers.cogmen"
    if importlib.util.find_spec(name) is None:
        raise SourceError("the 'cogmen' importer (emowb/data/importers/cogmen.py) is not part of "
                          "this installation")
    return importlib.import_module(name).import_cogmen(src, out_dir, **kw)


IMPORTERS: dict[str, Callable[..., Corpus]] = {
    "manifest": import_manifest,
    "iemocap": import_iemocap,
    "cogmen": import_cogmen,
    "ravdess": import_ravdess,
    "crema-d": import_cremad,
    "emodb": import_emodb,
}


def import_corpus(kind: str, src: str | os.PathLike, out_dir: str | os.PathLike, **opts) -> Corpus:
    """Import ``src`` with the importer ``kind`` into ``out_dir`` and return the saved corpus.

    Raises:
        ValueError: unknown ``kind``.
        SourceError: the source cannot be read (the message names the file).
    """
    if kind not in IMPORTERS:
        raise ValueError(f"unknown importer {kind!r}; choose one of {sorted(IMPORTERS)}")
    return IMPORTERS[kind](src, out_dir, **opts)


__all__ = ["IMPORTERS", "SourceError", "import_corpus", "import_cogmen", "import_cremad",
           "import_emodb", "import_iemocap", "import_manifest", "import_ravdess"]
