"""The deployable student: emowb predict (files, folders, manifests, VAD, stream), emowb export
(ONNX bundle: parity with PyTorch, bundle-only prediction, version check), speaker normalisation
at inference, bad input. Students are trained for 2 epochs on a tiny synthetic corpus."""

from __future__ import annotations

import json
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from emowb.config import ConfigError
from emowb.data.corpus import Corpus
from emowb.data.synth import SynthConfig, generate
from emowb.features import extract
from emowb.infer import export_bundle, load_bundle, load_predictor, predict_files, stream
from emowb.infer.normalise import Normaliser
from emowb.infer.vad import VADConfig, segment
from emowb.kd.emodistill import EmoDistill, EmoDistillConfig, KDVariant, run_variants
from emowb.kd.losses import EmoDistillLossConfig
from emowb.kd.students import StudentConfig
from emowb.train.trainer import TrainConfig

TRAIN = TrainConfig(epochs=2, batch_size=8, lr=1e-2, patience=None, progress=False, keep_last=False)
NO_KD = KDVariant(name="no KD", loss=EmoDistillLossConfig(teachers=()))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("infer_synth")
    c = generate(root / "c", SynthConfig(dialogues=5, utterances=(4, 6), seed=0))
    extract(c, "egemaps", num_workers=1, progress=False)
    return c


def _train(corpus: Corpus, out: Path, backbone: str) -> Path:
    cfg = EmoDistillConfig(corpus=str(corpus.root), protocol="logo", folds=("Ses05",), seeds=(0,),
                           student=StudentConfig(backbone=backbone, hidden=8, cnn_channels=(4, 8), mlp_hidden=16),
                           n_mels=16, teacher_train=TRAIN, train=TRAIN)
    res = run_variants(cfg, out, [NO_KD], runner=EmoDistill(cfg, corpus=corpus, log=None), log=None)
    return Path(res.runs.iloc[0]["run_dir"])


@pytest.fixture(scope="module")
def mlp_run(corpus, tmp_path_factory):
    return _train(corpus, tmp_path_factory.mktemp("mlp"), "mlp")


@pytest.fixture(scope="module")
def cnn_run(corpus, tmp_path_factory):
    return _train(corpus, tmp_path_factory.mktemp("cnn"), "cnn")


def _test_part(corpus: Corpus, run: Path) -> pd.DataFrame:
    from emowb.train.run import load_run

    split = load_run(run).split
    t = corpus.table
    t = t[t["dialogue_id"].isin(set(split.test))].copy()
    t["path"] = [str(corpus.path("audio", i)) for i in t.index]
    return t


def _own_test_predictions(run: Path) -> pd.DataFrame:
    return pd.read_parquet(run / "predictions.parquet").query("split == 'test'")


@pytest.mark.parametrize("which", ["mlp_run", "cnn_run"])
def test_predict_on_the_corpus_equals_the_runs_own_evaluation(which, corpus, request, tmp_path):
    run = request.getfixturevalue(which)
    t = _test_part(corpus, run)
    manifest = tmp_path / "m.csv"
    t[["path", "speaker", "label"]].to_csv(manifest, index=False)
    pred = load_predictor(run)
    df = predict_files(pred, [manifest], speaker_norm="offline", segment_mode="none")
    own = _own_test_predictions(run)
    assert len(own), "the run wrote no test predictions"
    by_utt = dict(zip(t["path"], t["utt_id"]))
    got = dict(zip(df["source"].map(by_utt), df["pred"]))
    want = {u: corpus.labels[int(v)] for u, v in zip(own["utt_id"], own["y_pred"])}
    assert got == want                                         # every utterance, the same label
    assert np.allclose(df[[f"p_{x}" for x in pred.labels]].sum(axis=1), 1.0, atol=1e-5)


