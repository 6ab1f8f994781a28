"""Protocol runner: variants × folds × seeds -> per-run folders + a mean ± std summary.

An :class:`ExperimentConfig` names the data (:class:`~emowb.train.run.DataConfig`), a base
COGMEN and training configuration, the **variants** to compare (train modalities, masking,
graph kind) and the seeds. :func:`run_experiment` trains every (fold, seed, variant) into
``OUT/<variant>/<fold>/seed<k>/`` (a finished run is not trained again; an interrupted one resumes),
scores each in every test context it supports, and writes:

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
import time
from pathlib import Path
from typing import Any, Mapping

import pandas as pd

from emowb.config import Config, ConfigError, require
from emowb.data.corpus import Corpus
from emowb.eval.metrics import SCALAR_METRICS
from emowb.eval.summary import matrix_table, summarise_frame, to_markdown
from emowb.features.base import FeatureSet
from emowb.models.cogmen import CogmenConfig
from emowb.models.graph import GraphKind
from emowb.train.masking import MaskGranularity, MaskingConfig
from emowb.train.run import DataConfig, PreparedData, RunConfig, load_inputs, make_fold_splits, prepare_data, train_run
from emowb.train.trainer import TrainConfig
from emowb.types import Modality
from emowb.utils import atomic_path, write_json

__all__ = ["Variant", "ExperimentConfig", "ExperimentResult", "masking_table_variants", "run_experiment"]


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


@dataclasses.dataclass
class ExperimentResult:
    runs: pd.DataFrame
    summary: pd.DataFrame
    table: str
    out_dir: Path


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


def run_experiment(config: ExperimentConfig, out_dir: str | Path, *, corpus: Corpus | None = None,
                   features: Mapping[Modality, FeatureSet] | None = None, resume: bool = True,
                   log=print) -> ExperimentResult:
    """Run every (fold, seed, variant) and summarise (see the module docstring).

    Args:
        config: the experiment.
        out_dir: output folder.
        corpus, features: pre-loaded inputs (else loaded from ``config.data``).
        resume: skip finished runs and resume interrupted ones.
        log: where one line per run goes (``None`` = silent).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "experiment.json", config.to_dict())
    all_mods = Modality.parse("".join(v.modalities for v in config.variants))
    if corpus is None or features is None:
        corpus, features = load_inputs(config.data, all_mods)
    missing = [m.value for m in all_mods if m not in features]
    if missing:
        raise ConfigError(f"no features for modality {missing}")
    splits = make_fold_splits(corpus, config.data, folds=config.folds)
    prepared: dict[tuple, PreparedData] = {}
    rows: list[dict] = []
    total = len(splits) * len(config.seeds) * len(config.variants)
    k = 0
    for split in splits:
        for seed in config.seeds:
            for variant in config.variants:
                k += 1
                model_cfg = variant.model_config(config.model)
                key = (split.name, model_cfg.modalities, model_cfg.graph_spec(), model_cfg.speaker_index,
                       config.data.standardize, config.data.per_speaker)
                if key not in prepared:
                    prepared[key] = prepare_data(corpus, features, split, model=model_cfg,
                                                 standardize=config.data.standardize,
                                                 per_speaker=config.data.per_speaker)
                cfg = RunConfig(data=config.data.replace(fold=split.name), model=model_cfg,
                                train=config.train.replace(seed=seed), masking=variant.masking)
                run_dir = out / variant.slug / split.name / f"seed{seed}"
                t0 = time.perf_counter()
                res = train_run(cfg, run_dir=run_dir, corpus=corpus, features=features, split=split,
                                prepared=prepared[key], resume=resume)
                for ctx in _contexts_for(variant, config.contexts):
                    m = res.metrics["test"].get(ctx)
                    if m is None:
                        continue
                    rows.append({"model": variant.name, "train_modalities": variant.modalities,
                                 "masking": variant.describe_masking(), "graph": model_cfg.graph.value,
                                 "fold": split.name, "seed": seed, "context": ctx,
                                 **{s: m[s] for s in SCALAR_METRICS}, "best_epoch": res.best_epoch,
                                 "run_dir": str(run_dir)})
                if log is not None:
                    scores = ", ".join(f"{r['context']} {r[config.metric]:.3f}" for r in rows
                                       if r["run_dir"] == str(run_dir))
                    log(f"[{k}/{total}] {variant.name} {split.name} seed {seed}: best epoch "
                        f"{res.best_epoch}, test {config.metric}: {scores} ({time.perf_counter() - t0:.1f}s)")
                _write_outputs(out, rows, config)
    runs = pd.DataFrame(rows)
    summary, table = _write_outputs(out, rows, config)
    return ExperimentResult(runs=runs, summary=summary, table=table, out_dir=out)


def _write_outputs(out: Path, rows: list[dict], config: ExperimentConfig) -> tuple[pd.DataFrame, str]:
    runs = pd.DataFrame(rows)
    with atomic_path(out / "runs.csv", suffix=".csv") as tmp:
        runs.to_csv(tmp, index=False)
    summary = summarise_frame(runs, by=["model", "context"], metrics=list(SCALAR_METRICS))
    with atomic_path(out / "summary.csv", suffix=".csv") as tmp:
        summary.to_csv(tmp, index=False)
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
    text = (f"# {config.name}: test {config.metric}, mean ± std over {int(n_runs.max())} run(s) "
            f"per model (folds × seeds)\n\n{to_markdown(table)}\n\n95% t-intervals of the mean:\n\n"
            f"{to_markdown(ci_table)}\n")
    (out / "table.md").write_text(text)
    return summary, text
