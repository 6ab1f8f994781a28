"""Executors of the experiment runner: local, worker processes and Ray give the same results; a
killed worker's run is retried and resumes; two processes can share one output folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from cogmen_fixtures import tiny_model, tiny_train, toy_corpus, toy_features
from emowb.config import ConfigError
from emowb.features.store import save_features
from emowb.train.executors import ExecutorConfig, ProcessExecutor, RunFailed, make_executor, run_task
from emowb.train.experiment import CogmenMethod, ExperimentConfig, Variant, run_experiment
from emowb.train.masking import MaskingConfig
from emowb.train.run import DataConfig
from emowb.train.runner import LocalExecutor, Resources, plan
from emowb.train.trainer import CRASH_ENV

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def corpus_dir(tmp_path_factory) -> Path:
    """A feature-only corpus on disk: workers load it themselves from the recipe."""
    root = tmp_path_factory.mktemp("exec") / "corpus"
    corpus = toy_corpus(root, n_groups=3, dialogues_per_group=3, utts=8)
    corpus.save()
    for fs in toy_features(corpus, signal=4.0).values():
        save_features(corpus, fs)
    return root


def _config(corpus_dir: Path, **kw) -> ExperimentConfig:
    base = dict(data=DataConfig(corpus=str(corpus_dir), features={"a": "toy-a", "v": "toy-v"}, protocol="logo",
                                dev_share=0.2),
                model=tiny_model(), train=tiny_train(epochs=3, keep_last=False, num_threads=1),
                variants=(Variant(name="A", modalities="a"),
                          Variant(name="AV mask", modalities="av", masking=MaskingConfig())),
                seeds=(0,), folds=("G0", "G1"))
    base.update(kw)
    return ExperimentConfig(**base)


def _scores(runs: pd.DataFrame) -> pd.DataFrame:
    """The results without the run folders' location (each executor writes its own output folder)."""
    return runs.assign(run_dir=[Path(d).name for d in runs.run_dir])


def test_parse_executor_option():
    assert ExecutorConfig.parse("local") == ExecutorConfig()
    assert ExecutorConfig.parse("processes") == ExecutorConfig(kind="processes")
    assert ExecutorConfig.parse("processes:3").workers == 3
    assert ExecutorConfig.parse("ray").address is None
    assert ExecutorConfig.parse("ray:ray://head:10001").address == "ray://head:10001"
    assert isinstance(make_executor("processes:2"), ProcessExecutor) and make_executor("processes:2").workers == 2
    assert isinstance(make_executor(None), LocalExecutor)
    for bad in ("threads", "processes:0", "processes:x", "local:2"):
        with pytest.raises(ConfigError):
            ExecutorConfig.parse(bad)
    with pytest.raises(ConfigError, match="not an executor"):
        make_executor(42)
    with pytest.raises(ConfigError):
        Resources(cpus=0)


def test_ray_missing_says_how_to_install(monkeypatch):
    from emowb.train.executors import import_ray

    monkeypatch.setitem(sys.modules, "ray", None)        # import ray -> ImportError
    with pytest.raises(ConfigError, match=r"pip install ray==2\.60\.0"):
        import_ray()


