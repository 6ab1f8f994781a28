"""COGMEN model: shapes, padding independence, the reference switch, fills, one-utterance batches."""

import numpy as np
import pytest
import torch

from cogmen_fixtures import tiny_model, toy_corpus, toy_features
from emowb.batching.dialogues import build_dialogues, collate, modality_means
from emowb.config import ConfigError
from emowb.models.cogmen import COGMEN, CogmenConfig, reference_head_count
from emowb.types import Modality


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    corpus = toy_corpus(tmp_path_factory.mktemp("c"), utts=8)
    return corpus, toy_features(corpus)


def _model(cfg, feats, seed=0):
    torch.manual_seed(seed)
    return COGMEN(cfg, input_dims={m: fs.dim for m, fs in feats.items()}, n_classes=4)


def _dialogues(data, cfg, ids=None):
    corpus, feats = data
    return build_dialogues(corpus, {m: feats[m] for m in cfg.mods}, graph=cfg.graph_spec(),
                           dialogue_ids=ids)


@pytest.mark.parametrize("kw", [
    dict(modalities="a"), dict(modalities="av"), dict(modalities="atv"),
    dict(modalities="av", input="project", proj_dim=6, seq_heads=2),
    dict(modalities="av", positional="sinusoidal"), dict(modalities="av", positional="learned"),
    dict(modalities="av", concat_seq=False), dict(modalities="av", graph="past"),
    dict(modalities="av", graph="disjoint"), dict(modalities="av", fill="learned"),
])
def test_shapes(data, kw):
    cfg = tiny_model(**kw)
    model = _model(cfg, data[1])
    b = collate(_dialogues(data, cfg)[:3])
    out = model(b)
    assert out.logits.shape == (b.n_nodes, 4)
    assert out.embeddings.shape == (b.n_nodes, cfg.hidden_size * cfg.gnn_heads)
    assert out.extras["seq"].shape == (b.n_nodes, cfg.hidden_size)
    out.logits.sum().backward()                         # differentiable end to end


def _short_and_long(data, cfg):
    corpus, feats = data
    t = corpus.table
    # make a short dialogue by taking one dialogue's first 3 utterances as its own corpus rows
    ds = _dialogues(data, cfg)
    long_d = ds[1]
    short = ds[0]
    keep = 3
    short.utt_ids, short.labels, short.scored = short.utt_ids[:keep], short.labels[:keep], short.scored[:keep]
    short.features = {m: v[:keep] for m, v in short.features.items()}
    short.avail, short.speaker = short.avail[:keep], short.speaker[:keep]
    from emowb.batching.graph import dialogue_edges
    spec = cfg.graph_spec()
    short.edge_index, short.edge_type = dialogue_edges(short.speaker, wp=spec.wp, wf=spec.wf, kind=spec.kind,
                                                       convention=spec.convention)
    return short, long_d


@pytest.mark.parametrize("reference", [False, True])
def test_batch_mates_do_not_change_predictions_unless_reference(data, reference):
    cfg = tiny_model(modalities="av", reference=reference)
    model = _model(cfg, data[1]).eval()
    short, long_d = _short_and_long(data, cfg)
    with torch.no_grad():
        alone = model(collate([short])).logits
        batched = model(collate([short, long_d])).logits[: len(short)]
    same = torch.allclose(alone, batched, atol=1e-5)
    # emowb masks padding: identical; the reference attends to padded zero rows: different
    assert same is (not reference)


def test_single_utterance_batch_trains(data):
    cfg = tiny_model(modalities="av")
    model = _model(cfg, data[1]).train()
    d = _dialogues(data, cfg)[0]
    from emowb.batching.graph import dialogue_edges
    d.utt_ids, d.labels, d.scored = d.utt_ids[:1], d.labels[:1], d.scored[:1]
    d.features = {m: v[:1] for m, v in d.features.items()}
    d.avail, d.speaker = d.avail[:1], d.speaker[:1]
    d.edge_index, d.edge_type = dialogue_edges(d.speaker, wp=5, wf=5)
    before = model.bn.running_mean.clone()
    out = model(collate([d]))
    out.logits.sum().backward()
    assert out.logits.shape == (1, 4)
    assert torch.equal(model.bn.running_mean, before)   # normalised with running stats, not updated
    with pytest.raises(ValueError):                      # what plain BatchNorm1d does
        torch.nn.BatchNorm1d(4).train()(torch.zeros(1, 4))


