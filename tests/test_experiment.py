"""Protocol runner: folds × seeds × variants, summaries, resume, and the COGMEN-pickle path."""

import json
import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cogmen_fixtures import tiny_model, tiny_train, toy_corpus, toy_features
from emowb.cli import main as cli_main
from emowb.config import ConfigError
from emowb.features.store import save_features
from emowb.train.experiment import ExperimentConfig, Variant, masking_table_variants, run_experiment
from emowb.train.masking import MaskingConfig
from emowb.train.run import DataConfig, evaluate_run


@pytest.fixture(scope="module")
def toy(tmp_path_factory):
    corpus = toy_corpus(tmp_path_factory.mktemp("c"), n_groups=3, dialogues_per_group=3, utts=8)
    return corpus, toy_features(corpus, signal=4.0)


def _config(**kw):
    base = dict(data=DataConfig(protocol="logo", dev_share=0.2), model=tiny_model(),
                train=tiny_train(epochs=2, keep_last=False),
                variants=(Variant(name="A", modalities="a"),
                          Variant(name="AV mask", modalities="av", masking=MaskingConfig())),
                seeds=(0, 1), folds=("G0", "G2"))
    base.update(kw)
    return ExperimentConfig(**base)


def test_runs_are_scored_only_in_the_reported_contexts(toy, tmp_path):
    corpus, feats = toy
    cfg = _config(contexts=("a",), seeds=(0,), folds=("G0",))
    res = run_experiment(cfg, tmp_path / "e", corpus=corpus, features=feats, log=None)
    assert set(res.runs.context) == {"a"}
    [av_run] = res.runs[res.runs.model == "AV mask"].run_dir
    metrics = json.loads((Path(av_run) / "metrics.json").read_text())
    # the selection context (av) and the reported one (a); no v-only pass
    assert set(metrics["dev"]) == set(metrics["test"]) == {"av", "a"}


def test_runs_and_summary(toy, tmp_path):
    corpus, feats = toy
    logs = []
    res = run_experiment(_config(), tmp_path / "e", corpus=corpus, features=feats, log=logs.append)
    runs = res.runs
    # A: 2 folds × 2 seeds × context a; AV: 2 × 2 × (av, a, v)
    assert len(runs) == 4 + 12 and len(logs) == 8
    assert set(runs[runs.model == "A"].context) == {"a"}
    g = runs[(runs.model == "AV mask") & (runs.context == "a")]["weighted_f1"]
    row = res.summary[(res.summary.model == "AV mask") & (res.summary.context == "a")].iloc[0]
    assert row.weighted_f1_mean == pytest.approx(g.mean()) and row.weighted_f1_std == pytest.approx(g.std(ddof=1))
    assert row.weighted_f1_n == 4 and row.weighted_f1_ci_low < row.weighted_f1_mean < row.weighted_f1_ci_high
    assert "| A | - |" in res.table                       # no AV inference for an audio-only model
    for f in ("runs.csv", "summary.csv", "table.md", "experiment.json"):
        assert (tmp_path / "e" / f).is_file()
    [run] = (tmp_path / "e" / "av-mask" / "logo-G2").glob("seed1-*")        # seed<k>-<identity>
    assert (run / "metrics.json").is_file() and not (run / "checkpoints" / "last.pt").exists()
    assert set(runs.run_dir) == {str(p.parent) for p in (tmp_path / "e").glob("*/*/seed*/metrics.json")}
    # a second call reuses the finished runs: identical results
    again = run_experiment(_config(), tmp_path / "e", corpus=corpus, features=feats, log=None)
    pd.testing.assert_frame_equal(again.runs, runs)
    # a finished run can be re-scored in another context from its folder
    run_dir = runs[runs.model == "AV mask"].run_dir.iloc[0]
    m = evaluate_run(run_dir, contexts="a", corpus=corpus, features=feats)["test"]["a"]
    stored = runs[(runs.run_dir == run_dir) & (runs.context == "a")].iloc[0]
    assert m["weighted_f1"] == pytest.approx(stored.weighted_f1)


