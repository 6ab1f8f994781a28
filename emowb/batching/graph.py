"""COGMEN's utterance graph, built with tensor ops once per dialogue.

Nodes are the utterances of one dialogue (positions ``0..T-1``). An edge ``s -> t`` (PyG
convention: ``edge_index[0]`` = source ``s``, ``edge_index[1]`` = target ``t``; messages flow from
source to target and are aggregated at the target) links ``t`` to each utterance in its context
window. Its relation type encodes (speaker of ``s``, speaker of ``t``, direction)::

    edge_type = (speaker[s] * n_speakers + speaker[t]) * 2 + (0 if s < t else 1)

exactly as COGMEN's ``edge_type_to_idx`` numbers ``str(spk_s) + str(spk_t) + "0"/"1"`` (a
self-loop, ``s == t``, is direction 1), so there are ``2 · n_speakers²`` relations.

Graph kinds (:class:`GraphKind`):

- ``window``: target ``t`` receives from ``s`` in ``[t - wp, t + wf]`` (``-1`` = unbounded);
- ``past``: ``s`` in ``[t - wp, t]`` (``wf`` is ignored): the *graph* is causal, but a COGMEN
  with this graph is only causal (usable for streaming) with ``CogmenConfig.causal=True``,
  which also masks future utterances in its SeqContext transformer;
- ``disjoint``: self-loops only (the paper's no-context ablation).

Window convention (:class:`EdgeConvention`). COGMEN's ``edge_perms`` centres the window on the
*source*: it adds ``j -> i`` for ``i`` in ``[j - wp, j + wf]``, so a node *receives* from ``wf``
past and ``wp`` future utterances. emowb's default (``receiver``) centres it on the receiving node,
so ``wp`` really is the past context a prediction sees. With ``wp == wf`` (the default 5/5) the two
edge sets are identical; ``EdgeConvention.REFERENCE`` reproduces COGMEN's for ``wp != wf``.

:func:`reference_batch_edges` is a faithful re-creation of COGMEN's per-pair Python construction
(``batch_graphify`` + ``edge_perms``); it exists for the equivalence tests and the speed benchmark
only and is never used for training.
"""

from __future__ import annotations

import enum
from typing import Sequence

import numpy as np
import torch

__all__ = ["GraphKind", "EdgeConvention", "num_relations", "dialogue_edges", "window_pairs",
           "relation_types", "reference_edge_perms", "reference_batch_edges"]


class GraphKind(str, enum.Enum):
    """Which utterances a node receives messages from."""

    WINDOW = "window"      # wp past and wf future utterances (COGMEN)
    PAST = "past"          # wp past utterances and itself only (a causal graph; see CogmenConfig.causal)
    DISJOINT = "disjoint"  # itself only (no-context ablation)


class EdgeConvention(str, enum.Enum):
    """Whether ``wp``/``wf`` count from the receiving node (emowb) or the sending node (COGMEN)."""

    RECEIVER = "receiver"
    REFERENCE = "reference"


def num_relations(n_speakers: int) -> int:
    """Number of relation types: (source speaker, target speaker, direction)."""
    return 2 * n_speakers * n_speakers


def window_pairs(length: int, *, wp: int, wf: int, kind: GraphKind | str = GraphKind.WINDOW,
                 convention: EdgeConvention | str = EdgeConvention.RECEIVER) -> torch.Tensor:
    """Edge index of one dialogue's graph, built with tensor ops (no Python loop over edges).

    Args:
        length: number of utterances ``T`` (>= 1).
        wp, wf: past / future window sizes (``-1`` = the whole past / future).
        kind: :class:`GraphKind`.
        convention: :class:`EdgeConvention` for ``wp``/``wf``.

    Returns:
        ``(2, E)`` int64, sources in row 0 and targets in row 1, sorted by (target, source).
    """
    kind = GraphKind(kind)
    convention = EdgeConvention(convention)
    if length < 1:
        raise ValueError(f"a dialogue graph needs at least one utterance, got length {length}")
    if wp < -1 or wf < -1:
        raise ValueError(f"window sizes must be >= -1 (-1 = unbounded), got wp={wp}, wf={wf}")
    t = torch.arange(length)
    if kind is GraphKind.DISJOINT:
        return torch.stack([t, t])
    past, future = (wp, wf) if convention is EdgeConvention.RECEIVER else (wf, wp)
    if kind is GraphKind.PAST:
        # causal: a node hears itself and up to wp earlier utterances, whatever the convention
        past, future = wp, 0
    past = length - 1 if past == -1 else min(past, length - 1)
    future = length - 1 if future == -1 else min(future, length - 1)
    offsets = torch.arange(-past, future + 1)                       # (K,)
    src = t[:, None] + offsets[None, :]                              # (T, K): row = target
    tgt = t[:, None].expand_as(src)
    keep = (src >= 0) & (src < length)
    return torch.stack([src[keep], tgt[keep]])


