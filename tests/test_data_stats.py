import numpy as np
import pandas as pd

from emowb.data import IEMOCAP4, Corpus, CorpusInfo
from emowb.data.stats import counts, label_transitions, turn_taking


def corpus(tmp_path):
    rows = []
    spk = ["A", "A", "B", "A", "B", "B"]
    lab = ["sad", "sad", "sad", "angry", "angry", "happy"]
    for t, (s, l) in enumerate(zip(spk, lab)):
        rows.append(dict(utt_id=f"u{t}", dialogue_id="d", turn=t, speaker=s, group="g", label=l,
                         text="", audio=""))
    return Corpus(tmp_path, pd.DataFrame(rows), CorpusInfo("t", IEMOCAP4))


def test_transitions_and_turns(tmp_path):
    c = corpus(tmp_path)
    all_ = label_transitions(c)
    assert all_.loc["sad", "sad"] == 2 / 3 and all_.loc["sad", "angry"] == 1 / 3
    same = label_transitions(c, same_speaker=True)
    assert same.loc["sad", "sad"] == 1.0 and same.loc["angry", "happy"] == 1.0  # A: sad->sad, B: angry->happy
    change = label_transitions(c, same_speaker=False)
    assert change.loc["sad", "sad"] == 0.5 and change.loc["angry", "angry"] == 1.0  # sad->sad, sad->angry, angry->angry
    assert np.allclose(all_.sum(1)[all_.sum(1) > 0], 1)
    tt = turn_taking(c).iloc[0]
    assert tt.utterances == 6 and tt.speaker_changes == 3 and tt.longest_run == 2
    assert counts(c)["speaker"].loc["A"].sum() == 3