def test_relative_and_absolute_corpus_paths_are_the_same_runs(tmp_path, monkeypatch):
    from emowb.train.experiment import CogmenMethod
    from emowb.train.run import load_run, load_trained

    corpus = toy_corpus(tmp_path / "corpus", n_groups=3, dialogues_per_group=3, utts=8)
    corpus.save()
    for fs in toy_features(corpus, signal=4.0).values():
        save_features(corpus, fs)
    monkeypatch.chdir(tmp_path)
    data = DataConfig(corpus="corpus", features={"a": "toy-a", "v": "toy-v"}, protocol="logo", dev_share=0.2)
    cfg = _config(data=data, seeds=(0,), folds=("G0",))
    first = run_experiment(cfg, "out", log=None)

    def boom(*a, **k):
        raise AssertionError("a finished run was trained again")

    monkeypatch.setattr(CogmenMethod, "execute", boom)
    absolute = cfg.replace(data=data.replace(corpus=str(tmp_path / "corpus")),
                           train=cfg.train.replace(progress=True))          # a runtime-only option too
    again = run_experiment(absolute, tmp_path / "out", log=None)
    pd.testing.assert_frame_equal(again.runs.drop(columns="run_dir"), first.runs.drop(columns="run_dir"))
    assert [str(tmp_path / d) for d in first.runs.run_dir] == list(again.runs.run_dir)
    # one config.json shape; load_run reads it back
    run_dir = tmp_path / first.runs[first.runs.model == "AV mask"].run_dir.iloc[0]
    rec = json.loads((run_dir / "config.json").read_text())["run"]
    assert {"schema", "method", "variant", "fold", "seed", "identity", "config", "config_type", "split",
            "corpus_fingerprint", "features"} == set(rec)
    assert rec["method"] == "cogmen" and rec["variant"] == "AV mask" and run_dir.name == f"seed0-{rec['identity']}"
    stored = load_run(run_dir)
    assert stored.method == "cogmen" and stored.variant == "AV mask" and stored.seed == 0
    assert stored.config.masking == MaskingConfig() and stored.split.name == "logo-G0" == stored.fold
    assert stored.corpus_fingerprint == corpus.fingerprint()
    assert load_trained(run_dir).model.config == stored.config.model


def test_masking_table_variants_shape():
    names = [v.name for v in masking_table_variants()]
    assert names[:5] == ["COGMEN-A", "COGMEN-AV", "COGMEN-Mask (utterance)", "COGMEN-Mask (feature)",
                         "COGMEN-A + Mask"]
    assert len(names) == 10 and names[5] == "COGMEN-A [disjoint]"
    v = {x.name: x for x in masking_table_variants()}
    assert v["COGMEN-Mask (feature) [disjoint]"].masking.granularity.value == "feature"
    assert v["COGMEN-A + Mask"].masking.p_full == {}


def test_bad_experiment_configs():
    with pytest.raises(ConfigError, match="same folder"):
        _config(variants=(Variant(name="A b"), Variant(name="a-b")))
    with pytest.raises(ConfigError, match="unknown key"):
        _config(variants=(Variant(name="x", model_params={"nope": 1}),))


def _iemocap4_pickle(path, n_per_session=3, seed=0):
    """A COGMEN ``IEMOCAP_features_4.pkl`` at IEMOCAP-4's shape (100/512/100-d, 4 classes, Ses01-05)."""
    rng = np.random.default_rng(seed)
    fields = [dict() for _ in range(7)]
    vids = []
    for s in range(1, 6):
        for d in range(n_per_session):
            vid = f"Ses0{s}{'FM'[d % 2]}_script0{d + 1}"
            vids.append(vid)
            n = int(rng.integers(6, 10))
            y = rng.integers(0, 4, n)
            spk = ["M" if i % 2 else "F" for i in range(n)]
            audio = [rng.normal(size=100).astype(np.float32) + 3 * np.eye(100)[k] for k in y]
            for f, v in zip(fields, ([f"{vid}_{spk[i]}{i:03d}" for i in range(n)], spk, y.tolist(),
                                     [rng.normal(size=100) for _ in range(n)], audio,
                                     [rng.normal(size=512) for _ in range(n)], [f"s{i}" for i in range(n)])):
                f[vid] = v
    train = [v for v in vids if not v.startswith("Ses05")]
    test = [v for v in vids if v.startswith("Ses05")]
    with open(path, "wb") as f:
        pickle.dump((*fields, train, test), f)


