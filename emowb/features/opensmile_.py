"""openSMILE features through the ``opensmile`` package.

=============  ================  ==========================  ==========================
set name       openSMILE config  level                       shape
=============  ================  ==========================  ==========================
egemaps        eGeMAPSv02        functionals                 vector (N, 88)
compare        ComParE_2016      functionals                 vector (N, 6373)
egemaps-lld    eGeMAPSv02        low-level descriptors       sequences (T_i, 25), 10 ms hop
=============  ================  ==========================  ==========================

Audio is decoded by :mod:`emowb.data.audio` (any format, mono, resampled to ``sr``, default
16 kHz) and fed to openSMILE as a signal. Work is spread over ``num_workers`` processes (default:
every core); a progress bar shows it. Each worker decodes its own files, so decoding runs in
parallel too.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor
import multiprocessing as mp
from typing import Iterator

import numpy as np
from tqdm.auto import tqdm

from emowb.data.corpus import Corpus
from emowb.features.base import Extractor, FeatureSet
from emowb.features.common import AudioJob, AudioPolicy, audio_jobs, finite_or_flag, read_job
from emowb.types import Modality
from emowb.utils import die_with_parent

DIMS = {("eGeMAPSv02", "functionals"): 88, ("ComParE_2016", "functionals"): 6373,
        ("eGeMAPSv02", "lld"): 25, ("GeMAPSv01b", "functionals"): 62, ("eGeMAPSv01b", "functionals"): 88}
_LEVELS = {"functionals": "Functionals", "lld": "LowLevelDescriptors"}
#: Below this many utterances the work runs in-process (starting workers costs ~1 s).
INLINE_BELOW = 24

_SMILE = None  # per-process openSMILE instance (set by _init_worker)


class OpenSmileExtractor(Extractor):
    """openSMILE functionals (vector) or low-level descriptors (sequence).

    Args:
        name: feature-set name.
        feature_set: an ``opensmile.FeatureSet`` member name (``eGeMAPSv02``, ``ComParE_2016``...).
        level: ``"functionals"`` or ``"lld"``.
        sr, min_duration, silence_floor, max_duration, on_error: the :class:`AudioPolicy`.
        num_workers: processes (default: ``os.cpu_count()``); runtime only.
        progress: show a progress bar; runtime only.
    """

    modality = Modality.AUDIO

    def __init__(self, name: str, *, feature_set: str = "eGeMAPSv02", level: str = "functionals",
                 sr: int = 16000, min_duration: float = 0.1, silence_floor: float = 1e-4,
                 max_duration: float | None = 600.0, on_error: str = "raise",
                 num_workers: int | None = None, progress: bool = True) -> None:
        import opensmile

        super().__init__(name)
        if level not in _LEVELS:
            raise ValueError(f"level={level!r}: use one of {sorted(_LEVELS)}")
        if feature_set not in opensmile.FeatureSet.__members__:
            raise ValueError(f"unknown openSMILE feature set {feature_set!r}; "
                             f"known: {sorted(opensmile.FeatureSet.__members__)}")
        self.feature_set, self.level = feature_set, level
        self.policy = AudioPolicy(sr=sr, min_duration=min_duration, silence_floor=silence_floor,
                                  max_duration=max_duration, on_error=on_error)
        self.num_workers = max(1, num_workers or os.cpu_count() or 1)
        self.progress = progress
        self.kind = "sequence" if level == "lld" else "vector"

    def _config(self) -> dict:
        import opensmile

        return {"feature_set": self.feature_set, "level": self.level,
                "opensmile": opensmile.__version__, "audio": self.policy.to_json()}

    @property
    def dim(self) -> int:
        key = (self.feature_set, self.level)
        if key not in DIMS:
            _init_worker(self.feature_set, self.level)
            DIMS[key] = len(_SMILE.feature_names)
        return DIMS[key]

    def run(self, corpus: Corpus) -> FeatureSet:
        jobs = audio_jobs(corpus)
        dim = self.dim
        out, valid, notes = [], [], []
        bar = tqdm(total=len(jobs), desc=self.name, unit="utt", disable=not self.progress)
        for feats, note in self._map(jobs):
            if feats is None:
                out.append(np.zeros((1, dim) if self.kind == "sequence" else dim, np.float32))
                valid.append(False)
                notes.append(note)
            else:
                v, ok, note = finite_or_flag(feats, note)
                if not ok and self.kind == "sequence":
                    v = np.zeros((1, dim), np.float32)
                out.append(v)
                valid.append(ok)
                notes.append(note)
            bar.update()
        bar.close()
        if self.kind == "sequence":
            return self._feature_set(corpus, sequences=out, valid=valid, notes=notes)
        return self._feature_set(corpus, values=np.stack(out), valid=valid, notes=notes)

    def _map(self, jobs: list[AudioJob]) -> Iterator[tuple[np.ndarray | None, str]]:
        args = [(j, self.policy) for j in jobs]
        if self.num_workers == 1 or len(jobs) < INLINE_BELOW:
            _init_worker(self.feature_set, self.level)
            yield from map(_process, args)
            return
        # spawn: the parent may hold torch / OpenMP threads, which fork does not copy safely
        # workers end with this process, even on its kill -9 (they would run on as orphans)
        pool = ProcessPoolExecutor(self.num_workers, mp_context=mp.get_context("spawn"),
                                   initializer=_init_pool_worker,
                                   initargs=(os.getpid(), self.feature_set, self.level))
        try:
            chunk = max(1, min(16, len(jobs) // (8 * self.num_workers)))
            yield from pool.map(_process, args, chunksize=chunk)
        finally:  # on an error or Ctrl-C, do not wait for the remaining files
            pool.shutdown(wait=True, cancel_futures=True)


def _init_pool_worker(parent_pid: int, feature_set: str, level: str) -> None:
    die_with_parent(parent_pid)
    _init_worker(feature_set, level)


def _init_worker(feature_set: str, level: str) -> None:
    global _SMILE
    import opensmile

    key = (feature_set, level)
    if _SMILE is None or getattr(_SMILE, "_emowb_key", None) != key:
        _SMILE = opensmile.Smile(feature_set=opensmile.FeatureSet[feature_set],
                                 feature_level=opensmile.FeatureLevel[_LEVELS[level]])
        _SMILE._emowb_key = key


def _process(arg: tuple[AudioJob, AudioPolicy]) -> tuple[np.ndarray | None, str]:
    """(features, note): (D,) functionals or (T, D) LLDs; None when the audio is unusable."""
    job, policy = arg
    x, note = read_job(job, policy)
    if x is None:
        return None, note
    df = _SMILE.process_signal(x, policy.sr)
    v = df.to_numpy(dtype=np.float32)
    return (v[0] if _SMILE._emowb_key[1] == "functionals" else v), note
