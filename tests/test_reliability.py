"""Trust every number: labels, splits, finished runs, truncated audio, wording, one-line errors."""

from __future__ import annotations

import errno
import json
import logging

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from cogmen_fixtures import tiny_model, tiny_train, toy_corpus, toy_features
from conftest import make_dyadic_table
from emowb.cli import main
from emowb.data import Corpus, CorpusInfo, IEMOCAP4
from emowb.data.audio import read_audio
from emowb.data.importers import SourceError, import_corpus
from emowb.data.splits import SplitError, make_splits
from emowb.features.store import save_features
from emowb.train.run import DataConfig, RunConfig, train_run
from emowb.train.trainer import is_finished
from emowb.types import Modality
from fixtures_media import voice


def _wav(path, dur=0.3, seed=0, sr=16000):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, voice(dur, sr, seed=seed), sr)
    return path


def _manifest(tmp_path, labels, audio=None, fmt="csv"):
    d = tmp_path / "data"
    audio = audio or [f"u{i}.wav" for i in range(len(labels))]
    for i, a in enumerate(audio):
        if not (d / a).exists() and not a.startswith("missing"):
            _wav(d / a, seed=i)
    df = pd.DataFrame({"speaker": [f"s{i % 2}" for i in range(len(labels))], "label": labels, "audio": audio})
    src = d / f"m.{fmt}"
    df.to_csv(src, index=False) if fmt == "csv" else df.to_parquet(src)
    return src


# --------------------------------------------------------------------------------- 1. labels
def test_empty_csv_label_is_a_one_line_error_naming_file_and_line(tmp_path):
    src = _manifest(tmp_path, ["happy", "", "sad", ""])
    with pytest.raises(SourceError) as e:
        import_corpus("manifest", src, tmp_path / "out")
    msg = str(e.value)
    assert "\n" not in msg and str(src) in msg
    assert "line 3" in msg and "1 more row" in msg and "fill in the label or drop the row" in msg
    assert not (tmp_path / "out" / "corpus.json").exists()


def test_null_parquet_label_is_the_same_error(tmp_path):
    src = _manifest(tmp_path, ["happy", None, "sad"], fmt="parquet")
    with pytest.raises(SourceError, match=r"m\.parquet, row 2: null label; fill in the label or drop the row"):
        import_corpus("manifest", src, tmp_path / "out")


def test_labels_differing_in_case_or_space_are_one_class(tmp_path, caplog):
    src = _manifest(tmp_path, ["Angry", "angry", " angry ", "Sad", "sad", "happy"])
    with caplog.at_level(logging.WARNING, logger="emowb"):
        c = import_corpus("manifest", src, tmp_path / "out")
    assert c.labels == IEMOCAP4                       # subset of IEMOCAP's four once normalised
    assert c.table["label"].value_counts().to_dict() == {"angry": 3, "sad": 2, "happy": 1}
    warned = [r.getMessage() for r in caplog.records if "normalised the label" in r.getMessage()]
    assert len(warned) == 1 and "of 3 row(s)" in warned[0] and "'Angry' -> 'angry'" in warned[0]
    # a --labels set is normalised the same way
    c2 = import_corpus("manifest", src, tmp_path / "out2", labels=["Sad", "ANGRY "])
    assert c2.labels == ("sad", "angry") and len(c2) == 5


def test_inferred_label_set_warns_about_a_new_class(tmp_path, caplog):
    src = _manifest(tmp_path, ["happy", "sad", "bored", "bored", "angry"])
    with caplog.at_level(logging.WARNING, logger="emowb"):
        c = import_corpus("manifest", src, tmp_path / "out")
    assert c.labels == ("angry", "bored", "happy", "sad")
    msg = " ".join(r.getMessage() for r in caplog.records)
    assert "'bored' (2 rows)" in msg and "label indices changed" in msg and "--labels" in msg
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="emowb"):   # IEMOCAP's four: nothing to warn about
        import_corpus("manifest", _manifest(tmp_path / "b", ["happy", "sad"]), tmp_path / "out2")
    assert "label indices changed" not in " ".join(r.getMessage() for r in caplog.records)


