"""Teachers and students: shapes, the ResNet's four residual blocks, projection heads, padding
invariance, log-mel, and the SSL student on a tiny random HuBERT (frozen vs fine-tune gradients)."""

import math

import numpy as np
import pytest
import torch

from kd_fixtures import tiny_bert, tiny_hubert  # noqa: F401 (fixtures)
from emowb.batching.utterances import UtteranceData
from emowb.features.logmel import LogMel
from emowb.kd.layers import ResidualBlock2d
from emowb.kd.students import Backbone, SpeechStudent, StudentConfig, ssl_frame_lengths
from emowb.kd.teachers import (LinguisticTeacher, LinguisticTeacherConfig, ProsodicTeacher,
                               ProsodicTeacherConfig, freeze)


def _seq_data(lengths, dim, name, *, seed=0, n_classes=4):
    rng = np.random.default_rng(seed)
    seqs = [rng.normal(size=(t, dim)).astype(np.float32) for t in lengths]
    return UtteranceData(utt_ids=[f"u{i}" for i in range(len(lengths))],
                         labels=np.arange(len(lengths)) % n_classes, inputs={name: seqs})


def _one_batch(data, idx):
    return data.collate(idx)


# --------------------------------------------------------------------------------- prosodic
def test_prosodic_teacher_has_four_residual_blocks_and_shapes():
    m = ProsodicTeacher(ProsodicTeacherConfig(stem_channels=4, channels=(4, 8, 8, 16)), n_descriptors=25, n_classes=4)
    assert m.n_residual_blocks == 4 and len(m.blocks) == 4
    assert all(isinstance(b, ResidualBlock2d) for b in m.blocks)
    data = _seq_data([30, 17, 9], 25, "lld")
    out = m(_one_batch(data, [0, 1, 2]))
    assert out.logits.shape == (3, 4) and out.embeddings.shape == (3, 16)
    assert torch.isfinite(out.logits).all()
    with pytest.raises(ValueError, match=r"must be \(B, T, 25\)"):
        m(_one_batch(_seq_data([5], 12, "lld"), [0]))


def test_prosodic_teacher_output_does_not_depend_on_batch_padding():
    torch.manual_seed(0)
    m = ProsodicTeacher(ProsodicTeacherConfig(stem_channels=4, channels=(4, 8, 8, 16)), n_descriptors=25,
                        n_classes=4).eval()
    data = _seq_data([13, 40], 25, "lld")
    alone = m(_one_batch(data, [0]))
    padded = m(_one_batch(data, [0, 1]))                     # utterance 0 padded from 13 to 40 frames
    assert torch.allclose(alone.logits[0], padded.logits[0], atol=1e-5)
    assert torch.allclose(alone.embeddings[0], padded.embeddings[0], atol=1e-5)


def test_freeze_stops_gradients_and_sets_eval():
    m = freeze(ProsodicTeacher(ProsodicTeacherConfig(stem_channels=2, channels=(2, 2, 2, 2)), n_descriptors=25,
                               n_classes=4))
    assert not m.training and not any(p.requires_grad for p in m.parameters())


# ------------------------------------------------------------------------------- linguistic
def test_linguistic_teacher_frozen_head_on_cached_embeddings():
    m = LinguisticTeacher(LinguisticTeacherConfig(hidden=16), n_classes=4, input_dim=384)
    data = UtteranceData(utt_ids=["a", "b", "c"], labels=[0, 1, 2],
                         inputs={"text": np.random.default_rng(0).normal(size=(3, 384)).astype(np.float32)})
    out = m(data.collate([0, 1, 2]))
    assert out.logits.shape == (3, 4) and out.embeddings.shape == (3, 16)
    assert m.encoder is None
    with pytest.raises(ValueError, match="needs input_dim"):
        LinguisticTeacher(LinguisticTeacherConfig(), n_classes=4)


