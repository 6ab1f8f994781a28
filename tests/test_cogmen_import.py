"""COGMEN pickle importer: both formats, built here at a tiny IEMOCAP-4 shape."""

import pickle
import sys
import types

import numpy as np
import pytest

from emowb.data.importers._common import SourceError
from emowb.data.splits import given_split
from emowb.features.imported import import_cogmen
from emowb.features.store import load_features
from emowb.types import Modality

DIMS = {"a": 100, "v": 512, "t": 768}


def _dialogues(n_per_session=2, sessions=(1, 2, 3, 4, 5), seed=0, t_dim=100):
    rng = np.random.default_rng(seed)
    out = {}
    for s in sessions:
        for d in range(n_per_session):
            vid = f"Ses0{s}{'FM'[d % 2]}_impro0{d + 1}"
            n = int(rng.integers(3, 7))
            spk = ["M" if i % 2 else "F" for i in range(n)]
            out[vid] = dict(
                ids=[f"{vid}_{spk[i]}{i:03d}" for i in range(n)], speakers=spk,
                labels=rng.integers(0, 4, n).tolist(),
                text=[rng.normal(size=t_dim).astype(np.float32) for _ in range(n)],
                audio=[rng.normal(size=DIMS["a"]).astype(np.float32) for _ in range(n)],
                visual=[rng.normal(size=DIMS["v"]).astype(np.float32) for _ in range(n)],
                sentence=[f"sentence {i}" for i in range(n)])
    return out


def write_features_pickle(path, dialogues, *, mutate=None):
    vids = sorted(dialogues)
    train = [v for v in vids if not v.startswith("Ses05")]
    test = [v for v in vids if v.startswith("Ses05")]
    fields = [{v: dialogues[v][k] for v in vids}
              for k in ("ids", "speakers", "labels", "text", "audio", "visual", "sentence")]
    obj = [*fields, train, test]
    if mutate:
        mutate(obj)
    with open(path, "wb") as f:
        pickle.dump(tuple(obj), f)
    return train, test


def write_samples_pickle(path, dialogues, monkeypatch):
    """Pickle objects of a stand-in ``cogmen.Sample`` class from a fake module."""
    pkg = types.ModuleType("cogmen")
    mod = types.ModuleType("cogmen.Sample")

    class Sample:
        def __init__(self, vid, speaker, label, text, audio, visual, sentence):
            self.vid, self.speaker, self.label, self.text = vid, speaker, label, text
            self.audio, self.visual, self.sentence = audio, visual, sentence
            self.sbert_sentence_embeddings = np.stack([np.full(768, i, np.float32) for i in range(len(label))])

    Sample.__module__ = "cogmen.Sample"
    Sample.__qualname__ = "Sample"
    mod.Sample = Sample
    pkg.Sample = mod
    monkeypatch.setitem(sys.modules, "cogmen", pkg)
    monkeypatch.setitem(sys.modules, "cogmen.Sample", mod)
    vids = sorted(dialogues)
    parts = {"test": [v for v in vids if v.startswith("Ses05")]}
    rest = [v for v in vids if not v.startswith("Ses05")]
    parts["dev"], parts["train"] = rest[:1], rest[1:]
    data = {p: [Sample(v, dialogues[v]["speakers"], dialogues[v]["labels"], dialogues[v]["text"],
                       dialogues[v]["audio"], dialogues[v]["visual"], dialogues[v]["sentence"])
                for v in vs] for p, vs in parts.items()}
    with open(path, "wb") as f:
        pickle.dump(data, f)
    return parts


