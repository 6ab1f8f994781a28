"""EmoDistill (prosodic + linguistic teachers -> speech-only student): the experiment driver.

Per fold of a speaker-independent protocol:

1. the **prosodic teacher** (:class:`~emowb.kd.teachers.ProsodicTeacher` on eGeMAPS LLDs) and the
   **linguistic teacher** (:class:`~emowb.kd.teachers.LinguisticTeacher` on the transcripts) are
   trained on the labels with the shared :class:`~emowb.train.trainer.Trainer`, frozen, and their
   logits and embeddings for every utterance of the fold cached (:mod:`emowb.kd.cache`; a second
   call, or any other loss setting, loads them);
2. the **speech student** (:class:`~emowb.kd.students.SpeechStudent`) is trained with
   :class:`~emowb.kd.losses.EmoDistillLoss` once per seed and per loss variant.

A variant is a named :class:`~emowb.kd.losses.EmoDistillLossConfig`. :func:`ablation_variants`
gives the poster's ablation rows, :func:`temperature_sweep` the two temperature sweeps, and
:func:`run_ablations` runs them all in one call. The experiments run on the shared runner
(:func:`emowb.train.runner.run_method` with :class:`EmoDistillMethod`): a run folder's identity
covers everything that changes the student's results (its configuration narrowed to the run, the
split, the corpus' content fingerprint, the teachers' cache keys), so identical runs are trained
once and students of another backbone or loss can share the output folder. Every result is a
table of mean ± std over folds × seeds (teachers: over folds, they have one seed).

Output folder::

    OUT/runs/<loss-hash>/<fold>/seed<k>-<identity>/   one trainer run folder per student
    OUT/<stem>_experiment.json               the experiment (config, variants, reference)
    OUT/<stem>_runs.csv, <stem>_summary.csv  per-run rows / per-variant mean ± std
    OUT/<stem>_teachers.csv                  per-fold teacher test metrics
    OUT/<stem>.md                            the table (run_ablations: ablation, sweep_prosodic,
                                             sweep_linguistic, plus tables.md and results.json)
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch

from emowb.batching.utterances import UtteranceData, UtteranceSplits, build_utterance_splits, speaker_normalise_inputs
from emowb.config import Config, ConfigError, require, setting
from emowb.data.corpus import Corpus
from emowb.data.splits import Split, make_splits
from emowb.eval.metrics import SCALAR_METRICS
from emowb.eval.summary import paired_differences, summarise_frame, to_markdown
from emowb.features.base import FeatureSet
from emowb.features.extract import logmel_features
from emowb.features.logmel import load_waveforms
from emowb.kd.cache import (TeacherCache, TeacherCacheError, TeacherOutputs, fold_utterances, full_outputs,
                            predict_outputs)
from emowb.kd.losses import EmoDistillLoss, EmoDistillLossConfig, Teacher
from emowb.kd.students import Backbone, SpeechStudent, StudentConfig
from emowb.kd.teachers import (LinguisticTeacher, LinguisticTeacherConfig, ProsodicTeacher,
                               ProsodicTeacherConfig, freeze, tokenize_texts)
from emowb.train.runner import ExperimentResult, Method, MethodRecipe, RunSpec, run_method
from emowb.train.trainer import FitResult, Optimizer, RunRecord, TrainConfig, Trainer
from emowb.utils import atomic_path, seed_everything, stable_hash, write_json

__all__ = ["EmoDistillConfig", "KDVariant", "EmoDistill", "EmoDistillMethod", "EmoDistillResult",
           "ablation_variants", "temperature_sweep", "run_variants", "run_ablations", "AblationResult"]

#: Teachers and students weight their cross-entropy by the training split's classes
#: (``class_weights="balanced"``): EmoDistill is scored by UA, and natural corpora are imbalanced.
DEFAULT_TEACHER_TRAIN = TrainConfig(epochs=40, batch_size=32, weight_decay=1e-4,
                                    optimizer=Optimizer.ADAMW, patience=8, lr_patience=4,
                                    lr_factor=0.5, progress=False, keep_last=False, class_weights="balanced")
#: The poster fine-tunes HuBERT with AdamW at 1e-4; a light student trained from scratch uses
#: a larger rate (set ``train.lr=1e-4`` for the SSL fine-tuning path).
DEFAULT_STUDENT_TRAIN = TrainConfig(epochs=40, batch_size=32, weight_decay=1e-4,
                                    optimizer=Optimizer.ADAMW, patience=8, lr_patience=4,
                                    lr_factor=0.5, progress=False, keep_last=False, class_weights="balanced")


@dataclasses.dataclass(frozen=True, kw_only=True)
class EmoDistillConfig(Config):
    """An EmoDistill experiment.

    Attributes:
        name: recorded name.
        corpus: corpus folder.
        protocol, folds, split_seed, dev_share, k: the speaker-independent protocol
            (:func:`emowb.data.splits.make_splits`; ``folds`` = fold-name suffixes to run).
        dev_by: how the early-stopping dev set is drawn from a fold's training part: ``speaker``
            (whole training speakers / sessions held out, so dev is speaker-independent too; with
            fewer than 3 independent speaker groups it falls back to ``dialogue`` and the split's
            ``dev_note`` says so) or ``dialogue`` (a random share of the training dialogues: on a
            corpus of single utterances, random utterances whose speakers also train). Recorded
            in every split (``Split.dev_by``) and so in every run's ``config.json``.
        seeds: student seeds.
        teacher_seed: the teachers' seed (one teacher per fold, shared by all students).
        prosodic, linguistic: the teachers.
        student: the student.
        loss: the default loss (the "EmoDistill" row of the ablations).
        teacher_train, train: training of the teachers / students.
        n_mels: log-mel bands of the ``cnn`` student's input.
        functionals: feature set of the ``mlp`` student's input.
        ssl_features: the feature set of the ``ssl-pooled`` student (all layers, mean-pooled):
            ``"whisper"`` (the bundled Whisper encoders, :mod:`emowb.features.whisper`) or
            ``"ssl"`` (any local HuBERT / wav2vec 2.0 / WavLM folder).
        ssl_features_model: its model: ``base`` (the default) / ``tiny.en`` / a folder for
            ``whisper``, a folder for ``ssl``.
        invalid_audio: ``raise`` or ``keep`` utterances whose audio input is unusable.
        per_speaker: z-score the audio inputs (the prosodic teacher's LLDs, the student's
            log-mel / functionals / pooled encoder states) per speaker with that speaker's own statistics first
            (label-free speaker normalisation, as ``DataConfig.per_speaker`` for COGMEN).
    """

    name: str = setting("emodistill", changes_results=False, help="recorded name (the tables' heading)")
    corpus: str = setting("", changes_results=False,
                          help="corpus folder (it enters identities by its content fingerprint, not its path)")
    protocol: str = "logo"
    folds: tuple[str, ...] | None = None
    split_seed: int = 0
    dev_share: float = 0.1
    dev_by: str = setting("speaker", help="early-stopping dev: speaker (whole training speakers held out; "
                                          "speaker-independent) or dialogue (a random share of the training "
                                          "dialogues / utterances)")
    k: int = 5
    seeds: tuple[int, ...] = (0, 1, 2)
    teacher_seed: int = 0
    prosodic: ProsodicTeacherConfig = ProsodicTeacherConfig()
    linguistic: LinguisticTeacherConfig = LinguisticTeacherConfig()
    student: StudentConfig = StudentConfig()
    loss: EmoDistillLossConfig = EmoDistillLossConfig()
    teacher_train: TrainConfig = DEFAULT_TEACHER_TRAIN
    train: TrainConfig = DEFAULT_STUDENT_TRAIN
    n_mels: int = 64
    functionals: str = "egemaps"
    ssl_features: str = setting("whisper", help="pooled encoder student's input: whisper (bundled) or ssl (a local "
                                           "HuBERT / wav2vec2 / WavLM folder)")
    ssl_features_model: str = setting("", help="that encoder: base, tiny.en or a folder (whisper; empty = base); "
                                               "a folder (ssl)")
    invalid_audio: str = "raise"
    per_speaker: bool = True

    def validate(self) -> None:
        require(len(self.seeds) >= 1, "EmoDistillConfig.seeds must not be empty")
        require(0 < self.dev_share < 1, f"EmoDistillConfig.dev_share must be in (0, 1), got {self.dev_share}")
        require(self.dev_by in ("speaker", "dialogue"),
                f"EmoDistillConfig.dev_by must be 'speaker' or 'dialogue', got {self.dev_by!r}")
        require(self.n_mels >= 8, f"EmoDistillConfig.n_mels must be >= 8, got {self.n_mels}")
        require(self.invalid_audio in ("raise", "keep"),
                f"EmoDistillConfig.invalid_audio must be 'raise' or 'keep', got {self.invalid_audio!r}")
        require(self.ssl_features in ("whisper", "ssl"),
                f"EmoDistillConfig.ssl_features must be 'whisper' or 'ssl', got {self.ssl_features!r}")
        if self.student.backbone is Backbone.SSL_POOLED and self.ssl_features == "ssl":
            require(bool(self.ssl_features_model), "EmoDistillConfig.ssl_features_model: the ssl-pooled "
                    "student needs the encoder its cached features come from (base, tiny.en or a folder)")


@dataclasses.dataclass(frozen=True, kw_only=True)
class KDVariant(Config):
    """A named student loss (one row of a result table)."""

    name: str
    loss: EmoDistillLossConfig

    @property
    def key(self) -> str:
        return stable_hash(self.loss.to_dict(), n=10)


def ablation_variants(base: EmoDistillLossConfig = EmoDistillLossConfig()) -> tuple[KDVariant, ...]:
    """The poster's ablation rows (the teacher-alone rows come from the teachers themselves).

    ``EmoDistill`` (both teachers, both levels), ``w/o L_logits``, ``w/o L_embeddings``,
    ``w/o prosodic teacher``, ``w/o linguistic teacher``, ``w/o both teachers (no KD)``.
    """
    both = (Teacher.LINGUISTIC, Teacher.PROSODIC)
    full = base.replace(teachers=both, use_logits=True, use_embeddings=True)
    return (KDVariant(name="EmoDistill", loss=full),
            KDVariant(name="w/o L_logits", loss=full.replace(use_logits=False)),
            KDVariant(name="w/o L_embeddings", loss=full.replace(use_embeddings=False)),
            KDVariant(name="w/o prosodic teacher", loss=full.replace(teachers=(Teacher.LINGUISTIC,))),
            KDVariant(name="w/o linguistic teacher", loss=full.replace(teachers=(Teacher.PROSODIC,))),
            KDVariant(name="w/o both teachers (no KD)", loss=full.replace(teachers=())))


def temperature_sweep(base: EmoDistillLossConfig, teacher: Teacher | str,
                      taus: Sequence[float]) -> tuple[KDVariant, ...]:
    """The poster's Fig. 2: keep only ``teacher`` and vary its temperature."""
    t = Teacher(teacher)
    field = "tau_linguistic" if t is Teacher.LINGUISTIC else "tau_prosodic"
    return tuple(KDVariant(name=f"{t.value} only, tau={tau:g}",
                           loss=base.replace(teachers=(t,), use_logits=True, use_embeddings=True, **{field: float(tau)}))
                 for tau in taus)


