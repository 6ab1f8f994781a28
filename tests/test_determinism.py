"""Same seed, same data, same CPU -> same numbers, for every method: COGMEN experiments, triplet
KD and the linear probe, each run twice from scratch into fresh folders (with the global RNGs
left in different states in between) must give identical metrics, predictions and training
curves. EmoDistill is covered by tests/test_kd_determinism.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from cogmen_fixtures import tiny_model, tiny_train, toy_corpus, toy_features
from emowb.eval.linear import linear_probe
from emowb.kd.losses import TripletLossConfig
from emowb.kd.triplet import StudentSize, TripletConfig, run_triplet
from emowb.models.cogmen import CogmenConfig
from emowb.train.experiment import ExperimentConfig, Variant, run_experiment
from emowb.train.masking import MaskingConfig
from emowb.train.run import DataConfig
from emowb.types import Modality


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    corpus = toy_corpus(tmp_path_factory.mktemp("c"), n_groups=3, dialogues_per_group=3, utts=8)
    return corpus, toy_features(corpus, signal=2.0)


def _disturb_rng(seed: int) -> None:
    """Leave the global RNGs in an arbitrary state, as some earlier computation would."""
    torch.manual_seed(seed)
    torch.rand(seed + 3)
    np.random.seed(seed)
    np.random.rand(seed + 1)


def _same_run_folders(a: pd.DataFrame, b: pd.DataFrame, root_a: Path, root_b: Path) -> None:
    """The runs tables match (run folders relative to their roots) and so do the files in them."""
    ra, rb = a.copy(), b.copy()
    ra["run_dir"] = [str(Path(p).relative_to(root_a)) for p in ra["run_dir"]]
    rb["run_dir"] = [str(Path(p).relative_to(root_b)) for p in rb["run_dir"]]
    pd.testing.assert_frame_equal(ra, rb, check_exact=True)
    for rel in sorted(set(ra["run_dir"])):
        da, db = root_a / rel, root_b / rel
        assert (da / "metrics.json").read_bytes() == (db / "metrics.json").read_bytes(), rel
        pd.testing.assert_frame_equal(pd.read_parquet(da / "predictions.parquet"),
                                      pd.read_parquet(db / "predictions.parquet"), check_exact=True, obj=rel)
        ha, hb = (pd.read_csv(d / "history.csv").drop(columns="time_s") for d in (da, db))
        pd.testing.assert_frame_equal(ha, hb, check_exact=True, obj=f"history of {rel}")
        wa, wb = (torch.load(d / "checkpoints" / "best.pt", weights_only=True)["model"] for d in (da, db))
        assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa), rel


def test_cogmen_experiment_twice_from_scratch_is_identical(toy, tmp_path):
    corpus, feats = toy
    cfg = ExperimentConfig(data=DataConfig(protocol="logo", dev_share=0.2), model=tiny_model(),
                           train=tiny_train(epochs=2, keep_last=False),
                           variants=(Variant(name="AV mask", modalities="av", masking=MaskingConfig()),),
                           seeds=(0,), folds=("G1",))
    res = []
    for k in range(2):
        _disturb_rng(100 + k)
        res.append(run_experiment(cfg, tmp_path / f"e{k}", corpus=corpus, features=feats, log=None))
    assert len(res[0].runs) == 3                                   # contexts av, a, v
    _same_run_folders(res[0].runs, res[1].runs, tmp_path / "e0", tmp_path / "e1")
    assert (tmp_path / "e0" / "table.md").read_text() == (tmp_path / "e1" / "table.md").read_text()


def test_triplet_kd_twice_from_scratch_is_identical(toy, tmp_path):
    corpus, feats = toy
    tiny = dict(hidden_size=8, seq_ff=16, seq_heads=1, dropout=0.1)
    train = tiny_train(epochs=2, batch_size=8, keep_last=False)
    cfg = TripletConfig(data={"corpus": str(corpus.root), "features": {"a": "toy-a", "v": "toy-v"},
                              "protocol": "logo", "dev_share": 0.2},
                        teacher=CogmenConfig(modalities="av", seq_layers=1, gnn_heads=1, **tiny),
                        student=CogmenConfig(modalities="a", seq_layers=1, gnn_heads=1, **tiny),
                        sizes=(StudentSize(name="s", seq_layers=1, gnn_heads=1),),
                        loss=TripletLossConfig(mining="random", alpha=0.5),     # random mining: seeded too
                        train=train, teacher_train=train, seeds=(0,), folds=("G1",))
    feats_av = {m: feats[m] for m in (Modality.AUDIO, Modality.VIDEO)}
    res = []
    for k in range(2):
        _disturb_rng(200 + k)
        res.append(run_triplet(cfg, tmp_path / f"t{k}", corpus=corpus, features=feats_av, log=None,
                               cache_root=tmp_path / f"cache{k}"))      # the teacher is trained anew too
    assert set(res[0].runs["role"]) == {"teacher", "student", "student-kd"}
    a, b = (r.runs.drop(columns="run_dir") for r in res)
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    for role in ("student", "student-kd"):                        # students live under the output folder
        pick = [r.runs[r.runs.role == role] for r in res]
        _same_run_folders(pick[0], pick[1], tmp_path / "t0", tmp_path / "t1")
    ta, tb = (Path(r.runs[r.runs.role == "teacher"].run_dir.iloc[0]) for r in res)
    assert (ta / "metrics.json").read_bytes() == (tb / "metrics.json").read_bytes()
    assert res[0].table == res[1].table


@pytest.mark.parametrize("classifier", ["logreg", "linear-svm"])
def test_linear_probe_twice_is_identical_and_does_not_depend_on_jobs(toy, classifier):
    corpus, feats = toy
    fs = feats[Modality.VIDEO]                                     # with invalid rows
    out = []
    for k, jobs in enumerate((1, 2, 2)):
        _disturb_rng(300 + k)
        out.append(linear_probe(corpus, fs.values, protocol="logo", classifier=classifier, seed=0,
                                valid=fs.valid, n_jobs=jobs))
    for folds, pred in out[1:]:
        pd.testing.assert_frame_equal(folds.drop(columns="seconds"), out[0][0].drop(columns="seconds"),
                                      check_exact=True)
        np.testing.assert_array_equal(pred, out[0][1])
