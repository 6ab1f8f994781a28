"""COGMEN (Joshi et al., NAACL 2022): SeqContext transformer + relational graph + classifier.

Per batch of dialogues (see :class:`emowb.batching.dialogues.Batch`)::

    inputs   per modality (B, T, D_m), unavailable entries filled (zeros | training mean | learned)
      -> concat (B, T, ΣD_m)                     input="concat" (the reference: raw features)
         or per-modality Linear -> concat (B, T, M·proj_dim)          input="project"
      -> [+ positional encoding]                 positional = none | sinusoidal | learned
      -> TransformerEncoder (seq_layers, seq_heads, dropout), key-padding mask
         [+ causal mask: utterance t attends to utterances <= t only]           causal=True
      -> Linear -> SeqContext output h (B, T, G)                         G = hidden_size
      -> nodes (N, G) (real utterances only, PyG order)
      -> RGCNConv(G, G, 2·S² relations) -> TransformerConv(G, G, heads, concat) (N, G·heads)
      -> BatchNorm1d -> LeakyReLU = post-graph embedding g (N, G·heads)
      -> classifier on [h ‖ g] (concat_seq) or g: Linear -> ReLU -> Dropout -> Linear (N, C)

Differences to the reference implementation (``Exploration-Lab/COGMEN``), all switchable:

- The reference passes no padding mask to its transformer, so padded zero rows take part in
  attention and a dialogue's predictions depend on what it is batched with. emowb masks padding;
  ``reference=True`` turns the mask off (and reproduces the dependence).
- The reference has no positional encoding in SeqContext (its ``Embedding(110, ·)`` is unused);
  ``positional`` makes it an option (default ``none`` as in the reference).
- The reference picks the SeqContext head count as the first of 7..14 dividing the input width
  (1 if none does); emowb takes ``seq_heads`` and applies that rule only when it is ``None``.
- The reference's BatchNorm fails on a one-utterance batch in training; emowb normalises such a
  batch with the running statistics instead.
- Graph edges are built once per dialogue with tensor ops, not per batch in Python
  (:mod:`emowb.batching.graph`), and ``wp``/``wf`` count from the receiving node (identical for the
  default wp = wf; ``reference=True`` uses the reference's source-centred convention).
- Missing modalities are explicit (availability mask) with a choice of fill.
- ``causal=True`` (not in the reference) makes the whole model causal: an upper-triangular
  attention mask in SeqContext plus a past-only graph (``graph="past"`` or ``"disjoint"``), so
  in evaluation an utterance's outputs depend only on itself and earlier utterances, and
  :meth:`COGMEN.start_dialogue` scores a dialogue utterance by utterance with cached keys and
  values (:mod:`emowb.models.incremental`). ``graph="past"`` alone only makes the *graph* causal:
  SeqContext still attends to the whole dialogue.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Mapping

import torch
from torch import nn
import torch.nn.functional as F
from torch_geometric.nn import RGCNConv, TransformerConv

from emowb.batching.dialogues import Batch, GraphSpec, SpeakerIndex
from emowb.batching.graph import EdgeConvention, GraphKind, num_relations
from emowb.config import Config, require
from emowb.models.output import ModelOutput
from emowb.types import Modality

__all__ = ["InputMode", "PositionalEncoding", "MissingFill", "CogmenConfig", "COGMEN",
           "reference_head_count"]


class InputMode(str, enum.Enum):
    """How per-modality features enter SeqContext."""

    CONCAT = "concat"     # raw features concatenated (the reference)
    PROJECT = "project"   # one Linear per modality to proj_dim, then concatenated


class PositionalEncoding(str, enum.Enum):
    NONE = "none"
    SINUSOIDAL = "sinusoidal"
    LEARNED = "learned"


class MissingFill(str, enum.Enum):
    """What an unavailable (utterance, modality) or a masked feature dimension is replaced by."""

    ZEROS = "zeros"        # the paper / reference
    MEAN = "mean"          # the training mean of that modality (set via COGMEN.set_fill_means)
    LEARNED = "learned"    # a learned "missing" vector per modality


def reference_head_count(width: int) -> int:
    """The reference's rule: the first of 7..14 that divides ``width``, else 1."""
    for h in range(7, 15):
        if width % h == 0:
            return h
    return 1