@pytest.mark.parametrize("fill", ["zeros", "mean", "learned"])
def test_missing_input_gets_the_fill(data, fill):
    cfg = tiny_model(modalities="av", fill=fill)
    ds = _dialogues(data, cfg)
    model = _model(cfg, data[1]).eval()
    if fill == "mean":
        model.set_fill_means(modality_means(ds))
    if fill == "learned":
        with torch.no_grad():
            model.fill_v.copy_(torch.arange(model.dims[Modality.VIDEO], dtype=torch.float32))
    b = collate(ds[:2])
    vi = b.modality_index("v")
    hidden = b.replace(avail=b.avail.clone())
    hidden.avail[..., vi] = False
    explicit = b.replace(features=dict(b.features), avail=b.avail.clone())
    explicit.features[Modality.VIDEO] = model.fill_vector("v").expand_as(b.features[Modality.VIDEO]).clone()
    explicit.avail[..., vi] = b.mask
    with torch.no_grad():
        assert torch.allclose(model(hidden).logits, model(explicit).logits, atol=1e-6)
        if fill != "zeros":
            assert model.fill_vector("v").abs().sum() > 0


def test_feature_keep_mask_fills_dimensions(data):
    cfg = tiny_model(modalities="av")
    model = _model(cfg, data[1]).eval()
    b = collate(_dialogues(data, cfg)[:2])
    keep = torch.ones(model.dims[Modality.AUDIO], dtype=torch.bool)
    keep[:3] = False
    zeroed = b.replace(features=dict(b.features))
    zeroed.features[Modality.AUDIO] = b.features[Modality.AUDIO].clone()
    zeroed.features[Modality.AUDIO][..., :3] = 0
    with torch.no_grad():
        assert torch.allclose(model(b.replace(feature_keep={Modality.AUDIO: keep})).logits,
                              model(zeroed).logits, atol=1e-6)


def test_errors_name_the_problem(data):
    cfg = tiny_model(modalities="av")
    with pytest.raises(ValueError, match="no input width for modality"):
        COGMEN(cfg, input_dims={"a": 6}, n_classes=4)
    model = COGMEN(cfg, input_dims={"a": 7, "v": 5}, n_classes=4)
    with pytest.raises(ValueError, match="6-d, the model expects 7-d"):
        model(collate(_dialogues(data, cfg)[:1]))
    with pytest.raises(ValueError, match="not divisible by seq_heads"):
        COGMEN(tiny_model(modalities="av", seq_heads=4), input_dims={"a": 6, "v": 5}, n_classes=4)
    with pytest.raises(ConfigError, match="reference=True"):
        CogmenConfig(reference=True, positional="learned")
    with pytest.raises(ConfigError, match="dropout"):
        CogmenConfig(dropout=1.5)


def test_reference_head_rule():
    assert reference_head_count(100) == 10 and reference_head_count(612) == 9
    assert reference_head_count(1380) == 10 and reference_head_count(123) == 1
    assert COGMEN(CogmenConfig(modalities="a", hidden_size=8, seq_ff=8), input_dims={"a": 100},
                  n_classes=4).seq_heads == 10


def test_same_seed_same_model(data):
    cfg = tiny_model(modalities="av")
    b = collate(_dialogues(data, cfg)[:2])
    a = _model(cfg, data[1], seed=3).eval()(b).logits
    c = _model(cfg, data[1], seed=3).eval()(b).logits
    d = _model(cfg, data[1], seed=4).eval()(b).logits
    assert torch.equal(a, c) and not torch.equal(a, d)


def test_speaker_normalise(data):
    from emowb.batching.normalise import speaker_normalise
    corpus, feats = data
    out = speaker_normalise(corpus, feats, over="corpus", invalid="zero")
    t = corpus.table
    fv = out[Modality.VIDEO]
    for s in t["speaker"].unique():
        idx = fv.index_of(t.loc[t.speaker == s, "utt_id"].tolist())
        ok = idx[fv.valid[idx]]
        np.testing.assert_allclose(fv.values[ok].mean(0), 0, atol=1e-5)
        np.testing.assert_allclose(fv.values[ok].std(0), 1, atol=1e-4)
    assert (fv.values[~fv.valid] == 0).all()
    assert not np.shares_memory(fv.values, feats[Modality.VIDEO].values)   # input untouched


