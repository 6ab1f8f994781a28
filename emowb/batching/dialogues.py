"""Corpus + per-modality features -> per-dialogue tensors -> padded batches.

:func:`build_dialogues` turns a corpus and a ``{Modality: FeatureSet}`` mapping into one
:class:`Dialogue` per conversation, computed **once**: features per modality (T, D_m), an
availability mask (T, M) taken from ``FeatureSet.valid``, speaker indices (T,), labels (T,),
utterance ids, a scored mask, and the dialogue's graph edges (built with tensor ops by
:mod:`emowb.batching.graph`). :func:`collate` pads a list of dialogues into a :class:`Batch`
(B, T_max, ...) with a padding mask and a PyG-style concatenated node list (N = Σ T_b nodes,
edges offset per dialogue).

Missing modalities are explicit: an unavailable (utterance, modality) has ``avail=False`` and zero
features here; the *model* decides what to put there (zeros, the training mean, or a learned
vector: ``CogmenConfig.fill``), so masking during training and missing inputs at test time go
through one code path.

Speaker indices (:class:`SpeakerIndex`): ``appearance`` numbers a dialogue's speakers by first
appearance (the first speaker is 0); ``role`` uses a table column ``role`` (the COGMEN importer
writes 'M'/'F') mapped through ``roles`` (COGMEN's ``{"M": 0, "F": 1}`` by default).

Standardisation statistics (:func:`~emowb.batching.normalise.feature_stats`) and per-speaker
normalisation (:func:`~emowb.batching.normalise.speaker_normalise`) are in
:mod:`emowb.batching.normalise`, shared with the utterance batches.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Iterator, Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from torch.nn.utils.rnn import pad_sequence

from emowb.batching.graph import EdgeConvention, GraphKind, dialogue_edges
from emowb.batching.normalise import FeatureStats
from emowb.data.corpus import Corpus
from emowb.features.base import FeatureError, FeatureSet
from emowb.types import Modality

__all__ = ["SpeakerIndex", "GraphSpec", "Dialogue", "Batch", "DialogueData", "build_dialogues", "collate",
           "modality_means", "DialogueError"]


class DialogueError(ValueError):
    """A dialogue that cannot be turned into model input (names the dialogue / utterance)."""


class SpeakerIndex(str, enum.Enum):
    """How utterances' speakers become per-dialogue indices."""

    APPEARANCE = "appearance"
    ROLE = "role"


@dataclasses.dataclass(frozen=True)
class GraphSpec:
    """Which graph each dialogue gets (see :mod:`emowb.batching.graph`)."""

    wp: int = 5
    wf: int = 5
    kind: GraphKind = GraphKind.WINDOW
    convention: EdgeConvention = EdgeConvention.RECEIVER
    n_speakers: int = 2

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", GraphKind(self.kind))
        object.__setattr__(self, "convention", EdgeConvention(self.convention))


@dataclasses.dataclass
class Dialogue:
    """One conversation's cached tensors (T utterances, M modalities).

    Attributes:
        dialogue_id: the dialogue id.
        utt_ids: T utterance ids in turn order.
        features: modality -> (T, D_m) float32 (zeros where unavailable).
        avail: (T, M) bool, modality available for the utterance (order = ``modalities``).
        speaker: (T,) int64 speaker index.
        labels: (T,) int64 class index.
        scored: (T,) bool, utterance counts in metrics / loss.
        edge_index: (2, E) int64 local node indices; edge_type: (E,) int64.
        extra: name -> (T, ...) per-utterance tensors (e.g. cached teacher embeddings).
    """

    dialogue_id: str
    utt_ids: list[str]
    modalities: tuple[Modality, ...]
    features: dict[Modality, torch.Tensor]
    avail: torch.Tensor
    speaker: torch.Tensor
    labels: torch.Tensor
    scored: torch.Tensor
    edge_index: torch.Tensor
    edge_type: torch.Tensor
    extra: dict[str, torch.Tensor] = dataclasses.field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.utt_ids)


