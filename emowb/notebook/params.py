"""The notebooks' configurations: one frozen, validated dataclass per notebook.

Each notebook's ``parameters`` cell holds flat literals; its next cell is one call,
``XNotebook.from_namespace(globals())``, which validates them (an unknown or misspelt name is an
error with a "did you mean") and turns them into the package's own configurations
(:class:`~emowb.train.run.RunConfig`, :class:`~emowb.kd.triplet.TripletConfig`, ...) through
their ``from_params``.

**Each setting is declared once.** A notebook parameter that is a package setting is an
:func:`alias` of it: its default, type and help come from the package's schema (``seq_ff`` from
:class:`~emowb.models.cogmen.CogmenConfig`, ``lr`` from :class:`~emowb.train.trainer.TrainConfig`,
...). Only parameters that exist in notebooks alone (``workdir``, ``mask``, ``taus``) are declared
here. Sizes (``tiny``, ``demo``, ``paper``) are presets holding only differences
(:mod:`emowb.notebook.presets`); the ``parameters`` cells are generated from this schema and the
``demo`` preset (:func:`parameters_source`), with types and help, so ``papermill --help-notebook``
documents them.

Workspace layout (``workdir``)::

    synth/                      the synthetic corpus (unless ``corpus`` names another)
    runs/train/<name>/seed<k>/  train.ipynb's runs
    masking/table/              the first paper's Tables 2/3 (run_experiment outputs)
    masking/grid/, masking/widget/
    kd/<hash>/                  triplet KD (run_triplet outputs)
    emodistill/<hash>/          EmoDistill ablations and sweeps
    notebooks/                  executed copies of the notebooks
"""

from __future__ import annotations

import dataclasses
import os
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

from emowb.config import Config, ConfigError, _plain, require, setting, suggest
from emowb.data.synth import SynthConfig
from emowb.kd.emodistill import DEFAULT_STUDENT_TRAIN, DEFAULT_TEACHER_TRAIN, EmoDistillConfig
from emowb.kd.losses import EmoDistillLossConfig, TripletLossConfig
from emowb.kd.students import StudentConfig
from emowb.kd.teachers import ProsodicTeacherConfig
from emowb.kd.triplet import TripletConfig
from emowb.models.cogmen import CogmenConfig
from emowb.train.experiment import ExperimentConfig
from emowb.train.masking import MaskingConfig
from emowb.train.run import DataConfig
from emowb.train.trainer import TrainConfig

__all__ = ["NotebookConfig", "Workspace", "CogmenParams", "SweepParams", "DataNotebook", "TrainNotebook", "MaskingNotebook",
           "KDNotebook", "EmoDistillNotebook", "EmbeddingsNotebook", "ConfusionNotebook",
           "ReproduceNotebook", "NOTEBOOK_CONFIGS", "alias", "parameters_source", "check_namespace",
           "generated_parameters", "write_parameters_cells"]


# ------------------------------------------------------------------------------ aliases
def _doc_help(cls: type, name: str) -> str:
    """The text after ``name:`` (or ``a, name, b:``) in ``cls``' docstring ``Attributes`` section."""
    doc = cls.__doc__ or ""
    lines = doc.splitlines()
    for i, line in enumerate(lines):
        m = re.match(r"^(\s+)([\w, ]+):\s*(.*)$", line)
        if not m or name not in [x.strip() for x in m.group(2).split(",")]:
            continue
        indent, text = len(m.group(1)), [m.group(3)]
        for nxt in lines[i + 1:]:
            if not nxt.strip() or len(nxt) - len(nxt.lstrip()) <= indent:
                break
            text.append(nxt.strip())
        return " ".join(t for t in text if t)
    return ""


def alias(source: type[Config], name: str, *, help: str = "", changes_results: bool | None = None) -> Any:
    """A notebook parameter that *is* the package setting ``source.name``.

    Its default comes from ``source`` (as a plain literal: enums by value, tuples as tuples) and
    its help text from ``source``'s declaration (``setting(help=...)`` or its docstring); ``help``
    only adds a notebook-specific note. Nothing is declared twice.
    """
    f = {x.name: x for x in dataclasses.fields(source)}.get(name)
    if f is None:
        raise ConfigError(f"alias: {source.__name__} has no field {name!r}{suggest(name, source.field_names())}")
    if f.default is not dataclasses.MISSING:
        default = f.default
    else:
        default = f.default_factory()  # type: ignore[misc]
    default = _plain(default)
    if isinstance(default, list):
        default = tuple(default)
    text = f.metadata.get("help") or _doc_help(source, name)
    text = f"{text} {help}".strip() if help else text
    import enum
    import typing

    tp = typing.get_type_hints(source).get(name)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        text = f"{text} One of: {', '.join(str(m.value) for m in tp)}.".strip()
    changes = f.metadata.get("changes_results", True) if changes_results is None else changes_results
    meta = {"help": text, "changes_results": changes, "source": f"{source.__name__}.{name}"}
    return dataclasses.field(default=default, metadata=meta)


