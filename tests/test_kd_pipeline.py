"""End to end on a tiny synthetic corpus: teachers cached and not re-run on a sweep, students train,
same seed -> same result, the triplet driver, the SSL student path, clear errors, the CLI."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from kd_fixtures import make_tiny_bert, tiny_hubert  # noqa: F401 (fixture)
from emowb.batching.utterances import UtteranceData, UtteranceDataError
from emowb.data.synth import SynthConfig, generate
from emowb.features import extract
from emowb.kd.cache import TeacherCache, TeacherCacheError
from emowb.kd.emodistill import EmoDistill, EmoDistillConfig, KDVariant, ablation_variants, run_variants
from emowb.kd.losses import EmoDistillLossConfig, TripletLossConfig
from emowb.kd.students import StudentConfig
from emowb.kd.teachers import LinguisticTeacherConfig, ProsodicTeacherConfig
from emowb.kd.triplet import StudentSize, TripletConfig, run_triplet
from emowb.models.cogmen import CogmenConfig
from emowb.train.trainer import TrainConfig

TRAIN = TrainConfig(epochs=2, batch_size=8, lr=1e-2, patience=None, progress=False, keep_last=False)


@pytest.fixture(scope="module")
def kd_corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("kd_synth")
    corpus = generate(root / "c", SynthConfig(dialogues=5, utterances=(4, 6), seed=0))
    for name in ("egemaps-lld", "egemaps", "openface-au"):
        extract(corpus, name, num_workers=1, progress=False) if name.startswith("egemaps") else \
            extract(corpus, name, progress=False)
    return corpus, make_tiny_bert(root / "bert")


def _config(corpus, bert, **kw) -> EmoDistillConfig:
    base = dict(corpus=str(corpus.root), protocol="logo", folds=("Ses05",), seeds=(0,),
                prosodic=ProsodicTeacherConfig(stem_channels=4, channels=(4, 4, 8, 8)),
                linguistic=LinguisticTeacherConfig(model=str(bert), hidden=8, max_length=32),
                student=StudentConfig(backbone="cnn", hidden=8, cnn_channels=(4, 8)), n_mels=16,
                teacher_train=TRAIN, train=TRAIN)
    base.update(kw)
    return EmoDistillConfig(**base)


def test_teachers_are_cached_and_a_sweep_does_not_run_them_again(kd_corpus, tmp_path, monkeypatch):
    corpus, bert = kd_corpus
    cfg = _config(corpus, bert)
    runner = EmoDistill(cfg, corpus=corpus, cache_root=tmp_path / "cache", log=None)
    first = run_variants(cfg, tmp_path / "first", [KDVariant(name="EmoDistill", loss=cfg.loss)], runner=runner,
                         log=None)
    assert runner.cache.misses == 2 and runner.cache.hits == 0         # both teachers trained once
    assert len(list((tmp_path / "cache").glob("*/meta.json"))) == 2
    row = first.runs.iloc[0]
    hist = pd.read_csv(f"{row['run_dir']}/history.csv")
    assert {"train_kl_linguistic", "train_kl_prosodic", "train_cos_linguistic", "train_cos_prosodic"} <= set(hist)
    assert np.isfinite(hist["train_loss"]).all()

    def boom(*a, **k):
        raise AssertionError("a teacher was trained again")

    monkeypatch.setattr(EmoDistill, "_train_prosodic", boom)
    monkeypatch.setattr(EmoDistill, "_train_linguistic", boom)
    again = EmoDistill(cfg, corpus=corpus, cache_root=tmp_path / "cache", log=None)
    sweep = [KDVariant(name=f"alpha {a}, tau_P {t}", loss=cfg.loss.replace(alpha=a, tau_prosodic=t))
             for a in (0.5, 2.0) for t in (0.5, 4.0)]
    res = run_variants(cfg, tmp_path / "sweep", sweep, runner=again, teachers_alone=("prosodic",), log=None)
    assert again.cache.misses == 0 and again.cache.hits >= 4
    assert len(res.runs) == 4 and res.runs["UA"].between(0, 1).all()
    assert "prosodic teacher alone" in res.table and "alpha 0.5, tau_P 0.5" in res.table


def test_student_training_is_deterministic_and_the_seed_matters(kd_corpus, tmp_path):
    corpus, bert = kd_corpus
    cfg = _config(corpus, bert)
    runner = EmoDistill(cfg, corpus=corpus, cache_root=tmp_path / "cache", log=None)
    split = runner.splits[0]
    a = runner.train_student(split, cfg.loss, seed=0, run_dir=None)
    b = runner.train_student(split, cfg.loss, seed=0, run_dir=None)
    c = runner.train_student(split, cfg.loss, seed=1, run_dir=None)
    assert a.metrics == b.metrics
    pd.testing.assert_frame_equal(a.history.drop(columns="time_s"), b.history.drop(columns="time_s"))
    assert a.history["train_loss"].tolist() != c.history["train_loss"].tolist()
    assert np.isfinite(a.history["train_loss"]).all() and "train_logits" in a.history


def test_fine_tuned_linguistic_teacher_through_the_cache(kd_corpus, tmp_path):
    corpus, bert = kd_corpus
    cfg = _config(corpus, bert, linguistic=LinguisticTeacherConfig(model=str(bert), hidden=8, max_length=32,
                                                                   finetune=True))
    runner = EmoDistill(cfg, corpus=corpus, cache_root=tmp_path / "cache", log=None)
    out = runner.teacher("linguistic", runner.splits[0])
    assert out.valid.all() and out.logits.shape == (len(out.utt_ids), 4) and out.dim == 8
    assert set(out.split) == {"train", "dev", "test"}
    spec = json.loads((tmp_path / "cache" / out.key / "meta.json").read_text())["spec"]
    assert "tokens" in spec["inputs"] and spec["model"]["finetune"] is True
    run = json.loads((tmp_path / "cache" / out.key / "run" / "config.json").read_text())
    assert run["model"]["class"] == "LinguisticTeacher" and run["model"]["n_parameters"] > 30522 * 16  # the encoder (its embeddings) is inside


def test_ablation_variants_cover_the_poster_rows():
    names = [v.name for v in ablation_variants()]
    assert names == ["EmoDistill", "w/o L_logits", "w/o L_embeddings", "w/o prosodic teacher",
                     "w/o linguistic teacher", "w/o both teachers (no KD)"]
    v = {x.name: x.loss for x in ablation_variants()}
    assert v["w/o L_logits"].active_terms() == ["emb/linguistic", "emb/prosodic"]
    assert v["w/o both teachers (no KD)"].active_terms() == []


def test_missing_teacher_cache_is_a_clear_error(kd_corpus, tmp_path):
    corpus, bert = kd_corpus
    runner = EmoDistill(_config(corpus, bert), corpus=corpus, cache_root=tmp_path / "empty", log=None)
    with pytest.raises(TeacherCacheError, match="no cached teacher outputs 'prosodic-"):
        runner.teacher("prosodic", runner.splits[0], allow_compute=False)
    out = TeacherCache(corpus, tmp_path / "empty")
    assert out.list() == []


def test_ssl_student_runs_end_to_end_on_a_tiny_hubert(kd_corpus, tiny_hubert, tmp_path):  # noqa: F811
    corpus, bert = kd_corpus
    cfg = _config(corpus, bert, student=StudentConfig(backbone="ssl", ssl_model=str(tiny_hubert), hidden=8),
                  loss=EmoDistillLossConfig(teachers=("prosodic",)), train=TRAIN.replace(epochs=1))
    res = run_variants(cfg, tmp_path / "ssl", [KDVariant(name="ssl", loss=cfg.loss)],
                       runner=EmoDistill(cfg, corpus=corpus, cache_root=tmp_path / "cache", log=None), log=None)
    run_dir = Path(res.runs.iloc[0]["run_dir"])
    assert run_dir.parent == tmp_path / "ssl" / "runs" / res.runs.iloc[0]["loss_key"] / "logo-Ses05"
    run = json.loads((run_dir / "config.json").read_text())
    assert run["model"]["class"] == "SpeechStudent" and run["run"]["config"]["student"]["backbone"] == "ssl"
    assert 0 <= res.runs.iloc[0]["UA"] <= 1


def test_triplet_driver_caches_its_teacher_and_trains_students(kd_corpus, tmp_path):
    corpus, _ = kd_corpus
    tiny = dict(hidden_size=8, seq_ff=16, seq_heads=1, dropout=0.1)
    cfg = TripletConfig(data={"corpus": str(corpus.root), "features": {"a": "egemaps", "v": "openface-au"},
                              "protocol": "logo"},
                        teacher=CogmenConfig(modalities="av", seq_layers=2, gnn_heads=2, **tiny),
                        student=CogmenConfig(modalities="a", **tiny),
                        sizes=(StudentSize(name="small graph", seq_layers=1, gnn_heads=1),),
                        loss=TripletLossConfig(mining="hard"), train=TRAIN, teacher_train=TRAIN,
                        seeds=(0,), folds=("Ses05",))
    res = run_triplet(cfg, tmp_path / "t", log=None)
    roles = set(res.runs["role"])
    assert roles == {"teacher", "student", "student-kd"}
    assert set(res.runs.loc[res.runs["role"] == "teacher", "context"]) == {"av", "a", "v"}
    kd_dir = res.runs.loc[res.runs["role"] == "student-kd", "run_dir"].iloc[0]
    hist = pd.read_csv(f"{kd_dir}/history.csv")
    assert (hist["train_triplet_valid"] > 0).all()                       # triplets were formed
    ckpt = torch.load(f"{kd_dir}/checkpoints/best.pt", weights_only=True)
    assert ckpt["model"]["gconv.lin_query.weight"].shape[0] == 8 * 1     # the student's own graph size
    again = run_triplet(cfg.replace(loss=TripletLossConfig(mining="random", alpha=0.5)), tmp_path / "t2", log=None)
    assert json.loads((tmp_path / "t2" / "results.json").read_text())["teacher_cache"]["misses"] == 0
    assert "+ triplet KD" in again.table and "smaller" not in again.table
    assert TripletConfig.from_params(student_seq_layers=2, student_gnn_heads=3).effective_sizes() == (
        StudentSize(name="SeqContext 2, GNN 3", seq_layers=2, gnn_heads=3),)


def test_run_records_of_kd_students_are_read_back(kd_corpus, tmp_path):
    from emowb.train.run import RunConfig, evaluate_run, load_run

    corpus, bert = kd_corpus
    tiny = dict(hidden_size=8, seq_ff=16, seq_heads=1, dropout=0.1)
    cfg = TripletConfig(data={"corpus": str(corpus.root), "features": {"a": "egemaps", "v": "openface-au"},
                              "protocol": "logo"},
                        teacher=CogmenConfig(modalities="av", seq_layers=1, gnn_heads=1, **tiny),
                        student=CogmenConfig(modalities="a", seq_layers=1, gnn_heads=1, **tiny),
                        sizes=(StudentSize(name="s", seq_layers=1, gnn_heads=1),), train=TRAIN, teacher_train=TRAIN,
                        seeds=(0,), folds=("Ses05",), baseline=False)
    res = run_triplet(cfg, tmp_path / "t", log=None, cache_root=tmp_path / "cache")
    kd = res.runs[res.runs.role == "student-kd"].iloc[0]
    stored = load_run(kd.run_dir)
    assert stored.method == "triplet" and stored.variant == kd.model and stored.split.name == "logo-Ses05"
    assert isinstance(stored.config, RunConfig) and stored.config.model.modalities == "a"
    assert stored.record["kd"]["teacher"] == Path(res.runs[res.runs.role == "teacher"].run_dir.iloc[0]).parent.name
    # a KD student is a COGMEN run folder like any other: it can be re-scored
    assert evaluate_run(kd.run_dir, contexts="a", corpus=corpus)["test"]["a"]["weighted_f1"] == pytest.approx(
        kd.weighted_f1)
    teacher = load_run(res.runs[res.runs.role == "teacher"].run_dir.iloc[0])
    assert teacher.method == "triplet" and teacher.config.model.modalities == "av"
    # EmoDistill students: the experiment's configuration narrowed to the run
    ecfg = _config(corpus, bert, loss=EmoDistillLossConfig(teachers=("prosodic",)))
    runner = EmoDistill(ecfg, corpus=corpus, cache_root=tmp_path / "cache", log=None)
    e = run_variants(ecfg, tmp_path / "e", [KDVariant(name="P", loss=ecfg.loss)], runner=runner, log=None)
    stored = load_run(e.runs.iloc[0].run_dir)
    assert stored.method == "emodistill" and stored.variant == "P" and stored.seed == 0
    assert stored.config.seeds == (0,) and stored.config.folds == ("logo-Ses05",)
    assert stored.config.loss == ecfg.loss and stored.record["kd"]["teachers"] == {
        "prosodic": runner.teacher_key("prosodic", runner.splits[0])}


def test_two_student_backbones_share_one_output_folder(kd_corpus, tmp_path):
    corpus, bert = kd_corpus
    no_kd = EmoDistillLossConfig(teachers=())
    out = tmp_path / "out"
    dirs = {}
    for backbone in ("cnn", "mlp"):
        cfg = _config(corpus, bert, loss=no_kd, student=StudentConfig(backbone=backbone, hidden=8, cnn_channels=(4, 8)))
        runner = EmoDistill(cfg, corpus=corpus, cache_root=tmp_path / "cache", log=None)
        res = run_variants(cfg, out, [KDVariant(name="no KD", loss=no_kd)], runner=runner, log=None)
        dirs[backbone] = res.runs.run_dir.iloc[0]
    assert dirs["cnn"] != dirs["mlp"] and Path(dirs["cnn"]).parent == Path(dirs["mlp"]).parent
    rec = {b: json.loads((Path(d) / "config.json").read_text())["run"] for b, d in dirs.items()}
    assert rec["cnn"]["config"]["student"]["backbone"] == "cnn" and rec["mlp"]["config"]["student"]["backbone"] == "mlp"


def test_utterance_batches_are_a_function_of_seed_and_epoch_and_extras_name_missing_rows():
    rng = np.random.default_rng(0)
    data = UtteranceData(utt_ids=[f"u{i}" for i in range(20)], labels=np.arange(20) % 4,
                         inputs={"x": [rng.normal(size=(int(t), 3)).astype(np.float32) for t in rng.integers(2, 30, 20)]})
    order = lambda s, e: [b.utt_ids for b in data.batches(batch_size=4, shuffle=True, seed=s, epoch=e)]  # noqa: E731
    assert order(0, 1) == order(0, 1) and order(0, 1) != order(0, 2) and order(0, 1) != order(1, 1)
    assert sorted(u for b in order(0, 1) for u in b) == sorted(data.utt_ids)
    b = next(data.batches(batch_size=4, shuffle=False))
    assert b.inputs["x"].shape[:2] == (4, int(b.lengths["x"].max())) and b.mask("x").sum() == b.lengths["x"].sum()
    with pytest.raises(UtteranceDataError, match="no row for utterance 'u0'"):
        data.add_extra("t", [f"u{i}" for i in range(1, 20)], np.zeros((19, 2)))


def test_cli_lists_the_teacher_cache(kd_corpus, capsys):
    from emowb.cli import main
    from emowb.kd.cache import TeacherOutputs

    corpus, _ = kd_corpus
    ids = corpus.table["utt_id"].tolist()[:3]
    calls = []

    def compute(run_dir):
        calls.append(run_dir)
        return TeacherOutputs(name="fake", key="", utt_ids=ids, split=["train"] * 3, logits=np.zeros((3, 4)),
                              embeddings=np.ones((3, 2)), valid=[True, True, False],
                              metrics={"test": {"all": {"UA": 0.5, "weighted_f1": 0.25}}})

    cache = TeacherCache(corpus)
    out = cache.get("fake", {"x": 1}, compute)
    assert cache.get("fake", {"x": 1}, compute).from_cache and len(calls) == 1 and not out.from_cache
    assert main(["kd", "cache", str(corpus.root)]) == 0
    printed = capsys.readouterr().out
    assert f"{out.key}: fake, 2/3 utterances, dim 2; test all UA 0.500 F1 0.250" in printed
    with pytest.raises(SystemExit):
        main(["kd", "triplet", "--help"])
    assert "--teacher-mask" in capsys.readouterr().out


def test_speaker_normalisation_of_vectors_and_frames(tmp_path):
    from cogmen_fixtures import toy_corpus
    from emowb.batching.utterances import speaker_normalise_inputs
    from emowb.features.base import FeatureSet

    corpus = toy_corpus(tmp_path / "c", n_groups=2, dialogues_per_group=1, utts=6)
    ids = corpus.table["utt_id"].tolist()
    spk = corpus.table["speaker"].to_numpy()
    rng = np.random.default_rng(0)
    offset = {s: rng.normal(5, 3, size=2) for s in np.unique(spk)}           # a per-speaker voice offset
    vec = np.stack([rng.normal(size=2) + offset[s] for s in spk]).astype(np.float32)
    seqs = [(rng.normal(size=(int(rng.integers(3, 9)), 2)) + offset[s]).astype(np.float32) for s in spk]
    valid = np.ones(len(ids), bool)
    valid[0] = False
    out = speaker_normalise_inputs(corpus, {
        "v": FeatureSet("v", "a", ids, values=vec, valid=valid),
        "s": FeatureSet("s", "a", ids, sequences=seqs, valid=valid)})
    assert out["v"].config["speaker_normalised"] and out["s"].config["speaker_normalised"]
    np.testing.assert_array_equal(out["v"].values[0], vec[0])                # invalid rows untouched
    for s in np.unique(spk):
        rows = np.flatnonzero((spk == s) & valid)
        np.testing.assert_allclose(out["v"].values[rows].mean(0), 0, atol=1e-5)
        np.testing.assert_allclose(out["v"].values[rows].std(0), 1, atol=1e-4)
        frames = np.concatenate([out["s"].sequences[i] for i in rows])
        np.testing.assert_allclose(frames.mean(0), 0, atol=1e-5)
        np.testing.assert_allclose(frames.std(0), 1, atol=1e-4)


def test_cli_ablations_in_one_call(kd_corpus, tmp_path, capsys):
    from emowb.cli import main

    corpus, bert = kd_corpus
    sets = ["train.epochs=1", "teacher_train.epochs=1", "train.batch_size=8", "teacher_train.batch_size=8",
            "prosodic.stem_channels=2", "prosodic.channels=[2,2,2,2]", "student.hidden=8",
            f"linguistic.model={bert}", "linguistic.hidden=8", "linguistic.max_length=32"]
    argv = ["kd", "ablations", str(corpus.root), "--out", str(tmp_path / "abl"), "--folds", "Ses05", "--seeds", "0",
            "--backbone", "mlp", "--taus", "1,2", "--threads", "1"] + [x for s in sets for x in ("--set", s)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    for row in ("w/o L_logits", "w/o both teachers (no KD) (reference)", "linguistic teacher alone",
                "prosodic only, tau=2", "linguistic only, tau=1"):
        assert row in printed
    res = json.loads((tmp_path / "abl" / "results.json").read_text())
    assert res["teacher_cache"]["misses"] == 2 and res["config"]["student"]["backbone"] == "mlp"
    assert {p.name for p in (tmp_path / "abl").glob("*.md")} == {"ablation.md", "sweep_prosodic.md",
                                                                "sweep_linguistic.md", "tables.md"}


def test_cli_triplet_with_masked_teacher(kd_corpus, tmp_path, capsys):
    from emowb.cli import main

    corpus, _ = kd_corpus
    sets = ["train.epochs=1", "teacher_train.epochs=1", "teacher.hidden_size=8", "teacher.seq_ff=16",
            "teacher.seq_heads=1", "student.hidden_size=8", "student.seq_ff=16", "student.seq_heads=1",
            "student_seq_layers=1", "student_gnn_heads=1", "alpha=2", "mining=semi-hard"]
    argv = ["kd", "triplet", str(corpus.root), "--out", str(tmp_path / "tr"), "--protocol", "fixed",
            "--folds", "Ses05", "--seeds", "0", "--threads", "1", "--teacher-mask", "utterance"]
    assert main(argv + [x for s in sets for x in ("--set", s)]) == 0
    assert "2·triplet" in capsys.readouterr().out
    res = json.loads((tmp_path / "tr" / "results.json").read_text())
    assert res["config"]["data"]["protocol"] == "fixed" and res["config"]["folds"] == ["Ses05"]
    assert res["config"]["teacher_masking"]["granularity"] == "utterance"
    assert res["config"]["loss"]["mining"] == "semi-hard" and res["config"]["seeds"] == [0]
