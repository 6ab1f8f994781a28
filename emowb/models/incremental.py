"""Incremental (streaming) inference for a causal COGMEN: one utterance at a time, nothing recomputed.

A COGMEN built with ``CogmenConfig(causal=True, graph="past" | "disjoint")`` gives each utterance
outputs that depend only on itself and earlier utterances (in evaluation). :class:`CausalDialogue`
(``model.start_dialogue()``) exploits that: it keeps the dialogue's state and scores each new
utterance with work that does not grow with the part of the dialogue already scored, except the
one attention row over the cached keys::

    state = model.eval().start_dialogue()
    for feats, speaker in stream:                   # feats: {"a": (D_a,) standardised features}
        out = state.step(feats, speaker)            # ModelOutput: logits (1, C), embeddings (1, E)
        probs = out.logits.softmax(-1)

Per step, for the new utterance ``t`` only:

- inputs: each modality's feature vector, or the model's fill vector where it is unavailable
  (``fill``: zeros / training mean / learned, as ``COGMEN._inputs``), projected per modality for
  ``input="project"``, plus the positional encoding of position ``t``;
- SeqContext (a KV cache per encoder layer): the layer's key and value rows of ``t`` are projected
  and appended to the cache; ``t``'s query attends over the cache (positions ``0..t``); then the
  layer's feed-forward block, with the layer's own ``norm_first`` / activation / LayerNorms
  (dropout is off: evaluation);
- graph: ``t``'s edges come from the cached last ``wp`` utterances (``graph="past"``;
  ``wp=-1``: all) or none (``"disjoint"``), plus its self-loop, with the relation types of
  :func:`emowb.batching.graph.relation_types`; RGCN runs on the cached SeqContext outputs ``h``,
  the graph transformer on the cached RGCN outputs, both for ``t``'s row only;
- BatchNorm (running statistics), LeakyReLU and the classifier.

The result equals what ``model(batch)`` gives utterance ``t`` of the whole dialogue in evaluation
(up to float rounding, ~1e-6; tested). Memory: the keys and values of every earlier utterance
(``2 · seq_layers · T · W`` floats) and ``h`` / RGCN rows of the last ``wp`` utterances.

**Inputs are model inputs**: standardise features as the training data were
(:func:`~emowb.batching.dialogues.build_dialogues` with the training ``stats``; per-speaker
normalisation too, if the model was trained with it) before passing them to :meth:`CausalDialogue.step`.
Speakers are given by name and numbered as the batches number them
(:class:`~emowb.batching.dialogues.SpeakerIndex`): ``appearance`` in order of first appearance in
this dialogue, ``role`` through ``roles``; a speaker whose index would reach ``n_speakers`` is a
:class:`~emowb.batching.dialogues.DialogueError` (the model has no relation type for it).
"""

from __future__ import annotations

import collections
import math
from typing import TYPE_CHECKING, Mapping, Sequence

import torch
from torch import nn
import torch.nn.functional as F

from emowb.batching.dialogues import DialogueError, SpeakerIndex
from emowb.batching.graph import GraphKind, relation_types
from emowb.models.output import ModelOutput
from emowb.types import Modality

if TYPE_CHECKING:  # pragma: no cover
    from emowb.models.cogmen import COGMEN

__all__ = ["CausalDialogue"]


class _Rows:
    """A growing (n, W) tensor with amortised O(W) appends (capacity doubles)."""

    def __init__(self, width: int, device, dtype) -> None:
        self._buf = torch.empty(16, width, device=device, dtype=dtype)
        self.n = 0

    def append(self, row: torch.Tensor) -> torch.Tensor:
        """Append ``row`` (1, W); return the rows so far (n, W) (a view, valid until the next append)."""
        if self.n == self._buf.shape[0]:
            self._buf = torch.cat([self._buf, torch.empty_like(self._buf)])
        self._buf[self.n] = row[0]
        self.n += 1
        return self._buf[: self.n]