@dataclasses.dataclass(frozen=True, kw_only=True)
class NotebookConfig(Config):
    """What every notebook has: the workspace folder and the figures folder."""

    workdir: str = setting("out/demo", changes_results=False,
                           help="the workspace: corpus, runs, results (relative to the repository root)")
    figures_dir: str = setting("", changes_results=False,
                               help="where figures go (PNG + PDF); empty: <workdir>/figures (emowb demo: figures/)")

    @classmethod
    def from_namespace(cls, namespace: Mapping[str, Any]):
        """Build from a notebook's parameters, taken by name from ``namespace`` (``globals()``).

        Every field must be declared in the parameters cell, so nothing falls back to a default
        silently; a name that is not a parameter (``papermill -p alpah 1``) is an error naming
        the closest parameter (:func:`check_namespace`).
        """
        names = cls.field_names()
        check_namespace(cls, namespace)
        missing = [n for n in names if n not in namespace]
        if missing:
            raise ConfigError(f"{cls.__name__}: the notebook's parameters cell does not declare {missing}")
        return cls.from_params(**{n: namespace[n] for n in names})

    def validate(self) -> None:
        require(bool(self.workdir), "workdir must not be empty")

    @property
    def root(self) -> Path:
        """The workspace, absolute: a relative ``workdir`` is relative to the repository root,
        whatever the kernel's working directory (:mod:`emowb.notebook.workspace`)."""
        from emowb.notebook import workspace

        return workspace.resolve(self.workdir)

    def out(self, *parts: str) -> Path:
        """A folder inside the workspace (created)."""
        p = self.root.joinpath(*parts)
        p.mkdir(parents=True, exist_ok=True)
        return p

    def relative(self, path) -> str:
        """``path`` relative to the repository root when inside it (what executed notebooks print,
        so that they carry no machine's absolute paths)."""
        from emowb.notebook import workspace

        return workspace.relative(path)

    def save(self, fig, name: str) -> None:
        """Save a figure as ``<figures_dir>/<name>.png`` and ``.pdf``; an empty ``figures_dir`` is
        ``<workdir>/figures`` (only ``emowb demo`` writes the repository's ``figures/``).

        Returns None, so that a cell ending with it prints no list of paths."""
        from emowb.notebook import workspace
        from emowb.viz import save_figure

        save_figure(fig, name, out_dir=workspace.figures(self.workdir, self.figures_dir))


#: Names a kernel defines by itself (IPython) or that a notebook imports before its config cell.
_KERNEL_NAMES = {"In", "Out", "get_ipython", "exit", "quit", "open"}


