"""Where feature sets live: ``CORPUS/features/<name>-<hash of config>/``.

The cache key is the feature-set name plus a hash of the extractor configuration and of the
corpus fingerprint, so re-running an extraction with the same parameters is a no-op, a changed
parameter (or a changed corpus) extracts into a new folder, and folders are written atomically.
Pre-extracted features that arrive with a corpus (COGMEN's pickles) are stored the same way.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from pathlib import Path
from typing import Iterator

from emowb.data.corpus import Corpus
from emowb.features.base import FeatureError, FeatureSet
from emowb.utils import stable_hash

FEATURE_ROOT = "features"


def cache_key(corpus: Corpus, name: str, config: dict) -> str:
    """``"<name>-<12 hex>"``: the folder name of a feature set for this corpus and config."""
    return f"{name}-{stable_hash({'config': config, 'corpus': corpus.fingerprint()})}"


def feature_dir(corpus: Corpus, name: str, config: dict) -> Path:
    return corpus.root / FEATURE_ROOT / cache_key(corpus, name, config)


@contextlib.contextmanager
def extraction_lock(corpus: Corpus, name: str, config: dict, *, note: bool = True) -> Iterator[float]:
    """Hold an exclusive lock on extracting one feature set (name + config) of ``corpus``.

    ``fcntl.flock`` on ``CORPUS/features/.<name>-<hash>.lock``: a second process (or thread)
    extracting the same set waits until the first is done, printing a one-line note to stderr
    while it waits, and then finds the first one's result in the cache. The kernel drops the lock
    when its holder dies, so a killed extraction never blocks the next one. The holder removes
    the lock file (and a ``features`` folder it created and left empty) when done. Yields the
    seconds spent waiting. Where ``flock`` is unavailable (Windows, some network file systems)
    it does not lock.
    """
    from emowb.utils import LockBusy, exclusive_lock

    d = corpus.root / FEATURE_ROOT
    lock = d / f".{cache_key(corpus, name, config)}.lock"
    created = not d.is_dir()
    t0 = time.perf_counter()
    try:
        with contextlib.ExitStack() as stack:
            try:
                stack.enter_context(exclusive_lock(lock, wait=False))
            except LockBusy:
                if note:
                    print(f"waiting for another process extracting feature set {name!r} of {corpus.root} "
                          f"(lock {lock}) ...", file=sys.stderr, flush=True)
                stack.enter_context(exclusive_lock(lock))
            yield time.perf_counter() - t0
    finally:
        if created:
            with contextlib.suppress(OSError):
                d.rmdir()                 # only if empty (a failed first extraction)


def save_features(corpus: Corpus, fs: FeatureSet) -> Path:
    """Store ``fs`` in the corpus cache under its name and config (atomically)."""
    missing = set(corpus.table["utt_id"]) - set(fs.utt_ids)
    if missing:
        raise FeatureError(f"feature set {fs.name!r} lacks {len(missing)} utterance(s) of corpus "
                           f"{corpus.name!r}, e.g. {sorted(missing)[:3]}")
    return fs.save(feature_dir(corpus, fs.name, fs.config))


def cached(corpus: Corpus, name: str, config: dict) -> FeatureSet | None:
    """The cached set for exactly this name + config, or None."""
    d = feature_dir(corpus, name, config)
    return FeatureSet.load(d) if (d / "meta.json").is_file() else None


def list_features(corpus: Corpus) -> list[dict]:
    """All stored feature sets of a corpus: name, modality, kind, dim, config, path, current."""
    root = corpus.root / FEATURE_ROOT
    out = []
    if not root.is_dir():
        return out
    for d in sorted(root.iterdir()):
        meta_file = d / "meta.json"
        if d.name.startswith(".") or not meta_file.is_file():
            continue
        meta = json.loads(meta_file.read_text())
        current = d.name == cache_key(corpus, meta["name"], meta.get("config", {}))
        out.append({**{k: meta[k] for k in ("name", "modality", "kind", "dim")},
                    "config": meta.get("config", {}), "path": d, "current": current})
    return out


def load_features(corpus: Corpus, name: str, config: dict | None = None) -> FeatureSet:
    """Load a stored feature set by name (and config, when several configs exist).

    Raises:
        FeatureError: when none exists for the current corpus, or the name is ambiguous.
    """
    if config is not None:
        fs = cached(corpus, name, config)
        if fs is None:
            raise FeatureError(f"no cached feature set {name!r} with config {config} for corpus "
                               f"{corpus.root}; run `emowb features {corpus.root} --set {name}`")
        return fs
    found = [f for f in list_features(corpus) if f["name"] == name and f["current"]]
    if not found:
        have = sorted({f["name"] for f in list_features(corpus) if f["current"]})
        raise FeatureError(f"no feature set {name!r} for corpus {corpus.root} (have: {have}); "
                           f"run `emowb features {corpus.root} --set {name}`")
    if len(found) > 1:
        raise FeatureError(f"{len(found)} feature sets named {name!r} with different configs in "
                           f"{corpus.root}: pass config= to choose one of "
                           f"{[f['config'] for f in found]}")
    return FeatureSet.load(found[0]["path"])
