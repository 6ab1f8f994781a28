"""Importers: turn a corpus as researchers have it into a canonical corpus folder.

``import_corpus(kind, src, out_dir, **opts)`` dispatches on :data:`IMPORTERS`:

==========  ============================================================  =====================
kind        source                                                        options
==========  ============================================================  =====================
manifest    CSV / TSV / Parquet with the canonical columns                labels, name
iemocap     the raw IEMOCAP release (Session1..5)                         classes 4|6|all, sessions
ravdess     RAVDESS ``Actor_*/03-01-...wav`` (or ``.mp4``)                 classes 4|all, channel
crema-d     CREMA-D ``AudioWAV/1001_DFA_ANG_XX.wav``                       classes 4|all
emodb       EmoDB ``03a01Fa.wav`` / ``.flac``                              classes 4|all
==========  ============================================================  =====================

COGMEN's pickles (``IEMOCAP_features_4.pkl`` ...) hold feature vectors as well as the corpus:
:mod:`emowb.data.importers.cogmen` reads them and writes the corpus, and
:func:`emowb.features.imported.import_cogmen` also stores the feature sets; the registry with
every kind, ``cogmen`` included, is :data:`emowb.features.imported.IMPORTERS` (``emowb import``).

Every file-based importer also takes ``copy_media`` (see ``_common``: by default audio is
referenced by absolute path, not copied). Exclusions (labels outside the chosen set, missing
files, names that do not parse) are counted in ``corpus.json`` ``extra.excluded`` and logged;
utterances kept despite a problem (an unreadable audio header) are counted in
``extra.kept_with_problems`` and logged.
"""

from __future__ import annotations

import os
from typing import Callable

from emowb.data.corpus import Corpus
from emowb.data.importers._common import SourceError
from emowb.data.importers.filenames import import_cremad, import_emodb, import_ravdess
from emowb.data.importers.iemocap import import_iemocap
from emowb.data.importers.manifest import import_manifest

__all__ = ["IMPORTERS", "SourceError", "import_corpus", "import_cremad", "import_emodb", "import_iemocap",
           "import_manifest", "import_ravdess"]

IMPORTERS: dict[str, Callable[..., Corpus]] = {
    "manifest": import_manifest,
    "iemocap": import_iemocap,
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
        hint = " (COGMEN pickles: emowb.features.imported.import_corpus)" if kind == "cogmen" else ""
        raise ValueError(f"unknown importer {kind!r}; choose one of {sorted(IMPORTERS)}{hint}")
    return IMPORTERS[kind](src, out_dir, **opts)