def check_namespace(cls: type[Config], namespace: Mapping[str, Any]) -> None:
    """Raise :class:`ConfigError` for a variable in ``namespace`` that is not a parameter of ``cls``.

    Called right after the ``parameters`` cell (and papermill's injected cell), when the
    namespace holds only parameters and the kernel's own names: anything else is a parameter the
    notebook does not have, most likely misspelt (papermill itself only warns and goes on).
    """
    import types as _types

    known = set(cls.field_names())
    for name, value in namespace.items():
        if name.startswith("_") or name in _KERNEL_NAMES or name in known:
            continue
        if isinstance(value, (_types.ModuleType, type, _types.FunctionType, _types.BuiltinFunctionType)):
            continue
        raise ConfigError(f"unknown parameter {name!r}{suggest(name, known)}: "
                          f"{cls.__name__} takes {sorted(known)}")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Workspace(NotebookConfig):
    """A notebook that reads a corpus and trains: the corpus and the machine settings."""

    corpus: str = setting("", changes_results=False,
                          help="'' = <workdir>/synth (generated if missing); a corpus folder; or a COGMEN pickle")
    dialogues: int = alias(SynthConfig, "dialogues", help="(generated synthetic corpus)")
    corpus_seed: int = alias(SynthConfig, "seed", help="(generated synthetic corpus)")
    utterances: tuple[int, int] = alias(SynthConfig, "utterances", help="(generated synthetic corpus)")
    device: str = alias(TrainConfig, "device")
    threads: int = setting(1, changes_results=False, help="torch CPU threads")

    def validate(self) -> None:
        NotebookConfig.validate(self)
        require(self.dialogues >= 5, f"dialogues must be >= 5 (one per session), got {self.dialogues}")
        require(self.threads >= 1, f"threads must be >= 1, got {self.threads}")
        require(self.device == "auto" or self.device == "cpu" or self.device.startswith("cuda"),
                f"device must be auto, cpu or cuda[:N], got {self.device!r}")

    @property
    def is_pickle(self) -> bool:
        return self.corpus.endswith(".pkl")

    def corpus_path(self) -> Path:
        if not self.corpus:
            return self.root / "synth"
        if self.is_pickle:
            return self.root / f"cogmen-{Path(self.corpus).stem}"
        from emowb.notebook.workspace import resolve

        return Path(resolve(self.corpus))

    def use_threads(self) -> None:
        import torch

        torch.set_num_threads(self.threads)

    def synth_config(self) -> SynthConfig:
        return SynthConfig.from_params(dialogues=self.dialogues, seed=self.corpus_seed, utterances=self.utterances)