class EmoDistill:
    """Teachers (cached) and students of one corpus under one :class:`EmoDistillConfig`.

    Args:
        config: the experiment.
        corpus: a loaded corpus (default: ``config.corpus``).
        cache_root: where teacher outputs live (default ``CORPUS/kd_cache``).
        log: progress lines (None = silent).
    """

    def __init__(self, config: EmoDistillConfig, *, corpus: Corpus | None = None,
                 cache_root: str | Path | None = None, log: Callable[[str], None] | None = print) -> None:
        self.config = config
        if corpus is None:
            if not config.corpus:
                raise ConfigError("EmoDistillConfig.corpus is empty: name the corpus folder")
            corpus = Corpus.load(config.corpus)
        self.corpus = corpus
        self.cache = TeacherCache(corpus, cache_root)
        self.log = log or (lambda s: None)
        self._features: dict[str, FeatureSet] = {}
        self._student_data: dict[str, UtteranceSplits] = {}
        self.splits = make_splits(corpus, config.protocol, seed=config.split_seed, dev_share=config.dev_share,
                                  k=config.k, folds=config.folds, dev_by=config.dev_by)

    # ------------------------------------------------------------------ inputs
    def feature(self, name: str, *, speaker_normalise: bool = False, **params) -> FeatureSet:
        """A corpus feature set (extracted and cached on first use), optionally speaker-normalised."""
        key = name + json.dumps(params, sort_keys=True, default=str) + ("/spk" if speaker_normalise else "")
        if key not in self._features:
            if speaker_normalise:
                fs = speaker_normalise_inputs(self.corpus, {name: self.feature(name, **params)})[name]
            elif name == "logmel":
                fs = logmel_features(self.corpus, **params)
            elif name == "wave":
                fs = load_waveforms(self.corpus, **params)
            else:
                from emowb.features import extract

                fs = extract(self.corpus, name, progress=False, **params)
            self._features[key] = fs
        return self._features[key]

    def student_inputs(self) -> dict[str, FeatureSet]:
        """The student's input feature set, under the name its backbone reads."""
        s = self.config.student
        b = s.backbone
        spk = self.config.per_speaker
        if b is Backbone.CNN:
            fs = self.feature("logmel", n_mels=self.config.n_mels, speaker_normalise=spk)
        elif b is Backbone.MLP:
            fs = self.feature(self.config.functionals, speaker_normalise=spk)
        elif b is Backbone.SSL:
            fs = self.feature("wave")
        else:
            model = self.config.ssl_features_model or ("base" if self.config.ssl_features == "whisper" else "")
            fs = self.feature(self.config.ssl_features, model=model, layer="all",
                              speaker_normalise=spk)
        return {s.input_name: fs}

    def student_config(self) -> StudentConfig:
        """The student's configuration, with the layout of a pooled encoder input filled in."""
        s = self.config.student
        if s.backbone is Backbone.SSL_POOLED and not (s.ssl_layers and s.ssl_dim):
            fs = next(iter(self.student_inputs().values()))
            s = s.replace(ssl_layers=int(fs.config["n_states"]), ssl_dim=int(fs.config["hidden_size"]))
        return s

    def teacher_dims(self) -> dict[Teacher, int]:
        """Embedding width of each teacher (from its configuration; no training needed)."""
        return {Teacher.PROSODIC: self.config.prosodic.channels[-1], Teacher.LINGUISTIC: self.config.linguistic.hidden}

    # ---------------------------------------------------------------- teachers
    def _teacher_train_config(self) -> TrainConfig:
        return self.config.teacher_train.replace(seed=self.config.teacher_seed)

    def _teacher_spec(self, t: Teacher, split: Split) -> tuple[dict, Callable[[Path], TeacherOutputs]]:
        """The teacher's cache specification and how to train it."""
        c = self.config
        train = self._teacher_train_config().result_dict()
        if t is Teacher.PROSODIC:
            fs = self.feature("egemaps-lld", speaker_normalise=c.per_speaker)
            spec = {"teacher": t.value, "model": c.prosodic.to_dict(), "inputs": {"lld": fs.config},
                    "train": train, "split": split.to_json()}
            return spec, lambda run_dir: self._train_prosodic(split, fs, run_dir)
        inputs, spec_inputs = self._linguistic_inputs()
        spec = {"teacher": t.value, "model": c.linguistic.to_dict(), "inputs": spec_inputs,
                "train": train, "split": split.to_json()}
        return spec, lambda run_dir: self._train_linguistic(split, inputs, run_dir)

    def teacher_key(self, teacher: Teacher | str, split: Split) -> str:
        """The cache key of a teacher's outputs for the fold (nothing is trained)."""
        t = Teacher(teacher)
        return self.cache.key(t.value, self._teacher_spec(t, split)[0])

    def teacher_record(self, teacher: Teacher | str, split: Split) -> RunRecord:
        """The run record of a teacher's training run (the run folder inside its cache entry):
        the experiment's configuration narrowed to the fold and the teacher seed, and the
        teacher's cache specification. Pass it as the Trainer's ``run_config``."""
        t = Teacher(teacher)
        c = self.config
        return RunRecord(method="emodistill", config=c.replace(folds=(split.name,), seeds=(c.teacher_seed,)),
                         split=split, corpus_fingerprint=self.fingerprint, seed=c.teacher_seed,
                         variant=f"{t.value} teacher", inputs={"teacher": self._teacher_spec(t, split)[0]})

    def teacher(self, teacher: Teacher | str, split: Split, *, allow_compute: bool = True) -> TeacherOutputs:
        """A frozen teacher's outputs for the fold (cached; trained on first use)."""
        t = Teacher(teacher)
        spec, compute = self._teacher_spec(t, split)
        return self.cache.get(t.value, spec, compute if allow_compute else None, log=self.log)

    def _linguistic_inputs(self):
        if not hasattr(self, "_ling_inputs"):
            self._ling_inputs = self._make_linguistic_inputs()   # tokenise / extract once per runner
        return self._ling_inputs

    def _make_linguistic_inputs(self):
        lc = self.config.linguistic
        if lc.finetune:
            texts = self.corpus.table["text"].map(lambda s: str(s).strip()).tolist()
            ids, pad = tokenize_texts(texts, model=lc.model, max_length=lc.max_length)
            from emowb.features.hf import model_fingerprint, resolve_model_dir
            from emowb.kd.teachers import resolve_text_model

            path = resolve_model_dir(resolve_text_model(lc.model))
            return ({"ids": ids, "pad": pad, "valid": np.array([bool(x) for x in texts])},
                    {"tokens": {"model": str(path), "fingerprint": model_fingerprint(path),
                                "max_length": lc.max_length}})
        name, params = lc.feature_params()
        fs = self.feature(name, **params)
        return {"text": fs}, {"text": fs.config}

    def _new_teacher(self, cls: type[torch.nn.Module], *args, **kwargs) -> torch.nn.Module:
        """A teacher model built right after seeding with the teacher seed.

        Its initial weights (and hence everything it computes) then depend only on its
        configuration and ``teacher_seed``, not on what consumed the global RNG before (the
        other teacher trained first or loaded from the cache, a student, a feature extractor).
        """
        seed_everything(self.config.teacher_seed)
        return cls(*args, **kwargs)

    def _fit_teacher(self, model: torch.nn.Module, data: UtteranceSplits, run_dir: Path, teacher: Teacher) -> FitResult:
        seed_everything(self.config.teacher_seed)   # (Trainer.fit reseeds with the same seed too)
        trainer = Trainer(model, config=self._teacher_train_config(), train=data.train, dev=data.dev,
                          test=data.test, labels=self.corpus.labels, run_dir=run_dir,
                          run_config=self.teacher_record(teacher, data.split))
        return trainer.fit()

    def _teacher_outputs(self, name: str, model, data: UtteranceSplits, split: Split, fit: FitResult,
                         n_without_input: int) -> TeacherOutputs:
        freeze(model)
        ids, _, logits, embs = predict_outputs(model, data.parts(), batch_size=self._teacher_train_config().batch_size,
                                               device=self._teacher_train_config().device)
        all_ids, split_of = fold_utterances(self.corpus, split)
        part, lg, em, valid = full_outputs(all_ids, split_of, ids, logits, embs)
        metrics = {"dev": fit.metrics["dev"], "test": fit.metrics["test"], "best_epoch": fit.best_epoch,
                   "n_without_input": n_without_input}
        return TeacherOutputs(name=name, key="", utt_ids=all_ids, split=part, logits=lg, embeddings=em,
                              valid=valid, metrics=metrics)

    def _train_prosodic(self, split: Split, fs: FeatureSet, run_dir: Path) -> TeacherOutputs:
        only = {u for u, ok in zip(fs.utt_ids, fs.valid) if ok}
        data = build_utterance_splits(self.corpus, split, {"lld": fs}, standardize=True, only=only)
        model = self._new_teacher(ProsodicTeacher, self.config.prosodic, n_descriptors=fs.dim,
                                  n_classes=len(self.corpus.labels))
        fit = self._fit_teacher(model, data, run_dir, Teacher.PROSODIC)
        return self._teacher_outputs("prosodic", model, data, split, fit, len(fs) - len(only))

    def _train_linguistic(self, split: Split, inputs: dict, run_dir: Path) -> TeacherOutputs:
        lc = self.config.linguistic
        n_classes = len(self.corpus.labels)
        if "text" in inputs:
            fs: FeatureSet = inputs["text"]
            only = {u for u, ok in zip(fs.utt_ids, fs.valid) if ok}
            if not only:
                raise TeacherCacheError(f"corpus {self.corpus.name!r} has no transcripts: the linguistic "
                                        "teacher cannot be trained; leave it out of loss.teachers")
            data = build_utterance_splits(self.corpus, split, {"text": fs}, standardize=False, only=only)
            model = self._new_teacher(LinguisticTeacher, lc, n_classes=n_classes, input_dim=fs.dim)
            n_without = len(fs) - len(only)
        else:
            data, n_without = self._token_splits(split, inputs)
            model = self._new_teacher(LinguisticTeacher, lc, n_classes=n_classes)
        fit = self._fit_teacher(model, data, run_dir, Teacher.LINGUISTIC)
        return self._teacher_outputs("linguistic", model, data, split, fit, n_without)

    def _token_splits(self, split: Split, inputs: dict) -> tuple[UtteranceSplits, int]:
        t = self.corpus.table
        valid = inputs["valid"]
        if not valid.any():
            raise TeacherCacheError(f"corpus {self.corpus.name!r} has no transcripts: the linguistic "
                                    "teacher cannot be trained; leave it out of loss.teachers")
        y = self.corpus.y
        parts = {}
        test_mask = split.test_mask(t)
        for p in ("train", "dev", "test"):
            rows = np.flatnonzero(t["dialogue_id"].isin(set(split.part(p))).to_numpy() & valid)
            if len(rows) == 0:
                parts[p] = None
                continue
            parts[p] = UtteranceData(utt_ids=t["utt_id"].to_numpy()[rows].tolist(), labels=y[rows],
                                     inputs={"tokens": [inputs["ids"][i] for i in rows]},
                                     scored=test_mask[rows] if p == "test" else None,
                                     pad_values={"tokens": inputs["pad"]})
        if parts["train"] is None or parts["dev"] is None:
            raise TeacherCacheError(f"split {split.name}: no transcribed train/dev utterance")
        return UtteranceSplits(split=split, train=parts["train"], dev=parts["dev"], test=parts["test"],
                               stats=None), int((~valid).sum())

    # ---------------------------------------------------------------- students
    def student_data(self, split: Split) -> UtteranceSplits:
        """The fold's student inputs (standardised with training statistics; built once)."""
        if split.name not in self._student_data:
            inputs = self.student_inputs()
            # pooled encoder states differ in scale across layers: z-score them like functionals
            standardize = self.config.student.backbone in (Backbone.CNN, Backbone.MLP, Backbone.SSL_POOLED)
            self._student_data[split.name] = build_utterance_splits(
                self.corpus, split, inputs, standardize=standardize, invalid=self.config.invalid_audio)
        return self._student_data[split.name]

    @staticmethod
    def _needed_teachers(loss: EmoDistillLossConfig) -> list[Teacher]:
        return sorted(set(loss.logit_teachers) | set(loss.embedding_teachers), key=lambda t: t.value)

    def student_record(self, split: Split, loss: EmoDistillLossConfig, *, seed: int, variant: str | None = None,
                       teacher_keys: dict[str, str] | None = None) -> RunRecord:
        """A student run's record: the experiment's configuration narrowed to the run (this fold,
        seed and loss), plus the KD loss and the cache keys of the teachers it learns from."""
        c = self.config
        cfg = c.replace(folds=(split.name,), seeds=(seed,), loss=loss, train=c.train.replace(seed=seed))
        if teacher_keys is None:
            teacher_keys = {t.value: self.teacher_key(t, split) for t in self._needed_teachers(loss)}
        return RunRecord(method="emodistill", config=cfg, split=split, corpus_fingerprint=self.fingerprint,
                         seed=seed, variant=variant,
                         inputs={"kd": {"method": "emodistill", "loss": loss.result_dict(), "teachers": teacher_keys}})

    @property
    def fingerprint(self) -> str:
        """The corpus' content fingerprint (computed once)."""
        if getattr(self, "_fingerprint", None) is None:
            self._fingerprint = self.corpus.fingerprint()
        return self._fingerprint

    def train_student(self, split: Split, loss: EmoDistillLossConfig, *, seed: int,
                      run_dir: str | Path | None, resume: bool = True, allow_teachers: bool = True,
                      variant: str | None = None) -> FitResult:
        """Train one student on a fold with ``loss`` (teachers from the cache)."""
        data = self.student_data(split)
        keys = {}
        for t in self._needed_teachers(loss):
            out = self.teacher(t, split, allow_compute=allow_teachers)
            keys[t.value] = out.key
            for part in (data.train,):
                out.attach(part, teacher=t, logits=t in loss.logit_teachers, embeddings=t in loss.embedding_teachers)
        c = self.config
        input_name = c.student.input_name
        dim = data.train.dims[input_name]
        seed_everything(seed)
        # every student gets both projection heads whatever its loss, so that the variants of an
        # ablation start from identical weights for the same seed
        model = SpeechStudent(self.student_config(), n_classes=len(self.corpus.labels), input_dim=dim,
                              teacher_dims=self.teacher_dims())
        record = self.student_record(split, loss, seed=seed, variant=variant, teacher_keys=keys)
        trainer = Trainer(model, config=record.config.train, train=data.train, dev=data.dev, test=data.test,
                          labels=self.corpus.labels, run_dir=run_dir, loss=EmoDistillLoss(loss),
                          contexts={"a": _identity}, run_config=record)
        return trainer.fit(resume=resume)


