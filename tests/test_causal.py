"""Causal COGMEN: no information from future utterances, incremental inference = the full pass."""

import pytest
import torch

from emowb.batching.dialogues import Dialogue, DialogueError, collate
from emowb.batching.graph import dialogue_edges
from emowb.config import ConfigError
from emowb.models.cogmen import COGMEN, CogmenConfig
from emowb.types import Modality

A, V = Modality.AUDIO, Modality.VIDEO
DIMS = {"a": 6, "v": 5}


def _config(**kw) -> CogmenConfig:
    base = dict(modalities="av", hidden_size=8, seq_ff=16, gnn_heads=2, seq_heads=1, dropout=0.1,
                graph="past", wp=3, causal=True)
    base.update(kw)
    return CogmenConfig(**base)


def _model(cfg: CogmenConfig, seed: int = 0) -> COGMEN:
    torch.manual_seed(seed)
    model = COGMEN(cfg, input_dims=DIMS, n_classes=4)
    # non-trivial BatchNorm statistics and a learned fill, so evaluation differs from the defaults
    model.bn.running_mean.normal_()
    model.bn.running_var.uniform_(0.5, 2.0)
    return model.eval()


def _dialogue(cfg: CogmenConfig, length: int, seed: int) -> tuple[Dialogue, list[str]]:
    """A random dialogue of two speakers (random turn order); video unavailable for some utterances."""
    g = torch.Generator().manual_seed(seed)
    names = ["Kim" if r < 0.5 else "Lee" for r in torch.rand(length, generator=g).tolist()]
    order = {s: i for i, s in enumerate(dict.fromkeys(names))}
    spk = torch.tensor([order[s] for s in names])
    spec = cfg.graph_spec()
    ei, et = dialogue_edges(spk, wp=spec.wp, wf=spec.wf, kind=spec.kind, convention=spec.convention,
                            n_speakers=spec.n_speakers)
    avail = torch.ones(length, 2, dtype=torch.bool)
    avail[:, 1] = torch.rand(length, generator=g) > 0.3
    feats = {A: torch.randn(length, DIMS["a"], generator=g), V: torch.randn(length, DIMS["v"], generator=g)}
    feats[V][~avail[:, 1]] = 0.0
    d = Dialogue(dialogue_id=f"d{seed}", utt_ids=[f"d{seed}_{i}" for i in range(length)], modalities=(A, V),
                 features=feats, avail=avail, speaker=spk, labels=torch.zeros(length, dtype=torch.long),
                 scored=torch.ones(length, dtype=torch.bool), edge_index=ei, edge_type=et)
    return d, names


def _perturbed(d: Dialogue, t: int) -> Dialogue:
    feats = {m: v.clone() for m, v in d.features.items()}
    feats[A][t] += 5.0
    return Dialogue(**{**d.__dict__, "features": feats})


def _outputs(model, dialogues):
    with torch.no_grad():
        return model(collate(dialogues))


@pytest.mark.parametrize("kw", [dict(), dict(positional="sinusoidal"), dict(positional="learned"),
                                dict(input="project", proj_dim=4, seq_heads=2), dict(graph="disjoint"),
                                dict(reference=True), dict(padding_mask=False), dict(wp=-1)])
@pytest.mark.parametrize("where", ["last", "middle"])
def test_causal_model_ignores_future_utterances(kw, where):
    cfg = _config(**kw)
    model = _model(cfg)
    long_d, _ = _dialogue(cfg, 11, seed=1)
    short_d, _ = _dialogue(cfg, 6, seed=2)
    t = len(short_d) - 1 if where == "last" else 3
    for i, changed in enumerate([[_perturbed(short_d, t), long_d], [long_d, _perturbed(short_d, t)]]):
        base = _outputs(model, [short_d, long_d] if i == 0 else [long_d, short_d])
        new = _outputs(model, changed)
        off = 0 if i == 0 else len(long_d)
        for key in ("logits", "embeddings"):
            a, b = getattr(base, key)[off:off + len(short_d)], getattr(new, key)[off:off + len(short_d)]
            assert torch.allclose(a[:t], b[:t], atol=1e-6, rtol=0), key     # the past does not move
            assert not torch.allclose(a[t], b[t], atol=1e-3), key          # the perturbed one does
        sa, sb = base.extras["seq"][off:off + len(short_d)], new.extras["seq"][off:off + len(short_d)]
        assert torch.allclose(sa[:t], sb[:t], atol=1e-6, rtol=0)
        # the other dialogue of the batch is untouched
        other = slice(len(short_d), None) if i == 0 else slice(0, len(long_d))
        assert torch.allclose(base.logits[other], new.logits[other], atol=1e-6, rtol=0)


def test_past_graph_without_causal_attention_leaks():
    """The issue: graph='past' alone still lets SeqContext attend to future utterances."""
    cfg = _config(causal=False)
    model = _model(cfg)
    d, _ = _dialogue(cfg, 6, seed=1)
    base, new = _outputs(model, [d]), _outputs(model, [_perturbed(d, len(d) - 1)])
    moved = (base.logits[:-1] - new.logits[:-1]).abs().amax(dim=1)
    assert bool((moved > 1e-4).all())            # every earlier utterance's logits move