@dataclasses.dataclass(frozen=True, kw_only=True)
class CogmenConfig(Config):
    """COGMEN hyper-parameters (defaults: the reference's, with the SLT paper's 7 graph heads).

    Attributes:
        modalities: input modalities, e.g. ``"av"`` (order always a, v, t).
        hidden_size: SeqContext output width and graph layer width (reference: 100).
        seq_layers: transformer encoder layers in SeqContext (reference: 2).
        seq_heads: attention heads in SeqContext; None = the reference's 7..14 rule.
        seq_ff: feed-forward width of each encoder layer (torch default 2048, as the reference).
        dropout: dropout in the encoder and the classifier (reference: 0.5).
        input: :class:`InputMode`; proj_dim: per-modality width for ``input="project"``.
        positional: :class:`PositionalEncoding`; max_len: longest dialogue for ``learned``.
        padding_mask: mask padded utterances in SeqContext attention.
        graph: :class:`GraphKind` (window | past | disjoint); wp, wf: windows (-1 = unbounded).
            ``past`` makes only the graph causal (SeqContext still sees future utterances).
        convention: :class:`EdgeConvention` for wp/wf.
        n_speakers: speakers per dialogue (relations = 2·n_speakers²).
        speaker_index: :class:`SpeakerIndex` (appearance | role).
        gnn_heads: TransformerConv heads (the SLT paper's "GNN: 7").
        concat_seq: classifier input [SeqContext ‖ graph] (True) or graph only.
        fill: :class:`MissingFill`.
        reference: reproduce the reference where it changes numbers: no padding mask and the
            reference's window convention (requires input="concat", positional="none").
        causal: causal model for streaming: SeqContext attends to the current and earlier
            utterances only (upper-triangular attention mask) and the graph must be ``past`` or
            ``disjoint``; an utterance's prediction then depends on itself and earlier utterances
            only (in evaluation). Not in the reference.
    """

    modalities: str = "av"
    hidden_size: int = 100
    seq_layers: int = 2
    seq_heads: int | None = None
    seq_ff: int = 2048
    dropout: float = 0.5
    input: InputMode = InputMode.CONCAT
    proj_dim: int = 64
    positional: PositionalEncoding = PositionalEncoding.NONE
    max_len: int = 512
    padding_mask: bool = True
    graph: GraphKind = GraphKind.WINDOW
    wp: int = 5
    wf: int = 5
    convention: EdgeConvention = EdgeConvention.RECEIVER
    n_speakers: int = 2
    speaker_index: SpeakerIndex = SpeakerIndex.APPEARANCE
    gnn_heads: int = 7
    concat_seq: bool = True
    fill: MissingFill = MissingFill.ZEROS
    reference: bool = False
    causal: bool = False

    def validate(self) -> None:
        try:
            Modality.parse(self.modalities)
        except ValueError as e:
            raise type(e)(f"CogmenConfig.modalities: {e}") from None
        for name in ("hidden_size", "seq_layers", "seq_ff", "proj_dim", "n_speakers", "gnn_heads",
                     "max_len"):
            require(getattr(self, name) >= 1, f"CogmenConfig.{name} must be >= 1, got {getattr(self, name)}")
        require(self.seq_heads is None or self.seq_heads >= 1,
                f"CogmenConfig.seq_heads must be >= 1 or None, got {self.seq_heads}")
        require(0.0 <= self.dropout < 1.0, f"CogmenConfig.dropout must be in [0, 1), got {self.dropout}")
        require(self.wp >= -1 and self.wf >= -1,
                f"CogmenConfig.wp/wf must be >= -1 (-1 = unbounded), got {self.wp}/{self.wf}")
        if self.reference:
            require(self.input is InputMode.CONCAT and self.positional is PositionalEncoding.NONE,
                    "CogmenConfig.reference=True reproduces the reference model: it needs "
                    "input='concat' and positional='none'")
        if self.causal:
            require(self.graph in (GraphKind.PAST, GraphKind.DISJOINT),
                    f"CogmenConfig.causal=True needs graph='past' or 'disjoint' (graph={self.graph.value!r} "
                    f"sends messages from future utterances)")

    @property
    def mods(self) -> tuple[Modality, ...]:
        return Modality.parse(self.modalities)

    @property
    def use_padding_mask(self) -> bool:
        return self.padding_mask and not self.reference

    def graph_spec(self) -> GraphSpec:
        """The per-dialogue graph this model expects its batches to carry."""
        conv = EdgeConvention.REFERENCE if self.reference else self.convention
        return GraphSpec(wp=self.wp, wf=self.wf, kind=self.graph, convention=conv,
                         n_speakers=self.n_speakers)