def _identity(batch):
    return batch


# --------------------------------------------------------------------------- experiments
@dataclasses.dataclass
class EmoDistillResult(ExperimentResult):
    """Per-run rows, per-variant summary, the markdown table, and the teachers' own rows."""

    teachers: pd.DataFrame = dataclasses.field(default_factory=pd.DataFrame)


def _teacher_rows(runner: EmoDistill, teachers: Sequence[Teacher]) -> pd.DataFrame:
    rows = []
    for split in runner.splits:
        for t in teachers:
            out = runner.teacher(t, split)
            m = out.metrics["test"]["all"]
            rows.append({"teacher": t.value, "fold": split.name, "key": out.key,
                         **{k: m[k] for k in SCALAR_METRICS}})
    return pd.DataFrame(rows)


class EmoDistillMethod(Method):
    """EmoDistill as a method of the experiment runner (:func:`emowb.train.runner.run_method`):
    one student run per loss variant, fold and seed (teachers from the cache).

    Run folders are ``OUT/runs/<loss key>/<fold>/seed<k>-<identity>``; the identity covers the
    experiment's configuration narrowed to the run (student, loss, training, inputs, the teachers'
    configurations), the split, the corpus' content fingerprint and the teachers' cache keys, so
    variants of several tables that are the same run share it, and students of another backbone
    can share the output folder.

    Args:
        runner: the teachers and students (:class:`EmoDistill`).
        variants: the rows (the reference is appended when it is not among them).
        reference: the row paired differences are taken against.
        teachers_alone: teachers whose own test scores are added as rows.
        title: the table's heading.
    """

    name = "emodistill"

    def __init__(self, runner: EmoDistill, variants: Sequence[KDVariant], *, reference: KDVariant | None = None,
                 teachers_alone: Sequence[Teacher | str] = (), title: str | None = None) -> None:
        self.runner = runner
        self.config = runner.config
        variants = list(variants)
        if reference is None:
            reference = next((v for v in variants if not v.loss.active_terms()), variants[0])
        if reference.key not in {v.key for v in variants}:
            variants.append(reference)
        self._variants = variants
        self.reference = reference
        self.teachers_alone = [Teacher(t) for t in teachers_alone]
        self.title = title or f"{self.config.name}: test WA / UA / weighted F1"
        self.teachers = pd.DataFrame()

    def variants(self) -> list[KDVariant]:
        return self._variants

    def splits(self) -> list[Split]:
        return self.runner.splits

    def folder(self, v: KDVariant) -> Path:
        return Path("runs") / v.key

    def record(self, v: KDVariant, split: Split, seed: int) -> RunRecord:
        return self.runner.student_record(split, v.loss, seed=seed, variant=v.name)

    def execute(self, spec: RunSpec, *, resume: bool = True) -> None:
        self.runner.train_student(self.split(spec.fold), spec.variant.loss, seed=spec.seed, run_dir=spec.run_dir,
                                  resume=resume, variant=spec.name)

    def rows(self, spec: RunSpec, metrics) -> list[dict]:
        m = metrics["test"]["a"]
        return [{"variant": spec.name, "loss_key": spec.variant.key, "fold": spec.fold, "seed": spec.seed,
                 **{k: m[k] for k in SCALAR_METRICS}, "best_epoch": metrics["best_epoch"],
                 "run_dir": str(spec.run_dir)}]

    def describe(self, spec: RunSpec, metrics) -> str:
        m = metrics["test"]["a"]
        return (f"{spec.name} {spec.fold} seed {spec.seed}: UA {m['UA']:.3f} WA {m['WA']:.3f} "
                f"(best epoch {metrics['best_epoch']})")

    def summarise(self, runs: pd.DataFrame) -> pd.DataFrame:
        summary = summarise_frame(runs, by=["variant"], metrics=list(SCALAR_METRICS))
        return summary.merge(_paired(runs, self.reference.name), on="variant", how="left")

    def after_runs(self) -> None:
        if self.teachers_alone:
            self.teachers = _teacher_rows(self.runner, self.teachers_alone)

    def table(self, runs: pd.DataFrame, summary: pd.DataFrame) -> str:
        n_folds = len(self.splits())
        return _table(summary, self.teachers, self.title, reference=self.reference.name,
                      n_runs=n_folds * len(self.seeds()), n_folds=n_folds)

    def experiment_record(self) -> dict:
        return {"config": self.config.to_dict(), "variants": [v.to_dict() for v in self._variants],
                "reference": self.reference.name}

    def recipe(self) -> MethodRecipe:
        """A worker rebuilds the method from the configuration and the rows (its corpus from
        ``config.corpus``, its teachers from the cache)."""
        return MethodRecipe(_rebuild_method, (self.config, tuple(self._variants)),
                            {"reference": self.reference, "teachers_alone": tuple(t.value for t in self.teachers_alone),
                             "title": self.title})

    def finish(self, out: Path, result, files) -> None:
        if len(self.teachers):
            with atomic_path(out / files.extra("teachers", "csv"), suffix=".csv") as tmp:
                self.teachers.to_csv(tmp, index=False)


