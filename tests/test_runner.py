"""The experiment runner with a stand-in method: plan, shared runs, resume, results from the run
folders, pluggable executor; the one paired-difference function; runtime-only train settings."""

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from emowb.config import Config, identity
from emowb.data.splits import Split
from emowb.eval.summary import paired_differences, summarise
from emowb.train.runner import LocalExecutor, Method, run_method
from emowb.train.trainer import RUN_FILES, RunRecord, TrainConfig


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Cfg(Config):
    seeds: tuple[int, ...] = (0, 1)
    scale: float = 1.0
    progress: bool = dataclasses.field(default=True, metadata={"changes_results": False})


@dataclasses.dataclass(frozen=True, kw_only=True)
class _V(Config):
    name: str
    offset: float


class _Toy(Method):
    """A 'run' writes metrics.json with a score = offset + scale * seed."""

    name = "toy"

    def __init__(self, config, variants, folds=("f0", "f1")):
        self.config, self._variants = config, variants
        self._splits = [Split(f, ("d1",), ("d2",), ("d3",)) for f in folds]
        self.executed = []

    def variants(self):
        return self._variants

    def splits(self):
        return self._splits

    def folder(self, v):
        return Path("v")

    def record(self, v, split, seed):
        return RunRecord(method=self.name, config=self.config.replace(seeds=(seed,)), split=split,
                         corpus_fingerprint="fp", seed=seed, variant=v.name, inputs={"offset": v.offset})

    def execute(self, spec, *, resume=True):
        self.executed.append((spec.name, spec.fold, spec.seed))
        spec.run_dir.mkdir(parents=True)
        score = spec.variant.offset + self.config.scale * spec.seed + (0.5 if spec.fold == "f1" else 0)
        for f in RUN_FILES:                      # a finished run folder holds every artefact
            (spec.run_dir / f).parent.mkdir(parents=True, exist_ok=True)
            (spec.run_dir / f).touch()
        (spec.run_dir / "metrics.json").write_text(json.dumps({"best_epoch": 1, "test": {"x": {"UA": score}}}))

    def rows(self, spec, metrics):
        return [{"model": spec.name, "fold": spec.fold, "seed": spec.seed, "UA": metrics["test"]["x"]["UA"],
                 "run_dir": str(spec.run_dir)}]

    def summarise(self, runs):
        return runs.groupby("model", sort=False)["UA"].mean().reset_index()

    def table(self, runs, summary):
        return f"{len(runs)} rows"


def test_plan_shared_runs_resume_and_results_from_folders(tmp_path):
    variants = [_V(name="a", offset=0.0), _V(name="b", offset=1.0), _V(name="a again", offset=0.0)]
    m = _Toy(_Cfg(), variants)
    logs = []
    res = run_method(m, tmp_path / "out", log=logs.append, stem="t")
    # 2 folds × 2 seeds × 2 distinct runs: "a again" is the same run as "a" (same identity)
    assert len(m.executed) == 8 and len(logs) == 8 and logs[0].startswith("[1/8] a f0 seed 0")
    assert len(res.runs) == 12 and list(res.runs["model"][:3]) == ["a", "b", "a again"]
    same = res.runs.groupby("model")["run_dir"].apply(tuple)
    assert same["a"] == same["a again"] and same["a"] != same["b"]
    for _, r in res.runs.iterrows():                  # OUT/<folder>/<fold>/seed<k>-<identity>
        p = Path(r["run_dir"])
        assert p.parent == tmp_path / "out" / "v" / r["fold"] and p.name.startswith(f"seed{r['seed']}-")
        assert len(p.name.split("-", 1)[1]) == 12
    assert {f.name for f in (tmp_path / "out").iterdir()} == {"v", "t_experiment.json", "t_runs.csv",
                                                              "t_summary.csv", "t.md"}
    assert json.loads((tmp_path / "out" / "t_experiment.json").read_text())["method"] == "toy"
    # a runtime-only option does not change the runs: all reused, and results read back from the folders
    again = _Toy(_Cfg(progress=False), variants)
    res2 = run_method(again, tmp_path / "out", log=None, stem="t")
    assert again.executed == []
    pd.testing.assert_frame_equal(res2.runs, res.runs)
    # a result-changing one does: new runs next to the old ones
    other = _Toy(_Cfg(scale=2.0), variants[:1], folds=("f0",))
    run_method(other, tmp_path / "out", log=None, stem="t")
    assert len(other.executed) == 2 and len(list((tmp_path / "out" / "v" / "f0").iterdir())) == 6