def relation_types(edge_index: torch.Tensor, speakers: torch.Tensor, n_speakers: int) -> torch.Tensor:
    """Relation type of each edge (see the module docstring), shape (E,) int64."""
    s, t = edge_index[0], edge_index[1]
    direction = (s >= t).long()  # 0: source earlier than target; 1: later or self-loop
    return (speakers[s] * n_speakers + speakers[t]) * 2 + direction


def dialogue_edges(speakers: torch.Tensor, *, wp: int, wf: int,
                   kind: GraphKind | str = GraphKind.WINDOW,
                   convention: EdgeConvention | str = EdgeConvention.RECEIVER,
                   n_speakers: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """Edges and relation types of one dialogue.

    Args:
        speakers: (T,) int64 speaker index of each utterance, in ``[0, n_speakers)``.

    Returns:
        ``edge_index`` (2, E) int64 and ``edge_type`` (E,) int64.
    """
    speakers = torch.as_tensor(speakers, dtype=torch.long)
    if speakers.ndim != 1:
        raise ValueError(f"speakers must be 1-D (T,), got shape {tuple(speakers.shape)}")
    if speakers.numel() and (int(speakers.min()) < 0 or int(speakers.max()) >= n_speakers):
        raise ValueError(f"speaker indices must lie in [0, {n_speakers}), got "
                         f"{sorted(set(speakers.tolist()))}")
    ei = window_pairs(int(speakers.numel()), wp=wp, wf=wf, kind=kind, convention=convention)
    return ei, relation_types(ei, speakers, n_speakers)


# --------------------------------------------------------------------------- the reference
def reference_edge_perms(length: int, window_past: int, window_future: int) -> list[tuple[int, int]]:
    """COGMEN's ``edge_perms``: (centre, neighbour) pairs, per utterance, through Python sets."""
    all_perms: set = set()
    array = np.arange(length)
    for j in range(length):
        perms = set()
        if window_past == -1 and window_future == -1:
            eff_array = array
        elif window_past == -1:
            eff_array = array[: min(length, j + window_future + 1)]
        elif window_future == -1:
            eff_array = array[max(0, j - window_past):]
        else:
            eff_array = array[max(0, j - window_past): min(length, j + window_future + 1)]
        for item in eff_array:
            perms.add((j, item))
        all_perms = all_perms.union(perms)
    return list(all_perms)


def reference_batch_edges(lengths: Sequence[int] | torch.Tensor, speaker_tensor: torch.Tensor,
                          wp: int, wf: int, n_speakers: int = 2) -> tuple[torch.Tensor, torch.Tensor]:
    """COGMEN's ``batch_graphify`` edge construction, one pair at a time in Python.

    Args:
        lengths: (B,) dialogue lengths.
        speaker_tensor: (B, T_max) speaker indices.

    Returns:
        ``edge_index`` (2, E) over the concatenated nodes and ``edge_type`` (E,), in the
        reference's (set-iteration) order.
    """
    edge_type_to_idx = {}
    for j in range(n_speakers):
        for k in range(n_speakers):
            edge_type_to_idx[str(j) + str(k) + "0"] = len(edge_type_to_idx)
            edge_type_to_idx[str(j) + str(k) + "1"] = len(edge_type_to_idx)
    lengths = torch.as_tensor(lengths)
    edge_index, edge_type = [], []
    length_sum = 0
    for j in range(len(lengths)):
        # the reference computes every dialogue's perms twice (once into an unused list)
        reference_edge_perms(int(lengths[j].item()), wp, wf)
        cur_len = int(lengths[j].item())
        perms = reference_edge_perms(cur_len, wp, wf)
        perms_rec = [(item[0] + length_sum, item[1] + length_sum) for item in perms]
        length_sum += cur_len
        for item, item_rec in zip(perms, perms_rec):
            edge_index.append(torch.tensor([item_rec[0], item_rec[1]]))
            speaker1 = speaker_tensor[j, item[0]].item()
            speaker2 = speaker_tensor[j, item[1]].item()
            c = "0" if item[0] < item[1] else "1"
            edge_type.append(edge_type_to_idx[str(speaker1) + str(speaker2) + c])
    return torch.stack(edge_index).t().contiguous(), torch.tensor(edge_type).long()