def _rebuild_method(config: EmoDistillConfig, variants: Sequence[KDVariant], **kwargs) -> EmoDistillMethod:
    """:class:`EmoDistillMethod` in a worker process (:meth:`EmoDistillMethod.recipe`)."""
    return EmoDistillMethod(EmoDistill(config, log=None), variants, **kwargs)


def run_variants(config: EmoDistillConfig, out_dir: str | Path, variants: Sequence[KDVariant], *,
                 corpus: Corpus | None = None, runner: EmoDistill | None = None,
                 teachers_alone: Sequence[Teacher | str] = (), reference: KDVariant | None = None,
                 resume: bool = True, log: Callable[[str], None] | None = print, stem: str = "table",
                 title: str | None = None, executor=None) -> EmoDistillResult:
    """Train every variant on every fold × seed; summarise WA / UA / F1 as mean ± std.

    Args:
        config: the experiment.
        out_dir: output folder (see the module docstring).
        variants: the rows.
        corpus, runner: pre-loaded corpus / runner (shares the feature and teacher caches).
        teachers_alone: teachers whose own test scores are added as rows (mean ± std over folds).
        reference: the row the paired differences are taken against (trained too, and shown, if
            it is not among ``variants``); default: the no-KD variant if there is one, else the
            first row.
        resume: finished runs are loaded, interrupted ones resumed.
        stem, title: files are ``<stem>.md``, ``<stem>_runs.csv``, ``<stem>_summary.csv``,
            ``<stem>_teachers.csv``, ``<stem>_experiment.json``; the table's heading.
        executor: what trains the runs (default: one after the other, here).
    """
    runner = runner or EmoDistill(config, corpus=corpus, log=log)
    method = EmoDistillMethod(runner, variants, reference=reference, teachers_alone=teachers_alone, title=title)
    res = run_method(method, out_dir, resume=resume, log=log, stem=stem, executor=executor)
    return EmoDistillResult(runs=res.runs, summary=res.summary, table=res.table, out_dir=res.out_dir,
                            specs=res.specs, teachers=method.teachers)