def test_speaker_normalise_behaviours(data):
    """The dialogue inputs (over="corpus", invalid="zero") and the utterance inputs
    (over="features", invalid="keep") agree on valid rows; only invalid rows differ."""
    import dataclasses

    from emowb.batching.normalise import speaker_normalise
    from emowb.features.base import FeatureError, FeatureSet
    corpus, feats = data
    fv = feats[Modality.VIDEO]
    assert (~fv.valid).any()
    dirty = dataclasses.replace(fv, values=np.where(fv.valid[:, None], fv.values, 7.0).astype(np.float32))
    z = speaker_normalise(corpus, {"v": dirty}, over="corpus", invalid="zero")["v"]
    k = speaker_normalise(corpus, {"v": dirty}, over="features", invalid="keep")["v"]
    np.testing.assert_array_equal(z.values[fv.valid], k.values[fv.valid])
    assert (z.values[~fv.valid] == 0).all() and (k.values[~fv.valid] == 7.0).all()
    with pytest.raises(ValueError, match="over="):
        speaker_normalise(corpus, {"v": fv}, over="speaker", invalid="zero")
    extra = FeatureSet("x", "v", [*fv.utt_ids, "stranger"], values=np.zeros((len(fv) + 1, fv.dim)))
    with pytest.raises(FeatureError, match="'stranger' is not in corpus"):
        speaker_normalise(corpus, {"v": extra}, over="features", invalid="keep")
    assert speaker_normalise(corpus, {"v": extra}, over="corpus", invalid="zero")["v"].values.shape == extra.values.shape


# ----------------------------------------------------------------- fast paths = the modules' own forward
def _module_forward(model, b):
    """The model's forward through the torch / PyG modules themselves (nn.TransformerEncoder with
    the padding mask on the padded grid, PyG's TransformerConv): what the fast paths replace."""
    import torch.nn.functional as F

    cfg = model.config
    x = model._inputs(b)
    bsz, t_max, _ = x.shape
    if model.pos is not None:
        x = x + (model.pos(torch.arange(t_max)) if isinstance(model.pos, torch.nn.Embedding)
                 else model.pos(t_max, x.device))[None]
    future = torch.ones(t_max, t_max, dtype=torch.bool).triu(1) if cfg.causal else None
    h = model.encoder(x, mask=future, src_key_padding_mask=~b.mask)
    nodes = model.seq_out(h).reshape(bsz * t_max, -1)[b.node_index]
    gx = model.gconv(model.rgcn(nodes, b.edge_index, b.edge_type), b.edge_index)
    emb = F.leaky_relu(model.bn(gx))
    z = torch.cat([nodes, emb], dim=-1) if cfg.concat_seq else emb
    return model.clf_out(F.relu(model.clf_hidden(z))), emb, nodes


