"""KD losses against hand computations: triplet (+ mining), logit KD (τ, τ², direction), 1 − cos."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from emowb.config import ConfigError
from emowb.kd.losses import (EmbeddingKD, EmoDistillLoss, EmoDistillLossConfig, LogitKD, Mining, Teacher,
                             TripletKD, TripletKDLoss, TripletLossConfig, extra_key, kl_divergence,
                             mine_triplets)
from emowb.models.output import ModelOutput


def _batch(labels, scored=None, **extra):
    labels = torch.as_tensor(labels)
    n = len(labels)
    return SimpleNamespace(labels=labels, scored=torch.ones(n, dtype=torch.bool) if scored is None else
                           torch.as_tensor(scored), utt_ids=[f"u{i}" for i in range(n)], extra=extra)


def _np_dist(a, b, p=2.0):
    return (np.abs(a - b) ** p).sum() ** (1 / p)


# ------------------------------------------------------------------------------------ triplet
def test_hard_mining_triplet_matches_hand_computation():
    g = torch.Generator().manual_seed(0)
    s = torch.randn(6, 3, generator=g)
    t = torch.randn(6, 3, generator=g)
    y = torch.tensor([0, 0, 1, 1, 2, 2])
    loss, parts = TripletKD(margin=1.0, p=2.0, mining="hard").triplet(s, t, y)
    S, T, Y = s.numpy(), t.numpy(), y.numpy()
    expected = []
    for i in range(6):
        dp = max(_np_dist(S[i], T[j]) for j in range(6) if Y[j] == Y[i])        # farthest positive
        dn = min(_np_dist(S[i], T[j]) for j in range(6) if Y[j] != Y[i])        # closest negative
        expected.append(max(dp - dn + 1.0, 0.0))
    assert float(loss) == pytest.approx(np.mean(expected), abs=1e-4)
    assert float(parts["triplet_valid"]) == 1.0
    assert float(parts["triplet_active"]) == pytest.approx(np.mean(np.array(expected) > 0))


def test_p_norm_and_margin_are_used():
    s = torch.tensor([[0.0, 0.0]])
    t = torch.tensor([[1.0, 1.0], [2.0, 0.0]])
    y = torch.tensor([0, 1])
    anchors = torch.tensor([True, False])
    # L1: d(a,p) = 2, d(a,n) = 2 -> max(2 - 2 + 0.5, 0) = 0.5 ; L2: sqrt(2) - 2 + 0.5 < 0 -> 0
    l1, _ = TripletKD(margin=0.5, p=1.0, mining="hard").triplet(torch.cat([s, s]), t, y, anchors=anchors)
    l2, _ = TripletKD(margin=0.5, p=2.0, mining="hard").triplet(torch.cat([s, s]), t, y, anchors=anchors)
    assert float(l1) == pytest.approx(0.5, abs=1e-4)
    assert float(l2) == pytest.approx(0.0, abs=1e-6)


def test_random_mining_picks_valid_positives_and_negatives_and_varies():
    torch.manual_seed(0)
    y = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2])
    emb = torch.randn(8, 4)
    seen_pos, seen_neg = set(), set()
    for _ in range(60):
        pos, neg, valid = mine_triplets(emb, emb, y, y, strategy="random", self_index=torch.arange(8),
                                        include_self=False)
        assert valid.all()
        assert (y[pos] == y).all() and (y[neg] != y).all()
        assert (pos != torch.arange(8)).all()                   # include_self=False
        seen_pos.add(int(pos[0]))
        seen_neg.add(int(neg[0]))
    assert seen_pos == {1, 2}                                   # every other same-class row drawn
    assert seen_neg == {3, 4, 5, 6, 7}


def test_semi_hard_picks_the_closest_negative_beyond_the_positive():
    a = torch.tensor([[0.0]])
    pool = torch.tensor([[1.0], [0.5], [1.5], [3.0]])            # row 0 positive; 1..3 negatives
    yl = torch.tensor([0, 1, 1, 1])
    pos, neg, valid = mine_triplets(a, pool, torch.tensor([0]), yl, strategy="semi-hard")
    assert int(pos) == 0 and int(neg) == 2 and bool(valid)       # 1.5 > 1.0 is the closest beyond
    # no negative beyond the positive: the farthest negative
    pool2 = torch.tensor([[5.0], [0.5], [1.5]])
    _, neg2, _ = mine_triplets(a, pool2, torch.tensor([0]), torch.tensor([0, 1, 1]), strategy="semi-hard")
    assert int(neg2) == 2
    _, hard_neg, _ = mine_triplets(a, pool, torch.tensor([0]), yl, strategy="hard")
    assert int(hard_neg) == 1


def test_a_batch_without_negatives_gives_zero_with_its_count():
    s = torch.randn(4, 3, requires_grad=True)
    loss, parts = TripletKD().triplet(s, torch.randn(4, 3), torch.zeros(4, dtype=torch.long))
    assert float(loss.detach()) == 0.0 and float(parts["triplet_valid"]) == 0.0
    loss.backward()                                              # still part of the graph
    assert s.grad is not None


def test_projection_when_widths_differ():
    kd = TripletKD(student_dim=5, teacher_dim=3)
    assert isinstance(kd.proj, torch.nn.Linear) and kd.proj.weight.shape == (3, 5)
    assert TripletKD(student_dim=3, teacher_dim=3).proj is None
    with pytest.raises(ValueError, match="projection='none'"):
        TripletKD(student_dim=5, teacher_dim=3, projection="none")
    with pytest.raises(ValueError, match="width 5 != teacher width 3"):
        TripletKD().triplet(torch.randn(4, 5), torch.randn(4, 3), torch.tensor([0, 0, 1, 1]))
    s = torch.randn(4, 5)
    loss, _ = kd.triplet(s, torch.randn(4, 3) * 5, torch.tensor([0, 0, 1, 1]))
    loss.backward()
    assert kd.proj.weight.grad is not None and kd.proj.weight.grad.abs().sum() > 0


def test_triplet_kd_loss_is_alpha_triplet_plus_weighted_ce_and_checks_the_batch():
    torch.manual_seed(1)
    logits, emb = torch.randn(6, 4), torch.randn(6, 3)
    y = torch.tensor([0, 1, 2, 3, 0, 1])
    batch = _batch(y, teacher_emb=torch.randn(6, 3))
    out = ModelOutput(logits=logits, embeddings=emb)
    cfg = TripletLossConfig(alpha=0.7, ce_weight=0.3, mining="hard")
    loss, parts = TripletKDLoss(cfg)(out, batch)
    tri, _ = TripletKD(mining="hard").triplet(emb, batch.extra["teacher_emb"], y)
    assert float(loss) == pytest.approx(0.7 * float(tri) + 0.3 * float(F.cross_entropy(logits, y)), abs=1e-5)
    assert set(parts) >= {"ce", "triplet", "triplet_valid", "triplet_active"}
    with pytest.raises(KeyError, match="teacher_emb"):
        TripletKDLoss(cfg)(out, _batch(y))
    with pytest.raises(ValueError, match="5 rows but the model produced 6"):
        TripletKDLoss(cfg)(out, _batch(y, teacher_emb=torch.randn(5, 3)))
    with pytest.raises(ConfigError):
        TripletLossConfig(alpha=0, ce_weight=0)
    assert TripletLossConfig.from_params(mining="semi-hard").mining is Mining.SEMI_HARD


# ------------------------------------------------------------------------------------ logit KD
def _np_kl(p, q):
    return float((p * (np.log(p) - np.log(q))).sum(-1).mean())


def _softmax(z, tau):
    e = np.exp(z / tau - (z / tau).max(-1, keepdims=True))
    return e / e.sum(-1, keepdims=True)


@pytest.mark.parametrize("tau", [0.5, 1.0, 4.0])
def test_logit_kd_forward_and_reverse_match_hand_computation(tau):
    torch.manual_seed(2)
    zs, zt = torch.randn(5, 4), torch.randn(5, 4) * 2
    ps, pt = _softmax(zs.numpy(), tau), _softmax(zt.numpy(), tau)
    b = _batch(torch.zeros(5, dtype=torch.long), **{extra_key("logits", "prosodic"): zt})
    out = ModelOutput(logits=zs, embeddings=torch.zeros(5, 1))
    fwd, parts = LogitKD(teacher="prosodic", tau=tau, direction="forward", tau_squared=False)(out, b)
    rev, _ = LogitKD(teacher="prosodic", tau=tau, direction="reverse", tau_squared=False)(out, b)
    assert float(fwd) == pytest.approx(_np_kl(pt, ps), abs=1e-5)          # KL(teacher ‖ student)
    assert float(rev) == pytest.approx(_np_kl(ps, pt), abs=1e-5)          # KL(student ‖ teacher)
    assert abs(float(fwd) - float(rev)) > 1e-4                             # the direction matters
    sq, _ = LogitKD(teacher="prosodic", tau=tau, direction="forward", tau_squared=True)(out, b)
    assert float(sq) == pytest.approx(tau ** 2 * float(fwd), rel=1e-5)     # τ² scaling
    assert "kl_prosodic" in parts


def test_logit_kd_skips_invalid_teacher_rows_and_unscored_utterances():
    zs, zt = torch.randn(4, 3), torch.randn(4, 3)
    valid = torch.tensor([True, False, True, True])
    scored = torch.tensor([True, True, True, False])
    b = _batch(torch.zeros(4, dtype=torch.long), scored=scored,
               **{extra_key("logits", "linguistic"): zt, extra_key("valid", "linguistic"): valid})
    loss, _ = LogitKD(teacher="linguistic", tau=2.0, tau_squared=False)(ModelOutput(zs, torch.zeros(4, 1)), b)
    keep = valid & scored
    assert float(loss) == pytest.approx(float(kl_divergence(zs[keep], zt[keep], tau=2.0).mean()), abs=1e-6)
    with pytest.raises(ValueError, match="3 classes, the student 4"):
        LogitKD(teacher="linguistic")(ModelOutput(torch.randn(4, 4), torch.zeros(4, 1)), b)


def test_kl_is_zero_for_identical_logits_and_hard_logits_approach_argmax():
    z = torch.randn(3, 4)
    assert float(kl_divergence(z, z, tau=3.0).abs().max()) < 1e-6
    p_hard = torch.softmax(z / 0.01, -1)
    assert torch.allclose(p_hard.argmax(-1), z.argmax(-1)) and float(p_hard.max(-1).values.min()) > 0.99


# -------------------------------------------------------------------------------- embedding KD
def test_embedding_kd_is_one_minus_cosine():
    zs = torch.tensor([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
    zt = torch.tensor([[3.0, 0.0], [0.0, -1.0], [1.0, 0.0]])
    b = _batch(torch.zeros(3, dtype=torch.long), **{extra_key("emb", "prosodic"): zt})
    out = ModelOutput(logits=torch.zeros(3, 2), embeddings=torch.zeros(3, 1), extras={"proj_prosodic": zs})
    loss, parts = EmbeddingKD(teacher="prosodic")(out, b)
    expected = np.mean([1 - 1.0, 1 - (-1.0), 1 - 1 / np.sqrt(2)])            # aligned, opposite, 45°
    assert float(loss) == pytest.approx(expected, abs=1e-6)
    assert float(parts["cos_prosodic"]) == pytest.approx(expected, abs=1e-6)
    with pytest.raises(KeyError, match="proj_linguistic"):
        EmbeddingKD(teacher="linguistic")(out, b)
    bad = _batch(torch.zeros(3, dtype=torch.long), **{extra_key("emb", "prosodic"): torch.randn(3, 5)})
    with pytest.raises(ValueError, match="projection width 2 != teacher embedding width 5"):
        EmbeddingKD(teacher="prosodic")(out, bad)


# ------------------------------------------------------------------------------- EmoDistill
def _emodistill_batch(n=6, c=4, d_l=5, d_p=3, seed=3):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, c, (n,), generator=g)
    extra = {extra_key("logits", "linguistic"): torch.randn(n, c, generator=g),
             extra_key("logits", "prosodic"): torch.randn(n, c, generator=g),
             extra_key("emb", "linguistic"): torch.randn(n, d_l, generator=g),
             extra_key("emb", "prosodic"): torch.randn(n, d_p, generator=g)}
    out = ModelOutput(logits=torch.randn(n, c, generator=g), embeddings=torch.randn(n, 8, generator=g),
                      extras={"proj_linguistic": torch.randn(n, d_l, generator=g),
                              "proj_prosodic": torch.randn(n, d_p, generator=g)})
    return out, _batch(y, **extra)


def test_emodistill_loss_is_the_weighted_sum_of_its_terms():
    out, b = _emodistill_batch()
    cfg = EmoDistillLossConfig(alpha=0.3, beta=0.5, gamma=0.7, tau_linguistic=4.0, tau_prosodic=1.0)
    loss, parts = EmoDistillLoss(cfg)(out, b)
    kl_l, _ = LogitKD(teacher="linguistic", tau=4.0)(out, b)
    kl_p, _ = LogitKD(teacher="prosodic", tau=1.0)(out, b)
    cos_l, _ = EmbeddingKD(teacher="linguistic")(out, b)
    cos_p, _ = EmbeddingKD(teacher="prosodic")(out, b)
    ce = F.cross_entropy(out.logits, b.labels)
    expected = 0.3 * (kl_l + kl_p) + 0.5 * (cos_l + cos_p) + 0.7 * ce
    assert float(loss) == pytest.approx(float(expected), abs=1e-5)
    assert set(parts) == {"ce", "logits", "embeddings", "kl_linguistic", "kl_prosodic", "cos_linguistic",
                          "cos_prosodic"}


def test_emodistill_switches_and_teacher_subsets():
    out, b = _emodistill_batch()
    ce = float(F.cross_entropy(out.logits, b.labels))
    no_kd, parts = EmoDistillLoss(EmoDistillLossConfig(teachers=()))(out, b)
    assert float(no_kd) == pytest.approx(ce, abs=1e-6) and set(parts) == {"ce"}
    only_p = EmoDistillLossConfig(teachers=("prosodic",), use_embeddings=False)
    loss, parts = EmoDistillLoss(only_p)(out, b)
    kl_p, _ = LogitKD(teacher="prosodic", tau=only_p.tau_prosodic)(out, b)
    assert float(loss) == pytest.approx(float(kl_p) + ce, abs=1e-5)
    assert set(parts) == {"ce", "logits", "kl_prosodic"}
    # a teacher that is switched off needs no outputs in the batch
    del b.extra[extra_key("logits", "linguistic")], b.extra[extra_key("emb", "linguistic")]
    EmoDistillLoss(EmoDistillLossConfig(teachers=("prosodic",)))(out, b)
    with pytest.raises(KeyError, match="logits/linguistic"):
        EmoDistillLoss(EmoDistillLossConfig())(out, b)
    with pytest.raises(ConfigError, match="every term is off"):
        EmoDistillLossConfig(gamma=0, teachers=())
    cfg = EmoDistillLossConfig.from_params(tau_prosodic="0.5", teachers=["linguistic"], direction="reverse")
    assert cfg.tau("prosodic") == 0.5 and cfg.teachers == (Teacher.LINGUISTIC,)
    assert cfg.active_terms() == ["logits/linguistic", "emb/linguistic"]


def test_emodistill_gradients_reach_the_student_only():
    out, b = _emodistill_batch()
    for t in (out.logits, out.extras["proj_linguistic"], out.extras["proj_prosodic"]):
        t.requires_grad_(True)
    loss, _ = EmoDistillLoss()(out, b)
    loss.backward()
    assert all(t.grad is not None and t.grad.abs().sum() > 0
               for t in (out.logits, out.extras["proj_linguistic"], out.extras["proj_prosodic"]))
    assert all(not v.requires_grad for v in b.extra.values())
