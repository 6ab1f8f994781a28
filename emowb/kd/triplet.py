"""COGMEN triplet KD (first paper, Table 1): audio+video teacher -> audio-only student.

Per fold and seed:

1. the **teacher** COGMEN_T (default audio + video, SeqContext 4, graph heads 7; optionally the
   masked model, ``teacher_masking``) is trained with the shared trainer, frozen, and its
   post-graph embeddings (and logits) for every utterance of the fold are cached
   (:mod:`emowb.kd.cache`), computed with all its modalities available;
2. for each student size (Table 1: same sizes, smaller SeqContext, smaller graph) an audio-only
   **student** COGMEN_S is trained with :class:`~emowb.kd.losses.TripletKDLoss`
   (``alpha · L_triplet + ce_weight · L_CE``; a projection is learned when the embedding widths
   differ), and the same student without KD (cross-entropy only) as the reference.

**Causal students** (``student_causal=True``; the first paper's future work): the students are
causal COGMENs (``CogmenConfig.causal``: causal SeqContext attention and the past-only graph,
usable for streaming, :mod:`emowb.models.incremental`) distilled from the same bidirectional
teacher; the table then also has the bidirectional audio-only student without KD (role
``student-bidirectional``), the model the causal ones give up future context against.

Everything is scored on the test fold: the teacher with audio + video and with audio only (video
unavailable, filled as the model is configured), the students with audio. Results: mean ± std
over folds × seeds of weighted F1 (the paper's "F1"), UA and WA.

:class:`TripletMethod` is this method of the shared experiment runner
(:func:`emowb.train.runner.run_method`; :func:`run_triplet` runs it). Output folder::

    CORPUS/kd_cache/<teacher key>/run/                  the teacher runs (in the teacher cache)
    OUT/<kd|nokd>/<size>/<fold>/seed<k>-<identity>/     student run folders
    OUT/nokd-bidirectional/<size>/<fold>/seed<k>-<identity>/   (student_causal) the bidirectional reference
    OUT/experiment.json, runs.csv, summary.csv, table.md, results.json

A KD student's identity includes its teacher's cache key, so a retrained teacher means a newly
trained student.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Callable, Mapping, Sequence

import pandas as pd

from emowb.batching.graph import GraphKind
from emowb.config import Config, ConfigError, require
from emowb.data.corpus import Corpus
from emowb.data.splits import Split
from emowb.eval.contexts import ModalityContext, parse_contexts
from emowb.eval.metrics import SCALAR_METRICS
from emowb.eval.summary import paired_differences, to_markdown
from emowb.features.base import FeatureSet
from emowb.kd.cache import TeacherCache, TeacherOutputs, fold_utterances, full_outputs, predict_outputs
from emowb.kd.losses import TripletKDLoss, TripletLossConfig
from emowb.models.cogmen import CogmenConfig
from emowb.train.masking import MaskingConfig
from emowb.train.run import (DataConfig, DataPreparer, RunConfig, build_model, load_inputs, make_fold_splits,
                             run_record, train_run)
from emowb.train.runner import ExperimentResult, Method, RunSpec, run_method
from emowb.train.trainer import FitResult, RunRecord, TrainConfig, load_best
from emowb.types import Modality
from emowb.utils import write_json

__all__ = ["StudentSize", "TABLE1_SIZES", "TripletConfig", "TripletVariant", "TripletMethod", "TripletResult",
           "run_triplet"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class StudentSize(Config):
    """A student's sizes (one Table-1 row).

    Attributes:
        name: row label.
        seq_layers: SeqContext transformer layers.
        gnn_heads: graph-transformer heads.
    """

    name: str
    seq_layers: int
    gnn_heads: int

    def validate(self) -> None:
        require(self.seq_layers >= 1 and self.gnn_heads >= 1,
                f"StudentSize {self.name!r}: seq_layers and gnn_heads must be >= 1")

    @property
    def slug(self) -> str:
        return re.sub(r"[^A-Za-z0-9]+", "-", self.name).strip("-").lower()


#: Table 1 of the first paper: teacher [SeqContext 4, GNN 7] and three students.
TABLE1_SIZES = (StudentSize(name="same sizes", seq_layers=4, gnn_heads=7),
                StudentSize(name="smaller SeqContext", seq_layers=2, gnn_heads=7),
                StudentSize(name="smaller graph", seq_layers=4, gnn_heads=3))


@dataclasses.dataclass(frozen=True, kw_only=True)
class TripletConfig(Config):
    """A triplet-KD experiment.

    Attributes:
        name: recorded name.
        data: corpus, feature set per modality, protocol (``data.fold`` is ignored; ``folds``).
        teacher: the teacher COGMEN (its modalities, e.g. ``"av"``).
        teacher_masking: masked training of the teacher (COGMEN-Mask as teacher), None = none.
        student: the base student COGMEN (its modalities, e.g. ``"a"``); sizes override
            ``seq_layers`` / ``gnn_heads``.
        sizes: the student sizes (Table 1's rows).
        student_seq_layers, student_gnn_heads: when set (notebook parameters), one student size
            with these values replaces ``sizes``.
        loss: :class:`~emowb.kd.losses.TripletLossConfig` (``alpha``, ``ce_weight``, ``margin``,
            ``p``, ``mining``).
        train, teacher_train: training of students / teacher (the seed is replaced).
        seeds: seeds.
        teacher_seed: None = each student's seed (a teacher per seed), else one fixed seed.
        folds: fold-name suffixes to run (None = all of ``data.protocol``).
        baseline: also train each student size without KD.
        teacher_context: the context the teacher's embeddings are computed in (default: all of
            its modalities).
        student_causal: the students (with and without KD) are causal COGMENs
            (``CogmenConfig.causal``; a ``window`` student graph becomes ``past`` with the same
            ``wp``), for streaming; with ``baseline`` the bidirectional student (``student`` as
            configured) is also trained without KD as the reference.
    """

    name: str = "triplet-kd"
    data: DataConfig = DataConfig(features={"a": "egemaps", "v": "openface-au"}, protocol="logo")
    teacher: CogmenConfig = CogmenConfig(modalities="av", seq_layers=4, gnn_heads=7)
    teacher_masking: MaskingConfig | None = None
    student: CogmenConfig = CogmenConfig(modalities="a", seq_layers=4, gnn_heads=7)
    sizes: tuple[StudentSize, ...] = TABLE1_SIZES
    student_seq_layers: int | None = None
    student_gnn_heads: int | None = None
    loss: TripletLossConfig = TripletLossConfig()
    train: TrainConfig = TrainConfig(progress=False, keep_last=False)
    teacher_train: TrainConfig = TrainConfig(progress=False, keep_last=False)
    seeds: tuple[int, ...] = (0, 1, 2)
    teacher_seed: int | None = None
    folds: tuple[str, ...] | None = None
    baseline: bool = True
    teacher_context: str | None = None
    student_causal: bool = False

    def validate(self) -> None:
        require(len(self.seeds) >= 1, "TripletConfig.seeds must not be empty")
        require(len(self.effective_sizes()) >= 1, "TripletConfig.sizes must not be empty")
        t, s = set(self.teacher.mods), set(self.student.mods)
        require(s <= t, f"TripletConfig: the student's modalities {self.student.modalities!r} must be a "
                        f"subset of the teacher's {self.teacher.modalities!r}")
        for v in (self.student_seq_layers, self.student_gnn_heads):
            require(v is None or v >= 1, "TripletConfig.student_seq_layers / student_gnn_heads must be >= 1")
        if self.teacher_context is not None:
            parse_contexts(self.teacher_context, self.teacher.mods)
        require(not (self.student_causal and self.student.causal),
                "TripletConfig: set student_causal=True with a bidirectional student (student.causal=False): "
                "student is then the bidirectional reference and the causal students are derived from it")

    def effective_sizes(self) -> tuple[StudentSize, ...]:
        if self.student_seq_layers is None and self.student_gnn_heads is None:
            return tuple(self.sizes)
        sl = self.student_seq_layers if self.student_seq_layers is not None else self.student.seq_layers
        gh = self.student_gnn_heads if self.student_gnn_heads is not None else self.student.gnn_heads
        return (StudentSize(name=f"SeqContext {sl}, GNN {gh}", seq_layers=sl, gnn_heads=gh),)

    def student_config(self, size: StudentSize, *, causal: bool | None = None) -> CogmenConfig:
        """The student of ``size``: causal when ``causal`` (default ``student_causal``), else
        ``student`` as configured (the bidirectional reference of a causal experiment)."""
        cfg = self.student.replace(seq_layers=size.seq_layers, gnn_heads=size.gnn_heads)
        if self.student_causal if causal is None else causal:
            graph = GraphKind.PAST if cfg.graph is GraphKind.WINDOW else cfg.graph
            cfg = cfg.replace(causal=True, graph=graph)
        return cfg

    @property
    def teacher_label(self) -> str:
        mask = "-Mask" if self.teacher_masking is not None else ""
        return (f"COGMEN_T{mask}-{self.teacher.modalities.upper()} "
                f"[SeqContext {self.teacher.seq_layers}, GNN {self.teacher.gnn_heads}]")


#: The roles of :class:`TripletVariant`.
ROLES = ("teacher", "student-kd", "student", "student-bidirectional")


@dataclasses.dataclass(frozen=True, kw_only=True)
class TripletVariant(Config):
    """One row of the triplet-KD table: the teacher, or a student size with or without KD.

    Attributes:
        role: ``teacher``, ``student-kd`` (triplet KD), ``student`` (cross-entropy only) or
            ``student-bidirectional`` (``student_causal`` experiments: the bidirectional student,
            cross-entropy only).
        size: the student's size (None for the teacher).
    """

    role: str
    size: StudentSize | None = None

    def validate(self) -> None:
        require(self.role in ROLES, f"TripletVariant.role must be one of {', '.join(ROLES)}, got {self.role!r}")
        require((self.size is None) == (self.role == "teacher"), "TripletVariant: a student needs a size, "
                "the teacher has none")

    @property
    def kd(self) -> bool:
        return self.role == "student-kd"

    @property
    def bidirectional(self) -> bool:
        """The bidirectional reference student of a causal experiment."""
        return self.role == "student-bidirectional"


class TripletMethod(Method):
    """Teachers (cached) and students of one corpus under one :class:`TripletConfig`: the triplet-KD
    method of the experiment runner (:func:`emowb.train.runner.run_method`).

    Its variants are the teacher (one per fold and teacher seed; its run folder lives in the
    teacher cache) and, per student size, the student with triplet KD and (``baseline``) without.

    Args:
        config: the experiment.
        corpus, features: pre-loaded inputs (default: from ``config.data``).
        cache_root: teacher cache folder (default ``CORPUS/kd_cache``).
        log: progress lines (None = silent).
    """

    name = "triplet"

    def __init__(self, config: TripletConfig, *, corpus: Corpus | None = None,
                 features: Mapping[Modality, FeatureSet] | None = None, cache_root: str | Path | None = None,
                 log: Callable[[str], None] | None = print) -> None:
        self.config = config
        if corpus is None or features is None:
            if not config.data.corpus:
                raise ConfigError("TripletConfig.data.corpus is empty: name the corpus folder")
            corpus, features = load_inputs(config.data, config.teacher.mods)
        missing = [m.value for m in config.teacher.mods if m not in features]
        if missing:
            raise ConfigError(f"no features for modality {missing}")
        self.corpus, self.features = corpus, dict(features)
        self.fingerprint = corpus.fingerprint()
        self.cache = TeacherCache(corpus, cache_root)
        self.log = log or (lambda s: None)
        self._splits = make_fold_splits(corpus, config.data, folds=config.folds)
        self._prepare = DataPreparer(corpus, self.features, config.data)

    # ---------------------------------------------------------------- teacher
    def teacher_seed(self, seed: int) -> int:
        return seed if self.config.teacher_seed is None else self.config.teacher_seed

    def _teacher_name_spec(self, split: Split, seed: int) -> tuple[str, dict]:
        c = self.config
        train = c.teacher_train.replace(seed=self.teacher_seed(seed))
        spec = {"teacher": "cogmen", "model": c.teacher.to_dict(),
                "masking": None if c.teacher_masking is None else c.teacher_masking.to_dict(),
                "train": train.result_dict(),
                "features": {m.value: self.features[m].config for m in c.teacher.mods},
                "feature_names": {m.value: self.features[m].name for m in c.teacher.mods},
                "standardize": c.data.standardize, "split": split.to_json(),
                "context": c.teacher_context, "per_speaker": c.data.per_speaker}
        return f"cogmen{'-mask' if c.teacher_masking is not None else ''}-{c.teacher.modalities}", spec

    def teacher_key(self, split: Split, seed: int) -> str:
        """The cache key of the teacher a student of ``seed`` learns from (nothing is trained)."""
        return self.cache.key(*self._teacher_name_spec(split, seed))

    def teacher_run_config(self, split: Split, seed: int) -> RunConfig:
        c = self.config
        return RunConfig(data=c.data.replace(fold=split.name), model=c.teacher,
                         train=c.teacher_train.replace(seed=self.teacher_seed(seed)), masking=c.teacher_masking)

    def teacher(self, split: Split, seed: int, *, allow_compute: bool = True) -> TeacherOutputs:
        """The frozen teacher's outputs for the fold (cached; trained on first use)."""
        c = self.config
        name, spec = self._teacher_name_spec(split, seed)
        tseed = self.teacher_seed(seed)

        def compute(run_dir: Path) -> TeacherOutputs:
            cfg = self.teacher_run_config(split, seed)
            data = self._prepare(split, c.teacher)
            record = run_record(cfg, split=split, corpus=self.corpus, features=self.features, method=self.name,
                                variant=c.teacher_label, corpus_fingerprint=self.fingerprint,
                                inputs={"role": "teacher"})
            fit = train_run(cfg, run_dir=run_dir, corpus=self.corpus, features=self.features, split=split,
                            prepared=data, record=record)
            model = load_best(build_model(c.teacher, data, len(self.corpus.labels)), run_dir)
            ctx = ModalityContext(Modality.parse(c.teacher_context or c.teacher.modalities))
            ids, _, logits, embs = predict_outputs(model, {"train": data.train, "dev": data.dev, "test": data.test},
                                                   batch_size=cfg.train.batch_size, device=cfg.train.device,
                                                   context=ctx)
            all_ids, split_of = fold_utterances(self.corpus, split)
            part, lg, em, valid = full_outputs(all_ids, split_of, ids, logits, embs)
            return TeacherOutputs(name=name, key="", utt_ids=all_ids, split=part, logits=lg, embeddings=em,
                                  valid=valid, metrics={"dev": fit.metrics["dev"], "test": fit.metrics["test"],
                                                        "best_epoch": fit.best_epoch, "seed": tseed})

        return self.cache.get(name, spec, compute if allow_compute else None, log=self.log)

    # ---------------------------------------------------------------- students
    def student_run_config(self, split: Split, size: StudentSize, seed: int, *,
                           bidirectional: bool = False) -> RunConfig:
        c = self.config
        return RunConfig(data=c.data.replace(fold=split.name),
                         model=c.student_config(size, causal=False if bidirectional else None),
                         train=c.train.replace(seed=seed))

    def student_record(self, split: Split, size: StudentSize, *, seed: int, kd: bool,
                       teacher_key: str | None = None, bidirectional: bool = False) -> RunRecord:
        """A student run's record: its RunConfig, plus the KD loss and the teacher's cache key."""
        c = self.config
        if kd and bidirectional:
            raise ConfigError("the bidirectional reference student is trained without KD")
        role = "student-kd" if kd else ("student-bidirectional" if bidirectional else "student")
        variant = TripletVariant(role=role, size=size)
        kd_block = ({"method": "triplet", "loss": c.loss.result_dict(),
                     "teacher": teacher_key or self.teacher_key(split, seed)} if kd else None)
        return run_record(self.student_run_config(split, size, seed, bidirectional=bidirectional),
                          split=split, corpus=self.corpus,
                          features=self.features, method=self.name, variant=self.variant_name(variant),
                          corpus_fingerprint=self.fingerprint, inputs={"kd": kd_block})

    def train_student(self, split: Split, size: StudentSize, *, seed: int, kd: bool,
                      run_dir: str | Path | None, resume: bool = True, allow_teacher: bool = True,
                      bidirectional: bool = False) -> FitResult:
        """Train one audio-only student of ``size`` on a fold, with triplet KD or without
        (``bidirectional``: the non-causal reference of a ``student_causal`` experiment)."""
        c = self.config
        model_cfg = c.student_config(size, causal=False if bidirectional else None)
        base = self._prepare(split, model_cfg)
        # a fresh DialogueData for the training part: the teacher embeddings ride on its dialogues
        data = dataclasses.replace(base, train=_copy_dialogue_data(base.train))
        make_loss = None
        teacher_key = None
        if kd:
            # the teacher first: training it (on a cache miss) must not shift the student's RNG
            out = self.teacher(split, seed, allow_compute=allow_teacher)
            teacher_key = out.key
            out.attach(data.train)

            def make_loss(model):
                return TripletKDLoss(c.loss, student_dim=model.config.hidden_size * model.config.gnn_heads,
                                     teacher_dim=out.dim)

        record = self.student_record(split, size, seed=seed, kd=kd, teacher_key=teacher_key,
                                     bidirectional=bidirectional)
        return train_run(record.config, run_dir=run_dir, corpus=self.corpus, features=self.features, split=split,
                         prepared=data, make_loss=make_loss, resume=resume, record=record)

    # ------------------------------------------------------------- the runner
    def variants(self) -> list[TripletVariant]:
        roles = ("student-kd", "student") if self.config.baseline else ("student-kd",)
        if self.config.baseline and self.config.student_causal:
            roles += ("student-bidirectional",)
        return [TripletVariant(role="teacher")] + [TripletVariant(role=r, size=size)
                                                   for size in self.config.effective_sizes() for r in roles]

    def splits(self) -> list[Split]:
        return self._splits

    def variant_name(self, v: TripletVariant) -> str:
        if v.role == "teacher":
            return self.config.teacher_label
        return _student_label(self.config, v.size, v.role)

    def folder(self, v: TripletVariant) -> Path:
        return Path("kd" if v.kd else ("nokd-bidirectional" if v.bidirectional else "nokd")) / v.size.slug

    def record(self, v: TripletVariant, split: Split, seed: int) -> RunRecord:
        return self.student_record(split, v.size, seed=seed, kd=v.kd, bidirectional=v.bidirectional)

    def spec(self, out: Path, v: TripletVariant, split: Split, seed: int) -> RunSpec:
        if v.role != "teacher":
            return super().spec(out, v, split, seed)
        key = self.teacher_key(split, seed)      # the teacher's run folder is in the cache
        return RunSpec(method=self.name, variant=v, name=self.variant_name(v), fold=split.name,
                       seed=self.teacher_seed(seed), identity=key, run_dir=self.cache.run_dir(key))

    def finished(self, spec: RunSpec) -> bool:
        if spec.variant.role == "teacher":
            return self.cache.has(spec.identity)
        return super().finished(spec)

    def execute(self, spec: RunSpec, *, resume: bool = True) -> None:
        split = self.split(spec.fold)
        v: TripletVariant = spec.variant
        if v.role == "teacher":
            self.teacher(split, spec.seed)
        else:
            self.train_student(split, v.size, seed=spec.seed, kd=v.kd, run_dir=spec.run_dir, resume=resume,
                               bidirectional=v.bidirectional)

    def metrics(self, spec: RunSpec) -> dict:
        if spec.variant.role == "teacher" and not (spec.run_dir / "metrics.json").is_file():
            return self.cache.load(spec.identity).metrics     # an entry whose run folder was not kept
        return super().metrics(spec)

    def rows(self, spec: RunSpec, metrics: Mapping) -> list[dict]:
        v: TripletVariant = spec.variant
        if v.role == "teacher":
            return [{"model": spec.name, "role": "teacher", "size": "", "fold": spec.fold, "seed": spec.seed,
                     "context": ctx, **{s: m[s] for s in SCALAR_METRICS}, "run_dir": str(spec.run_dir)}
                    for ctx, m in metrics["test"].items()]
        ctx = self.config.student.modalities
        m = metrics["test"][ctx]
        return [{"model": spec.name, "role": v.role, "size": v.size.name, "fold": spec.fold, "seed": spec.seed,
                 "context": ctx, **{s: m[s] for s in SCALAR_METRICS}, "run_dir": str(spec.run_dir)}]

    def describe(self, spec: RunSpec, metrics: Mapping) -> str:
        if spec.variant.role == "teacher":
            return (f"teacher {spec.fold} seed {spec.seed}: test "
                    + ", ".join(f"{c} F1 {v['weighted_f1']:.3f}" for c, v in metrics["test"].items()))
        m = metrics["test"][self.config.student.modalities]
        return (f"{spec.name} {spec.fold} seed {spec.seed}: F1 {m['weighted_f1']:.3f} UA {m['UA']:.3f} "
                f"(best epoch {metrics['best_epoch']})")

    def table(self, runs: pd.DataFrame, summary: pd.DataFrame) -> str:
        return _table(self.config, summary, runs, self.config.effective_sizes())

    def finish(self, out: Path, result, files) -> None:
        write_json(out / "results.json", {"config": self.config.to_dict(), "summary": result.summary.to_dict("records"),
                                          "teacher_cache": {"hits": self.cache.hits, "misses": self.cache.misses}})