def test_linguistic_teacher_fine_tunes_a_local_bert(tiny_bert):
    from emowb.kd.teachers import tokenize_texts

    cfg = LinguisticTeacherConfig(model=str(tiny_bert), finetune=True, hidden=8, max_length=16)
    ids, pad = tokenize_texts(["I am so happy today", "leave me alone", "ok"], model=str(tiny_bert), max_length=16)
    data = UtteranceData(utt_ids=["a", "b", "c"], labels=[1, 3, 0], inputs={"tokens": ids},
                         pad_values={"tokens": pad})
    m = LinguisticTeacher(cfg, n_classes=4)
    out = m(data.collate([0, 1, 2]))
    assert out.logits.shape == (3, 4) and out.embeddings.shape == (3, 8)
    out.logits.sum().backward()
    grads = [p.grad for p in m.encoder.parameters() if p.requires_grad]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)     # the encoder trains
    # the padded batch gives the same output for "ok" as alone (attention mask + masked pooling)
    m.eval()
    with torch.no_grad():
        assert torch.allclose(m(data.collate([2])).logits[0], m(data.collate([0, 2])).logits[1], atol=1e-5)


# --------------------------------------------------------------------------------- students
@pytest.mark.parametrize("backbone,input_name,dim", [("cnn", "logmel", 40), ("mlp", "functionals", 88)])
def test_light_students_shapes_and_projection_heads(backbone, input_name, dim):
    cfg = StudentConfig(backbone=backbone, hidden=12, cnn_channels=(4, 8))
    m = SpeechStudent(cfg, n_classes=4, input_dim=dim, teacher_dims={"linguistic": 7, "prosodic": 5})
    if backbone == "cnn":
        data = _seq_data([50, 31], dim, input_name)
    else:
        data = UtteranceData(utt_ids=["a", "b"], labels=[0, 1], inputs={input_name: np.ones((2, dim), np.float32)})
    out = m(data.collate([0, 1]))
    assert out.logits.shape == (2, 4) and out.embeddings.shape == (2, 12)
    assert out.extras["proj_linguistic"].shape == (2, 7) and out.extras["proj_prosodic"].shape == (2, 5)
    bare = SpeechStudent(cfg, n_classes=4, input_dim=dim)
    assert bare(data.collate([0, 1])).extras == {}
    with pytest.raises(KeyError, match="no input"):
        m(UtteranceData(utt_ids=["a"], labels=[0], inputs={"other": np.ones((1, 3), np.float32)}).collate([0]))


def test_cnn_student_is_padding_invariant_in_eval():
    torch.manual_seed(0)
    m = SpeechStudent(StudentConfig(backbone="cnn", hidden=8, cnn_channels=(4, 8, 8)), n_classes=4,
                      input_dim=32).eval()
    data = _seq_data([21, 64], 32, "logmel")
    assert torch.allclose(m(data.collate([0])).logits[0], m(data.collate([0, 1])).logits[0], atol=1e-5)


def test_logmel_frames_and_a_tone_lands_in_the_right_band():
    lm = LogMel(n_mels=40, f_min=0.0)
    sr = 16000
    t = torch.arange(sr) / sr
    x = torch.sin(2 * math.pi * 1000.0 * t)
    mel = lm(x)
    assert mel.shape == (lm.frames(sr), 40) == (101, 40)
    band = int(mel.mean(0).argmax())
    # HTK mel centre frequencies of the 40 bands between 0 and 8 kHz
    mels = np.linspace(0, 2595 * np.log10(1 + 8000 / 700), 42)[1:-1]
    centres = 700 * (10 ** (mels / 2595) - 1)
    assert abs(centres[band] - 1000.0) < 120.0
    assert torch.allclose(lm(torch.stack([x, x]))[1], mel)


# ---------------------------------------------------------------------------- SSL student
def _wave_data(lengths, seed=0):
    rng = np.random.default_rng(seed)
    return UtteranceData(utt_ids=[f"w{i}" for i in range(len(lengths))], labels=np.arange(len(lengths)) % 4,
                         inputs={"wave": [rng.normal(size=(s, 1)).astype(np.float32) * 0.1 for s in lengths]})


