"""Importers on fixture trees in each corpus's exact layout, the registry, the CLI, real EmoDB."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from emowb.cli import main
from emowb.data.corpus import Corpus, CorpusError
from emowb.data.importers import IMPORTERS, SourceError, import_corpus
from emowb.data.importers.iemocap import speaker_of
from fixtures_media import voice, write_mp4, write_openface


def _wav(path, dur=0.3, seed=0, sr=16000):
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, voice(dur, sr, seed=seed), sr)
    return path


# -------------------------------------------------------------------------------- IEMOCAP
# (utt suffix, start, end, label, text); written in shuffled order to test ordering by time
DIALOGS = {
    (1, "Ses01F_impro01"): [("F000", 6.2901, 8.2357, "neu", "Excuse me."),
                            ("M000", 8.5, 10.1, "exc", "Yeah."),
                            ("F001", 10.4, 12.0, "fru", "Is there a problem?"),
                            ("M001", 12.2, 13.9, "xxx", "Who told you to get in this line?"),
                            ("F002", 14.0, 15.5, "ang", "You did.")],
    (1, "Ses01M_script01_1"): [("M000", 1.0, 2.5, "hap", "I'm so glad."),
                               ("F000", 2.6, 4.0, "sad", "I miss him.")],
    (2, "Ses02F_impro03"): [("F000", 3.0, 4.2, "sad", "Oh no."),
                            ("M000", 0.5, 2.0, "neu", "Hello there.")],
}


def _iemocap_tree(root):
    for (sess, dialog), utts in DIALOGS.items():
        s = root / f"Session{sess}"
        ev, tr = s / "dialog" / "EmoEvaluation", s / "dialog" / "transcriptions"
        ev.mkdir(parents=True, exist_ok=True)
        tr.mkdir(parents=True, exist_ok=True)
        lines = ["% [START_TIME - END_TIME] TURN_NAME EMOTION [V, A, D]", ""]
        tlines = []
        for k, (suf, a, b, lab, text) in enumerate(reversed(utts)):
            utt = f"{dialog}_{suf}"
            lines += [f"[{a:.4f} - {b:.4f}]\t{utt}\t{lab}\t[2.5000, 3.0000, {2 + k / 10:.4f}]",
                      f"C-E1:\t{lab};\t()", "A-E1:\tval 3; act 3; dom  3;\t()", ""]
            tlines.append(f"{utt} [{a:08.4f}-{b:08.4f}]: {text}")
            _wav(s / "sentences" / "wav" / dialog / f"{utt}.wav", b - a, seed=k)
        tlines.append("M_ambient [000.0000-001.0000]: [LAUGHTER]")
        (ev / f"{dialog}.txt").write_text("\n".join(lines))
        (tr / f"{dialog}.txt").write_text("\n".join(tlines))
        (ev / "Categorical").mkdir(exist_ok=True)  # subfolders of the real release are ignored


@pytest.mark.parametrize("classes,labels,n,excluded", [
    (4, ["neutral", "happy", "sad", "angry"], 7, {"fru": 1, "xxx": 1}),
    (6, ["happy", "sad", "neutral", "angry", "excited", "frustrated"], 8, {"xxx": 1}),
])
def test_iemocap(tmp_path, classes, labels, n, excluded):
    _iemocap_tree(tmp_path / "IEMOCAP")
    c = import_corpus("iemocap", tmp_path / "IEMOCAP", tmp_path / "out", classes=classes)
    assert list(c.labels) == labels and len(c) == n
    assert c.info.extra["excluded"]["label not in the chosen set"]["counts"] == excluded
    t = c.table.set_index("utt_id")
    d = t[t["dialogue_id"] == "Ses01F_impro01"].sort_values("turn")
    assert d["dialog_start"].is_monotonic_increasing and d["turn"].tolist() == list(range(len(d)))
    assert t.loc["Ses01F_impro01_F000", "text"] == "Excuse me."
    assert t.loc["Ses01F_impro01_F000", "speaker"] == "Ses01_F"
    assert t.loc["Ses01F_impro01_M000", "label"] == ("happy" if classes == 4 else "excited")
    assert t.loc["Ses02F_impro03_M000", "turn"] == 0  # earlier start time, listed second
    assert set(t["group"]) == {"Ses01", "Ses02"}
    assert t.loc["Ses01M_script01_1_F000", "duration"] == pytest.approx(1.4)
    assert Corpus.load(tmp_path / "out").table.equals(c.table)


def test_iemocap_sessions_and_missing_wav(tmp_path):
    _iemocap_tree(tmp_path / "I")
    (tmp_path / "I/Session1/sentences/wav/Ses01F_impro01/Ses01F_impro01_F002.wav").unlink()
    c = import_corpus("iemocap", tmp_path / "I", tmp_path / "o", sessions=[1])
    assert set(c.table["group"]) == {"Ses01"}
    assert c.info.extra["excluded"]["audio file missing"]["total"] == 1
    with pytest.raises(SourceError, match="no Session"):
        import_corpus("iemocap", tmp_path / "I", tmp_path / "o2", sessions=[7])


@pytest.mark.parametrize("utt,spk", [("Ses01F_impro01_F000", "Ses01_F"), ("Ses03M_script02_2_M041", "Ses03_M"),
                                     ("Ses05F_impro05b_M012", "Ses05_M")])
def test_iemocap_speaker(utt, spk):
    assert speaker_of(utt) == spk


# ------------------------------------------------------------------------ file-name corpora
def test_emodb_fixture(tmp_path):
    src = tmp_path / "emodb"
    for i, name in enumerate(["03a01Fa", "03a01Nc", "08b02Ta", "08b02Wb", "10a04Ld", "notes_x"]):
        _wav(src / f"{name}.wav", seed=i)
    c = import_corpus("emodb", src, tmp_path / "out")
    assert sorted(c.table["label"]) == ["angry", "happy", "neutral", "sad"]
    ex = c.info.extra["excluded"]
    assert ex["label not in the chosen set"]["counts"] == {"L": 1}
    assert ex["file name does not follow the EmoDB pattern SSTTTEV"]["total"] == 1
    t = c.table.set_index("utt_id")
    assert t.loc["08b02Ta", "speaker"] == "08" and t.loc["08b02Ta", "gender"] == "F"
    assert t.loc["03a01Fa", "text"] == "Der Lappen liegt auf dem Eisschrank."
    assert (c.table["dialogue_id"] == c.table["utt_id"]).all() and (c.table["turn"] == 0).all()
    c7 = import_corpus("emodb", src, tmp_path / "out7", classes="all")
    assert len(c7) == 5 and "bored" in c7.labels and c7.labels[:4] == ("neutral", "happy", "sad", "angry")


def test_ravdess_fixture(tmp_path):
    src = tmp_path / "RAVDESS"
    names = ["03-01-01-01-01-01-01", "03-01-03-02-02-01-02", "03-01-02-01-01-01-01",  # calm
             "03-02-04-01-01-01-01", "02-01-05-01-01-01-02"]                          # song, video-only
    for i, n in enumerate(names):
        _wav(src / f"Actor_{n[-2:]}" / f"{n}.wav", seed=i)
    write_mp4(src / "Actor_02" / "01-01-05-01-01-01-02.mp4", voice(0.4, 16000), 16000)  # AV only
    write_mp4(src / "Actor_01" / "01-01-01-01-01-01-01.mp4", voice(0.4, 16000), 16000)  # dup of wav
    c = import_corpus("ravdess", src, tmp_path / "out")
    t = c.table.set_index("utt_id")
    assert sorted(t.index) == ["01-01-05-01-01-01-02", "03-01-01-01-01-01-01", "03-01-03-02-02-01-02"]
    assert t.loc["01-01-05-01-01-01-02", "label"] == "angry"        # audio from the MP4
    assert t.loc["01-01-05-01-01-01-02", "duration"] == pytest.approx(0.4, abs=0.1)  # AAC priming
    assert t.loc["03-01-03-02-02-01-02", "speaker"] == "Actor_02"
    ex = c.info.extra["excluded"]
    assert ex["label not in the chosen set"]["counts"] == {"02": 1}
    assert ex["duplicate recording (kept one file)"]["total"] == 1
    assert ex["video-only file (no audio)"]["total"] == 1 and ex["vocal channel not speech"]["total"] == 1


def test_cremad_fixture(tmp_path):
    src = tmp_path / "AudioWAV"
    for i, n in enumerate(["1001_DFA_ANG_XX", "1001_IEO_HAP_HI", "1002_TIE_NEU_XX", "1002_ITS_FEA_LO"]):
        _wav(src / f"{n}.wav", seed=i)
    c = import_corpus("crema-d", src, tmp_path / "out")
    assert sorted(c.table["label"]) == ["angry", "happy", "neutral"]
    assert c.table.set_index("utt_id").loc["1001_DFA_ANG_XX", "text"] == "Don't forget a jacket."
    assert c.info.extra["excluded"]["label not in the chosen set"]["counts"] == {"FEA": 1}
    assert len(import_corpus("crema-d", src, tmp_path / "all", classes="all")) == 4


# ------------------------------------------------------------------------------- manifest
@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_manifest(tmp_path, fmt):
    d = tmp_path / "data"
    _wav(d / "a.wav", 2.0)
    write_mp4(d / "b.mp4", voice(1.0, 16000), 16000)
    write_openface(d / "a_face.csv")
    rows = [dict(dialogue_id="d1", speaker="s1", group="g1", label="happy", audio="a.wav", start=0.0, end=1.0,
                 text="hi", face="a_face.csv"),
            dict(dialogue_id="d1", speaker="s2", group="g1", label="sad", audio="a.wav", start=1.0, end=2.0,
                 text="oh", face=""),
            dict(dialogue_id="d2", speaker="s3", group="g2", label="angry", audio="b.mp4", start="", end="",
                 text="", face=""),
            dict(dialogue_id="d2", speaker="s4", group="g2", label="bored", audio="b.mp4", start="", end="",
                 text="", face="")]
    df = pd.DataFrame(rows)
    src = d / f"manifest.{fmt}"
    df.to_csv(src, index=False) if fmt == "csv" else df.assign(
        start=pd.to_numeric(df["start"]), end=pd.to_numeric(df["end"])).to_parquet(src)
    c = import_corpus("manifest", src, tmp_path / "out", labels=["neutral", "happy", "sad", "angry"])
    assert len(c) == 3 and c.info.extra["excluded"]["label not in the chosen set"]["counts"] == {"bored": 1}
    t = c.table
    assert t["utt_id"].tolist() == ["a_00000", "a_00001", "b"]  # duplicate stems disambiguated
    assert t["turn"].tolist() == [0, 1, 0] and t["end"].iloc[1] == 1.0 * 2
    assert c.path("face", 0).name == "a_face.csv" and c.path("audio", 2).is_absolute()
    assert t["duration"].tolist()[:2] == [1.0, 1.0]


def test_manifest_errors(tmp_path):
    (tmp_path / "m.csv").write_text("speaker,label\ns,happy\n")
    with pytest.raises(SourceError, match=r"lacks required column\(s\) \['audio'\]"):
        import_corpus("manifest", tmp_path / "m.csv", tmp_path / "o")
    (tmp_path / "m2.csv").write_text("speaker,label,audio\ns,happy,missing.wav\ns,sad,missing2.wav\n")
    with pytest.raises(CorpusError, match="no utterance left to import; excluded: audio file missing 2"):
        import_corpus("manifest", tmp_path / "m2.csv", tmp_path / "o")  # missing files are excluded
    with pytest.raises(ValueError, match="unknown importer"):
        import_corpus("timit", tmp_path, tmp_path / "o")


def test_copy_media_makes_a_movable_folder(tmp_path):
    src = tmp_path / "emodb"
    for i, n in enumerate(["03a01Fa", "03a01Nc"]):
        _wav(src / "wav" / f"{n}.wav", seed=i)
    c = import_corpus("emodb", src, tmp_path / "out", copy_media=True)
    assert all(not a.startswith("/") for a in c.table["audio"])
    (tmp_path / "out").rename(tmp_path / "moved")
    import shutil
    shutil.rmtree(src)
    assert len(Corpus.load(tmp_path / "moved")) == 2


def test_registry_and_cogmen_wiring():
    from emowb.features.imported import IMPORTERS as ALL_IMPORTERS, import_cogmen

    assert set(IMPORTERS) == {"manifest", "iemocap", "ravdess", "crema-d", "emodb"}
    assert set(ALL_IMPORTERS) == {"manifest", "iemocap", "cogmen", "ravdess", "crema-d", "emodb"}
    assert ALL_IMPORTERS["cogmen"] is import_cogmen


def test_cli_cogmen_is_wired(tmp_path, monkeypatch, capsys):
    from emowb.features import imported
    seen = {}

    def fake(src, out_dir, **kw):
        seen.update(src=src, out=out_dir, **kw)
        raise SourceError("stopped by the test")
    monkeypatch.setitem(imported.IMPORTERS, "cogmen", fake)
    assert main(["import", "cogmen", "feats.pkl", str(tmp_path / "o"), "--classes", "4"]) == 1
    assert seen == {"src": "feats.pkl", "out": str(tmp_path / "o"), "classes": 4}
    assert "stopped by the test" in capsys.readouterr().err


def test_cli_import(tmp_path, capsys):
    src = tmp_path / "emodb"
    for i, n in enumerate(["03a01Fa", "03a01Nc", "09a01Ea"]):
        _wav(src / f"{n}.wav", seed=i)
    assert main(["import", "emodb", str(src), str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "excluded 1: label not in the chosen set: E 1" in out and "per speaker" in out
    assert main(["import", "emodb", str(tmp_path / "nope"), str(tmp_path / "o2")]) == 1
    assert "source folder not found" in capsys.readouterr().err
    info = json.loads((tmp_path / "out" / "corpus.json").read_text())
    assert info["extra"]["excluded"]["label not in the chosen set"]["total"] == 1


@pytest.mark.emodb
def test_real_emodb_counts(emodb_dir, tmp_path):
    c = import_corpus("emodb", emodb_dir, tmp_path / "emodb")
    s = c.summary()
    assert s["utterances"] == 339 and s["speakers"] == 10  # README: 339 files in the 4-class subset
    assert s["per_label"] == {"neutral": 79, "happy": 71, "sad": 62, "angry": 127}
    assert np.allclose(c.table["duration"], 2.0)
    assert len(import_corpus("emodb", emodb_dir, tmp_path / "all", classes="all")) == 535
