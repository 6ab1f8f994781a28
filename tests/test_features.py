"""Feature extractors on tiny real media: openSMILE, SSL (tiny random HuBERT), text, OpenFace; the
cache (no-op re-run, re-extract on a changed parameter, no half-written folder); fallbacks."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from emowb.cli import main
from emowb.data.corpus import Corpus
from emowb.data.importers import import_corpus
from emowb.features import ExtractionError, FeatureError, extract, list_features, load_features
from emowb.features import opensmile_
from emowb.features.common import finite_or_flag
from emowb.features.ssl import split_layers
from fixtures_media import make_media_corpus, tone, voice, write_openface

DIMS = {"egemaps": 88, "compare": 6373, "egemaps-lld": 25}


@pytest.fixture
def audio_corpus(tmp_path):
    """5 utterances: 2 voiced (16 kHz mono; 44.1 kHz stereo), silent, 50 ms, no audio."""
    st = np.stack([voice(0.8, 44100, seed=1), voice(0.8, 44100, seed=2)], axis=1)
    specs = [dict(utt_id="u0_voiced", signal=voice(1.0, 16000, f0=120)),
             dict(utt_id="u1_stereo", signal=st, sr=44100),
             dict(utt_id="u2_silent", signal=np.zeros(16000, np.float32)),
             dict(utt_id="u3_short", signal=voice(0.05, 16000)),
             dict(utt_id="u4_noaudio", signal=None)]
    return make_media_corpus(tmp_path / "c", specs)


# ------------------------------------------------------------------------------ openSMILE
@pytest.mark.parametrize("name", ["egemaps", "compare", "egemaps-lld"])
def test_opensmile_sets_and_fallbacks(audio_corpus, name):
    fs = extract(audio_corpus, name, progress=False)
    assert fs.dim == DIMS[name] and len(fs) == 5
    assert fs.valid.tolist() == [True, True, False, False, False]
    assert fs.notes[2].startswith("silent") and fs.notes[3].startswith("too short") and fs.notes[4] == "no audio"
    if name == "egemaps-lld":
        assert abs(len(fs.sequences[0]) - 98) <= 3          # 10 ms hop over 1.0 s
        assert all(s.shape == (1, 25) and not s.any() for s in fs.sequences[2:])
        assert np.abs(fs.sequences[0]).sum() > 0
    else:
        assert not fs.values[2:].any() and np.abs(fs.values[:2]).sum(1).min() > 0
        assert not np.allclose(fs.values[0], fs.values[1])


def test_cache_is_a_noop_and_a_changed_parameter_reextracts(audio_corpus, monkeypatch):
    first = extract(audio_corpus, "egemaps", progress=False)

    def boom(self, corpus):
        raise AssertionError("re-extracted although cached")
    monkeypatch.setattr(opensmile_.OpenSmileExtractor, "run", boom)
    again = extract(audio_corpus, "egemaps", progress=False, num_workers=1)  # runtime option: same key
    np.testing.assert_array_equal(first.values, again.values)
    with pytest.raises(AssertionError, match="re-extracted"):
        extract(audio_corpus, "egemaps", progress=False, max_duration=0.5)
    monkeypatch.undo()
    short = extract(audio_corpus, "egemaps", progress=False, max_duration=0.5)
    assert short.notes[0].startswith("truncated") and not np.allclose(short.values[0], first.values[0])
    names = [f["path"].name for f in list_features(audio_corpus)]
    assert len(names) == 2 and all(n.startswith("egemaps-") for n in names)
    with pytest.raises(FeatureError, match="2 feature sets named 'egemaps'"):
        load_features(audio_corpus, "egemaps")


def test_interrupted_write_leaves_no_folder(audio_corpus, monkeypatch):
    import emowb.features.base as base

    real_save = np.save

    def save_then_die(path, arr):
        real_save(path, arr)
        raise KeyboardInterrupt
    monkeypatch.setattr(base.np, "save", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        extract(audio_corpus, "egemaps", progress=False)
    monkeypatch.undo()
    root = audio_corpus.root / "features"
    assert not root.exists() or list(root.iterdir()) == []
    assert extract(audio_corpus, "egemaps", progress=False).dim == 88


def test_nonfinite_output_is_flagged_and_zeroed(audio_corpus, monkeypatch):
    import opensmile

    real = opensmile.Smile.process_signal

    def nan_out(self, signal, sr, **kw):
        df = real(self, signal, sr, **kw)
        df.iloc[:, 3] = np.inf
        return df
    monkeypatch.setattr(opensmile.Smile, "process_signal", nan_out)
    fs = extract(audio_corpus, "egemaps", progress=False)
    assert not fs.valid[:2].any() and "non-finite output (1 NaN/inf values)" in fs.notes[0]
    assert not fs.values.any()
    vec, ok, note = finite_or_flag(np.array([1.0, np.nan]), "x")
    assert not ok and not vec.any() and note.endswith("; x")


@pytest.mark.parametrize("on_error", ["raise", "flag"])
def test_corrupt_audio_raises_or_flags(tmp_path, on_error):
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF....WAVEfmt garbage" * 3)
    c = make_media_corpus(tmp_path / "c", [dict(utt_id="ok", signal=voice(0.5)),
                                           dict(utt_id="broken_utt", audio=bad)])
    if on_error == "raise":
        with pytest.raises(ExtractionError, match="utterance 'broken_utt'.*broken.wav"):
            extract(c, "egemaps", progress=False)
        assert not (c.root / "features").exists()
    else:
        fs = extract(c, "egemaps", progress=False, on_error="flag").take(["ok", "broken_utt"])
        assert fs.valid.tolist() == [True, False] and fs.notes[1].startswith("unreadable: cannot decode")


def test_two_processes_match_in_process(audio_corpus, monkeypatch):
    inline = extract(audio_corpus, "egemaps", progress=False, num_workers=1)
    monkeypatch.setattr(opensmile_, "INLINE_BELOW", 0)
    pooled = extract(audio_corpus, "egemaps", progress=False, num_workers=2, force=True)
    np.testing.assert_array_equal(inline.values, pooled.values)
    assert inline.notes == pooled.notes


def test_segments_of_one_file(tmp_path):
    sr = 16000
    x = np.concatenate([tone(150, 1.0, sr, 0.05), voice(1.0, sr, f0=220, amp=0.6)])
    sf.write(tmp_path / "long.wav", x, sr)
    c = make_media_corpus(tmp_path / "c", [dict(utt_id="a", audio=tmp_path / "long.wav", start=0.0, end=1.0),
                                           dict(utt_id="b", audio=tmp_path / "long.wav", start=1.0, end=2.0)])
    fs = extract(c, "egemaps", progress=False)
    loud = fs.values[:, 10]  # loudness_sma3_amean
    assert loud[1] > 2 * loud[0]


# ----------------------------------------------------------------------------------- SSL
def _tiny(tmp_path_factory, **kw):
    import transformers

    transformers.set_seed(0)
    cfg = transformers.HubertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                                    intermediate_size=64, conv_dim=(32, 32), conv_stride=(5, 5),
                                    conv_kernel=(10, 10), num_conv_pos_embeddings=16,
                                    num_conv_pos_embedding_groups=2, **kw)
    path = tmp_path_factory.mktemp("tiny_hubert")
    transformers.HubertModel(cfg).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def tiny_hubert(tmp_path_factory):
    return _tiny(tmp_path_factory)


@pytest.fixture(scope="module")
def tiny_hubert_layernorm(tmp_path_factory):
    return _tiny(tmp_path_factory, feat_extract_norm="layer", do_stable_layer_norm=True)


@pytest.fixture
def ssl_corpus(tmp_path):
    specs = [dict(utt_id=f"v{i}", signal=voice(d, 16000, seed=i)) for i, d in enumerate([0.5, 0.8, 0.5, 1.3])]
    specs.append(dict(utt_id="silent", signal=np.zeros(8000, np.float32)))
    return make_media_corpus(tmp_path / "c", specs)


def test_ssl_layers_and_all(ssl_corpus, tiny_hubert):
    ids = ["v0", "v1", "v2", "v3", "silent"]
    one = extract(ssl_corpus, "hubert", model=str(tiny_hubert), progress=False).take(ids)
    assert one.dim == 32 and one.valid.tolist() == [True] * 4 + [False] and one.notes[4].startswith("silent")
    assert one.config["layer"] == 1  # -2 of 3 hidden states, stored canonically
    every = extract(ssl_corpus, "hubert", model=str(tiny_hubert), layer="all", save_as="hubert-all", progress=False).take(ids)
    layers = split_layers(every)
    assert layers.shape == (5, 3, 32)
    np.testing.assert_allclose(layers[:, 1], one.values, atol=1e-5)
    assert not np.allclose(layers[:, 0], layers[:, 2])
    with pytest.raises(FeatureError, match="model_type 'hubert' is not wav2vec2"):
        extract(ssl_corpus, "wav2vec2", model=str(tiny_hubert), progress=False)


def test_ssl_input_shorter_than_the_receptive_field_is_flagged(tmp_path, tiny_hubert):
    c = make_media_corpus(tmp_path / "c", [dict(utt_id="a", signal=voice(0.3)),
                                           dict(utt_id="b", signal=voice(0.3)[:40])])
    fs = extract(c, "hubert", model=str(tiny_hubert), min_duration=0.0, progress=False)
    assert fs.valid.tolist() == [True, False]
    assert fs.notes[1] == "too short for the model: 40 samples < its receptive field of 55"


@pytest.mark.parametrize("which", ["group", "layer"])
def test_ssl_batching_does_not_change_features(ssl_corpus, tiny_hubert, tiny_hubert_layernorm, which):
    model = str(tiny_hubert if which == "group" else tiny_hubert_layernorm)
    big = extract(ssl_corpus, "hubert", model=model, batch_seconds=60, progress=False)
    single = extract(ssl_corpus, "hubert", model=model, batch_seconds=0.1, progress=False, force=True)
    np.testing.assert_allclose(big.values, single.values, atol=2e-5)


def test_ssl_long_audio_is_chunked_exactly(tmp_path, tiny_hubert):
    """A 2.5 s utterance with 1 s windows == frame-weighted mean over its three pieces."""
    import transformers
    import torch

    x = voice(2.5, 16000, seed=3)
    pieces = [x[:16000], x[16000:32000], x[32000:]]
    c = make_media_corpus(tmp_path / "c", [dict(utt_id="long", signal=x)] +
                          [dict(utt_id=f"p{i}", signal=p) for i, p in enumerate(pieces)])
    fs = extract(c, "hubert", model=str(tiny_hubert), chunk_seconds=1.0, progress=False)
    m = transformers.AutoModel.from_pretrained(tiny_hubert)
    frames = m._get_feat_extract_output_lengths(torch.tensor([len(p) for p in pieces])).numpy()
    expect = (fs.values[1:] * frames[:, None]).sum(0) / frames.sum()
    np.testing.assert_allclose(fs.values[0], expect, atol=1e-5)


# ---------------------------------------------------------------------------------- text
def test_minilm_matches_sentence_transformers(tmp_path):
    from sentence_transformers import SentenceTransformer
    from emowb.features.text import minilm_path

    texts = ["I am so happy to see you!", "", "This is the worst day of my life, everything went wrong."]
    c = make_media_corpus(tmp_path / "c", [dict(utt_id=f"t{i}", text=t, signal=None) for i, t in enumerate(texts)])
    fs = extract(c, "minilm", progress=False)
    assert fs.dim == 384 and fs.valid.tolist() == [True, False, True] and fs.notes[1] == "no transcript"
    ref = SentenceTransformer(minilm_path(), device="cpu").encode([texts[0], texts[2]])
    np.testing.assert_allclose(fs.values[[0, 2]], ref, atol=1e-5)


def _tiny_bert(path):
    import transformers

    path.mkdir()
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + "i am so happy sad angry you the day".split()
    (path / "vocab.txt").write_text("\n".join(words) + "\n")
    tok = transformers.BertTokenizerFast(vocab_file=str(path / "vocab.txt"))
    tok.save_pretrained(path)
    transformers.set_seed(0)
    cfg = transformers.BertConfig(vocab_size=len(words), hidden_size=16, num_hidden_layers=2,
                                  num_attention_heads=2, intermediate_size=32)
    transformers.BertModel(cfg).save_pretrained(path)
    return path


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_local_bert_pooling_is_padding_invariant(tmp_path, pooling):
    model = _tiny_bert(tmp_path / "bert")
    c = make_media_corpus(tmp_path / "c", [dict(utt_id="a", text="i am happy", signal=None),
                                           dict(utt_id="b", text="you sad angry the day i am so sad", signal=None)])
    both = extract(c, "text", model=str(model), pooling=pooling, progress=False)
    alone = extract(c, "text", model=str(model), pooling=pooling, batch_size=1, progress=False, force=True)
    assert both.dim == 16 and both.config["pooling"] == pooling
    np.testing.assert_allclose(both.values, alone.values, atol=1e-5)


# ---------------------------------------------------------------------------------- face
def test_openface_statistics_and_fallbacks(tmp_path):
    ok = write_openface(tmp_path / "ok.csv", 30, success=[1] * 20 + [0] * 10, au12=1.5)
    df = pd.read_csv(ok, skipinitialspace=True)
    df.columns = [c.strip() for c in df.columns]
    df.loc[df["success"] == 0, "AU12_r"] = 5.0  # failed frames must not count
    df.to_csv(ok, index=False)
    none = write_openface(tmp_path / "none.csv", 10, success=[0] * 10)
    seg = write_openface(tmp_path / "seg.csv", 60, seed=2)
    c = make_media_corpus(tmp_path / "c", [dict(utt_id="ok", face=ok, signal=None),
                                           dict(utt_id="none", face=none, signal=None),
                                           dict(utt_id="noface", signal=None),
                                           dict(utt_id="seg", face=seg, signal=None, start=1.5, end=10.0)])
    fs = extract(c, "openface-au", progress=False).take(["ok", "none", "noface", "seg"])
    assert fs.dim == 69 and fs.valid.tolist() == [True, False, False, True]
    i12 = 8 * 3  # AU12 is the 9th intensity AU; mean, std, max
    assert fs.values[0, i12:i12 + 3].tolist() == [1.5, 0.0, 1.5]
    assert "no frame with success == 1" in fs.notes[1] and "none.csv" in fs.notes[1]
    assert fs.notes[2] == "no face"
    full = pd.read_csv(seg, skipinitialspace=True)
    full.columns = [c.strip() for c in full.columns]
    assert fs.values[3, 0] == pytest.approx(full.loc[full["timestamp"] >= 1.5, "AU01_r"].mean(), abs=1e-5)


@pytest.mark.parametrize("content,needle", [("frame,success\n1,1\n", "missing column"),
                                            ("", "EmptyDataError")])
def test_openface_bad_csv_names_file(tmp_path, content, needle):
    (tmp_path / "bad.csv").write_text(content)
    c = make_media_corpus(tmp_path / "c", [dict(utt_id="x", face=tmp_path / "bad.csv", signal=None)])
    with pytest.raises(ExtractionError, match=f"utterance 'x'.*bad.csv.*{needle}"):
        extract(c, "openface-au", progress=False)
    fs = extract(c, "openface-au", progress=False, on_error="flag")
    assert not fs.valid[0] and fs.notes[0].startswith("unreadable")


def test_openface_nan_values_flagged(tmp_path):
    p = write_openface(tmp_path / "f.csv", 5)
    df = pd.read_csv(p, skipinitialspace=True)
    df.columns = [c.strip() for c in df.columns]
    df.loc[0, "AU04_r"] = np.nan
    df.to_csv(p, index=False)
    c = make_media_corpus(tmp_path / "c", [dict(utt_id="x", face=p, signal=None)])
    fs = extract(c, "openface-au", progress=False)
    assert not fs.valid[0] and fs.notes[0].startswith("non-finite output")


# ----------------------------------------------------------------------------------- CLI
def test_cli_features_and_listing(audio_corpus, capsys):
    args = ["features", str(audio_corpus.root), "--set", "egemaps", "--no-progress"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "extracted" in out and "invalid (flagged, zeroed): silent 1, too short 1, no audio 1" in out
    assert main(args) == 0 and "cache hit" in capsys.readouterr().out
    assert main(["feature-sets", str(audio_corpus.root)]) == 0
    assert "egemaps" in capsys.readouterr().out
    assert main(["features", str(audio_corpus.root), "--set", "hubert", "--model", "/nonexistent/x"]) == 1
    assert "nothing is downloaded" in capsys.readouterr().err


# ------------------------------------------------------------------------------ real data
@pytest.mark.emodb
def test_emodb_angry_is_louder_than_sad(emodb_dir, tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    files = sorted(emodb_dir.glob("03*[WT]?.flac"))[:8] + sorted(emodb_dir.glob("08*[WT]?.flac"))[:8]
    for f in files:
        (src / f.name).symlink_to(f)
    c = import_corpus("emodb", src, tmp_path / "c")
    fs = extract(c, "egemaps", progress=False)
    assert fs.valid.all()
    df = pd.DataFrame({"f0": fs.values[:, 0], "loud": fs.values[:, 10], "label": c.table["label"]})
    means = df.groupby("label").mean()  # F0 semitone mean, loudness mean: anger raises both
    assert means.loc["angry", "f0"] > means.loc["sad", "f0"] + 2
    assert means.loc["angry", "loud"] > means.loc["sad", "loud"]
    assert Corpus.load(tmp_path / "c").fingerprint() == c.fingerprint()
