"""The feature-set registry and the cached extraction entry point :func:`extract`.

===============  ============  ========================================================  =========
name             modality      what                                                      shape
===============  ============  ========================================================  =========
egemaps          audio         openSMILE eGeMAPSv02 functionals                          (N, 88)
compare          audio         openSMILE ComParE_2016 functionals                        (N, 6373)
egemaps-lld      audio         openSMILE eGeMAPSv02 low-level descriptors, 10 ms hop     (T_i, 25)
opensmile        audio         any openSMILE set: ``feature_set=``, ``level=``           varies
hubert           audio         HuBERT, mean-pooled layer (``model=`` folder, ``layer=``)  (N, D)
wav2vec2         audio         wav2vec 2.0, likewise                                     (N, D)
wavlm            audio         WavLM, likewise                                           (N, D)
whisper          audio         Whisper encoder (``model=`` base | tiny.en | folder;      (N, D)
                               bundled, offline), mean-pooled ``layer=``
ssl              audio         any of the above speech SSL types                          (N, D)
minilm           text          all-MiniLM-L6-v2 (bundled, offline), mean + L2 norm        (N, 384)
text             text          any local BERT-like folder (``model=``, ``pooling=``)      (N, D)
openface-au      video         OpenFace AU statistics over successful frames             (N, 69)
===============  ============  ========================================================  =========

SSL and Whisper sets with ``layer="all"`` are (N, (L+1)·D); see :func:`emowb.features.ssl.split_layers`.
"""

from __future__ import annotations

import functools
from typing import Callable

from emowb.data.corpus import Corpus
from emowb.features.base import Extractor, FeatureSet
from emowb.features.store import cached, extraction_lock, save_features

RUNTIME_OPTIONS = ("num_workers", "device", "batch_seconds", "batch_size", "progress")


def _opensmile(name, **kw):
    from emowb.features.opensmile_ import OpenSmileExtractor
    return OpenSmileExtractor(name, **kw)


def _ssl(name, model_type=None, **kw):
    from emowb.features.ssl import SSLExtractor
    if "model" not in kw:
        raise TypeError(f"feature set {name!r} needs model=<local folder or cached repo id>")
    return SSLExtractor(name, model_type=model_type, **kw)


def _whisper(name, **kw):
    from emowb.features.whisper import WhisperExtractor
    return WhisperExtractor(name, **kw)


def _text(name, **kw):
    from emowb.features.text import TextExtractor
    if "model" not in kw:
        raise TypeError(f"feature set {name!r} needs model=<local folder or cached repo id>")
    return TextExtractor(name, **kw)


def _minilm(name, **kw):
    from emowb.features.text import TextExtractor, minilm_path
    kw = {"pooling": "mean", "normalize": True, "max_length": 256, **kw}
    return TextExtractor(name, model=kw.pop("model", None) or minilm_path(), **kw)


def _face(name, **kw):
    from emowb.features.face import FaceExtractor
    return FaceExtractor(name, **kw)


def _logmel(name, **kw):
    from emowb.features.logmel import LogMelExtractor  # the light speech student's input
    return LogMelExtractor(name, **kw)


#: name -> factory(name, **params) -> Extractor
FEATURE_SETS: dict[str, Callable[..., Extractor]] = {
    "egemaps": functools.partial(_opensmile, feature_set="eGeMAPSv02", level="functionals"),
    "compare": functools.partial(_opensmile, feature_set="ComParE_2016", level="functionals"),
    "egemaps-lld": functools.partial(_opensmile, feature_set="eGeMAPSv02", level="lld"),
    "opensmile": _opensmile,
    "hubert": functools.partial(_ssl, model_type="hubert"),
    "wav2vec2": functools.partial(_ssl, model_type="wav2vec2"),
    "wavlm": functools.partial(_ssl, model_type="wavlm"),
    "ssl": _ssl,
    "whisper": _whisper,
    "minilm": _minilm,
    "text": _text,
    "openface-au": _face,
    "logmel": _logmel,
}


def make_extractor(name: str, *, save_as: str | None = None, **params) -> Extractor:
    """Build the extractor of a registered feature set (``save_as`` renames the stored set).

    Raises:
        ValueError: unknown name. TypeError: a parameter the extractor does not take.
    """
    if name not in FEATURE_SETS:
        raise ValueError(f"unknown feature set {name!r}; choose one of {sorted(FEATURE_SETS)}")
    return FEATURE_SETS[name](save_as or name, **params)


def extract(corpus: Corpus, name: str, *, save_as: str | None = None, force: bool = False,
            status: dict | None = None, **params) -> FeatureSet:
    """The features ``name`` of ``corpus``: from the cache if present, else extracted and saved.

    The cache key is the corpus fingerprint plus the extractor's output configuration, so a
    second call with the same parameters is a no-op, a changed parameter extracts anew, and
    runtime options (``num_workers``, ``device``, ``batch_seconds``, ``batch_size``,
    ``progress``) do not matter. The folder is written atomically. Two processes extracting the
    same set at once do not both extract: the second waits for the first (a one-line note on
    stderr, see :func:`~emowb.features.store.extraction_lock`) and then reads its result.

    Args:
        corpus: the corpus.
        name: a key of :data:`FEATURE_SETS` (``"egemaps"``, ``"hubert"``, ``"minilm"``, ...).
        save_as: store under this name instead (e.g. ``"hubert-large-l23"``).
        force: extract even when a cached set exists (and overwrite it).
        status: if given, filled with ``cache_hit`` (bool) and ``waited_s`` (seconds spent
            waiting for another process extracting the same set).
        **params: extractor parameters (see each extractor's docstring).

    Returns:
        A :class:`FeatureSet` with one row per utterance of ``corpus`` (table order).
    """
    ex = make_extractor(name, save_as=save_as, **params)
    status = {} if status is None else status
    status.update(cache_hit=False, waited_s=0.0)
    if not force:
        hit = cached(corpus, ex.name, ex.config())
        if hit is not None:
            status["cache_hit"] = True
            return hit
    with extraction_lock(corpus, ex.name, ex.config()) as waited:
        status["waited_s"] = waited
        hit = None if force else cached(corpus, ex.name, ex.config())  # written while we waited?
        if hit is not None:
            status["cache_hit"] = True
            return hit
        fs = ex.run(corpus)
        save_features(corpus, fs)
    return fs


def is_cached(corpus: Corpus, name: str, *, save_as: str | None = None, **params) -> bool:
    """True when :func:`extract` with these arguments would be a cache hit."""
    ex = make_extractor(name, save_as=save_as, **params)
    return cached(corpus, ex.name, ex.config()) is not None


def logmel_features(corpus: Corpus, **params) -> FeatureSet:
    """The corpus' log-mel frames from the feature cache, computed and stored on first use
    (``extract(corpus, "logmel", **params)``; see :mod:`emowb.features.logmel`)."""
    return extract(corpus, "logmel", **params)