def _student_label(config: TripletConfig, size: StudentSize, role: str) -> str:
    """A student row's model label: ``COGMEN_S-A [SeqContext 2, GNN 7] + triplet KD``, with
    ``causal`` / ``bidirectional`` after the modalities in a ``student_causal`` experiment."""
    if role == "student-bidirectional":
        tag = " bidirectional"
    else:
        tag = " causal" if config.student_config(size).causal else ""
    return (f"COGMEN_S-{config.student.modalities.upper()}{tag} [SeqContext {size.seq_layers}, "
            f"GNN {size.gnn_heads}] " + ("+ triplet KD" if role == "student-kd" else "no KD"))


def _copy_dialogue_data(src):
    """A DialogueData over copies of the dialogues (so ``add_extra`` does not touch the cached ones)."""
    from emowb.batching.dialogues import DialogueData

    return DialogueData([dataclasses.replace(d, extra=dict(d.extra)) for d in src.dialogues])


#: The result of :func:`run_triplet` (the runner's result).
TripletResult = ExperimentResult


def run_triplet(config: TripletConfig, out_dir: str | Path, *, corpus: Corpus | None = None,
                features: Mapping[Modality, FeatureSet] | None = None, resume: bool = True,
                log: Callable[[str], None] | None = print, executor=None,
                cache_root: str | Path | None = None) -> TripletResult:
    """Teacher vs KD student vs no-KD student for every size, fold and seed (Table 1).

    Writes ``runs.csv`` (one row per model, fold, seed, context), ``summary.csv``,
    ``table.md`` (mean ± std of weighted F1, UA, WA, and the paired KD − no-KD differences) and
    ``results.json`` into ``out_dir``.
    """
    method = TripletMethod(config, corpus=corpus, features=features, cache_root=cache_root, log=log)
    return run_method(method, out_dir, resume=resume, log=log, executor=executor)