@dataclasses.dataclass
class Batch:
    """A padded batch of B dialogues with N = Σ T_b utterance nodes.

    Attributes:
        modalities: the modalities in ``features`` / ``avail`` order.
        features: modality -> (B, T_max, D_m) float32.
        avail: (B, T_max, M) bool availability (False on padding).
        mask: (B, T_max) bool, True on real utterances (``~mask`` is the key-padding mask).
        lengths: (B,) int64.
        speaker: (B, T_max) int64.
        node_index: (N,) int64 flat index ``b * T_max + t`` of each node into (B·T_max).
        node_dialogue: (N,) int64 dialogue (batch) index of each node, PyG's ``batch`` vector.
        labels: (N,) int64; scored: (N,) bool.
        edge_index: (2, E) int64 over nodes; edge_type: (E,) int64.
        utt_ids: N utterance ids; dialogue_ids: B dialogue ids.
        extra: name -> (N, ...) per-utterance tensors.
        feature_keep: modality -> (D_m,) bool, feature dimensions kept (feature-granularity
            masking; None = all kept).
        info: notes from batch transforms (e.g. ``{"mask": "full-a"}``).
    """

    modalities: tuple[Modality, ...]
    features: dict[Modality, torch.Tensor]
    avail: torch.Tensor
    mask: torch.Tensor
    lengths: torch.Tensor
    speaker: torch.Tensor
    node_index: torch.Tensor
    node_dialogue: torch.Tensor
    labels: torch.Tensor
    scored: torch.Tensor
    edge_index: torch.Tensor
    edge_type: torch.Tensor
    utt_ids: list[str]
    dialogue_ids: list[str]
    extra: dict[str, torch.Tensor] = dataclasses.field(default_factory=dict)
    feature_keep: dict[Modality, torch.Tensor] | None = None
    info: dict[str, str] = dataclasses.field(default_factory=dict)

    @property
    def n_nodes(self) -> int:
        return int(self.labels.shape[0])

    def modality_index(self, m: Modality | str) -> int:
        m = Modality(m)
        if m not in self.modalities:
            raise KeyError(f"modality {m.value!r} is not in this batch ({Modality.code(self.modalities)})")
        return self.modalities.index(m)

    def replace(self, **changes) -> "Batch":
        return dataclasses.replace(self, **changes)

    def to(self, device: torch.device | str) -> "Batch":
        def mv(x):
            return x.to(device, non_blocking=True) if isinstance(x, torch.Tensor) else x

        return dataclasses.replace(
            self,
            features={m: mv(v) for m, v in self.features.items()},
            avail=mv(self.avail), mask=mv(self.mask), lengths=mv(self.lengths),
            speaker=mv(self.speaker), node_index=mv(self.node_index),
            node_dialogue=mv(self.node_dialogue), labels=mv(self.labels), scored=mv(self.scored),
            edge_index=mv(self.edge_index), edge_type=mv(self.edge_type),
            extra={k: mv(v) for k, v in self.extra.items()},
            feature_keep=None if self.feature_keep is None else
            {m: mv(v) for m, v in self.feature_keep.items()},
            info=dict(self.info))


# --------------------------------------------------------------------------- building
def _vector_values(fs: FeatureSet, m: Modality) -> None:
    if fs.values is None:
        raise FeatureError(f"feature set {fs.name!r} ({m.value}) holds frame sequences; COGMEN needs one "
                           "vector per utterance: extract a functional/pooled set (e.g. 'egemaps')")
    if fs.modality is not m:
        raise FeatureError(f"feature set {fs.name!r} describes modality {fs.modality.value!r} but was "
                           f"given for {m.value!r}")