def _paired(runs: pd.DataFrame, reference: str) -> pd.DataFrame:
    """Per variant: UA and WA minus the reference's on the same fold and seed (mean ± std, wins)."""
    d = paired_differences(runs, column="variant", reference=reference, metrics=("UA", "WA"))
    return pd.DataFrame({"variant": d["variant"], "dUA_paired": d["UA_diff"], "dUA_paired_mean": d["UA_diff_mean"],
                         "UA_wins": d["UA_wins"], "dWA_paired": d["WA_diff"], "dWA_paired_mean": d["WA_diff_mean"]})


def _table(summary: pd.DataFrame, teachers: pd.DataFrame, title: str, *, reference: str, n_runs: int,
           n_folds: int) -> str:
    rows = []
    for _, r in summary.iterrows():
        rows.append({"model": f"student: {r['variant']}" + (" (reference)" if r["variant"] == reference else ""),
                     "WA": r["WA"], "UA": r["UA"], "weighted F1": r["weighted_f1"],
                     "ΔUA vs reference (paired)": r["dUA_paired"], "UA better": r["UA_wins"]})
    if len(teachers):
        ts = summarise_frame(teachers, by=["teacher"], metrics=list(SCALAR_METRICS))
        for _, r in ts.iterrows():
            rows.append({"model": f"{r['teacher']} teacher alone", "WA": r["WA"], "UA": r["UA"],
                         "weighted F1": r["weighted_f1"], "ΔUA vs reference (paired)": "-", "UA better": "-"})
    df = pd.DataFrame(rows).set_index("model")
    return (f"# {title}\n\nmean ± std over {n_runs} student run(s) per row (folds × seeds); teachers over "
            f"{n_folds} fold(s) (one teacher seed). ΔUA: the row's UA minus the reference's on the same fold "
            f"and seed; 'UA better': in how many of those pairs it is higher.\n\n{to_markdown(df)}\n")