def test_masking_table_from_a_cogmen_pickle(tmp_path, capsys):
    _iemocap4_pickle(tmp_path / "IEMOCAP_features_4.pkl")
    rc = cli_main(["experiment", str(tmp_path / "IEMOCAP_features_4.pkl"), "--out", str(tmp_path / "out"),
                   "--seeds", "0", "--epochs", "1", "--variants", "COGMEN-AV,COGMEN-Mask (feature)",
                   "--no-progress", "--set", "hidden_size=8", "--set", "seq_ff=16", "--set", "gnn_heads=2"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "| COGMEN-AV |" in out and "| COGMEN-Mask (feature) |" in out and "AV inference" in out
    runs = pd.read_csv(tmp_path / "out" / "runs.csv")
    assert set(runs.fold) == {"given-cogmen"} and set(runs.context) == {"av", "a"}
    import json
    [run] = (tmp_path / "out" / "cogmen-av" / "given-cogmen").glob("seed0-*")
    conf = json.loads((run / "config.json").read_text())
    assert conf["run"]["config"]["model"]["reference"] is True            # the reference preset
    assert conf["run"]["config"]["data"]["standardize"] is False
    assert conf["run"]["config"]["model"]["modalities"] == "av"
    assert conf["run"]["config"]["model"]["speaker_index"] == "role"             # COGMEN's M=0, F=1


def test_cli_train_then_evaluate(tmp_path, capsys):
    corpus = toy_corpus(tmp_path / "corpus", n_groups=3, dialogues_per_group=3, utts=8)
    corpus.save()
    for fs in toy_features(corpus, signal=4.0).values():
        save_features(corpus, fs)
    args = ["train", str(tmp_path / "corpus"), "--features", "a=toy-a,v=toy-v", "--mask", "utterance",
            "--out", str(tmp_path / "run"), "--epochs", "2", "--no-progress", "--set", "hidden_size=8",
            "--set", "seq_ff=16", "--set", "gnn_heads=2", "--set", "dev_share=0.2"]
    assert cli_main(args) == 0
    out = capsys.readouterr().out
    assert "test  a " in out and "weighted_f1" in out
    assert cli_main(["evaluate", str(tmp_path / "run"), "--contexts", "a", "--json"]) == 0
    import json
    res = json.loads(capsys.readouterr().out)
    stored = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert res["test"]["a"]["weighted_f1"] == pytest.approx(stored["test"]["a"]["weighted_f1"])
    assert stored and json.loads((tmp_path / "run" / "config.json").read_text())[
        "train_transform"]["config"]["granularity"] == "utterance"


def test_cli_train_scores_the_asked_for_contexts(tmp_path, capsys):
    corpus = toy_corpus(tmp_path / "corpus", n_groups=3, dialogues_per_group=3, utts=6)
    corpus.save()
    for fs in toy_features(corpus, signal=4.0).values():
        save_features(corpus, fs)
    args = ["train", str(tmp_path / "corpus"), "--features", "a=toy-a,v=toy-v", "--epochs", "1", "--no-progress",
            "--set", "hidden_size=8", "--set", "seq_ff=16", "--set", "gnn_heads=2", "--set", "dev_share=0.2"]
    assert cli_main(args + ["--out", str(tmp_path / "some"), "--contexts", "a"]) == 0
    assert cli_main(args + ["--out", str(tmp_path / "all")]) == 0
    some, every = (json.loads((tmp_path / d / "metrics.json").read_text()) for d in ("some", "all"))
    assert set(some["test"]) == {"av", "a"}                    # the selection context is always scored
    assert set(every["test"]) == {"av", "a", "v"}              # default: every subset
