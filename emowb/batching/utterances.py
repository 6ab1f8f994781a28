"""Utterance-level data for the trainer: isolated utterances, no dialogue graph.

:class:`UtteranceData` follows the trainer's batch-source contract
(:mod:`emowb.train.api`): ``batches(*, batch_size, shuffle, seed, epoch)`` yields
:class:`UtteranceBatch` objects with ``labels``, ``scored``, ``utt_ids``, ``extra``, ``info`` and
``to(device)``, so the one :class:`~emowb.train.trainer.Trainer` trains the EmoDistill teachers
and students exactly as it trains COGMEN.

Inputs are named arrays, one row per utterance:

- a *vector* input: (N, D) (openSMILE functionals, pooled sentence embeddings);
- a *sequence* input: N arrays (T_i, D) or (T_i,) (LLD frames, log-mel frames, waveforms,
  token ids), padded per batch to (B, T_max, D) / (B, T_max) with ``lengths[name]`` (B,).

Batches are drawn in length buckets (utterances of similar length together, so little padding),
as a pure function of ``(seed, epoch)``: an interrupted run resumes with the same batches.
:func:`build_utterance_splits` turns a corpus, a :class:`~emowb.data.splits.Split` and feature
sets into train / dev / test sources, standardised with training statistics.
"""

from __future__ import annotations

import dataclasses
from typing import Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch.nn.utils.rnn import pad_sequence

from emowb.batching.normalise import FeatureStats, feature_stats, speaker_normalise
from emowb.data.corpus import Corpus
from emowb.data.splits import Split
from emowb.features.base import FeatureSet

__all__ = ["UtteranceBatch", "UtteranceData", "UtteranceSplits", "build_utterance_data",
           "build_utterance_splits", "speaker_normalise_inputs", "UtteranceDataError"]

#: Batches per length bucket when shuffling (bigger = more random, more padding).
BUCKET_BATCHES = 8


class UtteranceDataError(ValueError):
    """Inputs that cannot become utterance batches (names the utterance / input)."""


@dataclasses.dataclass
class UtteranceBatch:
    """A batch of B isolated utterances.

    Attributes:
        inputs: name -> (B, D) for vector inputs, (B, T_max, D) or (B, T_max) for sequences.
        lengths: name -> (B,) int64 valid length of each sequence input.
        labels: (B,) int64; scored: (B,) bool.
        utt_ids: B utterance ids.
        extra: name -> (B, ...) per-utterance tensors (cached teacher outputs).
        info: notes from batch transforms.
    """

    inputs: dict[str, torch.Tensor]
    lengths: dict[str, torch.Tensor]
    labels: torch.Tensor
    scored: torch.Tensor
    utt_ids: list[str]
    extra: dict[str, torch.Tensor] = dataclasses.field(default_factory=dict)
    info: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def n(self) -> int:
        return int(self.labels.shape[0])

    def mask(self, name: str) -> torch.Tensor:
        """(B, T_max) bool: True on the real frames of sequence input ``name``."""
        if name not in self.lengths:
            raise KeyError(f"input {name!r} is not a sequence input of this batch "
                           f"(sequences: {sorted(self.lengths)})")
        t_max = self.inputs[name].shape[1]
        lens = self.lengths[name]
        return torch.arange(t_max, device=lens.device)[None, :] < lens[:, None]

    def require(self, name: str) -> torch.Tensor:
        if name not in self.inputs:
            raise KeyError(f"the batch has no input {name!r} (inputs: {sorted(self.inputs)})")
        return self.inputs[name]

    def replace(self, **changes) -> "UtteranceBatch":
        return dataclasses.replace(self, **changes)

    def to(self, device: torch.device | str) -> "UtteranceBatch":
        def mv(d):
            return {k: v.to(device, non_blocking=True) for k, v in d.items()}

        return dataclasses.replace(self, inputs=mv(self.inputs), lengths=mv(self.lengths),
                                   labels=self.labels.to(device), scored=self.scored.to(device),
                                   extra=mv(self.extra), info=dict(self.info))


