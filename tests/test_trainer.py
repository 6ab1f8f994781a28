"""Trainer: learns, deterministic, resumes to the same result, run folder, pluggable loss."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from cogmen_fixtures import tiny_model, tiny_train, toy_corpus, toy_features
from emowb.data.splits import make_splits
from emowb.train.api import CrossEntropyLoss, TrainLoss
from emowb.train.masking import MaskingConfig
from emowb.train.run import DataConfig, RunConfig, prepare_data, train_run
from emowb.train.trainer import RUN_FILES, TrainerError


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    corpus = toy_corpus(tmp_path_factory.mktemp("c"), n_groups=4, dialogues_per_group=3, utts=10)
    feats = toy_features(corpus, signal=4.0)
    split = make_splits(corpus, "fixed", dev_share=0.25)[0]
    return corpus, feats, split


def _cfg(**kw):
    masking = kw.pop("masking", None)
    train = tiny_train(**kw)
    # these tests pin the trainer on raw toy features (few utterances per speaker: per-speaker
    # z-scoring, the workbench default, is tested in test_cogmen)
    return RunConfig(data=DataConfig(per_speaker=False), model=tiny_model(modalities="av"), train=train,
                     masking=masking)


def _run(toy, run_dir, cfg, **kw):
    corpus, feats, split = toy
    return train_run(cfg, run_dir=run_dir, corpus=corpus, features=feats, split=split, **kw)


def test_learns_a_separable_corpus(toy, tmp_path):
    res = _run(toy, tmp_path / "r", _cfg(epochs=12))
    assert res.metrics["test"]["av"]["weighted_f1"] > 0.85
    assert res.metrics["test"]["a"]["weighted_f1"] > 0.85          # audio carries the class
    hist = res.history
    assert hist["train_loss"].iloc[-1] < hist["train_loss"].iloc[0]


def test_same_seed_same_metrics_and_different_seed_differs(toy, tmp_path):
    a = _run(toy, tmp_path / "a", _cfg(masking=MaskingConfig()))
    b = _run(toy, tmp_path / "b", _cfg(masking=MaskingConfig()))
    c = _run(toy, tmp_path / "c", _cfg(masking=MaskingConfig(), seed=1))
    assert a.metrics == b.metrics
    pd.testing.assert_frame_equal(a.history.drop(columns="time_s"), b.history.drop(columns="time_s"))
    assert a.history["train_loss"].tolist() != c.history["train_loss"].tolist()


class _Stop(Exception):
    pass


@pytest.mark.parametrize("stop_at", [1, 3])
def test_resume_gives_the_uninterrupted_result(toy, tmp_path, stop_at):
    cfg = _cfg(epochs=5, masking=MaskingConfig(granularity="feature"))
    full = _run(toy, tmp_path / "full", cfg)

    def crash(epoch, row):
        if epoch == stop_at:
            raise _Stop

    with pytest.raises(_Stop):
        _run(toy, tmp_path / "cut", cfg, callbacks=[crash])
    assert not (tmp_path / "cut" / "metrics.json").exists()
    assert len(pd.read_csv(tmp_path / "cut" / "history.csv")) == stop_at
    resumed = _run(toy, tmp_path / "cut", cfg)
    assert resumed.metrics == full.metrics
    pd.testing.assert_frame_equal(resumed.history.drop(columns="time_s"), full.history.drop(columns="time_s"))
    p_full = pd.read_parquet(tmp_path / "full" / "predictions.parquet")
    p_cut = pd.read_parquet(tmp_path / "cut" / "predictions.parquet")
    pd.testing.assert_frame_equal(p_full, p_cut)


def test_run_folder_contents(toy, tmp_path):
    cfg = _cfg(epochs=3, masking=MaskingConfig(granularity="feature"))
    res = _run(toy, tmp_path / "r", cfg)
    for f in RUN_FILES + ("checkpoints/last.pt",):
        assert (tmp_path / "r" / f).is_file(), f
    conf = json.loads((tmp_path / "r" / "config.json").read_text())
    assert conf["train_transform"]["config"]["granularity"] == "feature"     # recorded
    assert conf["run"]["split"]["test"] and conf["labels"] == ["neutral", "happy", "sad", "angry"]
    assert conf["run"]["method"] == "cogmen" and conf["run"]["seed"] == 0 and len(conf["run"]["identity"]) == 12
    assert "progress" not in conf["train"] and conf["run"]["config"]["train"]["epochs"] == 3
    hist = pd.read_csv(tmp_path / "r" / "history.csv")
    assert {"epoch", "lr", "train_loss", "train_ce", "dev_loss", "dev_WA", "dev_UA", "dev_weighted_f1",
            "dev_macro_f1"} <= set(hist.columns)
    n_batches = -(-len(conf["run"]["split"]["train"]) // 4)
    assert hist.filter(like="mask:").to_numpy().sum() == hist.shape[0] * n_batches   # one per batch
    m = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert set(m["test"]) == {"av", "a", "v"} and m["best_epoch"] == res.best_epoch
    assert {"WA", "UA", "weighted_f1", "macro_f1", "per_class", "confusion"} <= set(m["test"]["a"])
    pred = pd.read_parquet(tmp_path / "r" / "predictions.parquet")
    assert set(pred["split"]) == {"dev", "test"} and set(pred["context"]) == {"av", "a", "v"}
    assert {"utt_id", "y_true", "y_pred", "scored", "p_neutral", "p_angry"} <= set(pred.columns)
    np.testing.assert_allclose(pred.filter(like="p_").sum(axis=1), 1.0, atol=1e-5)
    emb = np.load(tmp_path / "r" / "embeddings.npz")
    assert emb["embedding"].shape == (len(pred), 16) and len(emb["utt_id"]) == len(pred)
    # recomputing test metrics from the predictions gives metrics.json's numbers
    from emowb.eval.metrics import weighted_f1
    t = pred[(pred.split == "test") & (pred.context == "a") & pred.scored]
    assert weighted_f1(t.y_true, t.y_pred) == pytest.approx(m["test"]["a"]["weighted_f1"])


def test_load_best_restores_the_best_checkpoint(toy, tmp_path):
    from emowb.train.run import build_model, load_trained
    from emowb.train.trainer import load_best

    corpus, feats, split = toy
    cfg = _cfg(epochs=2)
    res = _run(toy, tmp_path / "r", cfg)
    data = prepare_data(corpus, feats, split, model=cfg.model)
    model = load_best(build_model(cfg.model, data, len(corpus.labels)), tmp_path / "r")
    loaded = load_trained(tmp_path / "r", corpus=corpus, features=feats).model
    for k, v in model.state_dict().items():
        assert torch.equal(v, loaded.state_dict()[k])
    with pytest.raises(TrainerError, match="no checkpoints/best.pt"):
        load_best(model, tmp_path)
    assert res.best_epoch >= 1


def test_other_config_in_same_folder_is_refused(toy, tmp_path):
    _run(toy, tmp_path / "r", _cfg(epochs=2))
    with pytest.raises(TrainerError, match="different configuration"):
        _run(toy, tmp_path / "r", _cfg(epochs=2, lr=0.5))
    again = _run(toy, tmp_path / "r", _cfg(epochs=2, progress=True))   # volatile field: same run
    assert again.best_epoch >= 1


class _CEPlusExtra(TrainLoss):
    """L = CE + 0.1 · mean((embedding[:, 0] - teacher)²): exercises extra batch tensors."""

    def __init__(self):
        super().__init__()
        self.ce = CrossEntropyLoss()

    def forward(self, output, batch):
        ce, _ = self.ce(output, batch)
        aux = ((output.embeddings[:, 0] - batch.extra["teacher"]) ** 2).mean()
        return ce + 0.1 * aux, {"ce": ce.detach(), "aux": aux.detach()}


def test_custom_loss_and_extra_tensors(toy, tmp_path):
    corpus, feats, split = toy
    cfg = _cfg(epochs=2)
    data = prepare_data(corpus, feats, split, model=cfg.model)
    utt = corpus.table["utt_id"].tolist()
    data.train.add_extra("teacher", utt, torch.arange(len(utt), dtype=torch.float32))
    res = train_run(cfg, run_dir=tmp_path / "r", corpus=corpus, features=feats, split=split,
                    loss=_CEPlusExtra(), prepared=data)
    assert {"train_ce", "train_aux"} <= set(res.history.columns)
    assert (res.history["train_aux"] > 0).all()
    b = next(data.train.batches(batch_size=2, shuffle=False))
    pos = {u: i for i, u in enumerate(utt)}
    assert b.extra["teacher"].tolist() == [float(pos[u]) for u in b.utt_ids]   # aligned with nodes


def test_in_memory_run_without_folder(toy):
    res = _run(toy, None, _cfg(epochs=2))
    assert res.run_dir is None and set(res.metrics["dev"]) == {"av", "a", "v"}


def test_a_field_added_later_with_its_default_is_the_same_run(toy, tmp_path):
    res = _run(toy, tmp_path / "r", _cfg(epochs=2))
    conf_path = tmp_path / "r" / "config.json"
    conf = json.loads(conf_path.read_text())
    del conf["run"]["config"]["data"]["standardize"]     # as written before the field existed (default)
    del conf["train"]["min_delta"]
    conf_path.write_text(json.dumps(conf))
    assert _run(toy, tmp_path / "r", _cfg(epochs=2)).metrics == res.metrics
    with pytest.raises(TrainerError, match="different configuration"):
        _run(toy, tmp_path / "r", _cfg(epochs=2, min_delta=0.1))


def test_fixed_epoch_mode_keeps_the_last_epoch(toy, tmp_path):
    best = _run(toy, tmp_path / "best", _cfg(epochs=6, patience=1))
    last = _run(toy, tmp_path / "last", _cfg(epochs=6, patience=1, select="last"))
    assert last.metrics["best_epoch"] == 6 and len(last.history) == 6      # no early stopping
    assert last.history["best"].all()
    assert best.metrics["best_epoch"] <= len(best.history)
    ck = torch.load(tmp_path / "last" / "checkpoints" / "best.pt", weights_only=True)
    assert ck["epoch"] == 6