# --------------------------------------------------------------------------------- 2. splits
def _corpus(tmp_path, labels_of_group):
    t = make_dyadic_table(n_groups=len(labels_of_group), dialogues_per_group=2, utts=4)
    t["label"] = [labels_of_group[int(g[1:])][i % len(labels_of_group[int(g[1:])])]
                  for i, g in enumerate(t["group"])]
    return Corpus(tmp_path, t, CorpusInfo("c", IEMOCAP4), check_files=False)


def test_one_class_in_training_is_an_error_naming_the_fold(tmp_path):
    c = _corpus(tmp_path, [["happy"], ["happy"], ["sad", "angry"]])
    with pytest.raises(SplitError, match=r"split fixed-G2: .* only class \['happy'\].*at least two"):
        make_splits(c, "fixed", dev_share=0)
    with pytest.raises(SplitError, match="split logo-G2"):
        make_splits(c, "logo", dev_share=0)


def test_test_split_missing_classes_warns_naming_fold_and_classes(tmp_path, caplog):
    c = _corpus(tmp_path, [list(IEMOCAP4), list(IEMOCAP4), ["happy", "neutral"]])
    with caplog.at_level(logging.WARNING, logger="emowb.splits"):
        make_splits(c, "fixed", dev_share=0)
    msgs = [r.getMessage() for r in caplog.records]
    assert len(msgs) == 1 and "split fixed-G2" in msgs[0] and "['sad', 'angry']" in msgs[0]


# ------------------------------------------------------------------------------ 3. run folders
@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    corpus = toy_corpus(tmp_path_factory.mktemp("c"), n_groups=3, dialogues_per_group=3, utts=6)
    return corpus, toy_features(corpus, signal=4.0), make_splits(corpus, "fixed", dev_share=0.25)[0]


def _train(toy, run_dir, **kw):
    corpus, feats, split = toy
    cfg = RunConfig(data=DataConfig(per_speaker=False), model=tiny_model(modalities="av"),
                    train=tiny_train(epochs=2, **kw))
    return train_run(cfg, run_dir=run_dir, corpus=corpus, features=feats, split=split)


@pytest.mark.parametrize("keep_last", [True, False])
def test_a_run_missing_an_artefact_is_not_finished_and_rerun_restores_it(toy, tmp_path, keep_last):
    run = tmp_path / "r"
    first = _train(toy, run, keep_last=keep_last)
    metrics = (run / "metrics.json").read_text()
    preds = pd.read_parquet(run / "predictions.parquet")
    assert is_finished(run)
    (run / "predictions.parquet").unlink()
    assert not is_finished(run)                       # metrics.json alone does not make a run finished
    again = _train(toy, run, keep_last=keep_last)
    assert is_finished(run)
    pd.testing.assert_frame_equal(pd.read_parquet(run / "predictions.parquet"), preds)
    assert (run / "metrics.json").read_text() == metrics and again.metrics == first.metrics


