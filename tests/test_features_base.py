import numpy as np
import pytest

from emowb import Modality
from emowb.data import IEMOCAP4, Corpus, CorpusInfo
from emowb.features import FeatureError, FeatureSet
from emowb.features.store import list_features, load_features, save_features


def test_vector_roundtrip_and_take(tmp_path):
    fs = FeatureSet("x", Modality.AUDIO, ["a", "b", "c"], values=np.arange(6).reshape(3, 2),
                    valid=[True, False, True], notes=["", "silent", ""], config={"p": 1})
    fs.save(tmp_path / "x")
    back = FeatureSet.load(tmp_path / "x")
    assert back.values.dtype == np.float32 and back.notes[1] == "silent" and not back.valid[1]
    t = back.take(["c", "a"])
    assert t.values.tolist() == [[4, 5], [0, 1]]
    with pytest.raises(FeatureError, match="'zz'"):
        back.take(["zz"])


def test_sequence_roundtrip(tmp_path):
    seqs = [np.ones((3, 4)), np.zeros((1, 4)), np.full((5, 4), 2.0)]
    fs = FeatureSet("lld", "a", ["a", "b", "c"], sequences=seqs)
    back = FeatureSet.load(fs.save(tmp_path / "s"))
    assert back.kind == "sequence" and back.dim == 4
    assert [s.shape[0] for s in back.sequences] == [3, 1, 5]


@pytest.mark.parametrize("kw, msg", [
    (dict(values=np.array([[np.nan, 1.0]])), "NaN/inf in utterance 'a'"),
    (dict(values=np.ones(3)), "must be"),
    (dict(sequences=[np.ones((2, 3))], values=np.ones((1, 3))), "exactly one"),
])
def test_invalid(kw, msg):
    with pytest.raises(FeatureError, match=msg):
        FeatureSet("x", "a", ["a"], **kw)


def test_store(tmp_path, dyadic_table):
    c = Corpus(tmp_path, dyadic_table, CorpusInfo("t", IEMOCAP4))
    ids = c.table.utt_id.tolist()
    save_features(c, FeatureSet("f", "a", ids, values=np.zeros((len(ids), 2)), config={"k": 1}))
    assert load_features(c, "f").dim == 2
    save_features(c, FeatureSet("f", "a", ids, values=np.zeros((len(ids), 3)), config={"k": 2}))
    with pytest.raises(FeatureError, match="2 feature sets"):
        load_features(c, "f")
    assert load_features(c, "f", {"k": 2}).dim == 3
    assert len(list_features(c)) == 2
    with pytest.raises(FeatureError, match="lacks"):
        save_features(c, FeatureSet("g", "a", ids[:-1], values=np.zeros((len(ids) - 1, 2))))