def _speaker_indices(did: str, speakers: Sequence[str], roles_col: Sequence[str] | None,
                     mode: SpeakerIndex, roles: Sequence[str], n_speakers: int) -> np.ndarray:
    if mode is SpeakerIndex.APPEARANCE:
        order = {s: i for i, s in enumerate(dict.fromkeys(speakers))}
        idx = np.array([order[s] for s in speakers], dtype=np.int64)
        if len(order) > n_speakers:
            raise DialogueError(f"dialogue {did!r} has {len(order)} speakers {list(order)} but the "
                                f"graph allows n_speakers={n_speakers}; raise n_speakers")
        return idx
    if roles_col is None:
        raise DialogueError("speaker_index='role' needs a 'role' column in the utterance table "
                            "(the COGMEN importer writes one)")
    pos = {r: i for i, r in enumerate(roles)}
    bad = [r for r in roles_col if r not in pos]
    if bad:
        raise DialogueError(f"dialogue {did!r}: role {bad[0]!r} not in roles {list(roles)}")
    idx = np.array([pos[r] for r in roles_col], dtype=np.int64)
    if idx.max() >= n_speakers:
        raise DialogueError(f"dialogue {did!r}: role index {int(idx.max())} >= n_speakers={n_speakers}")
    return idx


def build_dialogues(corpus: Corpus, features: Mapping[Modality | str, FeatureSet], *,
                    graph: GraphSpec = GraphSpec(), dialogue_ids: Sequence[str] | None = None,
                    scored: np.ndarray | None = None, stats: FeatureStats | None = None,
                    speaker_index: SpeakerIndex | str = SpeakerIndex.APPEARANCE,
                    roles: Sequence[str] = ("M", "F")) -> list[Dialogue]:
    """Cache every dialogue's tensors and graph.

    Args:
        corpus: the corpus.
        features: modality -> vector feature set covering the dialogues' utterances.
        graph: the graph to build per dialogue.
        dialogue_ids: which dialogues (default: all, in table order).
        scored: optional (len(corpus.table),) bool mask of scored utterances (e.g.
            ``Split.test_mask(corpus.table)``); default all scored.
        stats: if given, features are standardised ``(x - mean) / std`` with these statistics
            (fit them on the training dialogues only); unavailable rows stay zero.
        speaker_index: :class:`SpeakerIndex`.
        roles: role names in index order for ``speaker_index="role"``.

    Returns:
        One :class:`Dialogue` per requested dialogue, in the requested order.

    Raises:
        DialogueError: unknown dialogue id, too many speakers, bad roles.
        FeatureError: an utterance without features, a sequence feature set, a modality mismatch.
    """
    speaker_index = SpeakerIndex(speaker_index)
    feats = {Modality(m): fs for m, fs in features.items()}
    if not feats:
        raise ValueError("build_dialogues needs at least one modality's features")
    mods = tuple(m for m in Modality if m in feats)
    for m in mods:
        _vector_values(feats[m], m)
    t = corpus.table
    if scored is not None:
        scored = np.asarray(scored, bool)
        if scored.shape != (len(t),):
            raise ValueError(f"scored mask has shape {scored.shape}, expected ({len(t)},)")
    known = set(t["dialogue_id"])
    wanted = list(dict.fromkeys(t["dialogue_id"])) if dialogue_ids is None else list(dialogue_ids)
    unknown = [d for d in wanted if d not in known]
    if unknown:
        raise DialogueError(f"{len(unknown)} dialogue(s) not in corpus {corpus.name!r}, e.g. {unknown[:3]}")
    rows_mask = t["dialogue_id"].isin(set(wanted)).to_numpy()
    sub = t[rows_mask]
    sub_scored = scored[rows_mask] if scored is not None else np.ones(len(sub), bool)
    utt_all = sub["utt_id"].tolist()
    # one vectorised lookup per modality, then slice per dialogue
    values, valid = {}, {}
    for m in mods:
        fs = feats[m]
        idx = fs.index_of(utt_all)
        v = fs.values[idx].copy()
        ok = fs.valid[idx].copy()
        if stats is not None:
            if m not in stats.mean:
                raise ValueError(f"feature statistics lack modality {m.value!r}")
            v = (v - stats.mean[m]) / stats.std[m]
        v[~ok] = 0.0
        values[m], valid[m] = v.astype(np.float32), ok
    labels_y = corpus.y[rows_mask]
    roles_col = sub["role"].astype(str).tolist() if "role" in sub.columns else None
    pos_in_sub = {d: [] for d in wanted}
    for i, d in enumerate(sub["dialogue_id"].to_numpy()):
        pos_in_sub[d].append(i)
    speakers_all = sub["speaker"].tolist()
    out = []
    for did in wanted:
        ii = np.asarray(pos_in_sub[did], dtype=np.int64)
        if ii.size == 0:  # cannot happen for ids found in the table, but never build an empty graph
            raise DialogueError(f"dialogue {did!r} is empty")
        spk = _speaker_indices(did, [speakers_all[i] for i in ii],
                               None if roles_col is None else [roles_col[i] for i in ii],
                               speaker_index, roles, graph.n_speakers)
        spk_t = torch.from_numpy(spk)
        ei, et = dialogue_edges(spk_t, wp=graph.wp, wf=graph.wf, kind=graph.kind,
                                convention=graph.convention, n_speakers=graph.n_speakers)
        out.append(Dialogue(
            dialogue_id=did, utt_ids=[utt_all[i] for i in ii], modalities=mods,
            features={m: torch.from_numpy(values[m][ii]) for m in mods},
            avail=torch.from_numpy(np.stack([valid[m][ii] for m in mods], axis=1)),
            speaker=spk_t, labels=torch.from_numpy(labels_y[ii]),
            scored=torch.from_numpy(sub_scored[ii]), edge_index=ei, edge_type=et))
    return out


