"""Masked training scenarios, granularities, any modality set; evaluation contexts."""

import collections

import pytest
import torch

from cogmen_fixtures import tiny_model, toy_corpus, toy_features
from emowb.batching.dialogues import build_dialogues, collate
from emowb.config import ConfigError
from emowb.eval.contexts import ModalityContext, all_contexts, parse_contexts
from emowb.train.masking import (FullModalityMask, MaskingConfig, RandomFeatureMask, RandomUtteranceMask,
                                 build_masker)
from emowb.types import Modality


@pytest.fixture(scope="module")
def batch_atv(tmp_path_factory):
    corpus = toy_corpus(tmp_path_factory.mktemp("c"), n_groups=2, dialogues_per_group=3, utts=12)
    feats = toy_features(corpus, video_valid=1.0)
    ds = build_dialogues(corpus, feats, graph=tiny_model().graph_spec())
    ds[0] = _truncate(ds[0], 5)                 # a short dialogue: padding in the batch
    return collate(ds)


def _truncate(d, n):
    d.utt_ids, d.labels, d.scored, d.speaker = d.utt_ids[:n], d.labels[:n], d.scored[:n], d.speaker[:n]
    d.features = {m: v[:n] for m, v in d.features.items()}
    d.avail = d.avail[:n]
    keep = (d.edge_index < n).all(0)
    d.edge_index, d.edge_type = d.edge_index[:, keep], d.edge_type[keep]
    return d


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_scenario_frequencies_default(batch_atv):
    masker = build_masker(MaskingConfig(), modalities="av", dims={"a": 6, "v": 5})
    g = _gen()
    counts = collections.Counter(masker.draw(g).name for _ in range(6000))
    freq = {k: v / 6000 for k, v in counts.items()}
    for name, p in {"none": 0.1, "full-a": 0.3, "full-v": 0.3, "random": 0.3}.items():
        assert abs(freq[name] - p) < 0.025, (name, freq)


def test_any_modality_set(batch_atv):
    cfg = MaskingConfig(p_none=0.1, p_full={"a": 0.2, "v": 0.2, "t": 0.2}, p_random=0.3)
    masker = build_masker(cfg, modalities="atv", dims={"a": 6, "v": 5, "t": 4})
    g = _gen(1)
    counts = collections.Counter(masker.draw(g).name for _ in range(4000))
    assert set(counts) == {"none", "full-a", "full-v", "full-t", "random"}
    assert abs(counts["full-t"] / 4000 - 0.2) < 0.03
    out = FullModalityMask("t")(batch_atv, g)
    ti = batch_atv.modality_index("t")
    assert not out.avail[..., ti].any()
    assert torch.equal(out.avail[..., :ti], batch_atv.avail[..., :ti])   # others untouched
    assert batch_atv.avail[..., ti][batch_atv.mask].all()                 # input not modified


@pytest.mark.parametrize("length", [1, 3])
def test_random_utterance_granularity(batch_atv, length):
    m = RandomUtteranceMask([Modality.AUDIO], {Modality.AUDIO: 0.2}, {Modality.AUDIO: length})
    g = _gen(2)
    ai, vi = batch_atv.modality_index("a"), batch_atv.modality_index("v")
    masked = real = 0
    pos = torch.arange(batch_atv.mask.shape[1])[None].expand_as(batch_atv.mask)[batch_atv.mask]
    expect = float((1 - 0.8 ** torch.clamp(pos + 1, max=length).double()).mean())  # fewer starts early on
    for _ in range(300):
        out = m(batch_atv, g)
        a = out.avail[..., ai]
        assert not (a & ~batch_atv.mask).any()                 # padding stays unavailable
        assert torch.equal(out.avail[..., vi], batch_atv.avail[..., vi])
        assert out.feature_keep is None
        masked += int((~a & batch_atv.mask).sum())
        real += int(batch_atv.mask.sum())
    assert abs(masked / real - expect) < 0.04


def test_random_feature_granularity(batch_atv):
    m = RandomFeatureMask([Modality.AUDIO, Modality.VIDEO], {Modality.AUDIO: 0.2, Modality.VIDEO: 0.2},
                          {Modality.AUDIO: 1, Modality.VIDEO: 1}, {Modality.AUDIO: 6, Modality.VIDEO: 5})
    g = _gen(3)
    frac = []
    for _ in range(500):
        out = m(batch_atv, g)
        assert torch.equal(out.avail, batch_atv.avail)          # utterances untouched
        assert out.feature_keep[Modality.AUDIO].shape == (6,)     # one mask for the whole batch
        assert out.feature_keep[Modality.VIDEO].shape == (5,)
        frac.append(1 - out.feature_keep[Modality.AUDIO].float().mean().item())
    assert abs(sum(frac) / len(frac) - 0.2) < 0.03


def test_granularity_selects_the_scenario_class():
    u = build_masker(MaskingConfig(granularity="utterance"), modalities="av", dims={"a": 6, "v": 5})
    f = build_masker(MaskingConfig(granularity="feature"), modalities="av", dims={"a": 6, "v": 5})
    assert isinstance(u.scenarios[-1][1], RandomUtteranceMask)
    assert isinstance(f.scenarios[-1][1], RandomFeatureMask)
    assert f.config.granularity.value == "feature"               # what the run records


def test_unimodal_masking(batch_atv):
    cfg = MaskingConfig.unimodal("a")
    masker = build_masker(cfg, modalities="a", dims={"a": 6})
    assert masker.names == ["none", "random"]
    out = masker(batch_atv, _gen(4))
    assert out.info["mask"] in ("none", "random")


@pytest.mark.parametrize("kw, match", [
    (dict(p_none=0.2), "sum to 1"),
    (dict(p_full={"a": 0.3, "x": 0.3}), "unknown modality"),
    (dict(start_prob=1.5), r"start_prob\[\*\]"),
    (dict(mask_length=0), "mask_length"),
])
def test_bad_configs(kw, match):
    with pytest.raises((ConfigError, ValueError), match=match):
        MaskingConfig(**kw)


def test_masking_a_modality_the_model_lacks():
    with pytest.raises(ConfigError, match="fully masks modality 'v'"):
        build_masker(MaskingConfig(), modalities="a", dims={"a": 6})


def test_contexts(batch_atv):
    assert list(all_contexts("av")) == ["av", "a", "v"]
    assert list(all_contexts("atv"))[:4] == ["avt", "av", "at", "vt"]
    out = ModalityContext("a")(batch_atv)
    assert out.avail[..., batch_atv.modality_index("a")].equal(batch_atv.avail[..., batch_atv.modality_index("a")])
    assert not out.avail[..., batch_atv.modality_index("v")].any()
    with pytest.raises(ValueError, match="does not take"):
        parse_contexts("av", "a")
