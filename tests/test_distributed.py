"""Multi-process training (TrainConfig.processes, Lightning Fabric DDP on gloo): 2 processes end
with the weights of 1 process at the same global batch; the default stays out of identities."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import torch

from cogmen_fixtures import tiny_model, tiny_train, toy_corpus, toy_features
from emowb.train.run import DataConfig, RunConfig, make_fold_splits, train_run
from emowb.train.trainer import TrainConfig, Trainer
from emowb.types import Modality

pytest.importorskip("lightning.fabric")

#: Largest weight difference after 3 epochs of SGD, 2 processes vs 1 at the same global batch (the
#: same sums in another order; measured about 1e-7).
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    corpus = toy_corpus(tmp_path_factory.mktemp("dist"), n_groups=3, dialogues_per_group=4, utts=8)
    return corpus, toy_features(corpus, signal=4.0)


def _student(toy, run_dir, *, processes: int, batch_size: int):
    """The speech student (MLP backbone) on utterance batches: the path SSL / Whisper students take."""
    from emowb.batching.utterances import build_utterance_splits
    from emowb.kd.emodistill import _identity
    from emowb.kd.students import SpeechStudent, StudentConfig
    from emowb.utils import seed_everything

    corpus, feats = toy
    split = make_fold_splits(corpus, DataConfig(protocol="logo", dev_share=0.2))[0]
    # no dropout: its draws depend on how a batch is split, the gradients' sums must not
    student = StudentConfig(backbone="mlp", hidden=16, mlp_hidden=32, dropout=0.0)
    data = build_utterance_splits(corpus, split, {student.input_name: feats[Modality.AUDIO]})
    seed_everything(0)
    model = SpeechStudent(student, n_classes=len(corpus.labels), input_dim=data.train.dims[student.input_name])
    train = tiny_train(epochs=3, batch_size=batch_size, optimizer="sgd", lr=0.2, keep_last=True, num_threads=1,
                       processes=processes)
    res = Trainer(model, config=train, train=data.train, dev=data.dev, test=data.test, labels=corpus.labels,
                  run_dir=run_dir, contexts={"a": _identity}).fit()
    return res, torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)["model"]


def _max_diff(a: dict, b: dict) -> float:
    assert a.keys() == b.keys()
    return max(float((a[k].float() - b[k].float()).abs().max()) for k in a)


def test_two_processes_match_one_process_with_the_same_global_batch(toy, tmp_path):
    one, w1 = _student(toy, tmp_path / "one", processes=1, batch_size=16)
    two, w2 = _student(toy, tmp_path / "two", processes=2, batch_size=16)
    # gradients are averaged across the 2 ranks: the weights of one process with global batch 16
    assert _max_diff(w1, w2) < TOLERANCE
    h1, h2 = one.history, two.history
    pd.testing.assert_series_equal(h1["train_loss"], h2["train_loss"], rtol=1e-5)
    assert list(h1["dev_weighted_f1"]) == list(h2["dev_weighted_f1"])
    m1, m2 = one.metrics["test"]["a"], two.metrics["test"]["a"]
    assert m1["confusion"] == m2["confusion"] and m1["loss"] == pytest.approx(m2["loss"], rel=1e-5)
    # the result came back through the run folder, with the best model loaded
    assert (tmp_path / "two" / "metrics.json").is_file() and two.best_epoch == one.best_epoch
    # what the check would catch: one process on a rank's half of each batch (no gradient sync)
    _, half = _student(toy, tmp_path / "half", processes=1, batch_size=8)
    assert _max_diff(w1, half) > 100 * TOLERANCE
    # a finished multi-process run is loaded, not trained again
    again, _ = _student(toy, tmp_path / "two", processes=2, batch_size=16)
    assert again.metrics == two.metrics


def test_cogmen_on_two_processes(toy, tmp_path):
    """COGMEN trains on 2 processes; its BatchNorm normalises each rank's own part of a batch (DDP
    without synchronised batch statistics), so it is close to, not equal to, one process."""
    corpus, feats = toy
    data = DataConfig(protocol="logo", dev_share=0.2)
    split = make_fold_splits(corpus, data)[0]
    cfg = RunConfig(data=data, model=tiny_model(modalities="av", dropout=0.0),
                    train=tiny_train(epochs=2, batch_size=4, num_threads=1, processes=2))
    res = train_run(cfg, run_dir=tmp_path / "run", corpus=corpus, features=feats, split=split)
    assert res.history["epoch"].tolist() == [1, 2] and set(res.metrics["test"]) == {"av", "a", "v"}
    assert json.loads((tmp_path / "run" / "config.json").read_text())["train"]["processes"] == 2


def test_the_default_stays_out_of_run_identities():
    assert "processes" not in TrainConfig().result_dict()
    assert TrainConfig(processes=2).result_dict()["processes"] == 2
    with pytest.raises(ValueError, match="processes must be >= 1"):
        TrainConfig(processes=0)