class CausalDialogue:
    """The state of one dialogue scored utterance by utterance by a causal COGMEN.

    Create it with :meth:`emowb.models.cogmen.COGMEN.start_dialogue`; see the module docstring.

    Args:
        model: a COGMEN with ``config.causal=True``, in evaluation mode.
        roles: role names in index order (``speaker_index="role"`` only).

    Raises:
        ValueError: the model is not causal, or is in training mode.
    """

    def __init__(self, model: "COGMEN", *, roles: Sequence[str] = ("M", "F")) -> None:
        cfg = model.config
        if not cfg.causal:
            raise ValueError(f"incremental inference needs a causal COGMEN (CogmenConfig.causal=True); this one "
                             f"(graph={cfg.graph.value!r}) attends to future utterances in SeqContext, so "
                             "utterance-by-utterance outputs would differ from model(batch)")
        _check_eval(model)
        self.model = model
        self.config = cfg
        self.roles = tuple(roles)
        p = next(model.parameters())
        self._device, self._dtype = p.device, p.dtype
        self._layers = list(model.encoder.layers)
        for i, layer in enumerate(self._layers):
            _check_layer(layer, i)
        width = model.input_width
        self._k = [_Rows(width, self._device, self._dtype) for _ in self._layers]
        self._v = [_Rows(width, self._device, self._dtype) for _ in self._layers]
        keep = 0 if cfg.graph is GraphKind.DISJOINT else (None if cfg.wp == -1 else cfg.wp)
        # the last `keep` utterances' SeqContext rows h (1, G), RGCN rows (1, G) and speaker indices
        self._h: collections.deque = collections.deque(maxlen=keep)
        self._g: collections.deque = collections.deque(maxlen=keep)
        self._spk: collections.deque = collections.deque(maxlen=keep)
        self._speakers: dict[str, int] = {}
        self._t = 0

    def __len__(self) -> int:
        """The number of utterances scored so far."""
        return self._t

    @property
    def speakers(self) -> dict[str, int]:
        """Speaker name -> index, in order of first appearance (``appearance`` indexing)."""
        return dict(self._speakers)

    # ------------------------------------------------------------------ step
    @torch.no_grad()
    def step(self, features: Mapping[Modality | str, torch.Tensor], speaker: str,
             available: Mapping[Modality | str, bool] | None = None) -> ModelOutput:
        """Score the next utterance of the dialogue.

        Args:
            features: modality -> (D_m,) feature vector, standardised as the training data were.
                A modality of the model missing here is unavailable (filled); modalities the
                model does not take are ignored.
            speaker: the speaker's name (``speaker_index="appearance"``) or role
                (``speaker_index="role"``, one of ``roles``).
            available: modality -> bool, to mark a given modality unavailable (default: every
                modality in ``features`` is available).

        Returns:
            :class:`~emowb.models.output.ModelOutput` with ``logits`` (1, C), ``embeddings``
            (1, hidden_size·gnn_heads) and ``extras["seq"]`` (1, hidden_size): what
            ``model(batch)`` gives this utterance in evaluation.

        Raises:
            ValueError: wrong feature width, an available modality without features, the model
                in training mode, a dialogue longer than ``max_len`` (learned positions).
            DialogueError: a speaker beyond ``n_speakers`` (or an unknown role).
        """
        model, cfg = self.model, self.config
        _check_eval(model)
        spk = self._speaker_index(speaker)
        x = self._input(features, available)                           # (1, W)
        t = self._t
        if model.pos is not None:
            if isinstance(model.pos, nn.Embedding):
                if t >= cfg.max_len:
                    raise ValueError(f"dialogue of {t + 1} utterances exceeds max_len={cfg.max_len}")
                x = x + model.pos(torch.tensor([t], device=self._device))
            else:
                x = x + model.pos.encode(torch.tensor([float(t)], device=self._device))
        for layer, k, v in zip(self._layers, self._k, self._v):
            x = self._layer_step(layer, x, k, v)
        if model.encoder.norm is not None:
            x = model.encoder.norm(x)
        h = model.seq_out(x)                                            # (1, G)

        # graph: edges from the cached window (and the self-loop) into the new node only
        n_src = len(self._h)
        nodes = torch.cat([*self._h, h])                                # (n_src + 1, G)
        src = torch.arange(n_src + 1, device=self._device)
        edge_index = torch.stack([src, torch.full_like(src, n_src)])    # (2, n_src + 1)
        speakers = torch.tensor([*self._spk, spk], dtype=torch.long, device=self._device)
        edge_type = relation_types(edge_index, speakers, cfg.n_speakers)
        g = model.rgcn(nodes, edge_index, edge_type)[-1:]               # (1, G)
        gx = model.gconv(torch.cat([*self._g, g]), edge_index)[-1:]     # (1, G·heads)
        emb = F.leaky_relu(model.bn(gx))
        z = torch.cat([h, emb], dim=-1) if cfg.concat_seq else emb
        logits = model.clf_out(model.clf_drop(F.relu(model.clf_hidden(z))))

        self._h.append(h)
        self._g.append(g)
        self._spk.append(spk)
        self._t += 1
        return ModelOutput(logits=logits, embeddings=emb, extras={"seq": h})

    # --------------------------------------------------------------- helpers
    def _speaker_index(self, speaker: str) -> int:
        n = self.config.n_speakers
        if self.config.speaker_index is SpeakerIndex.ROLE:
            if speaker not in self.roles:
                raise DialogueError(f"role {speaker!r} not in roles {list(self.roles)}")
            idx = self.roles.index(speaker)
            if idx >= n:
                raise DialogueError(f"role {speaker!r} has index {idx} >= n_speakers={n}")
            return idx
        if speaker not in self._speakers:
            if len(self._speakers) >= n:
                raise DialogueError(f"speaker {speaker!r} would be speaker {len(self._speakers) + 1} of this "
                                    f"dialogue ({list(self._speakers)} so far) but the model was trained with "
                                    f"n_speakers={n}")
            self._speakers[speaker] = len(self._speakers)
        return self._speakers[speaker]

    def _input(self, features: Mapping[Modality | str, torch.Tensor],
               available: Mapping[Modality | str, bool] | None) -> torch.Tensor:
        model = self.model
        given = {Modality(m): v for m, v in features.items()}
        avail = {Modality(m): bool(v) for m, v in (available or {}).items()}
        parts = []
        for m in model.mods:
            x = given.get(m)
            ok = avail.get(m, x is not None)
            if ok and x is None:
                raise ValueError(f"modality {m.value!r} is marked available but has no features")
            if x is not None:
                x = torch.as_tensor(x, dtype=self._dtype, device=self._device)
                if x.shape != (model.dims[m],):
                    raise ValueError(f"modality {m.value!r}: features have shape {tuple(x.shape)}, the model "
                                     f"expects ({model.dims[m]},)")
            x = (x if ok else model.fill_vector(m).to(self._dtype)).view(1, -1)
            if model.proj is not None:
                x = model.proj[m.value](x)
            parts.append(x)
        return torch.cat(parts, dim=-1)

    def _layer_step(self, layer: nn.TransformerEncoderLayer, x: torch.Tensor, k_cache: _Rows,
                    v_cache: _Rows) -> torch.Tensor:
        """One encoder layer for the new row ``x`` (1, W), appending its key and value to the caches."""
        if layer.norm_first:
            x = x + self._attend(layer.self_attn, layer.norm1(x), k_cache, v_cache)
            return x + _feed_forward(layer, layer.norm2(x))
        x = layer.norm1(x + self._attend(layer.self_attn, x, k_cache, v_cache))
        return layer.norm2(x + _feed_forward(layer, x))

    @staticmethod
    def _attend(attn: nn.MultiheadAttention, x: torch.Tensor, k_cache: _Rows, v_cache: _Rows) -> torch.Tensor:
        width, heads = attn.embed_dim, attn.num_heads
        d = width // heads
        q, k, v = F.linear(x, attn.in_proj_weight, attn.in_proj_bias).split(width, dim=-1)   # (1, W) each
        keys = k_cache.append(k).view(-1, heads, d).transpose(0, 1)        # (H, t+1, d)
        values = v_cache.append(v).view(-1, heads, d).transpose(0, 1)      # (H, t+1, d)
        q = q.view(heads, 1, d)
        w = torch.softmax(q @ keys.transpose(1, 2) / math.sqrt(d), dim=-1)  # (H, 1, t+1)
        out = (w @ values).transpose(0, 1).reshape(1, width)               # (1, W)
        return attn.out_proj(out)


def _feed_forward(layer: nn.TransformerEncoderLayer, x: torch.Tensor) -> torch.Tensor:
    return layer.linear2(layer.activation(layer.linear1(x)))


def _check_eval(model: nn.Module) -> None:
    if model.training:
        raise ValueError("incremental inference scores a model in evaluation mode (BatchNorm running "
                         "statistics, no dropout): call model.eval() first")


def _check_layer(layer: nn.Module, i: int) -> None:
    if not isinstance(layer, nn.TransformerEncoderLayer):
        raise ValueError(f"SeqContext layer {i} is a {type(layer).__name__}, not nn.TransformerEncoderLayer")
    a = layer.self_attn
    if not a._qkv_same_embed_dim or a.bias_k is not None or a.add_zero_attn:
        raise ValueError(f"SeqContext layer {i}: attention with separate q/k/v widths, bias_k/bias_v or "
                         "add_zero_attn is not supported incrementally")