def modality_means(dialogues: Sequence[Dialogue]) -> dict[Modality, torch.Tensor]:
    """Mean feature vector per modality over available utterances (for ``fill="mean"``)."""
    if not dialogues:
        raise ValueError("no dialogues to average")
    out = {}
    for mi, m in enumerate(dialogues[0].modalities):
        num = sum((d.features[m] * d.avail[:, mi:mi + 1]).sum(0) for d in dialogues)
        den = sum(int(d.avail[:, mi].sum()) for d in dialogues)
        out[m] = num / max(den, 1)
    return out


def collate(dialogues: Sequence[Dialogue]) -> Batch:
    """Pad dialogues into a :class:`Batch` and concatenate their graphs (edges offset)."""
    if not dialogues:
        raise ValueError("cannot collate an empty list of dialogues")
    mods = dialogues[0].modalities
    for d in dialogues[1:]:
        if d.modalities != mods:
            raise DialogueError(f"dialogue {d.dialogue_id!r} has modalities {Modality.code(d.modalities)}, "
                                f"others {Modality.code(mods)}")
    lengths = torch.tensor([len(d) for d in dialogues], dtype=torch.long)
    b, t_max = len(dialogues), int(lengths.max())
    mask = torch.arange(t_max)[None, :] < lengths[:, None]
    features = {m: pad_sequence([d.features[m] for d in dialogues], batch_first=True) for m in mods}
    avail = pad_sequence([d.avail for d in dialogues], batch_first=True, padding_value=False)
    speaker = pad_sequence([d.speaker for d in dialogues], batch_first=True)
    node_index = (torch.arange(b)[:, None] * t_max + torch.arange(t_max)[None, :])[mask]
    node_dialogue = torch.repeat_interleave(torch.arange(b), lengths)
    offsets = torch.cumsum(lengths, 0) - lengths
    edge_index = torch.cat([d.edge_index + o for d, o in zip(dialogues, offsets.tolist())], dim=1)
    edge_type = torch.cat([d.edge_type for d in dialogues])
    extra_keys = set(dialogues[0].extra)
    for d in dialogues[1:]:
        if set(d.extra) != extra_keys:
            raise DialogueError(f"dialogue {d.dialogue_id!r} carries extra tensors {sorted(d.extra)}, "
                                f"others {sorted(extra_keys)}")
    return Batch(
        modalities=mods, features=features, avail=avail, mask=mask, lengths=lengths,
        speaker=speaker, node_index=node_index, node_dialogue=node_dialogue,
        labels=torch.cat([d.labels for d in dialogues]),
        scored=torch.cat([d.scored for d in dialogues]),
        edge_index=edge_index, edge_type=edge_type,
        utt_ids=[u for d in dialogues for u in d.utt_ids],
        dialogue_ids=[d.dialogue_id for d in dialogues],
        extra={k: torch.cat([d.extra[k] for d in dialogues]) for k in sorted(extra_keys)})