def test_features_pickle(tmp_path):
    dlg = _dialogues()
    train, test = write_features_pickle(tmp_path / "IEMOCAP_features_4.pkl", dlg)
    corpus = import_cogmen(tmp_path / "IEMOCAP_features_4.pkl", tmp_path / "c")
    t = corpus.table
    assert corpus.labels == ("happy", "sad", "neutral", "angry")          # COGMEN's order
    assert len(t) == sum(len(d["labels"]) for d in dlg.values())
    assert set(t["audio"]) == {""} and set(t["group"]) == {f"Ses0{s}" for s in range(1, 6)}
    row = t[t.utt_id == dlg["Ses01F_impro01"]["ids"][1]].iloc[0]
    assert row.speaker == "Ses01M" and row.role == "M" and row.turn == 1
    assert row.label == corpus.labels[dlg["Ses01F_impro01"]["labels"][1]]
    fa = load_features(corpus, "cogmen-a")
    assert fa.modality is Modality.AUDIO and fa.dim == 100
    assert load_features(corpus, "cogmen-v").dim == 512
    i = fa.utt_ids.index(dlg["Ses02F_impro01"]["ids"][2])
    np.testing.assert_allclose(fa.values[i], dlg["Ses02F_impro01"]["audio"][2], rtol=1e-6)
    s = given_split(corpus, "cogmen")
    n_dev = int(len(train) * 0.1)
    assert list(s.dev) == sorted(train[:n_dev]) and set(s.train) == set(train[n_dev:])
    assert set(s.test) == set(test)


def test_samples_pickle(tmp_path, monkeypatch):
    dlg = _dialogues(t_dim=100)
    parts = write_samples_pickle(tmp_path / "data_iemocap_4.pkl", dlg, monkeypatch)
    # the importer must not need the cogmen package
    monkeypatch.delitem(sys.modules, "cogmen")
    monkeypatch.delitem(sys.modules, "cogmen.Sample")
    corpus = import_cogmen(tmp_path / "data_iemocap_4.pkl", tmp_path / "c")
    ft = load_features(corpus, "cogmen-t")
    assert ft.dim == 768                                                 # SBERT, not video_text
    vid = parts["train"][0]
    assert ft.values[ft.utt_ids.index(f"{vid}_u002")][0] == 2.0
    s = given_split(corpus)
    assert set(s.dev) == set(parts["dev"]) and set(s.test) == set(parts["test"])
    assert corpus.info.extra["cogmen"]["format"] == "samples"


@pytest.mark.parametrize("mutate, match", [
    (lambda o: o[2].__setitem__("Ses01F_impro01", [0, 7, 1, 1, 1, 1][:len(o[2]["Ses01F_impro01"])]),
     r"label 7 outside"),
    (lambda o: o[4]["Ses02M_impro02"].__setitem__(0, np.zeros(99, np.float32)), r"99-d vector"),
    (lambda o: o[1].__setitem__("Ses03F_impro01", ["M", "X"] + o[1]["Ses03F_impro01"][2:]), r"'X'"),
    (lambda o: o[5].__setitem__("Ses01F_impro01", o[5]["Ses01F_impro01"][:-1]), r"visual for"),
])
def test_bad_input_names_the_place(tmp_path, mutate, match):
    write_features_pickle(tmp_path / "p.pkl", _dialogues(), mutate=mutate)
    with pytest.raises(SourceError, match=match):
        import_cogmen(tmp_path / "p.pkl", tmp_path / "c")


def test_not_a_cogmen_pickle(tmp_path):
    with open(tmp_path / "x.pkl", "wb") as f:
        pickle.dump({"a": 1}, f)
    with pytest.raises(SourceError, match="not a COGMEN pickle"):
        import_cogmen(tmp_path / "x.pkl", tmp_path / "c")


def test_nonfinite_vectors_are_flagged(tmp_path):
    def mutate(o):
        o[5]["Ses04F_impro01"][0] = np.full(512, np.nan, np.float32)
    write_features_pickle(tmp_path / "p.pkl", _dialogues(), mutate=mutate)
    corpus = import_cogmen(tmp_path / "p.pkl", tmp_path / "c")
    fv = load_features(corpus, "cogmen-v")
    assert int((~fv.valid).sum()) == 1 and "non-finite" in fv.notes[int(np.flatnonzero(~fv.valid)[0])]