class UtteranceData:
    """A set of utterances the trainer draws :class:`UtteranceBatch` es from.

    Args:
        utt_ids: N utterance ids.
        labels: (N,) class indices.
        inputs: name -> (N, D) array, or a list of N arrays (T_i, ...) for a sequence input.
        scored: (N,) bool (default all True).
        pad_values: padding value per sequence input (default 0).
        length_key: the input whose length buckets batches (default: the first sequence input).
    """

    def __init__(self, *, utt_ids: Sequence[str], labels: np.ndarray | Sequence[int],
                 inputs: Mapping[str, np.ndarray | Sequence[np.ndarray]],
                 scored: np.ndarray | None = None, pad_values: Mapping[str, float] | None = None,
                 length_key: str | None = None) -> None:
        self.utt_ids = [str(u) for u in utt_ids]
        n = len(self.utt_ids)
        if n == 0:
            raise UtteranceDataError("UtteranceData needs at least one utterance")
        if len(set(self.utt_ids)) != n:
            raise UtteranceDataError("UtteranceData: duplicate utterance ids")
        self.labels = torch.as_tensor(np.asarray(labels), dtype=torch.long)
        if self.labels.shape != (n,):
            raise UtteranceDataError(f"labels have shape {tuple(self.labels.shape)}, expected ({n},)")
        self.scored = torch.ones(n, dtype=torch.bool) if scored is None else torch.as_tensor(
            np.asarray(scored, bool))
        if self.scored.shape != (n,):
            raise UtteranceDataError(f"scored has shape {tuple(self.scored.shape)}, expected ({n},)")
        if not inputs:
            raise UtteranceDataError("UtteranceData needs at least one input")
        self.vectors: dict[str, torch.Tensor] = {}
        self.sequences: dict[str, list[torch.Tensor]] = {}
        for name, arr in inputs.items():
            if isinstance(arr, (np.ndarray, torch.Tensor)) and getattr(arr, "ndim", 0) == 2:
                t = torch.as_tensor(np.asarray(arr))
                if t.shape[0] != n:
                    raise UtteranceDataError(f"input {name!r} has {t.shape[0]} rows for {n} utterances")
                self.vectors[name] = t
            else:
                seqs = [torch.as_tensor(np.asarray(a)) for a in arr]
                if len(seqs) != n:
                    raise UtteranceDataError(f"input {name!r} has {len(seqs)} sequences for {n} utterances")
                for i, s in enumerate(seqs):
                    if s.ndim not in (1, 2) or s.shape[0] == 0:
                        raise UtteranceDataError(f"input {name!r}, utterance {self.utt_ids[i]!r}: a sequence "
                                                 f"must be (T, D) or (T,) with T >= 1, got {tuple(s.shape)}")
                tails = {tuple(s.shape[1:]) for s in seqs}
                if len(tails) > 1:
                    raise UtteranceDataError(f"input {name!r}: sequences differ in width {sorted(tails)}")
                self.sequences[name] = seqs
        self.pad_values = dict(pad_values or {})
        if length_key is None:
            length_key = next(iter(self.sequences), None)
        if length_key is not None and length_key not in self.sequences:
            raise UtteranceDataError(f"length_key {length_key!r} is not a sequence input")
        self.length_key = length_key
        self._lengths = (np.array([len(s) for s in self.sequences[length_key]]) if length_key
                         else np.zeros(n, np.int64))
        self.extra: dict[str, torch.Tensor] = {}

    # ------------------------------------------------------------------ basics
    def __len__(self) -> int:
        return len(self.utt_ids)

    @property
    def dims(self) -> dict[str, int]:
        """Feature width of each input (1 for scalar-per-frame sequences such as waveforms)."""
        out = {k: int(v.shape[1]) for k, v in self.vectors.items()}
        for k, seqs in self.sequences.items():
            out[k] = int(seqs[0].shape[1]) if seqs[0].ndim == 2 else 1
        return out

    def num_batches(self, batch_size: int) -> int:
        return -(-len(self) // batch_size)

    def add_extra(self, name: str, utt_ids: Sequence[str], values: np.ndarray | torch.Tensor) -> None:
        """Attach a per-utterance tensor (rows aligned with ``utt_ids``, which may be a superset).

        Raises:
            UtteranceDataError: an utterance of this set has no row (named), or rows ≠ ids.
        """
        values = values if isinstance(values, torch.Tensor) else torch.as_tensor(np.asarray(values))
        if values.shape[0] != len(utt_ids):
            raise UtteranceDataError(f"extra {name!r}: {values.shape[0]} rows for {len(utt_ids)} utt_ids")
        pos = {u: i for i, u in enumerate(utt_ids)}
        missing = [u for u in self.utt_ids if u not in pos]
        if missing:
            raise UtteranceDataError(f"extra {name!r} has no row for utterance {missing[0]!r} "
                                     f"({len(missing)} missing)")
        self.extra[name] = values[[pos[u] for u in self.utt_ids]]

    def table(self) -> pd.DataFrame:
        return pd.DataFrame({"utt_id": self.utt_ids, "y": self.labels.numpy(),
                             "scored": self.scored.numpy()})

    # ----------------------------------------------------------------- batches
    def _order(self, batch_size: int, shuffle: bool, seed: int, epoch: int) -> list[list[int]]:
        n = len(self)
        if not shuffle:
            # evaluation: length-sorted batches (outputs do not depend on batching; see students)
            order = np.argsort(self._lengths, kind="stable").tolist()
            return [order[i:i + batch_size] for i in range(0, n, batch_size)]
        g = torch.Generator().manual_seed(int(seed) * 100_003 + int(epoch))
        perm = torch.randperm(n, generator=g).tolist()
        batches: list[list[int]] = []
        span = batch_size * BUCKET_BATCHES
        for lo in range(0, n, span):
            chunk = sorted(perm[lo:lo + span], key=lambda i: self._lengths[i])
            batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
        shuffle_b = torch.randperm(len(batches), generator=g).tolist()
        return [batches[i] for i in shuffle_b]

    def batches(self, *, batch_size: int, shuffle: bool, seed: int = 0, epoch: int = 0
                ) -> Iterator[UtteranceBatch]:
        for idx in self.batch_indices(batch_size=batch_size, shuffle=shuffle, seed=seed, epoch=epoch):
            yield self.collate(idx)

    def batch_indices(self, *, batch_size: int, shuffle: bool, seed: int = 0, epoch: int = 0) -> list[list[int]]:
        """The utterance indices of each batch :meth:`batches` yields (multi-process training
        splits each one between the processes, :mod:`emowb.train.distributed`)."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        return self._order(batch_size, shuffle, seed, epoch)

    def collate(self, idx: Sequence[int]) -> UtteranceBatch:
        ii = torch.as_tensor(list(idx), dtype=torch.long)
        inputs = {k: v[ii] for k, v in self.vectors.items()}
        lengths = {}
        for k, seqs in self.sequences.items():
            chosen = [seqs[i] for i in idx]
            inputs[k] = pad_sequence(chosen, batch_first=True, padding_value=float(self.pad_values.get(k, 0)))
            lengths[k] = torch.tensor([len(s) for s in chosen], dtype=torch.long)
        return UtteranceBatch(inputs=inputs, lengths=lengths, labels=self.labels[ii],
                              scored=self.scored[ii], utt_ids=[self.utt_ids[i] for i in idx],
                              extra={k: v[ii] for k, v in self.extra.items()})


# --------------------------------------------------------------------------- building
def _rows(fs: FeatureSet, utt_ids: Sequence[str]):
    idx = fs.index_of(list(utt_ids))
    if fs.values is not None:
        return fs.values[idx], fs.valid[idx], [fs.notes[i] for i in idx]
    return [fs.sequences[i] for i in idx], fs.valid[idx], [fs.notes[i] for i in idx]


def speaker_normalise_inputs(corpus: Corpus, features: Mapping[str, FeatureSet],
                             names: Sequence[str] | None = None) -> dict[str, FeatureSet]:
    """Per-speaker z-scoring of utterance inputs (vectors and frames), invalid rows left as they are.

    :func:`emowb.batching.normalise.speaker_normalise` with ``over="features", invalid="keep"``
    (the behaviour the utterance-level models have always had; the dialogue inputs use
    ``over="corpus", invalid="zero"``).
    """
    return speaker_normalise(corpus, features, names, over="features", invalid="keep")


def build_utterance_data(corpus: Corpus, features: Mapping[str, FeatureSet], utt_ids: Sequence[str], *,
                         scored: np.ndarray | None = None, stats: FeatureStats | None = None,
                         invalid: str = "raise") -> UtteranceData:
    """An :class:`UtteranceData` of ``utt_ids`` (in that order) with the named feature sets as inputs.

    Args:
        corpus: the corpus (labels).
        features: input name -> feature set covering the utterances.
        utt_ids: which utterances.
        scored: (len(utt_ids),) bool mask of scored utterances (default all).
        stats: standardise ``(x - mean) / std`` the inputs named in ``stats``.
        invalid: ``"raise"``: an utterance whose input is invalid is an error naming it and the
            reason; ``"keep"``: keep it (zeros, the feature set's own fallback).

    Raises:
        UtteranceDataError: an invalid input under ``invalid="raise"``.
        FeatureError: an utterance without features.
    """
    if invalid not in ("raise", "keep"):
        raise ValueError(f"invalid={invalid!r}: use 'raise' or 'keep'")
    t = corpus.table.set_index("utt_id")
    missing = [u for u in utt_ids if u not in t.index]
    if missing:
        raise UtteranceDataError(f"{len(missing)} utterance(s) not in corpus {corpus.name!r}, e.g. {missing[:3]}")
    label_pos = {lab: i for i, lab in enumerate(corpus.labels)}
    labels = np.array([label_pos[lab] for lab in t.loc[list(utt_ids), "label"]], dtype=np.int64)
    inputs = {}
    for name, fs in features.items():
        rows, valid, notes = _rows(fs, utt_ids)
        if invalid == "raise" and not valid.all():
            bad = [(u, n) for u, ok, n in zip(utt_ids, valid, notes) if not ok]
            raise UtteranceDataError(
                f"input {name!r} ({fs.name}): {len(bad)} utterance(s) have no usable features, e.g. "
                f"{bad[:3]}; fix the data or pass invalid='keep'")
        if stats is not None and name in stats.mean:
            mu, sd = stats.mean[name], stats.std[name]
            if isinstance(rows, np.ndarray):
                rows = ((rows - mu) / sd).astype(np.float32)
                rows[~valid] = 0.0
            else:
                rows = [((r - mu) / sd).astype(np.float32) if ok else r for r, ok in zip(rows, valid)]
        inputs[name] = rows
    return UtteranceData(utt_ids=list(utt_ids), labels=labels, inputs=inputs, scored=scored)


@dataclasses.dataclass
class UtteranceSplits:
    """Train / dev / test utterance sources of one fold."""

    split: Split
    train: UtteranceData
    dev: UtteranceData
    test: UtteranceData | None
    stats: FeatureStats | None

    def parts(self) -> dict[str, UtteranceData]:
        out = {"train": self.train, "dev": self.dev}
        if self.test is not None:
            out["test"] = self.test
        return out


def build_utterance_splits(corpus: Corpus, split: Split, features: Mapping[str, FeatureSet], *,
                           standardize: Sequence[str] | bool = True, invalid: str = "raise",
                           only: set[str] | None = None) -> UtteranceSplits:
    """Train / dev / test :class:`UtteranceData` of a fold (statistics from training utterances).

    Args:
        corpus, split: the corpus and the fold (dialogue ids; test scored by ``split.test_mask``).
        features: input name -> feature set.
        standardize: True (all inputs), False, or the input names to standardise.
        invalid: see :func:`build_utterance_data`.
        only: keep only these utterance ids (e.g. those a teacher has input for); the caller
            accounts for the others.
    """
    t = corpus.table
    if only is not None:
        t = t[t["utt_id"].isin(only)]
    ids = {p: t.loc[t["dialogue_id"].isin(set(split.part(p))), "utt_id"].tolist() for p in ("train", "dev", "test")}
    if not ids["train"]:
        raise UtteranceDataError(f"split {split.name}: no training utterance")
    if not ids["dev"]:
        raise UtteranceDataError(f"split {split.name}: no dev utterance; early stopping needs dev_share > 0")
    names = list(features) if standardize is True else ([] if standardize is False else list(standardize))
    stats = feature_stats(features, ids["train"], names) if names else None
    test_scored = split.test_mask(t)[t["dialogue_id"].isin(set(split.test)).to_numpy()]
    if ids["test"] and not test_scored.any():
        raise UtteranceDataError(f"split {split.name}: no scored test utterance")
    common = dict(stats=stats, invalid=invalid)
    return UtteranceSplits(
        split=split,
        train=build_utterance_data(corpus, features, ids["train"], **common),
        dev=build_utterance_data(corpus, features, ids["dev"], **common),
        test=(build_utterance_data(corpus, features, ids["test"], scored=test_scored, **common)
              if ids["test"] else None),
        stats=stats)