def test_running_statistics_are_causal_and_offline_are_not(mlp_run, corpus):
    pred = load_predictor(mlp_run)
    t = _test_part(corpus, mlp_run)
    first = t[t["speaker"] == t["speaker"].iloc[0]]["path"].tolist()
    waves = [corpus_wave(p) for p in first]
    spk = ["s"] * len(waves)
    base_run = pred.predict(waves, speakers=spk, speaker_norm="running")
    base_off = pred.predict(waves, speakers=spk, speaker_norm="offline")
    changed = waves[:-1] + [waves[-1] * 0.05 + np.random.default_rng(0).normal(0, 0.02, len(waves[-1])).astype(np.float32)]
    run2 = pred.predict(changed, speakers=spk, speaker_norm="running")
    off2 = pred.predict(changed, speakers=spk, speaker_norm="offline")
    for a, b in zip(base_run[:-1], run2[:-1]):
        assert np.array_equal(a.probs, b.probs)               # the past does not see the future
    assert any(not np.allclose(a.probs, b.probs) for a, b in zip(base_off[:-1], off2[:-1]))
    # a running speaker of one utterance is the prior, shrunk: finite, not a constant zero input
    one = pred.predict(waves[:1], speaker_norm="running")[0]
    assert np.isfinite(one.probs).all()


def corpus_wave(path) -> np.ndarray:
    from emowb.data.audio import load_audio

    return load_audio(path, sr=16000)


def test_running_statistics_follow_the_formula():
    rng = np.random.default_rng(0)
    norm = Normaliser(train_mean=np.zeros(3, np.float32), train_std=np.ones(3, np.float32), per_speaker=True,
                      prior_mean=np.array([1.0, 2.0, 3.0]), prior_var=np.array([1.0, 4.0, 9.0]), prior_count=2.0)
    xs = rng.normal(size=(4, 3))
    run = norm.running()
    outs = [run(x, "a") for x in xs]
    k = 3
    n0, m0, v0 = 2.0, norm.prior_mean, norm.prior_var
    mean = (n0 * m0 + xs[:k].sum(0)) / (n0 + k)
    var = (n0 * (v0 + m0 ** 2) + (xs[:k] ** 2).sum(0)) / (n0 + k) - mean ** 2
    assert np.allclose(outs[k - 1], (xs[k - 1] - mean) / np.sqrt(var), atol=1e-5)
    assert np.allclose(run(xs[0], "b"), (xs[0] - (n0 * m0 + xs[0]) / (n0 + 1))
                       / np.sqrt((n0 * (v0 + m0 ** 2) + xs[0] ** 2) / (n0 + 1) - ((n0 * m0 + xs[0]) / (n0 + 1)) ** 2),
                       atol=1e-5)                              # a new speaker starts from the prior


@pytest.mark.parametrize("which", ["mlp_run", "cnn_run"])
def test_exported_bundle_matches_pytorch_and_runs_alone(which, corpus, request, tmp_path):
    run = request.getfixturevalue(which)
    out = export_bundle(run, tmp_path / "bundle")
    meta = json.loads((out / "bundle.json").read_text())
    assert meta["parity"]["n_utterances"] >= 3
    assert meta["parity"]["logits_max_abs"] < 1e-4
    if which == "cnn_run":
        assert (out / "frontend.onnx").is_file() and meta["parity"]["frontend_max_abs"] < 1e-3
    card = (out / "MODEL_CARD.md").read_text()
    assert "Intended use" in card and "Limits" in card and corpus.name in card
    ua = json.loads((run / "metrics.json").read_text())["test"]["a"]["UA"]
    assert f"unweighted accuracy (UA): {ua:.3f}" in card
    t = _test_part(corpus, run)
    a = predict_files(load_predictor(run), t["path"].tolist(), speaker="one", segment_mode="none")
    b = predict_files(load_bundle(out), t["path"].tolist(), speaker="one", segment_mode="none")
    pa, pb = (d[[f"p_{x}" for x in corpus.labels]].to_numpy() for d in (a, b))
    assert np.abs(pa - pb).max() < 1e-3 and (a["pred"] == b["pred"]).all()


def test_bundle_from_another_version_is_refused(mlp_run, tmp_path):
    out = export_bundle(mlp_run, tmp_path / "b")
    meta = json.loads((out / "bundle.json").read_text())
    meta["emowb_version"] = "0.0.1"
    (out / "bundle.json").write_text(json.dumps(meta))
    with pytest.raises(ConfigError, match="exported by emowb 0.0.1.*re-export"):
        load_bundle(out)
    meta["format_version"] = 99
    (out / "bundle.json").write_text(json.dumps(meta))
    with pytest.raises(ConfigError, match="format version 99"):
        load_bundle(out)
    with pytest.raises(ConfigError, match="exists and is not empty"):
        export_bundle(mlp_run, out)