def _table(config: TripletConfig, summary: pd.DataFrame, runs: pd.DataFrame, sizes: Sequence[StudentSize]) -> str:
    get = {(r["model"], r["context"]): r for _, r in summary.iterrows()}
    tctx = config.teacher.modalities
    sctx = config.student.modalities
    lines = []
    for size in sizes:
        for label, ctx, what in [(config.teacher_label, tctx, f"{tctx.upper()} inference"),
                                 (config.teacher_label, sctx, f"{sctx.upper()} inference")]:
            r = get.get((label, ctx))
            if r is not None:
                lines.append({"row": size.name, "model": f"{label} ({what})", "weighted F1": r["weighted_f1"],
                              "UA": r["UA"], "WA": r["WA"]})
        for role in ("student-kd", "student", "student-bidirectional"):
            label = _student_label(config, size, role)
            r = get.get((label, sctx))
            if r is not None:
                lines.append({"row": size.name, "model": f"{label} ({sctx.upper()} inference)",
                              "weighted F1": r["weighted_f1"], "UA": r["UA"], "WA": r["WA"]})
    df = pd.DataFrame(lines, columns=["row", "model", "weighted F1", "UA", "WA"]).set_index("row")
    paired = _paired_deltas(runs, sizes)
    n_folds = runs["fold"].nunique()
    n_seeds = runs.loc[runs["role"] != "teacher", "seed"].nunique()
    mask = "masked (COGMEN-Mask) teacher; " if config.teacher_masking is not None else ""
    if config.student_causal:
        mask += ("causal students (causal SeqContext attention, past-only graph) from the bidirectional "
                 "teacher; ")
    return (f"# {config.name}: Table 1 (test, mean ± std over {n_folds} fold(s) × {n_seeds} seed(s))\n\n"
            f"{mask}loss = {config.loss.alpha:g}·triplet(margin {config.loss.margin:g}, p {config.loss.p:g}, "
            f"mining {config.loss.mining.value}) + {config.loss.ce_weight:g}·CE\n\n{to_markdown(df)}\n"
            + (f"\nPaired difference, student with KD − without KD (same fold and seed):\n\n{to_markdown(paired)}\n"
               if paired is not None else ""))


def _paired_deltas(runs: pd.DataFrame, sizes: Sequence[StudentSize]) -> pd.DataFrame | None:
    """Per size: mean ± std over (fold, seed) of KD − no-KD in weighted F1 / UA / WA, and wins."""
    st = runs[runs["role"].isin(["student", "student-kd"])]
    if st.empty or set(st["role"]) != {"student", "student-kd"}:
        return None
    d = paired_differences(st, column="role", reference="student", metrics=("weighted_f1", "UA", "WA"),
                           within=("size",))
    d = d[(d["role"] == "student-kd") & (d["pairs"] > 0)].set_index("size")
    rows = [{"row": size.name, "pairs": int(d.at[size.name, "pairs"]),
             "Δ weighted F1": d.at[size.name, "weighted_f1_diff"], "Δ UA": d.at[size.name, "UA_diff"],
             "Δ WA": d.at[size.name, "WA_diff"], "KD better (F1)": d.at[size.name, "weighted_f1_wins"]}
            for size in sizes if size.name in d.index]
    return pd.DataFrame(rows).set_index("row") if rows else None
