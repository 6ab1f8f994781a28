"""Teacher outputs, computed once per corpus + fold + teacher configuration, then reused.

A frozen teacher's logits and embeddings for every utterance of a fold are stored under the
corpus folder::

    CORPUS/kd_cache/<teacher>-<12 hex>/
      run/            the teacher's training run (the trainer's run folder: config, history,
                      metrics, predictions, checkpoints/best.pt)
      outputs.npz     utt_id, split, logits (N, C), embeddings (N, H), valid (N,)
      meta.json       teacher name, the full key specification, teacher metrics, counts

The folder name hashes (with :func:`emowb.utils.stable_hash`) everything that determines the
outputs: the teacher's model and training configuration (with its seed), the input feature
sets' configurations, the fold (its train / dev / test dialogue ids) and the corpus fingerprint.
``outputs.npz`` and ``meta.json`` are written atomically, ``meta.json`` last, so a folder with a
``meta.json`` is complete. A sweep over the students' loss weights and temperatures therefore
finds every teacher in the cache and never runs one again (:attr:`TeacherCache.misses` counts
the teachers actually computed).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch
from torch import nn

from emowb.data.corpus import Corpus
from emowb.data.splits import Split
from emowb.kd.losses import Teacher, extra_key
from emowb.utils import atomic_path, exclusive_lock, resolve_device, stable_hash, write_json

__all__ = ["CACHE_DIR", "TeacherOutputs", "TeacherCache", "TeacherCacheError", "predict_outputs"]

CACHE_DIR = "kd_cache"
CACHE_VERSION = 2  # 2: teachers seeded right before construction (earlier entries depended on run order)


class TeacherCacheError(RuntimeError):
    """A teacher's cached outputs that are missing or do not fit the data."""


@dataclasses.dataclass
class TeacherOutputs:
    """A frozen teacher's outputs for the utterances of one fold.

    Attributes:
        name: teacher name (``"prosodic"``, ``"linguistic"``, ``"cogmen-av"``, ...).
        key: cache folder name.
        utt_ids: N utterance ids.
        split: (N,) ``"train"`` / ``"dev"`` / ``"test"``.
        logits: (N, C) float32; embeddings: (N, H) float32.
        valid: (N,) bool, False where the teacher had no input (e.g. no transcript); such rows
            are zeros and KD skips them.
        metrics: the teacher's evaluation (``{"dev": {context: metrics}, "test": {...}}``).
        from_cache: True when loaded from disk rather than computed now.
    """

    name: str
    key: str
    utt_ids: list[str]
    split: np.ndarray
    logits: np.ndarray
    embeddings: np.ndarray
    valid: np.ndarray
    metrics: dict = dataclasses.field(default_factory=dict)
    from_cache: bool = False

    def __post_init__(self) -> None:
        n = len(self.utt_ids)
        self.logits = np.asarray(self.logits, np.float32)
        self.embeddings = np.asarray(self.embeddings, np.float32)
        self.valid = np.asarray(self.valid, bool)
        self.split = np.asarray(self.split).astype(str)
        for what, arr in (("logits", self.logits), ("embeddings", self.embeddings)):
            if arr.ndim != 2 or arr.shape[0] != n:
                raise TeacherCacheError(f"teacher {self.name!r}: {what} must be (N={n}, ·), got {arr.shape}")
        if self.valid.shape != (n,) or self.split.shape != (n,):
            raise TeacherCacheError(f"teacher {self.name!r}: valid/split must have {n} rows")
        bad = ~np.isfinite(self.logits).all(1) | ~np.isfinite(self.embeddings).all(1)
        if (bad & self.valid).any():
            u = self.utt_ids[int(np.flatnonzero(bad & self.valid)[0])]
            raise TeacherCacheError(f"teacher {self.name!r}: non-finite output for utterance {u!r}")

    @property
    def n_classes(self) -> int:
        return int(self.logits.shape[1])

    @property
    def dim(self) -> int:
        return int(self.embeddings.shape[1])

    def attach(self, data: Any, *, teacher: Teacher | str | None = None, logits: bool = True,
               embeddings: bool = True) -> None:
        """Attach to a data source's utterances (``data.add_extra``) under :func:`extra_key` names.

        With ``teacher=None`` (the triplet teacher) only the embeddings are attached, as
        ``"teacher_emb"``. Raises naming the first utterance the cache lacks.
        """
        try:
            if teacher is None:
                data.add_extra("teacher_emb", self.utt_ids, torch.from_numpy(self.embeddings))
                return
            if logits:
                data.add_extra(extra_key("logits", teacher), self.utt_ids, torch.from_numpy(self.logits))
            if embeddings:
                data.add_extra(extra_key("emb", teacher), self.utt_ids, torch.from_numpy(self.embeddings))
            data.add_extra(extra_key("valid", teacher), self.utt_ids, torch.from_numpy(self.valid))
        except ValueError as e:
            raise TeacherCacheError(f"teacher {self.name!r} (cache {self.key}) does not cover the data: {e}") from e

    # ------------------------------------------------------------------ disk
    def save(self, folder: Path, *, spec: Mapping[str, Any]) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(folder / "outputs.npz", suffix=".npz") as tmp:
            np.savez_compressed(tmp, utt_id=np.array(self.utt_ids), split=self.split, logits=self.logits,
                                embeddings=self.embeddings, valid=self.valid)
        write_json(folder / "meta.json", {
            "version": CACHE_VERSION, "name": self.name, "key": self.key, "spec": spec,
            "metrics": self.metrics, "n": len(self.utt_ids), "n_valid": int(self.valid.sum()),
            "n_classes": self.n_classes, "dim": self.dim,
            "per_split": {s: int((self.split == s).sum()) for s in ("train", "dev", "test")}})

    @classmethod
    def load(cls, folder: Path) -> "TeacherOutputs":
        meta = json.loads((folder / "meta.json").read_text())
        with np.load(folder / "outputs.npz", allow_pickle=False) as z:
            return cls(name=meta["name"], key=meta["key"], utt_ids=z["utt_id"].tolist(), split=z["split"],
                       logits=z["logits"], embeddings=z["embeddings"], valid=z["valid"],
                       metrics=meta.get("metrics", {}), from_cache=True)