def test_causal_needs_a_past_graph():
    with pytest.raises(ConfigError, match="causal=True needs graph='past' or 'disjoint'"):
        CogmenConfig(causal=True)
    assert CogmenConfig(causal=True, graph="disjoint").causal
    assert CogmenConfig(causal=True, graph="past").to_dict()["causal"] is True
    assert CogmenConfig.from_params(causal="true", graph="past").causal


def test_default_model_is_unchanged_by_the_causal_switch():
    """causal=False runs the old code path: same numbers as before the field existed."""
    cfg = _config(causal=False, graph="window")
    model = _model(cfg)
    d, _ = _dialogue(cfg, 7, seed=3)
    b = collate([d])
    with torch.no_grad():
        x = model._inputs(b)
        h = model.encoder(x, src_key_padding_mask=~b.mask)
        assert torch.equal(model(b).extras["seq"], model.seq_out(h).reshape(7, -1))


# ------------------------------------------------------------------ incremental inference
def _stream(model, d: Dialogue, names: list[str]):
    state = model.start_dialogue()
    outs = []
    for t in range(len(d)):
        feats = {"a": d.features[A][t]}
        if d.avail[t, 1]:
            feats["v"] = d.features[V][t]
        outs.append(state.step(feats, names[t]))
    assert len(state) == len(d)
    return outs


@pytest.mark.parametrize("kw", [
    dict(input="concat", positional="sinusoidal"),
    dict(input="project", proj_dim=4, seq_heads=2, positional="sinusoidal"),
    dict(input="project", proj_dim=4, seq_heads=4, positional="learned", seq_layers=3, fill="learned"),
    dict(wp=-1, concat_seq=False), dict(wp=0), dict(graph="disjoint"), dict(reference=True),
    dict(speaker_index="appearance", n_speakers=3),
])
def test_incremental_equals_the_full_causal_pass(kw):
    cfg = _config(**kw)
    model = _model(cfg)
    if cfg.fill.value == "learned":
        with torch.no_grad():
            model.fill_v.normal_()
    data = [_dialogue(cfg, n, seed=10 + n) for n in (1, 2, 5, 9, 14)]      # shorter and longer than wp
    full = _outputs(model, [d for d, _ in data])
    off = 0
    for d, names in data:
        outs = _stream(model, d, names)
        for key in ("logits", "embeddings"):
            inc = torch.cat([getattr(o, key) for o in outs])
            assert inc.shape == getattr(full, key)[off:off + len(d)].shape
            assert (inc - getattr(full, key)[off:off + len(d)]).abs().max() <= 1e-5, key
        seq = torch.cat([o.extras["seq"] for o in outs])
        assert (seq - full.extras["seq"][off:off + len(d)]).abs().max() <= 1e-5
        off += len(d)


def test_incremental_respects_norm_first_and_activation():
    cfg = _config(positional="sinusoidal", seq_layers=2)
    model = _model(cfg)
    for layer in model.encoder.layers:
        layer.norm_first = True
        layer.activation = torch.nn.functional.gelu
        layer.activation_relu_or_gelu = 2
    d, names = _dialogue(cfg, 8, seed=4)
    full = _outputs(model, [d])
    inc = torch.cat([o.logits for o in _stream(model, d, names)])
    assert (inc - full.logits).abs().max() <= 1e-5


def test_incremental_explicit_availability_and_errors():
    cfg = _config()
    model = _model(cfg)
    d, names = _dialogue(cfg, 4, seed=5)
    state = model.start_dialogue()
    # a given modality marked unavailable is filled, as a missing one
    a = state.step({"a": d.features[A][0], "v": d.features[V][0]}, "Kim", available={"v": False})
    b = model.start_dialogue().step({"a": d.features[A][0]}, "Kim")
    assert torch.equal(a.logits, b.logits)
    with pytest.raises(ValueError, match="marked available but has no features"):
        state.step({"a": d.features[A][1]}, "Kim", available={"v": True})
    with pytest.raises(ValueError, match="expects \\(6,\\)"):
        state.step({"a": torch.zeros(7)}, "Kim")
    state.step({"a": d.features[A][1]}, "Lee")
    with pytest.raises(DialogueError, match="n_speakers=2"):
        state.step({"a": d.features[A][2]}, "Sam")
    assert state.speakers == {"Kim": 0, "Lee": 1} and len(state) == 2
    with pytest.raises(ValueError, match="call model.eval\\(\\) first"):
        model.train().start_dialogue()
    with pytest.raises(ValueError, match="needs a causal COGMEN"):
        _model(_config(causal=False)).start_dialogue()


def test_incremental_role_speakers():
    cfg = _config(speaker_index="role")
    model = _model(cfg)
    state = model.start_dialogue(roles=("M", "F"))
    state.step({"a": torch.zeros(6)}, "F")
    with pytest.raises(DialogueError, match="not in roles"):
        state.step({"a": torch.zeros(6)}, "X")


def test_train_notebook_and_cli_preset_set_a_causal_model(tmp_path):
    from emowb.cli.train import TRAIN_PRESETS
    from emowb.notebook.params import TrainNotebook

    nb = TrainNotebook.from_params(**TRAIN_PRESETS["causal"])
    cfg = nb.run_config(tmp_path, 0)
    assert cfg.model.causal and cfg.model.graph.value == "past" and nb.name.endswith("-past-causal")
    assert not TrainNotebook.from_params().run_config(tmp_path, 0).model.causal
    with pytest.raises(ConfigError, match="causal=True needs graph past or disjoint"):
        TrainNotebook.from_params(causal=True)
