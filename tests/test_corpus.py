import json

import numpy as np
import pandas as pd
import pytest

from emowb.data import IEMOCAP4, Corpus, CorpusError, CorpusInfo

INFO = CorpusInfo(name="t", labels=IEMOCAP4)


def test_roundtrip(tmp_path, dyadic_table):
    c = Corpus(tmp_path, dyadic_table, INFO)
    c.save()
    c2 = Corpus.load(tmp_path)
    pd.testing.assert_frame_equal(c.table, c2.table)
    assert c2.labels == IEMOCAP4
    assert c2.fingerprint() == c.fingerprint()
    assert json.loads((tmp_path / "corpus.json").read_text())["format_version"] == 1
    assert list(c2.y[:3]) == [IEMOCAP4.index(x) for x in c2.table["label"][:3]]


def test_sorted_by_dialogue_and_turn(tmp_path, dyadic_table):
    c = Corpus(tmp_path, dyadic_table.sample(frac=1, random_state=0), INFO)
    for _, d in c.table.groupby("dialogue_id"):
        assert list(d["turn"]) == sorted(d["turn"])


@pytest.mark.parametrize("mutate, expect", [
    (lambda t: t.assign(label=["frustrated"] + list(t["label"][1:])), "row 0 (utt_id 'G0_d0_000'): unknown label 'frustrated'"),
    (lambda t: t.assign(utt_id=["G0_d0_001"] + list(t["utt_id"][1:])), "duplicate utt_id"),
    (lambda t: t.assign(dialogue_id=[""] + list(t["dialogue_id"][1:])), "empty dialogue"),
    (lambda t: t.assign(audio=["audio/nope.wav"] + list(t["audio"][1:])), "audio file not found"),
    (lambda t: t.assign(face=["face/nope.csv"] + [""] * (len(t) - 1)), "face file not found"),
    (lambda t: t.assign(turn=[1] + list(t["turn"][1:])), "appears twice in dialogue"),
    (lambda t: t.assign(group=["other"] + list(t["group"][1:])), "several groups"),
    (lambda t: t.assign(start=[2.0] + [np.nan] * (len(t) - 1), end=[1.0] + [np.nan] * (len(t) - 1)), "bad segment"),
    (lambda t: t.drop(columns=["speaker"]), "lacks required columns ['speaker']"),
    (lambda t: t.iloc[:0], "empty"),
])
def test_bad_input_names_the_row(tmp_path, dyadic_table, mutate, expect):
    with pytest.raises(CorpusError, match=expect.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]")):
        Corpus(tmp_path, mutate(dyadic_table), INFO)


def test_missing_files_are_reported_all(tmp_path, dyadic_table):
    t = dyadic_table.assign(audio=[f"audio/{u}.wav" for u in dyadic_table["utt_id"]])
    with pytest.raises(CorpusError) as e:
        Corpus(tmp_path, t, INFO)
    assert f"{len(t)} problem(s)" in str(e.value) and "and 16 more" in str(e.value)
    # with check_files=False the same table is accepted
    Corpus(tmp_path, t, INFO, check_files=False)


def test_load_errors(tmp_path):
    with pytest.raises(CorpusError, match="not found"):
        Corpus.load(tmp_path / "nope")
    with pytest.raises(CorpusError, match="corpus.json is missing"):
        Corpus.load(tmp_path)


@pytest.mark.parametrize("labels", [("a",), ("a", "a")])
def test_bad_label_set(labels):
    with pytest.raises(CorpusError):
        CorpusInfo(name="x", labels=labels)


def test_summary_counts(tmp_path, dyadic_table):
    c = Corpus(tmp_path, dyadic_table, INFO)
    s = c.summary()
    assert s["utterances"] == len(dyadic_table) == sum(s["per_label"].values())
    assert s["dialogues"] == 6 and s["speakers"] == 6 and s["groups"] == 3
    assert "per group x label" in c.report()