class TeacherCache:
    """The teacher-output cache of one corpus (``CORPUS/kd_cache`` unless ``root`` is given).

    Attributes:
        hits, misses: how many :meth:`get` calls were served from disk / computed.
    """

    def __init__(self, corpus: Corpus, root: str | Path | None = None) -> None:
        self.corpus = corpus
        self.root = Path(root) if root is not None else corpus.root / CACHE_DIR
        self.hits = 0
        self.misses = 0
        self._fingerprint: str | None = None

    def key(self, name: str, spec: Mapping[str, Any]) -> str:
        """``"<name>-<hash>"`` of the specification plus the corpus fingerprint."""
        if self._fingerprint is None:
            self._fingerprint = self.corpus.fingerprint()
        return f"{name}-{stable_hash({'spec': spec, 'corpus': self._fingerprint, 'v': CACHE_VERSION})}"

    def run_dir(self, key: str) -> Path:
        """The teacher's run folder (config, metrics, predictions, embeddings) inside its entry."""
        return self.folder(key) / "run"

    def folder(self, key: str) -> Path:
        return self.root / key

    def has(self, key: str) -> bool:
        f = self.folder(key)
        return (f / "meta.json").is_file() and (f / "outputs.npz").is_file()

    def load(self, key: str) -> TeacherOutputs:
        """The stored outputs of ``key``.

        Raises:
            TeacherCacheError: nothing (complete) is stored under that key.
        """
        if not self.has(key):
            have = sorted(p.name for p in self.root.iterdir() if (p / "meta.json").is_file()) if self.root.is_dir() else []
            raise TeacherCacheError(f"no cached teacher outputs {key!r} in {self.root} (cached: {have or 'none'}); "
                                    "train the teacher first (allow_compute=True / without --cached-teachers)")
        return TeacherOutputs.load(self.folder(key))

    def get(self, name: str, spec: Mapping[str, Any], compute: Callable[[Path], TeacherOutputs] | None, *,
            log: Callable[[str], None] | None = None) -> TeacherOutputs:
        """The outputs for ``spec``: from disk, else ``compute(run_dir)`` (then stored).

        Args:
            name: teacher name (folder prefix).
            spec: everything that determines the outputs (JSON-serialisable).
            compute: trains the teacher into ``run_dir`` and returns its outputs; None = the
                outputs must already be cached.
        """
        key = self.key(name, spec)
        if self.has(key):
            self.hits += 1
            if log:
                log(f"teacher {name}: cache hit {key}")
            return self.load(key)
        if compute is None:
            self.load(key)  # raises the informative error
        # Workers of a parallel sweep (emowb.train.executors) ask for the same teacher at once
        # (its own run, and the students that need it): one trains it, the others wait and load it.
        with exclusive_lock(self.root / f".{key}.lock"):
            if self.has(key):
                self.hits += 1
                if log:
                    log(f"teacher {name}: cache hit {key} (computed by another process)")
                return self.load(key)
            self.misses += 1
            if log:
                log(f"teacher {name}: computing {key}")
            folder = self.folder(key)
            out = compute(self.run_dir(key))
            out.name, out.key, out.from_cache = name, key, False
            out.save(folder, spec=json.loads(json.dumps(spec, default=str)))
        return out

    def list(self) -> list[dict]:
        """Every complete cache entry: key, name, counts, teacher test metrics."""
        if not self.root.is_dir():
            return []
        rows = []
        for f in sorted(self.root.iterdir()):
            if (f / "meta.json").is_file():
                m = json.loads((f / "meta.json").read_text())
                rows.append({"key": f.name, "name": m["name"], "n": m["n"], "n_valid": m["n_valid"],
                             "dim": m["dim"], "metrics": m.get("metrics", {})})
        return rows