class _SinusoidalPE(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.width = width

    def forward(self, t_max: int, device) -> torch.Tensor:
        """(t_max, width): the encodings of positions 0..t_max-1."""
        return self.encode(torch.arange(t_max, device=device, dtype=torch.float32))

    def encode(self, positions: torch.Tensor) -> torch.Tensor:
        """(P, width): the encodings of ``positions`` (P,) float32 (row p only depends on p)."""
        device = positions.device
        pos = positions[:, None]
        i = torch.arange(0, self.width, 2, device=device, dtype=torch.float32)
        angle = pos / torch.pow(10000.0, i / self.width)
        pe = torch.zeros(positions.shape[0], self.width, device=device)
        pe[:, 0::2] = torch.sin(angle)
        pe[:, 1::2] = torch.cos(angle[:, : self.width // 2])
        return pe


def dropout(x: torch.Tensor, p: float, training: bool) -> torch.Tensor:
    """Inverted dropout, ``x · m / (1 - p)`` with ``m ~ Bernoulli(1 - p)`` per element.

    On CUDA (or with ``p`` 0 / not training) this is :func:`torch.nn.functional.dropout`. On the
    CPU, ``bernoulli_`` draws one Mersenne-Twister number per element and takes longer than the
    layer's matrix products (~100 ms for a 32 × 60 × 2048 feed-forward activation, 28 % of a
    COGMEN train epoch at IEMOCAP-4 size); here each 64-bit draw of the same generator gives four
    16-bit uniforms (4× fewer draws, 7× faster end to end). The drop probability is therefore
    ``p`` rounded to a multiple of 2⁻¹⁶, and the scale uses that rounded value, so the expectation
    is kept exactly; a multiple of 1/256 (0.5, the reference's) is exact and takes eight 8-bit
    uniforms per draw. Seeded by the default torch generator like ``F.dropout``.

    Args:
        x: any shape.
        p: drop probability in [0, 1).
        training: dropout only in training.
    """
    if not training or p == 0.0 or x.device.type != "cpu":
        return F.dropout(x, p, training)
    n = x.numel()
    if float(p * 256).is_integer():               # e.g. 0.5: eight 8-bit uniforms per draw, exact
        bits = torch.randint(-2**63, 2**63 - 1, ((n + 7) // 8,), dtype=torch.int64, device=x.device)
        keep = bits.view(torch.uint8)[:n].view(x.shape) >= int(p * 256)
        return x * keep.to(x.dtype).mul_(1.0 / (1.0 - p))
    threshold = int(round(p * 65536))             # drop when u16 < threshold, u16 uniform in 0..65535
    if threshold == 0:
        return x
    bits = torch.randint(-2**63, 2**63 - 1, ((n + 3) // 4,), dtype=torch.int64, device=x.device)
    u16 = bits.view(torch.int16)[:n].view(x.shape)       # signed: u16 - 32768
    scale = (u16 >= threshold - 32768).to(x.dtype).mul_(65536.0 / (65536 - threshold))
    return x * scale


def _to_heads_grid(qkv: torch.Tensor, rows: torch.Tensor, b: int, t_max: int, heads: int) -> torch.Tensor:
    """(N, 3·H·d) packed query/key/value rows -> (3, B, H, T, d) on the padded grid (zeros elsewhere)."""
    grid = qkv.new_zeros(b * t_max, qkv.shape[1]).index_copy(0, rows, qkv)
    return grid.view(b, t_max, 3, heads, -1).permute(2, 0, 3, 1, 4)


def _from_heads_grid(o: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """(B, H, T, d) per-head outputs on the grid -> (N, H, d) at the real rows."""
    b, heads, t_max, d = o.shape
    return o.transpose(1, 2).reshape(b * t_max, heads, d).index_select(0, rows)


def _encoder_layer_packed(layer: nn.TransformerEncoderLayer, x: torch.Tensor, rows: torch.Tensor, b: int,
                          t_max: int, allowed: torch.Tensor) -> torch.Tensor:
    """One ``nn.TransformerEncoderLayer`` on the real utterances only.

    The linear maps and the feed-forward block (all but ~1 % of a layer's work) run on the N real
    rows; only the attention scores are computed on the padded (B, heads, T, T) grid, through
    ``scaled_dot_product_attention`` with a mask. The same parameters and arithmetic as the layer's
    own forward with ``src_key_padding_mask`` (and ``mask``) at its real rows.

    Args:
        layer: a batch-first encoder layer (its weights, norms, activation, ``norm_first``).
        x: (N, W) the real rows, in the order of ``rows``.
        rows: (N,) each row's flat position in the padded (B·T) grid.
        b, t_max: the padded grid.
        allowed: (B, 1, T, T) bool, True where query t may attend to key s.

    Returns:
        (N, W).
    """
    attn = layer.self_attn
    n, w = x.shape
    heads = attn.num_heads
    training = layer.training

    def sa_block(h: torch.Tensor) -> torch.Tensor:
        qkv = F.linear(h, attn.in_proj_weight, attn.in_proj_bias)                      # (N, 3W)
        q, k, v = _to_heads_grid(qkv, rows, b, t_max, heads)                               # 3 × (B, H, T, d)
        if training and attn.dropout > 0 and x.device.type == "cpu":
            # SDPA's CPU dropout draws with bernoulli_ (slow, see ``dropout``): the same math by hand
            scores = (q @ k.transpose(-2, -1)).mul_((w // heads) ** -0.5)                # (B, H, T, T)
            weights = torch.softmax(scores.masked_fill_(~allowed, float("-inf")), dim=-1)
            o = dropout(weights, attn.dropout, True) @ v                                 # (B, H, T, d)
        else:
            o = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed,
                                               dropout_p=attn.dropout if training else 0.0)
        o = _from_heads_grid(o, rows).reshape(n, w)                                      # (N, W)
        return dropout(F.linear(o, attn.out_proj.weight, attn.out_proj.bias), layer.dropout1.p, training)

    def ff_block(h: torch.Tensor) -> torch.Tensor:
        h = dropout(layer.activation(layer.linear1(h)), layer.dropout.p, training)
        return dropout(layer.linear2(h), layer.dropout2.p, training)

    if layer.norm_first:
        x = x + sa_block(layer.norm1(x))
        return x + ff_block(layer.norm2(x))
    x = layer.norm1(x + sa_block(x))
    return layer.norm2(x + ff_block(x))


def _graph_attention(conv: TransformerConv, x: torch.Tensor, edge_index: torch.Tensor, rows: torch.Tensor, b: int,
                     t_max: int) -> torch.Tensor:
    """``conv(x, edge_index)`` for graphs whose edges stay inside a dialogue, as dense batched attention.

    PyG's TransformerConv gathers a query, key and value row per edge and normalises with scatter
    operations: with 7 heads of 100 channels and ~14k edges per batch that is 10M-element
    element-wise products and scatters, ~100 ms per batch on one CPU core. The same attention
    as matrix products per dialogue, masked by the edge counts::

        S[b, h, i, j] = q_i · k_j / √C + log(count(j → i))        (−∞ where there is no edge)
        out_i        = Σ_j softmax_j(S[b, h, i, :]) v_j  (+ lin_skip(x_i))

    does ~5× the multiply-adds on the (B, H, T, T) grid but as GEMMs, an order of magnitude
    faster; ``log(count)`` makes a repeated edge count as often as PyG counts it, and a node
    without incoming edges gets 0 + skip, as in PyG.

    Args:
        conv: the layer (its weights; ``beta=False``, no edge features, no attention dropout).
        x: (N, G) node features; edge_index: (2, E) source → target, both in one dialogue.
        rows, b, t_max: each node's flat position in the padded (B·T) grid of its batch.

    Returns:
        (N, H·C) (``concat``) or (N, C).
    """
    n = x.shape[0]
    heads, c = conv.heads, conv.out_channels
    lins = (conv.lin_query, conv.lin_key, conv.lin_value)
    bias = None if lins[0].bias is None else torch.cat([m.bias for m in lins])
    qkv = F.linear(x, torch.cat([m.weight for m in lins]), bias)                       # (N, 3·H·C)
    q, k, v = _to_heads_grid(qkv, rows, b, t_max, heads)                               # 3 × (B, H, T, C)
    src, dst = rows[edge_index[0]], rows[edge_index[1]]
    counts = torch.zeros(b * t_max * t_max, dtype=x.dtype, device=x.device)
    counts.index_put_((dst * t_max + src % t_max,), torch.ones_like(src, dtype=x.dtype), accumulate=True)
    counts = counts.view(b, 1, t_max, t_max)                       # [b, 0, target, source]
    lonely = counts.sum(-1, keepdim=True) == 0                     # no incoming edge (or padding)
    # a lonely row attends to itself only to stay finite; its weights are zeroed after the softmax
    counts = counts + lonely * torch.eye(t_max, dtype=x.dtype, device=x.device)
    # log 1 = 0 for an edge, log 0 = -inf for none, log k for an edge repeated k times
    scores = (q @ k.transpose(-2, -1)).mul_(c ** -0.5).add_(counts.log())               # (B, H, T, T)
    weights = torch.softmax(scores, dim=-1).masked_fill(lonely, 0.0)
    out = _from_heads_grid(weights @ v, rows)                                           # (N, H, C)
    out = out.reshape(n, heads * c) if conv.concat else out.mean(dim=1)
    if conv.root_weight:
        out = out + conv.lin_skip(x)
    return out


def _relational_conv(conv: RGCNConv, x: torch.Tensor, edge_index: torch.Tensor, edge_type: torch.Tensor) -> torch.Tensor:
    """``conv(x, edge_index, edge_type)`` (RGCNConv, mean aggregation, no bases / blocks) in one pass.

    PyG loops over the relations (2·S² = 8), masking the edges and propagating once per relation.
    The same sum as one scatter and one matrix product::

        m[i, r] = mean of x_j over the edges j → i of relation r   (0 if none)    (N, R, C_in)
        out_i  = Σ_r m[i, r] W_r + x_i W_root + b = m.view(N, R·C_in) @ W.view(R·C_in, C_out) + ...

    Args:
        conv: the layer (its weights). x: (N, C_in). edge_index: (2, E). edge_type: (E,).

    Returns:
        (N, C_out).
    """
    n, (r, c_in, c_out) = x.shape[0], conv.weight.shape
    slot = edge_index[1] * r + edge_type                                  # (target, relation)
    count = torch.zeros(n * r, dtype=x.dtype, device=x.device).index_add_(
        0, slot, torch.ones_like(slot, dtype=x.dtype))
    mean = torch.zeros(n * r, c_in, dtype=x.dtype, device=x.device).index_add(0, slot, x[edge_index[0]])
    mean = mean / count.clamp(min=1).unsqueeze(1)
    out = mean.view(n, r * c_in) @ conv.weight.reshape(r * c_in, c_out)
    if conv.root is not None:
        out = out + x @ conv.root
    if conv.bias is not None:
        out = out + conv.bias
    return out


def _fast_rgcn_ok(conv: RGCNConv) -> bool:
    return conv.num_bases is None and conv.num_blocks is None and conv.aggr == "mean"


#: Largest (B · heads · T · T) grid the dense graph attention builds (2**25 floats = 128 MB per
#: grid; IEMOCAP batches stay under 3M). Longer dialogues take PyG's sparse TransformerConv.
DENSE_GRAPH_MAX = 2 ** 25


def _dense_graph_ok(conv: TransformerConv, b: int, t_max: int) -> bool:
    return (conv.lin_beta is None and conv.lin_edge is None and conv.dropout == 0.0
            and b * conv.heads * t_max * t_max <= DENSE_GRAPH_MAX)


class _SafeBatchNorm1d(nn.BatchNorm1d):
    """BatchNorm1d that normalises a one-row training batch with the running statistics.

    (``nn.BatchNorm1d`` raises "Expected more than 1 value per channel when training" there; the
    running statistics are left untouched by such a batch.)
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and x.shape[0] == 1:
            return F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                                training=False, momentum=0.0, eps=self.eps)
        return super().forward(x)


class COGMEN(nn.Module):
    """COGMEN for utterance-level emotion classification in dialogues.

    Args:
        config: :class:`CogmenConfig`.
        input_dims: feature width per modality (every modality of ``config.modalities``).
        n_classes: number of emotion classes.

    ``forward(batch)`` returns :class:`~emowb.models.output.ModelOutput` with ``logits`` (N, C),
    ``embeddings`` (N, hidden_size·gnn_heads) (post-graph) and ``extras["seq"]`` (N, hidden_size).
    """

    def __init__(self, config: CogmenConfig, *, input_dims: Mapping[Modality | str, int],
                 n_classes: int) -> None:
        super().__init__()
        self.config = config
        self.n_classes = int(n_classes)
        if self.n_classes < 2:
            raise ValueError(f"n_classes must be >= 2, got {n_classes}")
        dims = {Modality(m): int(d) for m, d in input_dims.items()}
        missing = [m.value for m in config.mods if m not in dims]
        if missing:
            raise ValueError(f"COGMEN({config.modalities}): no input width for modality {missing}; "
                             f"got {sorted(m.value for m in dims)}")
        self.mods = config.mods
        self.dims = {m: dims[m] for m in self.mods}
        for m in self.mods:
            if self.dims[m] < 1:
                raise ValueError(f"modality {m.value!r} has width {self.dims[m]}")
        # missing-input fill
        for m in self.mods:
            if config.fill is MissingFill.LEARNED:
                self.register_parameter(f"fill_{m.value}", nn.Parameter(torch.zeros(self.dims[m])))
            else:
                self.register_buffer(f"fill_{m.value}", torch.zeros(self.dims[m]))
        # input
        if config.input is InputMode.PROJECT:
            self.proj = nn.ModuleDict({m.value: nn.Linear(self.dims[m], config.proj_dim) for m in self.mods})
            width = config.proj_dim * len(self.mods)
        else:
            self.proj = None
            width = sum(self.dims.values())
        self.input_width = width
        heads = config.seq_heads if config.seq_heads is not None else reference_head_count(width)
        if width % heads:
            raise ValueError(f"SeqContext width {width} is not divisible by seq_heads={heads}; choose "
                             f"a divisor of {width} or seq_heads=None (reference rule)")
        self.seq_heads = heads
        if config.positional is PositionalEncoding.LEARNED:
            self.pos = nn.Embedding(config.max_len, width)
        elif config.positional is PositionalEncoding.SINUSOIDAL:
            self.pos = _SinusoidalPE(width)
        else:
            self.pos = None
        layer = nn.TransformerEncoderLayer(d_model=width, nhead=heads, dim_feedforward=config.seq_ff,
                                           dropout=config.dropout, batch_first=True)
        # no nested-tensor fast path: the same kernels run in training and evaluation
        self.encoder = nn.TransformerEncoder(layer, num_layers=config.seq_layers,
                                             enable_nested_tensor=False)
        g = config.hidden_size
        self.seq_out = nn.Linear(width, g)
        self.rgcn = RGCNConv(g, g, num_relations(config.n_speakers))
        self.gconv = TransformerConv(g, g, heads=config.gnn_heads, concat=True)
        self.bn = _SafeBatchNorm1d(g * config.gnn_heads)
        clf_in = g * config.gnn_heads + (g if config.concat_seq else 0)
        self.clf_hidden = nn.Linear(clf_in, g)
        self.clf_drop = nn.Dropout(config.dropout)
        self.clf_out = nn.Linear(g, self.n_classes)

    # ------------------------------------------------------------------ inputs
    def fill_vector(self, m: Modality) -> torch.Tensor:
        return getattr(self, f"fill_{Modality(m).value}")

    @torch.no_grad()
    def set_fill_means(self, means: Mapping[Modality | str, torch.Tensor]) -> None:
        """Store the training means used by ``fill="mean"`` (saved in the state dict)."""
        for m in self.mods:
            if m not in {Modality(k) for k in means}:
                raise ValueError(f"set_fill_means: no mean for modality {m.value!r}")
        for k, v in means.items():
            k = Modality(k)
            if k in self.mods and self.config.fill is MissingFill.MEAN:
                v = torch.as_tensor(v, dtype=torch.float32)
                if v.shape != (self.dims[k],):
                    raise ValueError(f"mean for {k.value!r} has shape {tuple(v.shape)}, expected ({self.dims[k]},)")
                self.fill_vector(k).copy_(v)

    def _inputs(self, batch: Batch) -> torch.Tensor:
        parts = []
        for m in self.mods:
            if m not in batch.features:
                raise ValueError(f"batch lacks modality {m.value!r} that this COGMEN({self.config.modalities}) "
                                 f"takes; the batch has {Modality.code(batch.modalities)}")
            x = batch.features[m]
            if x.shape[-1] != self.dims[m]:
                raise ValueError(f"modality {m.value!r}: batch features are {x.shape[-1]}-d, the model "
                                 f"expects {self.dims[m]}-d (dialogues {batch.dialogue_ids[:3]})")
            keep = batch.avail[..., batch.modality_index(m)].unsqueeze(-1)     # (B, T, 1)
            if batch.feature_keep is not None and m in batch.feature_keep:
                keep = keep & batch.feature_keep[m].view(1, 1, -1)              # (B, T, D_m)
            x = torch.where(keep, x, self.fill_vector(m).to(x.dtype).view(1, 1, -1))
            if self.proj is not None:
                x = self.proj[m.value](x)
            parts.append(x)
        return torch.cat(parts, dim=-1)

    # ----------------------------------------------------------------- forward
    def forward(self, batch: Batch) -> ModelOutput:
        x = self._inputs(batch)                                   # (B, T, W)
        b, t_max, _ = x.shape
        if self.pos is not None:
            if isinstance(self.pos, nn.Embedding):
                if t_max > self.config.max_len:
                    raise ValueError(f"dialogue of {t_max} utterances exceeds max_len={self.config.max_len}")
                x = x + self.pos(torch.arange(t_max, device=x.device))[None]
            else:
                x = x + self.pos(t_max, x.device)[None]
        if self.config.use_padding_mask:
            nodes = self.seq_out(self._seq_context_packed(x, batch))          # (N, G)
        else:
            # the reference: padded rows take part in attention, so they are computed too
            future = (torch.ones(t_max, t_max, dtype=torch.bool, device=x.device).triu(1)
                      if self.config.causal else None)     # True = query t may not see key s > t
            h = self.encoder(x, mask=future)                                  # (B, T, W)
            nodes = self.seq_out(h).reshape(b * t_max, -1)[batch.node_index]  # (N, G)
        if _fast_rgcn_ok(self.rgcn):
            gx = _relational_conv(self.rgcn, nodes, batch.edge_index, batch.edge_type)  # (N, G)
        else:
            gx = self.rgcn(nodes, batch.edge_index, batch.edge_type)  # (N, G)
        if _dense_graph_ok(self.gconv, b, t_max):
            gx = _graph_attention(self.gconv, gx, batch.edge_index, batch.node_index, b, t_max)  # (N, G·heads)
        else:
            gx = self.gconv(gx, batch.edge_index)                   # (N, G·heads)
        emb = F.leaky_relu(self.bn(gx))                             # (N, G·heads)
        z = torch.cat([nodes, emb], dim=-1) if self.config.concat_seq else emb
        logits = self.clf_out(dropout(F.relu(self.clf_hidden(z)), self.clf_drop.p, self.training))
        return ModelOutput(logits=logits, embeddings=emb, extras={"seq": nodes})

    def _seq_context_packed(self, x: torch.Tensor, batch: Batch) -> torch.Tensor:
        """SeqContext on the real utterances only (no compute on padding).

        Args:
            x: (B, T, W) padded inputs (+ positions).
            batch: gives ``mask`` (B, T) and ``node_index`` (N,), the real rows in PyG order.

        Returns:
            (N, W): the encoder's output rows of the real utterances, in ``node_index`` order —
            what ``self.encoder(x, src_key_padding_mask=~mask[, mask=causal])`` gives at those rows.
        """
        b, t_max, w = x.shape
        rows = batch.node_index
        allowed = batch.mask[:, None, None, :]                                 # (B, 1, 1, T) real keys
        if self.config.causal:
            # query t attends to keys s <= t only; padding sits after a dialogue's last utterance
            allowed = allowed & torch.ones(t_max, t_max, dtype=torch.bool, device=x.device).tril()
        h = x.reshape(b * t_max, w).index_select(0, rows)                      # (N, W)
        for layer in self.encoder.layers:
            h = _encoder_layer_packed(layer, h, rows, b, t_max, allowed)
        if self.encoder.norm is not None:
            h = self.encoder.norm(h)
        return h

    def start_dialogue(self, *, roles=("M", "F")):
        """Score a new dialogue utterance by utterance (causal models only).

        Args:
            roles: role names in index order, for ``speaker_index="role"`` (as
                :func:`~emowb.batching.dialogues.build_dialogues` takes them).

        Returns:
            A :class:`~emowb.models.incremental.CausalDialogue`; its ``step(features, speaker)``
            returns the new utterance's :class:`ModelOutput` (what ``forward`` gives that utterance
            in evaluation) without recomputing the earlier ones.

        Raises:
            ValueError: the model is not causal (``CogmenConfig.causal=False``) or in training mode.
        """
        from emowb.models.incremental import CausalDialogue

        return CausalDialogue(self, roles=roles)

    def n_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters() if p.requires_grad)
