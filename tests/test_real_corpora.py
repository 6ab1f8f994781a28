"""Real corpora as first-class citizens: size-balanced k-fold, per-fold class counts, a
speaker-independent early-stopping dev set, balanced class weights, the linear probe's folds and
solver, two student backbones in one output folder."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from emowb.batching.utterances import UtteranceData
from emowb.data import IEMOCAP4, Corpus, CorpusInfo, make_splits
from emowb.data.splits import Split, check_independent, fold_class_counts
from emowb.eval.linear import linear_probe, make_classifier, svm_dual
from emowb.kd.losses import EmoDistillLoss, EmoDistillLossConfig
from emowb.models.output import ModelOutput
from emowb.train.api import CrossEntropyLoss, TrainLoss, balanced_class_weights
from emowb.train.trainer import TrainConfig, Trainer, TrainerError

from conftest import make_dyadic_table

TRAIN = TrainConfig(epochs=1, batch_size=8, lr=1e-2, patience=None, progress=False, keep_last=False)


def acted_corpus(root, sizes, labels=IEMOCAP4) -> Corpus:
    """Single-utterance dialogues; one speaker per group (an actor), ``sizes[i]`` utterances each."""
    rows = []
    for g, n in enumerate(sizes):
        for i in range(n):
            rows.append(dict(utt_id=f"A{g:02d}_{i:03d}", dialogue_id=f"A{g:02d}_{i:03d}", turn=0,
                             speaker=f"A{g:02d}", group=f"A{g:02d}", label=labels[(i + g) % len(labels)],
                             text="", audio=""))
    return Corpus(root, pd.DataFrame(rows), CorpusInfo("acted", labels), check_files=False)


# --------------------------------------------------------------------------- 1. k-fold
def test_kfold_balances_test_folds_by_size(tmp_path):
    c = acted_corpus(tmp_path, [100] + [10] * 9)
    for seed in (0, 1, 2):
        splits = make_splits(c, "kfold", k=5, seed=seed)
        sizes = sorted(int(s.test_mask(c.table).sum()) for s in splits)
        # the big actor alone; the nine small ones spread 3/2/2/2 (round-robin put one beside the big one)
        assert sizes == [20, 20, 20, 30, 100], sizes
        assert make_splits(c, "kfold", k=5, seed=seed) == splits          # deterministic given the seed


def test_kfold_seed_breaks_ties_only(tmp_path):
    c = acted_corpus(tmp_path, [10] * 6)
    held = {seed: [tuple(sorted(set(c.table.loc[s.test_mask(c.table), "group"])))
                   for s in make_splits(c, "kfold", k=3, seed=seed, dev_share=0)] for seed in range(4)}
    assert all(len(set(map(len, h))) == 1 for h in held.values())           # 2 actors per fold
    assert len({tuple(h) for h in held.values()}) > 1                       # the seed decides which


def test_stratified_kfold_and_class_counts(tmp_path, capsys):
    c = acted_corpus(tmp_path / "c", [12, 8, 8, 6, 6, 4])
    splits = make_splits(c, "stratified-kfold", k=3, seed=0)
    assert [s.name for s in splits] == ["skfold3-0", "skfold3-1", "skfold3-2"]
    tested = np.zeros(len(c.table), int)
    for s in splits:
        check_independent(c, s)
        tested += s.test_mask(c.table)
    assert (tested == 1).all()
    counts = fold_class_counts(c, splits)
    assert list(counts.columns) == list(IEMOCAP4) + ["total"] and list(counts.index) == [s.name for s in splits]
    assert counts["total"].tolist() == [int(s.test_mask(c.table).sum()) for s in splits]
    assert counts[list(IEMOCAP4)].to_numpy().sum() == len(c.table)

    from emowb.cli import main

    c.save()
    assert main(["splits", str(c.root), "--protocol", "kfold", "--k", "3"]) == 0
    out = capsys.readouterr().out
    assert "per class" in out and "kfold3-2" in out and "neutral" in out and "dev by speaker" in out


# --------------------------------------------------------------------------- 2. dev set
@pytest.mark.parametrize("protocol", ["logo", "loso", "fixed", "kfold"])
def test_dev_holds_out_whole_speakers(tmp_path, protocol):
    c = acted_corpus(tmp_path, [12] * 8)
    t = c.table
    for s in make_splits(c, protocol, k=4, seed=0, dev_by="speaker"):
        assert s.dev_by == "speaker" and not s.dev_note and s.dev
        spk = {p: set(t.loc[t.dialogue_id.isin(set(s.part(p))), "speaker"]) for p in ("train", "dev")}
        grp = {p: set(t.loc[t.dialogue_id.isin(set(s.part(p))), "group"]) for p in ("train", "dev")}
        assert not spk["train"] & spk["dev"] and not grp["train"] & grp["dev"]


def test_dialogue_rule_is_the_old_random_draw(tmp_path):
    c = acted_corpus(tmp_path, [12] * 8)
    s = make_splits(c, "logo", seed=0, dev_by="dialogue")[0]
    t = c.table
    assert s.dev_by == "dialogue"
    assert set(t.loc[t.dialogue_id.isin(set(s.dev)), "speaker"]) & set(t.loc[t.dialogue_id.isin(set(s.train)), "speaker"])


def test_dyadic_dev_holds_out_sessions_and_falls_back_with_a_note(tmp_path):
    c = Corpus(tmp_path, make_dyadic_table(n_groups=5, dialogues_per_group=4), CorpusInfo("t", IEMOCAP4))
    s = make_splits(c, "logo", seed=0, dev_by="speaker")[0]
    t = c.table
    assert s.dev_by == "speaker" and len(set(t.loc[t.dialogue_id.isin(set(s.dev)), "group"])) == 1
    few = Corpus(tmp_path, make_dyadic_table(n_groups=3, dialogues_per_group=4), CorpusInfo("t", IEMOCAP4))
    f = make_splits(few, "logo", seed=0, dev_by="speaker")[0]
    assert f.dev_by == "dialogue" and "needs >= 3" in f.dev_note and f.dev
    assert Split.from_json(json.loads(json.dumps(f.to_json()))) == f
    assert Split.from_json({k: v for k, v in f.to_json().items() if k not in ("dev_by", "dev_note")}).dev_by == "dialogue"


def test_emodistill_dev_is_speaker_independent_and_recorded(tmp_path):
    from emowb.kd.emodistill import EmoDistill, EmoDistillConfig

    c = acted_corpus(tmp_path, [12] * 6)
    runner = EmoDistill(EmoDistillConfig(protocol="logo", seeds=(0,)), corpus=c, cache_root=tmp_path / "cache",
                        log=None)
    t = c.table
    for s in runner.splits:
        assert s.dev_by == "speaker"
        assert not (set(t.loc[t.dialogue_id.isin(set(s.dev)), "speaker"])
                    & set(t.loc[t.dialogue_id.isin(set(s.train)), "speaker"]))
    rec = runner.student_record(runner.splits[0], EmoDistillLossConfig(teachers=()), seed=0).to_json()
    assert rec["split"]["dev_by"] == "speaker" and rec["config"]["dev_by"] == "speaker"
    assert rec["config"]["train"]["class_weights"] == "balanced"
    assert rec["config"]["teacher_train"]["class_weights"] == "balanced"


# --------------------------------------------------------------------------- 3. class weights
class _Linear(nn.Module):
    def __init__(self, d=3, c=4):
        super().__init__()
        self.fc = nn.Linear(d, c)

    def forward(self, batch):
        z = self.fc(batch.inputs["x"].float())
        return ModelOutput(logits=z, embeddings=z)


def _imbalanced(n=(12, 4, 2, 2)):
    y = np.repeat(np.arange(len(n)), n)
    x = np.random.default_rng(0).normal(size=(len(y), 3)).astype(np.float32)
    return UtteranceData(utt_ids=[f"u{i}" for i in range(len(y))], labels=y, inputs={"x": x}), y


def test_balanced_class_weights_reach_the_emodistill_loss():
    data, y = _imbalanced()
    expected = torch.tensor([20 / (4 * 12), 20 / (4 * 4), 20 / (4 * 2), 20 / (4 * 2)])
    torch.testing.assert_close(balanced_class_weights(y, 4), expected)
    loss = EmoDistillLoss(EmoDistillLossConfig(teachers=()))
    Trainer(_Linear(), config=TRAIN.replace(class_weights="balanced"), train=data, dev=data,
            labels=IEMOCAP4, loss=loss)
    torch.testing.assert_close(loss.ce.class_weights, expected)
    batch = data.collate(list(range(len(y))))
    out = _Linear()(batch)
    value, _ = loss(out, batch)
    torch.testing.assert_close(value, F.cross_entropy(out.logits, batch.labels, weight=expected))
    assert float(value.detach()) != pytest.approx(float(F.cross_entropy(out.logits, batch.labels).detach()))


def test_default_cross_entropy_is_weighted_and_none_leaves_it():
    data, _ = _imbalanced((3, 3, 6, 0))
    tr = Trainer(_Linear(), config=TRAIN.replace(class_weights="balanced"), train=data, dev=data, labels=IEMOCAP4)
    torch.testing.assert_close(tr.loss_fn.class_weights, torch.tensor([12 / 9, 12 / 9, 12 / 18, 0.0]))
    assert "class_weights" in tr._config_record()
    plain = Trainer(_Linear(), config=TRAIN, train=data, dev=data, labels=IEMOCAP4)
    assert plain.loss_fn.class_weights is None and "class_weights" not in plain._config_record()
    assert TrainConfig().class_weights == "none"                       # COGMEN's reference: unweighted

    class NoCE(TrainLoss):
        def forward(self, output, batch):
            return output.logits.sum(), {}

    with pytest.raises(TrainerError, match="no cross-entropy"):
        Trainer(_Linear(), config=TRAIN.replace(class_weights="balanced"), train=data, dev=data,
                labels=IEMOCAP4, loss=NoCE())


def test_balanced_training_runs_and_resumes(tmp_path):
    data, _ = _imbalanced()
    cfg = TRAIN.replace(class_weights="balanced", epochs=2)
    a = Trainer(_Linear(), config=cfg, train=data, dev=data, labels=IEMOCAP4, run_dir=tmp_path / "r").fit()
    b = Trainer(_Linear(), config=cfg, train=data, dev=data, labels=IEMOCAP4, run_dir=tmp_path / "r").fit()
    assert a.metrics == b.metrics
    assert json.loads((tmp_path / "r" / "config.json").read_text())["class_weights"][0] == pytest.approx(20 / 48)
    assert isinstance(CrossEntropyLoss().class_weights, type(None))


# --------------------------------------------------------------------------- 4 + 6. linear probe
def test_linear_probe_uses_k_folds(tmp_path):
    c = acted_corpus(tmp_path, [8] * 6)
    x = np.random.default_rng(0).normal(size=(len(c.table), 4))
    per_fold, pred = linear_probe(c, x, protocol="kfold", k=3, c_grid=(1.0,), n_jobs=1)
    assert len(per_fold) == 3 and (pred >= 0).all()
    assert {"seconds", "n_iter", "converged"} <= set(per_fold.columns)


def test_linear_svm_picks_its_formulation_by_shape(tmp_path):
    assert svm_dual(100, 10) is False and svm_dual(10, 100) is True
    assert make_classifier("linear-svm", shape=(100, 10)).steps[-1][1].dual is False
    assert make_classifier("linear-svm", shape=(10, 6373)).steps[-1][1].dual is True
    assert make_classifier("linear-svm").steps[-1][1].max_iter <= 5000
    c = acted_corpus(tmp_path, [8] * 4)
    x = np.random.default_rng(0).normal(size=(len(c.table), 3))
    per_fold, _ = linear_probe(c, x, protocol="logo", classifier="linear-svm", c_grid=(1.0,), n_jobs=1)
    assert len(per_fold) == 4 and per_fold["converged"].all()


# --------------------------------------------------------------------------- 5. two backbones
def test_two_backbones_into_one_out_folder_both_run_and_are_reused(tmp_path, monkeypatch):
    from emowb.data.synth import SynthConfig, generate
    from emowb.kd.emodistill import EmoDistill, EmoDistillConfig, EmoDistillMethod, KDVariant, run_variants
    from emowb.kd.students import StudentConfig

    corpus = generate(tmp_path / "c", SynthConfig(dialogues=5, utterances=(3, 4), seed=0), workers=1,
                      progress=False)
    no_kd = EmoDistillLossConfig(teachers=())
    out = tmp_path / "out"

    def run(backbone):
        cfg = EmoDistillConfig(corpus=str(corpus.root), protocol="logo", folds=("Ses05",), seeds=(0,), loss=no_kd,
                               student=StudentConfig(backbone=backbone, hidden=8, cnn_channels=(4, 8), mlp_hidden=8),
                               n_mels=16, train=TRAIN.replace(class_weights="balanced"))
        runner = EmoDistill(cfg, corpus=corpus, cache_root=tmp_path / "cache", log=None)
        return run_variants(cfg, out, [KDVariant(name="no KD", loss=no_kd)], runner=runner, log=None)

    dirs = {b: run(b).runs.run_dir.iloc[0] for b in ("mlp", "cnn")}          # the order
    assert dirs["mlp"] != dirs["cnn"]
    for b, d in dirs.items():
        assert json.loads((Path(d) / "config.json").read_text())["run"]["config"]["student"]["backbone"] == b

    def no_training(self, spec, *, resume=True):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(EmoDistillMethod, "execute", no_training)
    assert run("mlp").runs.run_dir.iloc[0] == dirs["mlp"]                       # same configuration reused