@pytest.mark.parametrize("kw", [
    dict(modalities="av"), dict(modalities="atv", seq_heads=3), dict(modalities="av", causal=True, graph="past"),
    dict(modalities="av", graph="disjoint"), dict(modalities="av", positional="learned", gnn_heads=3),
    dict(modalities="av", concat_seq=False, graph="past", wp=-1), dict(modalities="a", wp=0, wf=2),
])
def test_packed_seqcontext_and_dense_graph_attention_equal_the_modules(data, kw):
    """SeqContext on real rows only and the dense graph attention give the modules' outputs
    (float32 rounding), for dialogues of different lengths batched together; and the gradients too."""
    cfg = tiny_model(**kw)
    model = _model(cfg, data[1]).eval()
    from emowb.batching.graph import dialogue_edges

    ds = _dialogues(data, cfg)[:5]
    spec = cfg.graph_spec()
    for d, keep in zip(ds, (3, 8, 1, 6, 5)):          # lengths differ: padding in the batch
        d.utt_ids, d.labels, d.scored = d.utt_ids[:keep], d.labels[:keep], d.scored[:keep]
        d.features = {m: v[:keep] for m, v in d.features.items()}
        d.avail, d.speaker = d.avail[:keep], d.speaker[:keep]
        d.edge_index, d.edge_type = dialogue_edges(d.speaker, wp=spec.wp, wf=spec.wf, kind=spec.kind,
                                                   convention=spec.convention)
    b = collate(ds)
    assert not bool(b.mask.all())
    with torch.no_grad():
        out = model(b)
        logits, emb, nodes = _module_forward(model, b)
    torch.testing.assert_close(out.extras["seq"], nodes, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.embeddings, emb, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(out.logits, logits, atol=1e-5, rtol=1e-5)
    # gradients of the fast paths equal the modules' (eval mode: no dropout)
    model.zero_grad()
    model(b).logits.square().sum().backward()
    fast = {k: p.grad.clone() for k, p in model.named_parameters() if p.grad is not None}
    model.zero_grad()
    _module_forward(model, b)[0].square().sum().backward()
    for k, p in model.named_parameters():
        if p.grad is not None:
            torch.testing.assert_close(fast[k], p.grad, atol=1e-4, rtol=1e-4, msg=k)


def test_dense_graph_attention_counts_repeated_edges_and_lonely_nodes_like_pyg():
    from emowb.models.cogmen import _graph_attention
    from torch_geometric.nn import TransformerConv

    torch.manual_seed(0)
    conv = TransformerConv(6, 4, heads=3, concat=True)
    x = torch.randn(7, 6)
    # two dialogues of 4 and 3 nodes in a (2 × 4) grid (nodes 4..6 at grid rows 4..6); a repeated
    # edge 1 -> 2; node 3 has no incoming edge
    grid_rows = torch.tensor([0, 1, 2, 3, 4, 5, 6])
    ei = torch.tensor([[0, 1, 1, 1, 2, 0, 4, 5, 6, 6],
                       [1, 0, 2, 2, 2, 0, 5, 4, 4, 6]])
    dense = _graph_attention(conv, x, ei, grid_rows, 2, 4)
    torch.testing.assert_close(dense, conv(x, ei), atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("p", [0.5, 0.1, 0.3])
def test_fast_cpu_dropout_keeps_the_expectation_and_the_seed(p):
    from emowb.models.cogmen import dropout

    x = torch.ones(400, 1000)
    torch.manual_seed(3)
    y = dropout(x, p, True)
    kept = (y != 0).float().mean()
    assert abs(float(kept) - (1 - p)) < 0.005                # drop rate p (to 2^-16; 0.5 exactly)
    assert abs(float(y.mean()) - 1.0) < 0.01                  # inverted dropout: E[y] = x
    torch.manual_seed(3)
    assert torch.equal(dropout(x, p, True), y)               # seeded by the torch generator
    assert torch.equal(dropout(x, p, False), x) and torch.equal(dropout(x, 0.0, True), x)
    g = torch.ones(400, 1000, requires_grad=True)
    dropout(g, p, True).sum().backward()
    zero, scale = torch.unique(g.grad).tolist()
    assert zero == 0.0 and scale == pytest.approx(1 / (1 - round(p * 65536) / 65536), rel=1e-6)


def test_relational_conv_equals_pyg_rgcn():
    from emowb.models.cogmen import _relational_conv
    from torch_geometric.nn import RGCNConv

    torch.manual_seed(0)
    conv = RGCNConv(5, 3, 8)
    x = torch.randn(9, 5, requires_grad=True)
    ei = torch.randint(0, 9, (2, 40))
    et = torch.randint(0, 8, (40,))
    torch.testing.assert_close(_relational_conv(conv, x, ei, et), conv(x, ei, et), atol=1e-6, rtol=1e-6)
    _relational_conv(conv, x, ei, et).square().sum().backward()
    g = x.grad.clone()
    x.grad = None
    conv(x, ei, et).square().sum().backward()
    torch.testing.assert_close(g, x.grad, atol=1e-5, rtol=1e-5)


def test_long_dialogues_fall_back_to_pyg_graph_attention(data, monkeypatch):
    """Above DENSE_GRAPH_MAX the sparse PyG layer runs: the same outputs, no (B, H, T, T) grid."""
    import emowb.models.cogmen as cm

    cfg = tiny_model(modalities="av", gnn_heads=3)
    model = _model(cfg, data[1]).eval()
    b = collate(_dialogues(data, cfg)[:4])
    with torch.no_grad():
        dense = model(b).logits
        monkeypatch.setattr(cm, "DENSE_GRAPH_MAX", 1)
        calls = []
        monkeypatch.setattr(cm, "_graph_attention", lambda *a, **k: calls.append(1))
        sparse = model(b).logits
    assert not calls
    torch.testing.assert_close(sparse, dense, atol=1e-5, rtol=1e-5)
