import pytest

from emowb import Protocol
from emowb.data import IEMOCAP4, Corpus, CorpusInfo, SplitError, check_independent, make_splits
from emowb.data.splits import Split

from conftest import make_dyadic_table


@pytest.fixture
def corpus(tmp_path):
    return Corpus(tmp_path, make_dyadic_table(n_groups=5, dialogues_per_group=4), CorpusInfo("t", IEMOCAP4))


@pytest.mark.parametrize("protocol, n", [("fixed", 1), ("logo", 5), ("loso", 10), ("kfold", 3)])
def test_speaker_independent(corpus, protocol, n):
    splits = make_splits(corpus, protocol, k=3, seed=1)
    assert len(splits) == n
    t = corpus.table
    seen_test = set()
    for s in splits:
        fit = t[t.dialogue_id.isin(s.train + s.dev)]
        test = t[s.test_mask(t)]
        assert len(test) > 0 and len(fit) > 0
        assert not set(fit.speaker) & set(test.speaker)
        assert not set(fit.group) & set(test.group)
        assert not set(s.train) & set(s.dev)
        seen_test |= set(test.utt_id)
    if protocol != "fixed":  # every utterance is scored exactly once across folds
        assert seen_test == set(t.utt_id)


def test_loso_scores_one_speaker(corpus):
    s = make_splits(corpus, Protocol.LEAVE_ONE_SPEAKER_OUT)[0]
    scored = corpus.table[s.test_mask(corpus.table)]
    assert set(scored.speaker) == set(s.score_speakers) and len(s.score_speakers) == 1


def test_dev_is_seeded(corpus):
    a = make_splits(corpus, "logo", seed=3)
    b = make_splits(corpus, "logo", seed=3)
    c = make_splits(corpus, "logo", seed=4)
    assert a == b and a != c


def test_check_independent_catches_leak(corpus):
    good = make_splits(corpus, "fixed")[0]
    leak = Split("leak", good.train[1:], good.dev, good.test + good.train[:1])
    with pytest.raises(SplitError, match="not speaker-independent"):
        check_independent(corpus, leak)


def test_bad_arguments(corpus):
    with pytest.raises(SplitError):
        make_splits(corpus, "fixed", test_groups=["nope"])
    with pytest.raises(SplitError):
        make_splits(corpus, "kfold", k=9)
    with pytest.raises(ValueError):
        make_splits(corpus, "bogus")
    assert [s.name for s in make_splits(corpus, "logo", folds=["G2"])] == ["logo-G2"]