def _recording(corpus: Corpus, n: int, pause: float, sr: int = 16000):
    """Corpus utterances concatenated with pauses of low noise: (wave, true [start, end) list)."""
    from emowb.data.audio import load_audio

    rng = np.random.default_rng(1)
    parts, truth, pos = [], [], 0
    for i in range(n):
        w = load_audio(corpus.path("audio", i), sr=sr)
        gap = rng.normal(0, 3e-4, int(pause * sr)).astype(np.float32)
        parts += [gap, w]
        truth.append((pos + len(gap), pos + len(gap) + len(w)))
        pos += len(gap) + len(w)
    parts.append(rng.normal(0, 3e-4, int(pause * sr)).astype(np.float32))
    return np.concatenate(parts), truth


def test_vad_finds_the_utterances_of_a_concatenated_recording(corpus):
    wave, truth = _recording(corpus, 8, pause=1.0)
    segs = segment(wave, 16000)
    assert len(segs) == len(truth)
    for s, (a, b) in zip(segs, truth):
        assert abs(s.start - a) < 0.3 * 16000 and abs(s.end - b) < 0.3 * 16000
        assert s.decided >= s.end                              # decided after the pause began


def test_stream_equals_offline_segmentation_and_flags_a_cut_end(mlp_run, corpus):
    pred = load_predictor(mlp_run)
    wave, truth = _recording(corpus, 5, pause=1.0)
    chunks = [wave[i:i + 320] for i in range(0, len(wave), 320)]            # 20 ms
    events = list(stream(pred, chunks, sr=16000))
    segs = segment(wave, 16000)
    assert [(e["start"], e["end"]) for e in events] == [(round(s.start / 16000, 3), round(s.end / 16000, 3)) for s in segs]
    assert all(e["label"] in pred.labels and not e["cut"] for e in events)
    # decided min_silence (0.5 s) after the last active frame = 0.4 s after the end padded by 0.1 s
    assert all(0.35 <= e["detect_delay_s"] <= 0.45 for e in events)
    # the stream stops in the middle of the last utterance: it is closed and flagged
    a, b = truth[-1]
    cut = list(stream(pred, [wave[: (a + b) // 2]], sr=16000))
    assert cut[-1]["cut"] is True and cut[-1]["label"] in pred.labels
    # another sample rate: resampled per utterance, same segmentation in seconds
    from emowb.data.audio import resample

    w8 = resample(wave, orig_sr=16000, sr=8000)
    ev8 = list(stream(pred, [w8[i:i + 160] for i in range(0, len(w8), 160)], sr=8000))
    assert len(ev8) == len(events)


def test_long_file_is_cut_by_vad_and_bad_files_get_rows_not_silence(mlp_run, corpus, tmp_path):
    pred = load_predictor(mlp_run)
    wave, truth = _recording(corpus, 12, pause=1.0)
    long = tmp_path / "long.wav"
    sf.write(long, np.stack([wave, wave], 1), 16000)                         # stereo
    resampled = tmp_path / "r44.flac"
    from emowb.data.audio import resample

    sf.write(resampled, resample(wave[truth[0][0]:truth[0][1]], orig_sr=16000, sr=44100), 44100)
    silent = tmp_path / "silent.wav"
    sf.write(silent, np.zeros(16000, np.float32), 16000)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    garbage = tmp_path / "garbage.mp3"
    garbage.write_bytes(b"not audio at all" * 10)
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter("always")
        df = predict_files(pred, [long, resampled, silent, empty, garbage])
    assert (df["source"] == str(long)).sum() == len(truth)                   # > 20 s: cut
    assert "2 channels averaged" in df.loc[df["source"] == str(long), "note"].iloc[0]
    assert "resampled 44100 -> 16000" in df.loc[df["source"] == str(resampled), "note"].iloc[0]
    errs = df.set_index("source")["error"]
    assert "silent" in errs[str(silent)] and "empty" in errs[str(empty)] and errs[str(garbage)]
    assert df.loc[df["error"] != "", "pred"].isna().all()
    assert len([x for x in w if "not scored" in str(x.message)]) == 3
    with pytest.raises(Exception, match="silent"):
        predict_files(pred, [silent], on_error="raise")


def test_cli_predict_export_and_stream(mlp_run, corpus, tmp_path):
    exe = [sys.executable, "-m", "emowb"]
    t = _test_part(corpus, mlp_run)
    folder = tmp_path / "wavs"
    folder.mkdir()
    for p in t["path"]:
        (folder / Path(p).name).write_bytes(Path(p).read_bytes())
    r = subprocess.run(exe + ["export", str(mlp_run), "--out", str(tmp_path / "b")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "logits max |Δ|" in r.stdout
    out = tmp_path / "p.jsonl"
    r = subprocess.run(exe + ["predict", str(folder), "--bundle", str(tmp_path / "b"), "--out", str(out)],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == len(t) and all(x["pred"] in corpus.labels for x in rows)
    wave, truth = _recording(corpus, 4, pause=1.0)
    pcm = (np.clip(wave, -1, 1) * 32767).astype("<i2").tobytes()
    r = subprocess.run(exe + ["predict", "-", "--bundle", str(tmp_path / "b"), "--stream", "--rate", "16000"],
                       input=pcm, capture_output=True)
    assert r.returncode == 0, r.stderr.decode()
    lines = [json.loads(x) for x in r.stdout.decode().splitlines()]
    assert len(lines) == 4 and all(x["label"] in corpus.labels for x in lines)
    r = subprocess.run(exe + ["predict", "-", "--bundle", str(tmp_path / "b"), "--stream"], input=pcm,
                       capture_output=True, text=False)
    assert r.returncode == 2 and b"--rate" in r.stderr
    r = subprocess.run(exe + ["predict", str(tmp_path / "nope.wav"), "--run", str(mlp_run)], capture_output=True,
                       text=True)
    assert r.returncode == 2 and "does not exist" in r.stderr


# --------------------------------------------------------------------------- COGMEN runs
@pytest.fixture(scope="module")
def cogmen_runs(corpus, tmp_path_factory):
    from emowb.train.run import RunConfig, train_run

    out = {}
    for causal in (True, False):
        cfg = RunConfig.from_params(corpus=str(corpus.root), features={"a": "egemaps"}, modalities="a",
                                    protocol="logo", fold="Ses05", epochs=2, batch_size=4, seed=0,
                                    graph="past" if causal else "window", causal=causal, progress=False)
        run = tmp_path_factory.mktemp(f"cogmen_causal{causal}")
        train_run(cfg, run_dir=run)
        out[causal] = run
    return out


@pytest.mark.parametrize("causal", [True, False])
def test_cogmen_run_predicts_dialogues_as_its_own_evaluation(causal, cogmen_runs, corpus, tmp_path):
    run = cogmen_runs[causal]
    t = _test_part(corpus, run)
    manifest = tmp_path / "m.csv"
    t[["path", "speaker", "label", "dialogue_id"]].rename(columns={"dialogue_id": "dialogue"}).to_csv(manifest, index=False)
    pred = load_predictor(run)
    assert pred.info["causal"] is causal
    df = predict_files(pred, [manifest], speaker_norm="offline", segment_mode="none")
    own = pd.read_parquet(run / "predictions.parquet").query("split == 'test' and context == 'a'")
    want = {u: corpus.labels[int(v)] for u, v in zip(own["utt_id"], own["y_pred"])}
    got = dict(zip(df["source"].map(dict(zip(t["path"], t["utt_id"]))), df["pred"]))
    assert got == want
    probs = df[[f"p_{x}" for x in corpus.labels]].to_numpy()
    own_p = own.set_index("utt_id").loc[df["source"].map(dict(zip(t["path"], t["utt_id"]))),
                                        [f"p_{x}" for x in corpus.labels]].to_numpy()
    assert np.abs(probs - own_p).max() < 1e-4
    wave, _ = _recording(corpus, 4, pause=1.0)
    chunks = [wave[i:i + 320] for i in range(0, len(wave), 320)]
    if causal:
        events = list(stream(pred, chunks, sr=16000))
        assert len(events) == 4 and all(e["label"] in corpus.labels for e in events)
    else:
        with pytest.raises(ConfigError, match="bidirectional"):
            list(stream(pred, chunks, sr=16000))