@torch.no_grad()
def predict_outputs(model: nn.Module, sources: Mapping[str, Any], *, batch_size: int = 32,
                    device: str = "auto", context: Callable[[Any], Any] | None = None
                    ) -> tuple[list[str], np.ndarray, np.ndarray, np.ndarray]:
    """Raw logits and embeddings of a (frozen) model over named batch sources.

    Args:
        model: the model (put in eval mode here).
        sources: part name (``"train"``...) -> batch source.
        batch_size: batch size of the pass.
        device: ``auto`` / ``cpu`` / ``cuda``.
        context: optional batch transform (a modality context for COGMEN).

    Returns:
        ``(utt_ids, part, logits (N, C), embeddings (N, H))``, float32, in batch order.
    """
    dev = torch.device(resolve_device(device))
    model.to(dev).eval()
    ids: list[str] = []
    part: list[str] = []
    logits, embs = [], []
    for name, source in sources.items():
        if source is None:
            continue
        for batch in source.batches(batch_size=batch_size, shuffle=False):
            batch = batch.to(dev)
            if context is not None:
                batch = context(batch)
            out = model(batch)
            ids += list(batch.utt_ids)
            part += [name] * len(batch.utt_ids)
            logits.append(out.logits.float().cpu())
            embs.append(out.embeddings.float().cpu())
    return (ids, np.array(part), torch.cat(logits).numpy().astype(np.float32),
            torch.cat(embs).numpy().astype(np.float32))


def full_outputs(utt_ids: Sequence[str], split_of: Mapping[str, str], got_ids: Sequence[str],
                 logits: np.ndarray, embeddings: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Scatter outputs computed for ``got_ids`` into arrays over all ``utt_ids`` (others invalid, zero).

    Returns ``(split, logits, embeddings, valid)`` aligned with ``utt_ids``.
    """
    pos = {u: i for i, u in enumerate(got_ids)}
    n = len(utt_ids)
    lg = np.zeros((n, logits.shape[1]), np.float32)
    em = np.zeros((n, embeddings.shape[1]), np.float32)
    valid = np.zeros(n, bool)
    for i, u in enumerate(utt_ids):
        j = pos.get(u)
        if j is not None:
            lg[i], em[i], valid[i] = logits[j], embeddings[j], True
    return np.array([split_of[u] for u in utt_ids]), lg, em, valid


def fold_utterances(corpus: Corpus, split: Split) -> tuple[list[str], dict[str, str]]:
    """The utterances of a fold in corpus order, and the part (train/dev/test) each belongs to."""
    t = corpus.table
    split_of = {}
    for p in ("train", "dev", "test"):
        for u in t.loc[t["dialogue_id"].isin(set(split.part(p))), "utt_id"]:
            split_of[u] = p
    return [u for u in t["utt_id"] if u in split_of], split_of
