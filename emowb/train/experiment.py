"""Protocol runner: variants × folds × seeds -> per-run folders + a mean ± std summary.

An :class:`ExperimentConfig` names the data (:class:`~emowb.train.run.DataConfig`), a base
COGMEN and training configuration, the **variants** to compare (train modalities, masking,
graph kind) and the seeds. :func:`run_experiment` (the shared runner,
:func:`emowb.train.runner.run_method`, with :class:`CogmenMethod`) trains every (fold, seed,
variant) into ``OUT/<variant>/<fold>/seed<k>-<identity>/`` (a finished run is not trained again;
an interrupted one resumes), scores each in every test context it supports, and writes:

- ``runs.csv``: one row per (run, test context): variant, train modalities, masking, graph,
  fold, seed, context, WA, UA, weighted_f1, macro_f1, best epoch, run folder;
- ``summary.csv``: per (variant, context): mean, std, n and 95% t-interval of each metric;
- ``table.md``: the train-variant × test-context matrix of ``metric`` (mean ± std), i.e. the first
  paper's Tables 2 and 3 when run with :func:`masking_table_variants`.

:func:`masking_table_variants` is the paper's set: COGMEN-A, COGMEN-AV, COGMEN-Mask (utterance
and feature granularity), COGMEN-A + uni-modal mask, and the disjoint-graph version of each.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from emowb.batching.graph import GraphKind
from emowb.config import Config, ConfigError, require
from emowb.data.corpus import Corpus
from emowb.eval.metrics import SCALAR_METRICS
from emowb.data.splits import Split
from emowb.eval.summary import matrix_table, to_markdown
from emowb.features.base import FeatureSet
from emowb.models.cogmen import CogmenConfig
from emowb.train.masking import MaskGranularity, MaskingConfig
from emowb.train.run import (DataConfig, DataPreparer, RunConfig, load_inputs, make_fold_splits,
                             run_record, train_run)
from emowb.train.runner import ExperimentResult, Method, RunSpec, run_method
from emowb.train.trainer import RunRecord, TrainConfig
from emowb.types import Modality

__all__ = ["Variant", "ExperimentConfig", "ExperimentResult", "CogmenMethod", "masking_table_variants",
           "run_experiment"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class Variant(Config):
    """One row of the result table.

    Attributes:
        name: row label (``"COGMEN-Mask (feature)"``).
        modalities: training modalities.
        masking: masked training (None = none).
        graph: graph kind (None = the base model's).
        model_params: flat overrides of the base :class:`CogmenConfig` (``{"seq_layers": 4}``).
    """

    name: str
    modalities: str = "av"
    masking: MaskingConfig | None = None
    graph: GraphKind | None = None
    model_params: dict[str, Any] = dataclasses.field(default_factory=dict)

    def validate(self) -> None:
        require(bool(self.name.strip()), "Variant.name must not be empty")
        Modality.parse(self.modalities)

    @property
    def slug(self) -> str:
        return re.sub(r"[^A-Za-z0-9]+", "-", self.name).strip("-").lower()

    def model_config(self, base: CogmenConfig) -> CogmenConfig:
        d = dict(self.model_params, modalities=self.modalities)
        if self.graph is not None:
            d["graph"] = self.graph
        return CogmenConfig.from_params(base, **d)

    def describe_masking(self) -> str:
        return "none" if self.masking is None else self.masking.describe()


def masking_table_variants(*, granularities=("utterance", "feature"), disjoint: bool = True,
                           unimodal_granularity: str = "utterance", audio: str = "a",
                           video: str = "v") -> tuple[Variant, ...]:
    """The first paper's Tables 2 (window graph) and 3 (disjoint graph) as variants."""
    av = audio + video
    rows: list[Variant] = []
    for graph, tag in [(GraphKind.WINDOW, "")] + ([(GraphKind.DISJOINT, " [disjoint]")] if disjoint else []):
        rows.append(Variant(name=f"COGMEN-A{tag}", modalities=audio, graph=graph))
        rows.append(Variant(name=f"COGMEN-AV{tag}", modalities=av, graph=graph))
        for g in granularities:
            g = MaskGranularity(g)
            rows.append(Variant(name=f"COGMEN-Mask ({g.value}){tag}", modalities=av, graph=graph,
                                masking=MaskingConfig(p_full={audio: 0.3, video: 0.3}, granularity=g)))
        rows.append(Variant(name=f"COGMEN-A + Mask{tag}", modalities=audio, graph=graph,
                            masking=MaskingConfig.unimodal(audio, granularity=unimodal_granularity)))
    return tuple(rows)


@dataclasses.dataclass(frozen=True, kw_only=True)
class ExperimentConfig(Config):
    """A comparison of variants over folds × seeds.

    Attributes:
        name: experiment name (recorded).
        data: the data; ``data.fold`` is ignored (``folds`` selects folds).
        model, train: base configurations (``train.seed`` is replaced by each seed).
        variants: the rows of the table.
        seeds: training seeds.
        folds: fold names to run (None = every fold of the protocol).
        contexts: test contexts to report (None = every subset of each variant's modalities).
        metric: the metric of ``table.md``.
    """

    name: str = "experiment"
    data: DataConfig = DataConfig()
    model: CogmenConfig = CogmenConfig()
    train: TrainConfig = TrainConfig(keep_last=False, progress=False)
    variants: tuple[Variant, ...] = masking_table_variants()
    seeds: tuple[int, ...] = (0, 1, 2)
    folds: tuple[str, ...] | None = None
    contexts: tuple[str, ...] | None = None
    metric: str = "weighted_f1"

    def validate(self) -> None:
        require(len(self.variants) > 0, "ExperimentConfig.variants must not be empty")
        require(len(self.seeds) > 0, "ExperimentConfig.seeds must not be empty")
        require(self.metric in SCALAR_METRICS,
                f"ExperimentConfig.metric must be one of {SCALAR_METRICS}, got {self.metric!r}")
        slugs = [v.slug for v in self.variants]
        dup = sorted({s for s in slugs if slugs.count(s) > 1})
        require(not dup, f"ExperimentConfig.variants: names map to the same folder {dup}")
        for v in self.variants:
            v.model_config(self.model)  # validates the overrides now, not after hours of training


def _contexts_for(variant: Variant, wanted) -> list[str]:
    mods = Modality.parse(variant.modalities)
    if wanted is None:
        from emowb.eval.contexts import all_contexts
        return list(all_contexts(mods))
    out = []
    for c in wanted:
        cm = Modality.parse(c)
        if all(m in mods for m in cm):
            out.append(Modality.code(cm))
    return out


class CogmenMethod(Method):
    """COGMEN experiments as a :class:`~emowb.train.runner.Method`: one COGMEN run per variant.

    Args:
        config: the experiment.
        corpus, features: pre-loaded inputs (else loaded from ``config.data``).
    """

    name = "cogmen"

    def __init__(self, config: ExperimentConfig, *, corpus: Corpus | None = None,
                 features: Mapping[Modality, FeatureSet] | None = None) -> None:
        self.config = config
        all_mods = Modality.parse("".join(v.modalities for v in config.variants))
        if corpus is None or features is None:
            corpus, features = load_inputs(config.data, all_mods)
        missing = [m.value for m in all_mods if m not in features]
        if missing:
            raise ConfigError(f"no features for modality {missing}")
        self.corpus, self.features = corpus, dict(features)
        self.fingerprint = corpus.fingerprint()
        self._splits = make_fold_splits(corpus, config.data, folds=config.folds)
        self._prepare = DataPreparer(corpus, self.features, config.data)

    # ------------------------------------------------------------------ the plan
    def variants(self):
        return self.config.variants

    def splits(self):
        return self._splits

    def folder(self, variant: Variant) -> Path:
        return Path(variant.slug)

    def run_config(self, variant: Variant, split: Split, seed: int) -> RunConfig:
        # a run is scored at the end in the contexts the table reports only (None = every subset)
        contexts = (None if self.config.contexts is None
                    else tuple(_contexts_for(variant, self.config.contexts)) or None)
        return RunConfig(data=self.config.data.replace(fold=split.name), model=variant.model_config(self.config.model),
                         train=self.config.train.replace(seed=seed), masking=variant.masking, contexts=contexts)

    def record(self, variant: Variant, split: Split, seed: int) -> RunRecord:
        return run_record(self.run_config(variant, split, seed), split=split, corpus=self.corpus,
                          features=self.features, method=self.name, variant=variant.name,
                          corpus_fingerprint=self.fingerprint)

    # ------------------------------------------------------------------ one run
    def execute(self, spec: RunSpec, *, resume: bool = True) -> None:
        split = self.split(spec.fold)
        cfg = self.run_config(spec.variant, split, spec.seed)
        train_run(cfg, run_dir=spec.run_dir, corpus=self.corpus, features=self.features, split=split,
                  prepared=self._prepare(split, cfg.model), resume=resume,
                  record=self.record(spec.variant, split, spec.seed))

    # ------------------------------------------------------------------ results
    def rows(self, spec: RunSpec, metrics: Mapping) -> list[dict]:
        v: Variant = spec.variant
        graph = v.model_config(self.config.model).graph.value
        rows = []
        for ctx in _contexts_for(v, self.config.contexts):
            m = metrics["test"].get(ctx)
            if m is None:
                continue
            rows.append({"model": v.name, "train_modalities": v.modalities, "masking": v.describe_masking(),
                         "graph": graph, "fold": spec.fold, "seed": spec.seed, "context": ctx,
                         **{s: m[s] for s in SCALAR_METRICS}, "best_epoch": metrics["best_epoch"],
                         "run_dir": str(spec.run_dir)})
        return rows

    def describe(self, spec: RunSpec, metrics: Mapping) -> str:
        metric = self.config.metric
        scores = ", ".join(f"{r['context']} {r[metric]:.3f}" for r in self.rows(spec, metrics))
        return (f"{spec.name} {spec.fold} seed {spec.seed}: best epoch {metrics['best_epoch']}, "
                f"test {metric}: {scores}")

    def table(self, runs: pd.DataFrame, summary: pd.DataFrame) -> str:
        config = self.config
        contexts = list(dict.fromkeys(sorted(runs["context"], key=lambda c: (-len(c), c))))
        table = matrix_table(summary, metric=config.metric, column_order=contexts)
        table.columns = [f"{c.upper()} inference" for c in table.columns]
        table.index.name = "model"
        ci = summary.assign(ci=[f"[{lo:.3f}, {hi:.3f}]" if lo == lo else "-" for lo, hi in
                                zip(summary[f"{config.metric}_ci_low"], summary[f"{config.metric}_ci_high"])])
        ci_table = matrix_table(ci, metric="ci", column_order=contexts)
        ci_table.columns = [f"{c.upper()} 95% CI" for c in ci_table.columns]
        ci_table.index.name = "model"
        n_runs = runs.groupby("model")["run_dir"].nunique().reindex(table.index)
        if int(n_runs.max()) < 2:           # no spread to show: say so instead of "±"-less cells and "-" intervals
            return (f"# {config.name}: test {config.metric}, one run per model (one fold, one seed: no spread; "
                    f"more seeds or a multi-fold protocol give mean ± std)\n\n{to_markdown(table)}\n")
        return (f"# {config.name}: test {config.metric}, mean ± std over {int(n_runs.max())} run(s) "
                f"per model (folds × seeds)\n\n{to_markdown(table)}\n\n95% t-intervals of the mean:\n\n"
                f"{to_markdown(ci_table)}\n")


def run_experiment(config: ExperimentConfig, out_dir: str | Path, *, corpus: Corpus | None = None,
                   features: Mapping[Modality, FeatureSet] | None = None, resume: bool = True,
                   log=print, executor=None) -> ExperimentResult:
    """Run every (fold, seed, variant) and summarise (see the module docstring).

    Args:
        config: the experiment.
        out_dir: output folder.
        corpus, features: pre-loaded inputs (else loaded from ``config.data``).
        resume: skip finished runs and resume interrupted ones.
        log: where one line per run goes (``None`` = silent).
        executor: what trains the runs (default: one after the other, here).
    """
    return run_method(CogmenMethod(config, corpus=corpus, features=features), out_dir, resume=resume,
                      log=log, executor=executor)