def test_processes_give_the_local_results_and_a_killed_worker_loses_nothing(corpus_dir, tmp_path, monkeypatch):
    cfg = _config(corpus_dir)
    local = run_experiment(cfg, tmp_path / "local", log=None)
    ex = ProcessExecutor(2)
    procs = run_experiment(cfg, tmp_path / "procs", log=None, executor=ex)
    pd.testing.assert_frame_equal(_scores(procs.runs), _scores(local.runs))
    assert ex.deaths == 0 and set(ex.attempts.values()) == {0}
    assert not list((tmp_path / "procs").rglob("*.lock"))               # lock files are removed
    # each worker is killed right after its run's first epoch checkpoint (as kill -9 would): the
    # run is tried again, resumes from that checkpoint and ends with the uninterrupted result
    monkeypatch.setenv(CRASH_ENV, "last:1")
    ex = ProcessExecutor(2, retries=1)
    one = cfg.replace(variants=cfg.variants[:1])
    killed = run_experiment(one, tmp_path / "killed", log=None, executor=ex)
    monkeypatch.delenv(CRASH_ENV)
    pd.testing.assert_frame_equal(_scores(killed.runs), _scores(local.runs[local.runs.model == "A"].reset_index(drop=True)))
    assert ex.deaths == 2 and set(ex.attempts.values()) == {1}
    # a run that fails on every attempt stops the sweep, naming the run and its error
    [spec] = plan(CogmenMethod(one.replace(folds=("G0",))), tmp_path / "fails")
    spec.run_dir.mkdir(parents=True)
    (spec.run_dir / "config.json").write_text("{}")                     # another run's folder
    with pytest.raises(RunFailed, match=r"A logo-G0 seed 0 .* failed 2 time\(s\); last: TrainerError"):
        run_experiment(one.replace(folds=("G0",)), tmp_path / "fails", log=None,
                       executor=ProcessExecutor(1, retries=1))


def test_a_worker_refuses_a_run_its_method_plans_differently(corpus_dir, tmp_path):
    method = CogmenMethod(_config(corpus_dir))
    spec = plan(method, tmp_path)[0]
    other = _config(corpus_dir, train=tiny_train(epochs=5, keep_last=False, num_threads=1))
    with pytest.raises(RunFailed, match="another corpus or configuration"):
        run_task(CogmenMethod(other).recipe(), spec, True)
    assert not spec.run_dir.exists()


@pytest.mark.slow
def test_ray_local_cluster_gives_the_local_results(corpus_dir, tmp_path):
    ray = pytest.importorskip("ray")
    cfg = _config(corpus_dir, folds=("G0",))
    local = run_experiment(cfg, tmp_path / "local", log=None)
    try:
        res = run_experiment(cfg, tmp_path / "ray", log=None, executor="ray")
    finally:
        ray.shutdown()
    pd.testing.assert_frame_equal(_scores(res.runs), _scores(local.runs))


_SHARD = """
import json, os, sys
from emowb.train.experiment import CogmenMethod, ExperimentConfig, run_experiment
log = sys.argv[2]
original = CogmenMethod.execute
def execute(self, spec, *, resume=True):
    with open(log, "a") as f:
        f.write(json.dumps([os.getpid(), str(spec.run_dir)]) + "\\n")
    return original(self, spec, resume=resume)
CogmenMethod.execute = execute
cfg = ExperimentConfig.load(sys.argv[1])
res = run_experiment(cfg, sys.argv[3], log=None)
print(len(res.runs))
"""


def test_two_processes_share_one_output_folder(corpus_dir, tmp_path):
    cfg = _config(corpus_dir, seeds=(0, 1))
    cfg.save(tmp_path / "cfg.json")
    out, log = tmp_path / "out", tmp_path / "executed.jsonl"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    procs = [subprocess.Popen([sys.executable, "-c", _SHARD, str(tmp_path / "cfg.json"), str(log), str(out)],
                              cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    executed = [json.loads(line) for line in log.read_text().splitlines()]
    dirs = [d for _, d in executed]
    # 2 variants × 2 folds × 2 seeds = 8 runs, each trained by exactly one of the two processes
    assert len(dirs) == len(set(dirs)) == 8
    assert len({pid for pid, _ in executed}) == 2                      # and both did some of them
    local = run_experiment(cfg, out, log=None, executor=LocalExecutor())  # all finished: nothing trained
    runs = pd.read_csv(out / "runs.csv")
    assert len(runs) == len(local.runs) == 2 * 2 * (1 + 3)
    assert sorted(runs.run_dir) == sorted(local.runs.run_dir)
    assert (out / "table.md").read_text() == local.table
    assert not list(out.rglob("*.lock")) and not list(out.rglob("*.tmp"))