@dataclasses.dataclass
class AblationResult:
    ablation: EmoDistillResult
    sweep_prosodic: EmoDistillResult | None
    sweep_linguistic: EmoDistillResult | None

    @property
    def text(self) -> str:
        parts = [self.ablation.table]
        for r in (self.sweep_prosodic, self.sweep_linguistic):
            if r is not None:
                parts.append(r.table)
        return "\n".join(parts)


def run_ablations(config: EmoDistillConfig, out_dir: str | Path, *, taus: Sequence[float] = (0.5, 1.0, 2.0, 4.0, 8.0),
                  sweeps: bool = True, corpus: Corpus | None = None, resume: bool = True,
                  log: Callable[[str], None] | None = print, executor=None) -> AblationResult:
    """The poster's ablation table and both temperature sweeps, in one call.

    Rows: EmoDistill, w/o L_logits, w/o L_embeddings, w/o prosodic teacher, w/o linguistic
    teacher, w/o both teachers (no KD), the prosodic teacher alone, the linguistic teacher alone.
    Sweeps: prosodic teacher only with τ_P in ``taus``; linguistic teacher only with τ_L in
    ``taus``. Runs shared by several tables (same loss configuration) are trained once.
    """
    out = Path(out_dir)
    runner = EmoDistill(config, corpus=corpus, log=log)
    common = dict(runner=runner, resume=resume, log=log, executor=executor)
    abl = run_variants(config, out, ablation_variants(config.loss), teachers_alone=(Teacher.PROSODIC, Teacher.LINGUISTIC),
                       stem="ablation", title=f"{config.name}: ablations (test WA / UA / weighted F1)", **common)
    sp = sl = None
    if sweeps:
        common["reference"] = ablation_variants(config.loss)[-1]      # the student without KD
        sp = run_variants(config, out, temperature_sweep(config.loss, Teacher.PROSODIC, taus),
                          stem="sweep_prosodic",
                          title=f"{config.name}: prosodic teacher only, sweep of tau_P", **common)
        sl = run_variants(config, out, temperature_sweep(config.loss, Teacher.LINGUISTIC, taus),
                          stem="sweep_linguistic",
                          title=f"{config.name}: linguistic teacher only, sweep of tau_L", **common)
    res = AblationResult(abl, sp, sl)
    write_json(out / "results.json", {
        "config": config.to_dict(), "taus": list(taus),
        "ablation": abl.summary.to_dict("records"), "teachers": abl.teachers.to_dict("records"),
        "sweep_prosodic": sp.summary.to_dict("records") if sp else None,
        "sweep_linguistic": sl.summary.to_dict("records") if sl else None,
        "teacher_cache": {"hits": runner.cache.hits, "misses": runner.cache.misses}})
    (out / "tables.md").write_text(res.text)
    return res
