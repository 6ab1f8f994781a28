"""One COGMEN run from a config: corpus + features + split -> trained model + run folder.

:class:`RunConfig` = :class:`DataConfig` (which corpus, which feature set per modality, which
split) + :class:`~emowb.models.cogmen.CogmenConfig` + :class:`~emowb.train.trainer.TrainConfig`
+ optional :class:`~emowb.train.masking.MaskingConfig` + evaluation contexts.
:func:`train_run` trains it into a run folder; :func:`evaluate_run` re-scores a finished run in
other contexts (``emowb evaluate RUN --contexts a,av``).

Build one from notebook literals::

    cfg = RunConfig.from_params(corpus="/tmp/synth", features={"a": "egemaps", "v": "openface-au"},
                                modalities="av", granularity="feature", epochs=30, seed=1)
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from pathlib import Path
from typing import Callable, Mapping, Sequence

from emowb.batching.dialogues import DialogueData, build_dialogues, modality_means
from emowb.batching.normalise import feature_stats, speaker_normalise
from emowb.config import Config, ConfigError, require, setting
from emowb.data.corpus import Corpus
from emowb.data.splits import Split, given_split, make_splits
from emowb.eval.contexts import parse_contexts
from emowb.features.base import FeatureSet
from emowb.features.store import load_features
from emowb.models.cogmen import COGMEN, CogmenConfig, MissingFill
from emowb.train.masking import MaskingConfig, build_masker
from emowb.train.api import TrainLoss
from emowb.train.trainer import FitResult, RunRecord, TrainConfig, Trainer, TrainerError, load_best
from emowb.types import Modality, Protocol
from emowb.utils import seed_everything

__all__ = ["DataConfig", "RunConfig", "PreparedData", "DataPreparer", "LoadedRun", "make_fold_splits",
           "load_inputs", "prepare_data", "build_model", "run_record", "train_run", "evaluate_run", "load_run",
           "StoredRun", "load_trained"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class DataConfig(Config):
    """Which data a run uses.

    Attributes:
        corpus: corpus folder.
        features: modality code -> stored feature-set name (``{"a": "egemaps", "v": "openface-au"}``).
        protocol: ``fixed`` | ``logo`` | ``loso`` | ``kfold`` | ``stratified-kfold`` (see
            :mod:`emowb.data.splits`) or
            ``given`` / ``given:<name>`` (the split recorded in the corpus, e.g. COGMEN's).
        fold: fold name (suffix, e.g. ``"Ses05"``) for a single run; None = the first fold.
        split_seed: seed of the dev draw / k-fold assignment.
        dev_share, test_groups, k: see :func:`emowb.data.splits.make_splits`.
        dev_by: ``dialogue`` (COGMEN's rule: a random share of the training dialogues; the default,
            so COGMEN runs keep the reference's dev) or ``speaker`` (dev holds out whole training
            speakers / sessions: speaker-independent early stopping).
        standardize: z-score features with statistics of the training dialogues.
        per_speaker: first z-score each speaker's features with that speaker's own statistics
            (label-free speaker normalisation; not in COGMEN).
    """

    corpus: str = setting("", changes_results=False,
                          help="corpus folder (it enters identities by its content fingerprint, not its path)")
    features: dict[str, str] = dataclasses.field(default_factory=dict)
    protocol: str = "fixed"
    fold: str | None = None
    split_seed: int = 0
    dev_share: float = 0.1
    dev_by: str = setting("dialogue", help="how dev is drawn from the training part: dialogue (COGMEN's rule: a "
                                         "random dev_share of the training dialogues, whose speakers also train) "
                                         "or speaker (whole training speakers / sessions held out)")
    test_groups: tuple[str, ...] | None = None
    k: int = 5
    standardize: bool = True
    per_speaker: bool = True

    def validate(self) -> None:
        for code in self.features:
            require(len(Modality.parse(code)) == 1, f"DataConfig.features: key {code!r} must name one modality")
        p = self.protocol
        if not p.startswith("given"):
            try:
                Protocol(p)
            except ValueError:
                raise ConfigError(f"DataConfig.protocol must be one of {[x.value for x in Protocol]} or "
                                  f"'given[:name]', got {p!r}") from None
        require(0 <= self.dev_share < 1, f"DataConfig.dev_share must be in [0, 1), got {self.dev_share}")
        require(self.dev_by in ("speaker", "dialogue"),
                f"DataConfig.dev_by must be 'speaker' or 'dialogue', got {self.dev_by!r}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunConfig(Config):
    """Everything one training run needs (see the module docstring)."""

    data: DataConfig = DataConfig()
    model: CogmenConfig = CogmenConfig()
    train: TrainConfig = TrainConfig()
    masking: MaskingConfig | None = None
    #: the modality contexts a finished run is scored in on dev and test (None = every subset of
    #: the model's modalities: 7 for atv); the selection context is always one of them
    contexts: tuple[str, ...] | None = None
    select_context: str | None = None

    def validate(self) -> None:
        missing = [m.value for m in self.model.mods if m.value not in self.data.features]
        require(not missing or not self.data.features,
                f"RunConfig: the model takes modality {missing} but data.features names no feature "
                f"set for it (have {sorted(self.data.features)})")
        if self.contexts is not None:
            parse_contexts(list(self.contexts), self.model.mods)


@dataclasses.dataclass
class PreparedData:
    train: DialogueData
    dev: DialogueData
    test: DialogueData | None
    dims: dict[Modality, int]


def make_fold_splits(corpus: Corpus, data: DataConfig, *, folds: Sequence[str] | None = None) -> list[Split]:
    """The folds of ``data.protocol`` (one for ``fixed`` / ``given``), or only those named in ``folds``
    (full names like ``logo-Ses05`` or the part after the protocol, ``Ses05``)."""
    if data.protocol.startswith("given"):
        name = data.protocol.split(":", 1)[1] if ":" in data.protocol else None
        splits = [given_split(corpus, name)]
    else:
        splits = make_splits(corpus, data.protocol, seed=data.split_seed, dev_share=data.dev_share,
                             test_groups=data.test_groups, k=data.k, dev_by=data.dev_by)
    if folds is not None:
        want = set(folds)
        splits = [s for s in splits if s.name in want or s.name.split("-", 1)[-1] in want]
        if not splits:
            raise ConfigError(f"none of folds {sorted(want)} in protocol {data.protocol!r}")
    return splits


def load_inputs(data: DataConfig, modalities: Sequence[Modality] | str) -> tuple[Corpus, dict[Modality, FeatureSet]]:
    """Load the corpus (media files are not needed) and the feature set of each modality."""
    if not data.corpus:
        raise ConfigError("DataConfig.corpus is empty: name the corpus folder")
    corpus = Corpus.load(data.corpus, check_files=False)
    feats = {}
    for m in Modality.parse(modalities):
        if m.value not in data.features:
            raise ConfigError(f"no feature set named for modality {m.value!r} (data.features = {data.features})")
        feats[m] = load_features(corpus, data.features[m.value])
    return corpus, feats


def prepare_data(corpus: Corpus, features: Mapping[Modality, FeatureSet], split: Split, *,
                 model: CogmenConfig, standardize: bool = True, per_speaker: bool = False) -> PreparedData:
    """Cached train / dev / test dialogues for ``split`` (statistics from training dialogues)."""
    feats = {m: features[m] for m in model.mods}
    if per_speaker:
        feats = speaker_normalise(corpus, feats, over="corpus", invalid="zero")
    stats = feature_stats(feats, corpus.subset(split.train)["utt_id"].tolist()) if standardize else None
    common = dict(graph=model.graph_spec(), stats=stats, speaker_index=model.speaker_index)
    train = DialogueData(build_dialogues(corpus, feats, dialogue_ids=split.train, **common))
    if not split.dev:
        raise ConfigError(f"split {split.name!r} has no dev dialogues; early stopping needs dev_share > 0")
    dev = DialogueData(build_dialogues(corpus, feats, dialogue_ids=split.dev, **common))
    test = (DialogueData(build_dialogues(corpus, feats, dialogue_ids=split.test,
                                         scored=split.test_mask(corpus.table), **common))
            if split.test else None)
    return PreparedData(train, dev, test, train.dims)


class DataPreparer:
    """:func:`prepare_data` for the runs of one experiment, each distinct input built once.

    Runs on the same fold whose models read the same modalities and graph share their dialogues
    (building them is the slow part of a short run); ``data`` says how features are standardised.
    """

    def __init__(self, corpus: Corpus, features: Mapping[Modality, FeatureSet], data: DataConfig) -> None:
        self.corpus, self.features, self.data = corpus, features, data
        self._built: dict[tuple, PreparedData] = {}

    def __call__(self, split: Split, model: CogmenConfig) -> PreparedData:
        key = (split.name, model.modalities, model.graph_spec(), model.speaker_index)
        if key not in self._built:
            self._built[key] = prepare_data(self.corpus, self.features, split, model=model,
                                            standardize=self.data.standardize, per_speaker=self.data.per_speaker)
        return self._built[key]


def build_model(model: CogmenConfig, data: PreparedData, n_classes: int) -> COGMEN:
    """A COGMEN for these data (training means set when ``fill="mean"``)."""
    net = COGMEN(model, input_dims=data.dims, n_classes=n_classes)
    if model.fill is MissingFill.MEAN:
        net.set_fill_means(modality_means(data.train.dialogues))
    return net


def _pick_fold(splits: list[Split], fold: str | None) -> Split:
    if fold is None:
        return splits[0]
    for s in splits:
        if s.name == fold or s.name.split("-", 1)[-1] == fold:
            return s
    raise ConfigError(f"no fold {fold!r}; folds are {[s.name for s in splits]}")


def run_record(cfg: RunConfig, *, split: Split, corpus: Corpus,
               features: Mapping[Modality, FeatureSet] | None = None, method: str = "cogmen",
               variant: str | None = None, inputs: Mapping | None = None,
               corpus_fingerprint: str | None = None) -> RunRecord:
    """The :class:`~emowb.train.trainer.RunRecord` of a COGMEN run (a plain run, an experiment's
    run, a triplet-KD teacher or student).

    Its identity covers ``cfg`` (fields that change results), the split, the corpus' content
    fingerprint, the configuration of each feature set the model reads and ``inputs`` (e.g. the
    KD loss and teacher of a student). ``corpus_fingerprint``: the corpus' fingerprint when the
    caller has it already (it is a hash over the whole table).
    """
    extra: dict = {}
    if features is not None:
        extra["features"] = {m.value: dict(features[m].config) for m in cfg.model.mods if m in features}
    extra.update(inputs or {})
    fp = corpus_fingerprint or corpus.fingerprint()
    return RunRecord(method=method, config=cfg, split=split, corpus_fingerprint=fp,
                     seed=cfg.train.seed, variant=variant, inputs=extra)


def train_run(cfg: RunConfig, *, run_dir: str | Path | None, corpus: Corpus | None = None,
              features: Mapping[Modality, FeatureSet] | None = None, split: Split | None = None,
              loss=None, resume: bool = True, callbacks=(), prepared: PreparedData | None = None,
              make_loss: Callable[[COGMEN], TrainLoss] | None = None,
              record: RunRecord | None = None) -> FitResult:
    """Train one run (see the module docstring).

    Args:
        cfg: the run's configuration.
        run_dir: its folder (None = in memory only).
        corpus, features, split: pre-loaded inputs (the experiment runner shares them across
            runs); loaded from ``cfg.data`` when omitted.
        loss: a custom :class:`~emowb.train.api.TrainLoss` (default cross-entropy).
        resume: continue an interrupted run in ``run_dir``.
        callbacks: passed to the :class:`~emowb.train.trainer.Trainer`.
        prepared: pre-built dialogues (e.g. with extra per-utterance tensors attached).
        make_loss: instead of ``loss``: builds the loss from the freshly initialised model (e.g.
            a KD loss whose projection depends on the model's width; its own weights are then
            initialised right after the model's).
        record: the run's :class:`~emowb.train.trainer.RunRecord` (default: :func:`run_record`
            of ``cfg``); its config must be ``cfg``.
    """
    if loss is not None and make_loss is not None:
        raise ValueError("train_run: pass loss or make_loss, not both")
    if corpus is None or features is None:
        corpus, features = load_inputs(cfg.data, cfg.model.mods)
    if split is None:
        split = _pick_fold(make_fold_splits(corpus, cfg.data), cfg.data.fold)
    if record is None:
        record = run_record(cfg, split=split, corpus=corpus, features=features)
    elif record.config != cfg:
        raise ValueError("train_run: record.config is not the run's configuration")
    data = prepared or prepare_data(corpus, features, split, model=cfg.model, standardize=cfg.data.standardize,
                                    per_speaker=cfg.data.per_speaker)
    seed_everything(cfg.train.seed)  # the model's initial weights depend on the seed only
    model = build_model(cfg.model, data, len(corpus.labels))
    if make_loss is not None:
        loss = make_loss(model)
    masker = (build_masker(cfg.masking, modalities=cfg.model.mods, dims=data.dims)
              if cfg.masking is not None else None)
    select = cfg.select_context or Modality.code(cfg.model.mods)
    # the selection context is always scored (dev, every epoch), then the asked-for ones at the end
    contexts = parse_contexts([select, *cfg.contexts] if cfg.contexts else None, cfg.model.mods)
    trainer = Trainer(model, config=cfg.train, train=data.train, dev=data.dev, test=data.test,
                      labels=corpus.labels, run_dir=run_dir, loss=loss, train_transform=masker,
                      contexts=contexts, select_context=select, callbacks=callbacks, run_config=record)
    return trainer.fit(resume=resume)


@dataclasses.dataclass
class StoredRun:
    """What a run folder's ``config.json`` says the run was (:func:`load_run`).

    Attributes:
        method, variant, fold, seed, identity: see :class:`~emowb.train.trainer.RunRecord`.
        config: the run's configuration (:class:`RunConfig` for COGMEN runs and triplet-KD
            students and teachers, :class:`~emowb.kd.emodistill.EmoDistillConfig` narrowed to the
            run for EmoDistill students).
        split: the :class:`~emowb.data.splits.Split` trained on.
        corpus_fingerprint: the corpus' content fingerprint.
        record: the whole ``run`` block (method-specific inputs such as ``kd``).
    """

    method: str
    variant: str | None
    fold: str
    seed: int | None
    identity: str | None
    config: Config
    split: Split
    corpus_fingerprint: str | None
    record: dict


def load_run(run_dir: str | Path) -> StoredRun:
    """The configuration and split a run folder was trained with, for every method.

    Reads the ``run`` block of ``config.json`` (:class:`~emowb.train.trainer.RunRecord`; its
    ``config_type`` names the configuration class); run folders written before records had a
    method (plain COGMEN runs and triplet-KD students) are read too.
    """
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise ConfigError(f"{run_dir} is not a run folder (no config.json)")
    run = json.loads(path.read_text()).get("run") or {}
    if "config" not in run or "split" not in run:
        raise ConfigError(f"{run_dir}/config.json holds no run record (no run config / split): it was "
                          "not written by an experiment method or train_run")
    method = run.get("method") or ("triplet" if (run.get("kd") or {}).get("method") == "triplet" else "cogmen")
    cls = RunConfig                                  # records without a config_type: COGMEN runs
    if run.get("config_type"):
        module, _, name = run["config_type"].partition(":")
        try:
            cls = getattr(importlib.import_module(module), name)
        except (ImportError, AttributeError) as e:
            raise ConfigError(f"{run_dir}: cannot load the run's configuration class "
                              f"{run['config_type']!r} ({e})") from None
    s = run["split"]
    split = Split.from_json(s)
    config = cls.from_dict(run["config"])
    seed = run.get("seed", getattr(getattr(config, "train", None), "seed", None))
    return StoredRun(method=method, variant=run.get("variant"), fold=run.get("fold", split.name), seed=seed,
                     identity=run.get("identity"), config=config, split=split,
                     corpus_fingerprint=run.get("corpus_fingerprint"), record=run)


@dataclasses.dataclass
class LoadedRun:
    """A finished run brought back: its config, split, data and best model (eval mode)."""

    config: RunConfig
    split: Split
    corpus: Corpus
    data: PreparedData
    model: COGMEN


def load_trained(run_dir: str | Path, *, corpus: Corpus | None = None,
                 features: Mapping[Modality, FeatureSet] | None = None) -> LoadedRun:
    """Rebuild a finished run's data and best model (e.g. a frozen KD teacher).

    The dialogues are rebuilt exactly as for training (same split, same standardisation
    statistics from the training dialogues), and ``checkpoints/best.pt`` is loaded.
    """
    stored = load_run(run_dir)
    cfg, split = stored.config, stored.split
    if not isinstance(cfg, RunConfig):
        raise ConfigError(f"{run_dir} is a {stored.method} run, not a COGMEN run: load_trained rebuilds "
                          "COGMEN runs (plain, experiment and triplet-KD runs)")
    if corpus is None or features is None:
        corpus, features = load_inputs(cfg.data, cfg.model.mods)
    data = prepare_data(corpus, features, split, model=cfg.model, standardize=cfg.data.standardize,
                                    per_speaker=cfg.data.per_speaker)
    model = build_model(cfg.model, data, len(corpus.labels))
    try:
        load_best(model, run_dir)
    except TrainerError as e:
        raise ConfigError(str(e)) from None
    return LoadedRun(cfg, split, corpus, data, model.eval())


def evaluate_run(run_dir: str | Path, *, contexts: Sequence[str] | str | None = None,
                 splits: Sequence[str] = ("test",), corpus: Corpus | None = None,
                 features: Mapping[Modality, FeatureSet] | None = None) -> dict[str, dict[str, dict]]:
    """Re-score a finished run's best model in the given contexts.

    Returns:
        ``{split: {context: metrics}}``.
    """
    run = load_trained(run_dir, corpus=corpus, features=features)
    ctx = parse_contexts(contexts, run.config.model.mods)
    trainer = Trainer(run.model, config=run.config.train.replace(progress=False), train=run.data.train,
                      dev=run.data.dev, test=run.data.test, labels=run.corpus.labels, run_dir=None, contexts=ctx)
    out: dict[str, dict[str, dict]] = {}
    for s in splits:
        if s not in ("train", "dev", "test"):
            raise ConfigError(f"unknown split {s!r}: use train, dev or test")
        source = {"train": run.data.train, "dev": run.data.dev, "test": run.data.test}[s]
        if source is None:
            raise ConfigError(f"run {run_dir} has no {s} data")
        out[s] = {name: trainer.evaluate(source, context=name, with_embeddings=False).metrics for name in ctx}
    return out