@dataclasses.dataclass(frozen=True, kw_only=True)
class CogmenParams(Config):
    """COGMEN data, model and training settings shared by train, masking and kd."""

    audio_features: str = setting("egemaps", help="stored feature set of the audio modality")
    video_features: str = setting("openface-au", help="stored feature set of the video modality")
    per_speaker: bool = alias(DataConfig, "per_speaker")
    protocol: str = alias(DataConfig, "protocol")
    folds: tuple[str, ...] = setting((), help="fold names to run (empty = the first fold for single runs, "
                                              "all for experiments)")
    seeds: tuple[int, ...] = alias(ExperimentConfig, "seeds")
    epochs: int = alias(TrainConfig, "epochs")
    lr: float = alias(TrainConfig, "lr")
    batch_size: int = alias(TrainConfig, "batch_size")
    patience: int = alias(TrainConfig, "patience", help="(the learning rate halves after patience // 2)")
    select: str = alias(TrainConfig, "select")
    dev_share: float = alias(DataConfig, "dev_share", help="(dialogues of the training part held out for early "
                                                           "stopping)")
    hidden_size: int = alias(CogmenConfig, "hidden_size")
    seq_layers: int = alias(CogmenConfig, "seq_layers")
    seq_ff: int = alias(CogmenConfig, "seq_ff")
    gnn_heads: int = alias(CogmenConfig, "gnn_heads")

    def validate(self) -> None:
        require(len(self.seeds) >= 1, "seeds must not be empty")
        require(self.epochs >= 1 and self.lr > 0 and self.batch_size >= 1, "epochs, lr, batch_size must be positive")

    def features(self) -> dict[str, str]:
        return {"a": self.audio_features, "v": self.video_features}

    def data_config(self, corpus_dir: Path) -> DataConfig:
        return DataConfig.from_params(corpus=str(corpus_dir), features=self.features(), protocol=self.protocol,
                                      fold=self.folds[0] if self.folds else None, per_speaker=self.per_speaker,
                                      dev_share=self.dev_share)

    def model_config(self, modalities: str, **changes) -> CogmenConfig:
        return CogmenConfig.from_params(**{"modalities": modalities, "hidden_size": self.hidden_size,
                                           "seq_layers": self.seq_layers, "seq_ff": self.seq_ff,
                                           "gnn_heads": self.gnn_heads, **changes})

    def train_config(self, ws: Workspace, *, seed: int = 0) -> TrainConfig:
        # The notebooks' schedule: the learning rate halves on a dev-score plateau of half the
        # early-stopping patience.
        return TrainConfig.from_params(epochs=self.epochs, lr=self.lr, batch_size=self.batch_size,
                                       patience=self.patience, select=self.select, lr_monitor="dev_score",
                                       lr_patience=max(1, self.patience // 2), lr_factor=0.5, seed=seed,
                                       device=ws.device, num_threads=ws.threads, progress=False, keep_last=False)


def _check_cogmen_and_workspace(nb) -> None:
    Workspace.validate(nb)
    CogmenParams.validate(nb)


@dataclasses.dataclass(frozen=True, kw_only=True)
class SweepParams(Config):
    """Where a notebook's sweep trains its runs (masking, kd, emodistill; :mod:`emowb.train.executors`)."""

    executor: str = setting("local", changes_results=False,
                            help="where the runs train: local (one after the other, here), processes[:N] "
                                 "(N worker processes), ray[:ADDRESS] (a Ray cluster; a local one without ADDRESS)")

    def validate(self) -> None:
        from emowb.train.executors import ExecutorConfig

        ExecutorConfig.parse(self.executor)


@dataclasses.dataclass(frozen=True, kw_only=True)
class DataNotebook(Workspace):
    """data.ipynb: listen to examples, inspect the corpus, probe each modality."""

    examples: int = setting(2, changes_results=False, help="utterances per emotion to listen to")
    probe: bool = setting(True, help="run the linear modality probes")
    features: tuple[str, ...] = setting(("egemaps", "openface-au", "minilm"), help="feature sets to extract and probe")


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainNotebook(CogmenParams, Workspace):
    """train.ipynb: one configuration."""

    modalities: str = alias(CogmenConfig, "modalities")
    mask: str = setting("none", help="none | utterance | feature (the four scenarios, random masking at that "
                                     "granularity) | unimodal (random masking of a one-modality model)")
    graph: str = alias(CogmenConfig, "graph")
    causal: bool = alias(CogmenConfig, "causal")

    def validate(self) -> None:
        _check_cogmen_and_workspace(self)
        require(self.mask in ("none", "utterance", "feature", "unimodal"),
                f"mask must be none, utterance, feature or unimodal, got {self.mask!r}")
        require(self.graph in ("window", "past", "disjoint"), f"graph must be window, past or disjoint, got {self.graph!r}")
        require(not self.causal or self.graph in ("past", "disjoint"),
                f"causal=True needs graph past or disjoint, got graph {self.graph!r}")

    @property
    def name(self) -> str:
        return f"cogmen-{self.modalities}-mask-{self.mask}-{self.graph}" + ("-causal" if self.causal else "")

    def masking(self):
        return MaskingConfig.from_mode(self.mask, self.modalities)

    def run_config(self, corpus_dir: Path, seed: int):
        from emowb.train.run import RunConfig

        return RunConfig(data=self.data_config(corpus_dir),
                         model=self.model_config(self.modalities, graph=self.graph, causal=self.causal),
                         train=self.train_config(self, seed=seed), masking=self.masking())


@dataclasses.dataclass(frozen=True, kw_only=True)
class MaskingNotebook(SweepParams, CogmenParams, Workspace):
    """masking.ipynb: the paper's Tables 2/3, a grid over random-masking settings, and sliders."""

    paper_table: bool = setting(True, help="train the ten Table 2/3 variants")
    disjoint: bool = setting(True, help="include the disjoint-graph variants (Table 3)")
    grid_start_prob: tuple[float, ...] = setting((0.1, 0.2, 0.4), help="grid: start probabilities of random masking")
    grid_mask_length: tuple[int, ...] = setting((1, 3), help="grid: mask lengths (utterances)")
    grid_granularity: tuple[str, ...] = setting(("utterance", "feature"), help="grid: granularities")
    p_none: float = alias(MaskingConfig, "p_none", help="(sliders; the four scenario probabilities sum to one)")
    p_full_a: float = setting(0.3, help="probability of masking all audio (sliders)")
    p_full_v: float = setting(0.3, help="probability of masking all video (sliders)")
    p_random: float = alias(MaskingConfig, "p_random", help="(sliders)")
    start_prob: float = alias(MaskingConfig, "start_prob", help="(slider run)")
    mask_length: int = alias(MaskingConfig, "mask_length", help="(slider run)")
    granularity: str = alias(MaskingConfig, "granularity", help="(slider run)")

    def validate(self) -> None:
        _check_cogmen_and_workspace(self)
        SweepParams.validate(self)
        total = self.p_none + self.p_full_a + self.p_full_v + self.p_random
        require(abs(total - 1) < 1e-6, f"p_none + p_full_a + p_full_v + p_random must be 1, got {total:.4f}")

    def masking(self, *, start_prob: float, mask_length: int, granularity: str, p_none=None,
                p_full_a=None, p_full_v=None, p_random=None):
        return MaskingConfig(p_none=self.p_none if p_none is None else p_none,
                             p_full={"a": self.p_full_a if p_full_a is None else p_full_a,
                                     "v": self.p_full_v if p_full_v is None else p_full_v},
                             p_random=self.p_random if p_random is None else p_random,
                             start_prob=start_prob, mask_length=int(mask_length), granularity=granularity)

    def experiment(self, corpus_dir: Path, variants: Sequence, name: str):
        return ExperimentConfig(name=name, data=self.data_config(corpus_dir).replace(fold=None),
                                model=self.model_config("av"), train=self.train_config(self),
                                variants=tuple(variants), seeds=self.seeds,
                                folds=self.folds or None)


@dataclasses.dataclass(frozen=True, kw_only=True)
class KDNotebook(SweepParams, CogmenParams, Workspace):
    """kd.ipynb: triplet KD from an audio+video (or masked) teacher to an audio-only student.

    ``seq_layers`` / ``gnn_heads`` are the teacher's sizes (paper: 4, 7).
    """

    alpha: float = alias(TripletLossConfig, "alpha")
    ce_weight: float = alias(TripletLossConfig, "ce_weight")
    margin: float = alias(TripletLossConfig, "margin")
    p: float = alias(TripletLossConfig, "p")
    mining: str = alias(TripletLossConfig, "mining")
    teacher_mask: str = setting("none", help="none, or utterance / feature: COGMEN-Mask (masked training at "
                                             "that granularity) as the teacher")
    table1: bool = setting(False, help="train Table 1's three student sizes instead of one student")
    student_seq_layers: int = setting(2, help="the student's SeqContext layers (when table1 is off)")
    student_gnn_heads: int = setting(7, help="the student's graph-transformer heads (when table1 is off)")
    baseline: bool = alias(TripletConfig, "baseline")
    student_causal: bool = alias(TripletConfig, "student_causal")

    def validate(self) -> None:
        _check_cogmen_and_workspace(self)
        SweepParams.validate(self)
        require(self.alpha >= 0 and self.ce_weight >= 0, "alpha and ce_weight must be >= 0")
        require(self.teacher_mask in ("none", "utterance", "feature"),
                f"teacher_mask must be none, utterance or feature, got {self.teacher_mask!r}")

    def triplet_config(self, corpus_dir: Path):
        teacher = self.model_config("av")
        student = self.model_config("a", seq_layers=self.student_seq_layers, gnn_heads=self.student_gnn_heads)
        kw = {} if self.table1 else {"student_seq_layers": self.student_seq_layers,
                                     "student_gnn_heads": self.student_gnn_heads}
        return TripletConfig(
            name="triplet-kd", data=self.data_config(corpus_dir).replace(fold=None), teacher=teacher,
            teacher_masking=None if self.teacher_mask == "none" else MaskingConfig(granularity=self.teacher_mask),
            student=student,
            loss=TripletLossConfig.from_params(alpha=self.alpha, ce_weight=self.ce_weight, margin=self.margin,
                                               p=self.p, mining=self.mining),
            train=self.train_config(self), teacher_train=self.train_config(self), seeds=self.seeds,
            folds=self.folds or None, baseline=self.baseline, student_causal=self.student_causal, **kw)

    def out_dir(self, corpus_dir: Path, config: TripletConfig | None = None) -> Path:
        """One folder per configuration (``config``, default :meth:`triplet_config`), so runs with
        other parameters never overwrite it and the same configuration always finds its results."""
        return self.out("kd", _identity(config or self.triplet_config(corpus_dir)))


@dataclasses.dataclass(frozen=True, kw_only=True)
class EmoDistillNotebook(SweepParams, Workspace):
    """emodistill.ipynb: prosodic + linguistic teachers -> speech student."""

    backbone: str = alias(StudentConfig, "backbone")
    ssl_model: str = alias(StudentConfig, "ssl_model",
                           help="For ssl-pooled: the encoder of its cached features (empty means Whisper base)")
    ssl_features: str = alias(EmoDistillConfig, "ssl_features")
    alpha: float = alias(EmoDistillLossConfig, "alpha")
    beta: float = alias(EmoDistillLossConfig, "beta")
    gamma: float = alias(EmoDistillLossConfig, "gamma")
    tau_linguistic: float = alias(EmoDistillLossConfig, "tau_linguistic")
    tau_prosodic: float = alias(EmoDistillLossConfig, "tau_prosodic")
    taus: tuple[float, ...] = setting((0.5, 1.0, 2.0, 4.0, 8.0), help="temperatures of the two sweeps")
    sweeps: bool = setting(True, help="run the two temperature sweeps")
    protocol: str = alias(EmoDistillConfig, "protocol")
    folds: tuple[str, ...] = setting((), help="fold names to run (empty = all of the protocol)")
    seeds: tuple[int, ...] = alias(EmoDistillConfig, "seeds")
    epochs: int = setting(DEFAULT_STUDENT_TRAIN.epochs, help="the student's maximum epochs")
    teacher_epochs: int = setting(DEFAULT_TEACHER_TRAIN.epochs, help="the teachers' maximum epochs")
    prosodic_channels: tuple[int, ...] = alias(ProsodicTeacherConfig, "channels",
                                               help="(its stem uses the first)")
    per_speaker: bool = alias(EmoDistillConfig, "per_speaker")

    def validate(self) -> None:
        Workspace.validate(self)
        SweepParams.validate(self)
        require(self.backbone in ("mlp", "cnn", "ssl", "ssl-pooled"),
                f"backbone must be mlp, cnn, ssl or ssl-pooled, got {self.backbone!r}")
        require(self.backbone != "ssl" and (self.backbone != "ssl-pooled" or self.ssl_features == "whisper")
                or bool(self.ssl_model), "this backbone needs ssl_model (a local model folder)")
        require(all(t > 0 for t in self.taus), "taus must be > 0")

    def config(self, corpus_dir: Path):
        student = {"student.backbone": self.backbone}
        if self.backbone == "ssl":
            student["student.ssl_model"] = self.ssl_model
        extra = ({"ssl_features": self.ssl_features, "ssl_features_model": self.ssl_model}
                 if self.backbone == "ssl-pooled" else {})
        base = EmoDistillConfig(
            corpus=str(corpus_dir), protocol=self.protocol, folds=self.folds or None, seeds=self.seeds,
            per_speaker=self.per_speaker,
            teacher_train=DEFAULT_TEACHER_TRAIN.replace(epochs=self.teacher_epochs, device=self.device,
                                                        num_threads=self.threads),
            train=DEFAULT_STUDENT_TRAIN.replace(epochs=self.epochs, device=self.device, num_threads=self.threads),
            **extra)
        return EmoDistillConfig.from_params(base, alpha=self.alpha, beta=self.beta, gamma=self.gamma,
                                            tau_linguistic=self.tau_linguistic, tau_prosodic=self.tau_prosodic,
                                            **{"prosodic.channels": self.prosodic_channels,
                                               "prosodic.stem_channels": self.prosodic_channels[0]},
                                            **student)

    def out_dir(self, corpus_dir: Path, config: EmoDistillConfig | None = None) -> Path:
        """One folder per configuration (``config``, default :meth:`config`) and sweep setting."""
        return self.out("emodistill", _identity(config or self.config(corpus_dir), taus=list(self.taus),
                                                sweeps=self.sweeps))


@dataclasses.dataclass(frozen=True, kw_only=True)
class EmbeddingsNotebook(NotebookConfig):
    """embeddings.ipynb: one UMAP of teacher and student embeddings."""

    kd_dir: str = setting("", changes_results=False, help="a triplet-KD output folder ('' = the latest in the workspace)")
    fold: str = setting("", help="fold to show ('' = the first)")
    seed: int = setting(-1, help="seed to show (-1 = the first)")
    split: str = setting("test", help="train | dev | test")
    n_neighbors: int = setting(15, help="UMAP n_neighbors")
    min_dist: float = setting(0.1, help="UMAP min_dist")
    align: str = setting("none", help="none | procrustes | cca: align differing embedding widths")


@dataclasses.dataclass(frozen=True, kw_only=True)
class ConfusionNotebook(NotebookConfig):
    """confusion.ipynb: the KD output and masking table to compare."""

    kd_dir: str = setting("", changes_results=False, help="a triplet-KD output folder ('' = the latest)")
    masking_dir: str = setting("", changes_results=False, help="a masking-table folder ('' = the latest)")
    split: str = setting("test", help="train | dev | test")


@dataclasses.dataclass(frozen=True, kw_only=True)
class ReproduceNotebook(NotebookConfig):
    """reproduce.ipynb: the papers' tables with our numbers beside the published ones."""

    masking_dir: str = setting("", changes_results=False, help="a masking-table folder ('' = the latest)")
    kd_dir: str = setting("", changes_results=False, help="a triplet-KD output folder ('' = the latest)")
    emodistill_dir: str = setting("", changes_results=False, help="an EmoDistill output folder ('' = the latest)")


#: notebook name -> its configuration class.
NOTEBOOK_CONFIGS: dict[str, type[NotebookConfig]] = {
    "data": DataNotebook, "train": TrainNotebook, "masking": MaskingNotebook, "kd": KDNotebook,
    "emodistill": EmoDistillNotebook, "embeddings": EmbeddingsNotebook, "confusion": ConfusionNotebook,
    "reproduce": ReproduceNotebook}


def _identity(config: Config, **extra) -> str:
    """A workspace folder name for ``config``: its identity, with the corpus by content, not path."""
    from emowb.config import identity
    from emowb.data.corpus import Corpus

    corpus = getattr(config, "corpus", None) or getattr(getattr(config, "data", None), "corpus", "")
    fp = Corpus.load(corpus, check_files=False).fingerprint() if corpus else None
    return identity(config, corpus_fingerprint=fp, n=10, **extra)


def _literal(value: Any) -> str:
    value = _plain(value)
    if isinstance(value, tuple):
        value = list(value)
    return repr(value)


def _plain_text(doc: str) -> str:
    """Docstring markup to one plain line: ``x`` -> x, :class:`~a.B` -> B."""
    doc = re.sub(r":\w+:`~?(?:[\w.]+\.)?([\w]+)`", r"\1", doc)
    doc = re.sub(r"\s+", " ", doc.replace("``", "")).strip()
    # papermill skips a parameters line holding a second '=', even inside its comment
    return re.sub(r"\s*=\s*", ": ", doc)


def parameters_source(name: str, values: Mapping[str, Any] | None = None) -> str:
    """The ``parameters`` cell of notebook ``name``: one typed, documented line per parameter.

    Values are the schema's defaults with ``values`` (a preset's differences) on top.
    """
    cls = NOTEBOOK_CONFIGS[name]
    values = dict(values or {})
    unknown = set(values) - set(cls.field_names())
    if unknown:
        raise ConfigError(f"{name}.ipynb has no parameter(s) {sorted(unknown)}")
    lines = []
    for entry in cls.schema():
        v = values.get(entry["name"], entry["default"])
        t = entry["type"].replace("tuple[", "list[").replace(", ...]", "]")
        t = {"tuple[int, int]": "list[int]"}.get(entry["type"], t)
        help_ = _plain_text(entry["help"])
        lines.append(f"{entry['name']}: {t} = {_literal(v)}" + (f"  # {help_}" if help_ else ""))
    return "\n".join(lines)


def latest(folder: str | os.PathLike, marker: str) -> Path | None:
    """The most recently modified sub-folder of ``folder`` that contains ``marker``."""
    root = Path(folder)
    if not root.is_dir():
        return None
    found = [p for p in root.iterdir() if (p / marker).is_file()]
    return max(found, key=lambda p: (p / marker).stat().st_mtime) if found else None


def generated_parameters(name: str) -> str:
    """The committed ``parameters`` cell of notebook ``name``: the schema with the demo preset."""
    from emowb.notebook.presets import preset_values

    return parameters_source(name, preset_values("demo", name))


_PARAMS_CELL = re.compile(r'(# %% tags=\["parameters"\]\n)(.*?)(\n\n# %%)', re.S)


def write_parameters_cells(src_dir: str | os.PathLike) -> list[Path]:
    """Rewrite the ``parameters`` cell of every ``src_dir/<notebook>.py`` from the schema;
    return the files that changed."""
    changed = []
    for name in NOTEBOOK_CONFIGS:
        path = Path(src_dir) / f"{name}.py"
        text = path.read_text()
        if not _PARAMS_CELL.search(text):
            raise ConfigError(f"{path}: no '# %% tags=[\"parameters\"]' cell")
        new = _PARAMS_CELL.sub(lambda m: m.group(1) + generated_parameters(name) + m.group(3), text, count=1)
        if new != text:
            path.write_text(new)
            changed.append(path)
    return changed