def test_ssl_student_frozen_weighted_sum_trains_only_the_mix_and_heads(tiny_hubert):
    torch.manual_seed(0)
    cfg = StudentConfig(backbone="ssl", ssl_model=str(tiny_hubert), ssl_mode="frozen", hidden=8)
    m = SpeechStudent(cfg, n_classes=4, teacher_dims={"prosodic": 6})
    m.train()
    assert not m.backbone.encoder.training                   # a frozen encoder stays in eval mode
    out = m(_wave_data([4000, 2500]).collate([0, 1]))
    assert out.logits.shape == (2, 4) and out.extras["proj_prosodic"].shape == (2, 6)
    (out.logits.sum() + out.extras["proj_prosodic"].sum()).backward()
    assert all(p.grad is None for p in m.backbone.encoder.parameters())
    assert m.backbone.layer_weights.grad is not None and m.backbone.layer_weights.grad.abs().sum() > 0
    assert m.backbone.layer_mix().shape == (3,)               # 2 layers + the CNN output


def test_ssl_student_finetune_trains_the_encoder_but_not_its_cnn(tiny_hubert):
    torch.manual_seed(0)
    cfg = StudentConfig(backbone="ssl", ssl_model=str(tiny_hubert), ssl_mode="finetune", hidden=8)
    m = SpeechStudent(cfg, n_classes=4)
    out = m(_wave_data([4000, 2500]).collate([0, 1]))
    out.logits.sum().backward()
    enc = m.backbone.encoder
    assert all(p.grad is None for p in enc.feature_extractor.parameters())
    layer_grads = [p.grad for p in enc.encoder.layers[-1].parameters()]
    assert all(g is not None for g in layer_grads) and sum(float(g.abs().sum()) for g in layer_grads) > 0
    assert m.backbone.layer_weights is None
    cfg2 = cfg.replace(freeze_feature_encoder=False)
    m2 = SpeechStudent(cfg2, n_classes=4)
    m2(_wave_data([4000]).collate([0])).logits.sum().backward()
    assert any(p.grad is not None for p in m2.backbone.encoder.feature_extractor.parameters())


def test_ssl_frame_lengths_match_the_encoder(tiny_hubert):
    from transformers import AutoModel

    model = AutoModel.from_pretrained(str(tiny_hubert), local_files_only=True).eval()
    for s in (400, 1234, 4000):
        with torch.no_grad():
            t = model(torch.randn(1, s)).last_hidden_state.shape[1]
        assert int(ssl_frame_lengths(model.config, torch.tensor([s]))[0]) == t


def test_pooled_ssl_student_needs_its_layout():
    with pytest.raises(ValueError, match="ssl_layers"):
        SpeechStudent(StudentConfig(backbone="ssl-pooled"), n_classes=4, input_dim=96)
    m = SpeechStudent(StudentConfig(backbone="ssl-pooled", ssl_layers=3, ssl_dim=32, hidden=8), n_classes=4,
                      input_dim=96)
    data = UtteranceData(utt_ids=["a", "b"], labels=[0, 1], inputs={"ssl": np.ones((2, 96), np.float32)})
    assert m(data.collate([0, 1])).logits.shape == (2, 4)
    assert StudentConfig(backbone=Backbone.SSL_POOLED).input_name == "ssl"


def test_student_and_losses_under_bf16_autocast_give_float32_losses():
    """The CUDA path trains under bf16 autocast; CPU autocast exercises the same dtype handling."""
    from emowb.kd.losses import EmoDistillLoss, TripletKD, extra_key

    torch.manual_seed(0)
    m = SpeechStudent(StudentConfig(backbone="cnn", hidden=8, cnn_channels=(4, 8)), n_classes=4, input_dim=16,
                      teacher_dims={"linguistic": 6, "prosodic": 5})
    batch = _seq_data([20, 33, 12], 16, "logmel").collate([0, 1, 2])
    batch.extra = {extra_key("logits", "linguistic"): torch.randn(3, 4), extra_key("logits", "prosodic"): torch.randn(3, 4),
                   extra_key("emb", "linguistic"): torch.randn(3, 6), extra_key("emb", "prosodic"): torch.randn(3, 5),
                   "teacher_emb": torch.randn(3, 5)}
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = m(batch)
        loss, _ = EmoDistillLoss()(out, batch)
        tri = TripletKD(student_dim=8, teacher_dim=5).triplet(out.embeddings, batch.extra["teacher_emb"],
                                                              torch.tensor([0, 1, 1]))[0]
    assert loss.dtype == torch.float32 and tri.dtype == torch.float32
    assert torch.isfinite(loss) and torch.isfinite(tri)
    loss.backward()
    assert m.classifier.weight.grad is not None