def test_metrics_json_is_written_after_the_other_artefacts(toy, tmp_path, monkeypatch):
    def no_space(*a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez_compressed", no_space)     # killed while writing embeddings.npz
    with pytest.raises(OSError):
        _train(toy, tmp_path / "r")
    assert not (tmp_path / "r" / "metrics.json").exists() and not is_finished(tmp_path / "r")
    monkeypatch.undo()
    _train(toy, tmp_path / "r")
    assert is_finished(tmp_path / "r")


# ------------------------------------------------------------------------- 4. truncated audio
def test_truncated_wav_is_valid_with_a_note_that_reaches_the_feature_set(tmp_path):
    from emowb.features.extract import extract

    d = tmp_path / "data"
    full = _wav(d / "cut.wav", dur=1.0)
    data = full.read_bytes()
    full.write_bytes(data[: 44 + 16000])              # 16-bit mono: 8000 of 16000 frames remain
    _wav(d / "ok.wav", dur=0.5, seed=1)
    clip = read_audio(full)
    assert clip.duration == pytest.approx(0.5)
    assert clip.notes == ("truncated file: header says 1.000 s, data has 0.500 s",)
    assert read_audio(d / "ok.wav").notes == ()
    pd.DataFrame({"speaker": ["a", "b"], "label": ["happy", "sad"], "audio": ["cut.wav", "ok.wav"]}
                 ).to_csv(d / "m.csv", index=False)
    c = import_corpus("manifest", d / "m.csv", tmp_path / "out")
    fs = extract(c, "logmel", progress=False)
    notes = dict(zip(fs.utt_ids, fs.notes))
    assert fs.valid.all() and notes["cut"].startswith("truncated file: header says 1.000 s") and notes["ok"] == ""


# --------------------------------------------------------------------- 5. wording, missing files
def test_missing_audio_is_excluded_and_counted_unreadable_header_is_kept(tmp_path, caplog):
    d = tmp_path / "data"
    d.mkdir()
    (d / "garbage.wav").write_bytes(b"this is not audio at all" * 10)
    src = _manifest(tmp_path, ["happy", "sad", "angry", "sad"], audio=["a.wav", "b.wav", "missing.wav", "garbage.wav"])
    with caplog.at_level(logging.WARNING, logger="emowb"):
        c = import_corpus("manifest", src, tmp_path / "out")
    assert sorted(c.table["utt_id"]) == ["a", "b", "garbage"]
    info = json.loads((tmp_path / "out" / "corpus.json").read_text())["extra"]
    assert info["excluded"]["audio file missing"]["counts"] == {"angry": 1}
    assert set(info["excluded"]) == {"audio file missing"}           # the unreadable header is kept
    assert list(info["kept_with_problems"]) == [next(iter(info["kept_with_problems"]))]
    assert info["kept_with_problems"][next(iter(info["kept_with_problems"]))]["total"] == 1
    msgs = [r.getMessage() for r in caplog.records]
    assert any("kept 1 utterance(s) with a problem: audio header unreadable" in m for m in msgs)
    assert not any("excluded" in m and "kept" in m for m in msgs)   # never "excluded ... (kept; ...)"


# ---------------------------------------------------------------------------- 6. CLI one-liners
def _cli(capsys, argv):
    rc = main(argv)
    err = capsys.readouterr().err.strip()
    return rc, err


def test_cli_split_and_corpus_errors_are_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("EMOWB_TRACEBACK", raising=False)
    c = toy_corpus(tmp_path / "one", n_groups=1, dialogues_per_group=2, utts=4)
    c.save()
    rc, err = _cli(capsys, ["splits", str(c.root), "--protocol", "logo"])
    assert rc == 2 and err.count("\n") == 0
    assert err.startswith("emowb splits: error: leave-one-group-out needs >= 2 groups") and "'group'" in err
    rc, err = _cli(capsys, ["corpus", str(tmp_path / "nowhere")])
    assert rc == 2 and err == f"emowb corpus: error: corpus folder not found: {tmp_path / 'nowhere'}"
    monkeypatch.setenv("EMOWB_TRACEBACK", "1")
    with pytest.raises(SplitError):
        main(["splits", str(c.root), "--protocol", "logo"])


def test_cli_nan_in_cached_values_names_the_cache_folder(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("EMOWB_TRACEBACK", raising=False)
    c = toy_corpus(tmp_path / "c", n_groups=3, dialogues_per_group=2, utts=4)
    c.save()
    d = save_features(c, toy_features(c)[Modality("a")])
    v = np.load(d / "values.npy")
    v[1, 2] = np.nan
    np.save(d / "values.npy", v)
    rc, err = _cli(capsys, ["train", str(c.root), "--features", "a=toy-a", "--out", str(tmp_path / "run"),
                            "--no-progress", "--set", "modalities=a"])
    assert rc == 2 and err.count("\n") == 0
    assert f"corrupt feature cache {d}: values.npy holds 1 NaN/inf value(s)" in err and "--force" in err


def test_cli_disk_full_names_the_file(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("EMOWB_TRACEBACK", raising=False)
    src = _manifest(tmp_path, ["happy", "sad"])

    def no_space(self, *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pd.DataFrame, "to_parquet", no_space)
    rc, err = _cli(capsys, ["import", "manifest", str(src), str(tmp_path / "out")])
    assert rc == 2 and err == (f"emowb import: error: no space left on device while writing "
                               f"{tmp_path / 'out' / 'utterances.parquet'}: free space or point --out elsewhere")
