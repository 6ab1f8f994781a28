"""EmoDistill is a pure function of (configuration, seeds, corpus, fold): a teacher's weights, outputs
and metrics do not depend on what ran before it in the process (the other teacher, trained first or
loaded from the cache; a student) nor on the cache state, and a whole ablation run twice from
scratch gives the same table."""

import numpy as np
import pandas as pd
import pytest
import torch

from kd_fixtures import make_tiny_bert
from emowb.data.synth import SynthConfig, generate
from emowb.eval.metrics import SCALAR_METRICS
from emowb.features import extract
from emowb.kd.emodistill import EmoDistill, EmoDistillConfig, KDVariant, ablation_variants, run_variants
from emowb.kd.students import StudentConfig
from emowb.kd.teachers import LinguisticTeacherConfig, ProsodicTeacherConfig
from emowb.train.trainer import TrainConfig

TRAIN = TrainConfig(epochs=2, batch_size=8, lr=1e-2, patience=None, progress=False, keep_last=False)
TEACHERS = ("prosodic", "linguistic")


@pytest.fixture(scope="module")
def det_corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("kd_det")
    corpus = generate(root / "c", SynthConfig(dialogues=5, utterances=(4, 6), seed=0))
    extract(corpus, "egemaps-lld", num_workers=1, progress=False)
    return corpus, make_tiny_bert(root / "bert")


def _config(corpus, bert) -> EmoDistillConfig:
    return EmoDistillConfig(corpus=str(corpus.root), protocol="logo", folds=("Ses05",), seeds=(0,),
                            prosodic=ProsodicTeacherConfig(stem_channels=4, channels=(4, 4, 8, 8)),
                            linguistic=LinguisticTeacherConfig(model=str(bert), hidden=8, max_length=32),
                            student=StudentConfig(backbone="cnn", hidden=8, cnn_channels=(4, 8)), n_mels=16,
                            teacher_train=TRAIN, train=TRAIN)


def _disturb_rng(seed: int) -> None:
    """Leave the global RNGs in an arbitrary state, as some earlier computation would."""
    torch.manual_seed(seed)
    torch.rand(seed + 1)
    np.random.seed(seed)


def _teachers(corpus, cfg, cache, order, *, rng: int, precached: str | None = None) -> dict:
    if precached is not None:          # this teacher comes from the cache, trained in another state
        _disturb_rng(rng + 1000)
        first = EmoDistill(cfg, corpus=corpus, cache_root=cache, log=None)
        first.teacher(precached, first.splits[0])
    runner = EmoDistill(cfg, corpus=corpus, cache_root=cache, log=None)
    out = {}
    for t in order:
        _disturb_rng(rng)
        out[t] = runner.teacher(t, runner.splits[0])
    assert runner.cache.misses == len(order) - (precached is not None)
    return out


def _best_weights(cache, key) -> dict:
    return torch.load(cache / key / "run" / "checkpoints" / "best.pt", map_location="cpu", weights_only=True)["model"]


def test_teachers_do_not_depend_on_training_order_or_cache_state(det_corpus, tmp_path):
    corpus, bert = det_corpus
    cfg = _config(corpus, bert)
    runs = {"P then L": (tmp_path / "a", _teachers(corpus, cfg, tmp_path / "a", TEACHERS, rng=1)),
            "L then P": (tmp_path / "b", _teachers(corpus, cfg, tmp_path / "b", TEACHERS[::-1], rng=2)),
            "P cached, L": (tmp_path / "c", _teachers(corpus, cfg, tmp_path / "c", TEACHERS[::-1], rng=3,
                                                      precached="prosodic"))}
    ref_cache, ref = runs["P then L"]
    for name, (cache, got) in runs.items():
        for t in TEACHERS:
            a, b = ref[t], got[t]
            assert a.key == b.key and a.utt_ids == b.utt_ids, (name, t)
            assert np.array_equal(a.logits, b.logits), f"{t} teacher logits differ ({name})"
            assert np.array_equal(a.embeddings, b.embeddings), f"{t} teacher embeddings differ ({name})"
            assert np.array_equal(a.valid, b.valid) and a.metrics == b.metrics, (name, t)
            wa, wb = _best_weights(ref_cache, a.key), _best_weights(cache, b.key)
            assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa), (name, t)
    assert runs["P cached, L"][1]["prosodic"].from_cache


def test_an_ablation_run_twice_from_scratch_gives_the_same_table(det_corpus, tmp_path):
    corpus, bert = det_corpus
    cfg = _config(corpus, bert)
    rows = {v.name: v for v in ablation_variants(cfg.loss)}
    variants = [rows["EmoDistill"], rows["w/o prosodic teacher"], rows["w/o both teachers (no KD)"]]
    results = []
    # the second run trains its rows in the opposite order: the linguistic teacher is computed first
    for k, vs in enumerate((variants, variants[::-1])):
        _disturb_rng(10 + k)
        runner = EmoDistill(cfg, corpus=corpus, cache_root=tmp_path / f"cache{k}", log=None)
        results.append(run_variants(cfg, tmp_path / f"out{k}", vs, runner=runner, teachers_alone=TEACHERS,
                                    log=None))
        assert runner.cache.misses == 2
    cols = ["variant", "fold", "seed", *SCALAR_METRICS, "best_epoch"]
    a, b = (r.runs[cols].sort_values("variant").reset_index(drop=True) for r in results)
    assert len(a) == 3
    pd.testing.assert_frame_equal(a, b, check_exact=True)
    # the students' training curves too (the KD terms read the teachers' outputs every step)
    for (_, ra), (_, rb) in zip(*(r.runs.sort_values("variant").iterrows() for r in results)):
        ha, hb = (pd.read_csv(f"{r['run_dir']}/history.csv").drop(columns="time_s") for r in (ra, rb))
        pd.testing.assert_frame_equal(ha, hb, check_exact=True, obj=f"history of {ra['variant']!r}")
    ta, tb = (r.teachers.drop(columns="key").sort_values("teacher").reset_index(drop=True) for r in results)
    pd.testing.assert_frame_equal(ta, tb, check_exact=True)