class DialogueData:
    """A list of cached dialogues that the trainer draws batches from.

    Batch order is a pure function of ``(seed, epoch)`` (a fresh ``torch.Generator``), so an
    interrupted run that resumes at epoch *e* sees exactly the batches it would have seen.
    """

    def __init__(self, dialogues: Sequence[Dialogue]) -> None:
        if not dialogues:
            raise ValueError("DialogueData needs at least one dialogue")
        self.dialogues = list(dialogues)
        self.modalities = self.dialogues[0].modalities

    def __len__(self) -> int:
        return len(self.dialogues)

    @property
    def n_utterances(self) -> int:
        return sum(len(d) for d in self.dialogues)

    @property
    def dims(self) -> dict[Modality, int]:
        d0 = self.dialogues[0]
        return {m: int(d0.features[m].shape[1]) for m in self.modalities}

    def num_batches(self, batch_size: int) -> int:
        return -(-len(self.dialogues) // batch_size)

    def batches(self, *, batch_size: int, shuffle: bool, seed: int = 0, epoch: int = 0) -> Iterator[Batch]:
        """Yield collated batches of ``batch_size`` dialogues (the last one may be smaller)."""
        for idx in self.batch_indices(batch_size=batch_size, shuffle=shuffle, seed=seed, epoch=epoch):
            yield self.collate(idx)

    def batch_indices(self, *, batch_size: int, shuffle: bool, seed: int = 0, epoch: int = 0) -> list[list[int]]:
        """The dialogue indices of each batch :meth:`batches` yields (multi-process training
        splits each one between the processes, :mod:`emowb.train.distributed`)."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        n = len(self.dialogues)
        if shuffle:
            g = torch.Generator().manual_seed(int(seed) * 100_003 + int(epoch))
            order = torch.randperm(n, generator=g).tolist()
        else:
            order = list(range(n))
        return [order[i:i + batch_size] for i in range(0, n, batch_size)]

    def collate(self, idx: Sequence[int]) -> Batch:
        """One batch of the dialogues at ``idx``."""
        return collate([self.dialogues[j] for j in idx])

    def add_extra(self, name: str, utt_ids: Sequence[str], values: np.ndarray | torch.Tensor) -> None:
        """Attach a per-utterance tensor (rows aligned with ``utt_ids``) to every dialogue.

        Raises:
            DialogueError: if an utterance of these dialogues has no row.
        """
        values = torch.as_tensor(np.asarray(values) if not isinstance(values, torch.Tensor) else values)
        if values.shape[0] != len(utt_ids):
            raise ValueError(f"extra {name!r}: {values.shape[0]} rows for {len(utt_ids)} utt_ids")
        pos = {u: i for i, u in enumerate(utt_ids)}
        for d in self.dialogues:
            missing = [u for u in d.utt_ids if u not in pos]
            if missing:
                raise DialogueError(f"extra {name!r} has no row for utterance {missing[0]!r} of "
                                    f"dialogue {d.dialogue_id!r}")
            d.extra[name] = values[[pos[u] for u in d.utt_ids]]

    def table(self) -> pd.DataFrame:
        """utt_id, dialogue_id, label index, scored: one row per cached utterance."""
        return pd.DataFrame({
            "utt_id": [u for d in self.dialogues for u in d.utt_ids],
            "dialogue_id": [d.dialogue_id for d in self.dialogues for _ in d.utt_ids],
            "y": torch.cat([d.labels for d in self.dialogues]).numpy(),
            "scored": torch.cat([d.scored for d in self.dialogues]).numpy()})