def test_a_plugged_executor_gets_every_run_once(tmp_path):
    class Recording(LocalExecutor):
        def __init__(self):
            self.seen = []

        def run(self, method, specs, *, resume, done):
            specs = list(specs)
            self.seen += [(s.name, s.fold, s.seed) for s in specs]
            super().run(method, specs[::-1], resume=resume, done=done)    # any order

    ex = Recording()
    m = _Toy(_Cfg(seeds=(3,)), [_V(name="a", offset=0.0)])
    res = run_method(m, tmp_path, executor=ex, log=None)
    assert ex.seen == [("a", "f0", 3), ("a", "f1", 3)]
    assert list(res.runs["fold"]) == ["f0", "f1"]                       # rows in plan order


def test_run_record_identity_ignores_runtime_fields_and_the_row_label():
    split = Split("f0", ("d1",), ("d2",), ("d3",))
    rec = RunRecord(method="toy", config=_Cfg(), split=split, corpus_fingerprint="fp", seed=0, variant="a")
    assert rec.identity == dataclasses.replace(rec, config=_Cfg(progress=False), variant="b").identity
    assert rec.identity != dataclasses.replace(rec, config=_Cfg(scale=2.0)).identity
    assert rec.identity != dataclasses.replace(rec, corpus_fingerprint="other").identity
    assert rec.identity == identity(_Cfg(), corpus_fingerprint="fp", method="toy", split=split.to_json(), inputs={})
    j = rec.to_json()
    assert {"schema", "method", "variant", "fold", "seed", "identity", "config", "config_type", "split",
            "corpus_fingerprint"} == set(j) and j["config_type"].endswith(":_Cfg")
    with pytest.raises(ValueError, match="own keys"):
        RunRecord(method="toy", config=_Cfg(), split=split, corpus_fingerprint="fp", seed=0, inputs={"seed": 1})


def test_train_settings_that_do_not_change_results():
    assert set(TrainConfig.runtime_fields()) == {"progress", "keep_last", "save_train_embeddings", "checkpoint_budget"}
    assert "num_threads" in TrainConfig().result_dict()      # thread counts change floating-point sums


def test_paired_differences():
    runs = pd.DataFrame({"variant": ["ref", "kd", "ref", "kd", "other"], "fold": ["f0", "f0", "f1", "f1", "f9"],
                         "seed": [0, 0, 0, 0, 0], "UA": [0.5, 0.6, 0.4, 0.3, 0.9], "size": "s"})
    d = paired_differences(runs, column="variant", reference="ref", metrics=["UA"]).set_index("variant")
    s = summarise([0.6 - 0.5, 0.3 - 0.4])
    assert d.at["kd", "UA_diff_mean"] == pytest.approx(s.mean) and d.at["kd", "UA_diff"] == s.format()
    assert d.at["kd", "UA_wins"] == "1/2" and d.at["kd", "pairs"] == 2
    assert d.at["ref", "UA_diff"] == "-" and d.at["ref", "UA_wins"] == "-" and d.at["ref", "UA_diff_mean"] == 0
    assert d.at["other", "pairs"] == 0 and math.isnan(d.at["other", "UA_diff_mean"]) and d.at["other", "UA_diff"] == "-"
    w = paired_differences(runs, column="variant", reference="ref", metrics=["UA"], within=["size"])
    assert list(w.columns[:2]) == ["size", "variant"] and np.allclose(w["UA_diff_mean"].iloc[:2], d["UA_diff_mean"].iloc[:2])
