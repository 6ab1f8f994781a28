"""The notebooks' configurations: one frozen, validated dataclass per notebook.

Each notebook's ``parameters`` cell holds flat literals; its next cell is one call,
``XNotebook.from_params(**params)``, which validates them and knows how to turn them into the
package's own configurations (:class:`~emowb.train.run.RunConfig`,
:class:`~emowb.kd.triplet.TripletConfig`, ...). The defaults are the demo size.

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
from pathlib import Path
from typing import Sequence

from emowb.config import Config, ConfigError, require
from emowb.utils import stable_hash

__all__ = ["NotebookConfig", "Workspace", "CogmenParams", "DataNotebook", "TrainNotebook", "MaskingNotebook",
           "KDNotebook", "EmoDistillNotebook", "EmbeddingsNotebook", "ConfusionNotebook",
           "ReproduceNotebook"]


@dataclasses.dataclass(frozen=True, kw_only=True)
class NotebookConfig(Config):
    """What every notebook has: the workspace folder and the figures folder.

    Attributes:
        workdir: the workspace folder (see the module docstring).
        figures_dir: where figures go (PNG + PDF).
    """

    workdir: str = "out/demo"
    figures_dir: str = "figures"

    @classmethod
    def from_namespace(cls, namespace):
        """Build from a notebook's parameters, taken by name from ``namespace`` (``globals()``).

        Every field must be declared in the parameters cell, so nothing falls back to a default
        silently; papermill itself warns about parameters a notebook does not declare.
        """
        names = cls.field_names()
        missing = [n for n in names if n not in namespace]
        if missing:
            raise ConfigError(f"{cls.__name__}: the notebook's parameters cell does not declare {missing}")
        return cls.from_params(**{n: namespace[n] for n in names})

    def validate(self) -> None:
        require(bool(self.workdir), "workdir must not be empty")

    @property
    def root(self) -> Path:
        return Path(self.workdir)

    def out(self, *parts: str) -> Path:
        """A folder inside the workspace (created)."""
        p = self.root.joinpath(*parts)
        p.mkdir(parents=True, exist_ok=True)
        return p

    def save(self, fig, name: str) -> list[Path]:
        """Save a figure as ``<figures_dir>/<name>.png`` and ``.pdf``."""
        from emowb.viz import save_figure

        return save_figure(fig, name, out_dir=self.figures_dir)


@dataclasses.dataclass(frozen=True, kw_only=True)
class Workspace(NotebookConfig):
    """A notebook that reads a corpus and trains: the corpus and the machine settings.

    Attributes:
        corpus: ``""`` = ``<workdir>/synth`` (the synthetic corpus, generated if missing); or any
            corpus folder (e.g. an IEMOCAP import); or a COGMEN pickle (imported once into the
            workspace).
        dialogues, corpus_seed, utterances: size and seed of a generated synthetic corpus.
        device: ``auto`` | ``cpu`` | ``cuda``.
        threads: torch CPU threads.
    """

    corpus: str = ""
    dialogues: int = 30
    corpus_seed: int = 0
    utterances: tuple[int, int] = (18, 32)
    device: str = "auto"
    threads: int = 1

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
        return Path(self.corpus)

    def use_threads(self) -> None:
        import torch

        torch.set_num_threads(self.threads)


@dataclasses.dataclass(frozen=True, kw_only=True)
class CogmenParams(Config):
    """COGMEN data, model and training settings shared by train, masking and kd.

    Attributes:
        audio_features, video_features: stored feature sets per modality (``egemaps`` /
            ``openface-au`` on the synthetic corpus; ``cogmen-a`` / ``cogmen-v`` for a pickle).
        per_speaker: z-score each speaker's features with their own statistics first (label-free
            speaker normalisation; not in COGMEN, see README).
        protocol: ``fixed`` | ``logo`` | ``loso`` | ``kfold`` | ``given:cogmen``.
        folds: fold names to run (empty = the first fold for single runs, all for experiments).
        seeds: training seeds.
        epochs, lr, batch_size, patience: training.
        hidden_size, seq_layers, seq_ff, gnn_heads: the model.
    """

    audio_features: str = "egemaps"
    video_features: str = "openface-au"
    per_speaker: bool = True
    protocol: str = "fixed"
    folds: tuple[str, ...] = ()
    seeds: tuple[int, ...] = (0,)
    epochs: int = 25
    lr: float = 1e-3
    batch_size: int = 16
    patience: int = 8
    hidden_size: int = 100
    seq_layers: int = 2
    seq_ff: int = 512
    gnn_heads: int = 7

    def validate(self) -> None:
        require(len(self.seeds) >= 1, "seeds must not be empty")
        require(self.epochs >= 1 and self.lr > 0 and self.batch_size >= 1, "epochs, lr, batch_size must be positive")

    def features(self) -> dict[str, str]:
        return {"a": self.audio_features, "v": self.video_features}

    def data_config(self, corpus_dir: Path):
        from emowb.train.run import DataConfig

        return DataConfig(corpus=str(corpus_dir), features=self.features(), protocol=self.protocol,
                          fold=self.folds[0] if self.folds else None, per_speaker=self.per_speaker)

    def model_config(self, modalities: str, **changes):
        from emowb.models.cogmen import CogmenConfig

        return CogmenConfig(**{"modalities": modalities, "hidden_size": self.hidden_size,
                               "seq_layers": self.seq_layers, "seq_ff": self.seq_ff,
                               "gnn_heads": self.gnn_heads, **changes})

    def train_config(self, ws: Workspace, *, seed: int = 0):
        from emowb.train.trainer import TrainConfig

        return TrainConfig(epochs=self.epochs, lr=self.lr, batch_size=self.batch_size,
                           patience=self.patience, lr_monitor="dev_score", lr_patience=max(1, self.patience // 2),
                           lr_factor=0.5, seed=seed, device=ws.device, num_threads=ws.threads,
                           progress=False, keep_last=False)


def _check_cogmen_and_workspace(nb) -> None:
    Workspace.validate(nb)
    CogmenParams.validate(nb)


@dataclasses.dataclass(frozen=True, kw_only=True)
class DataNotebook(Workspace):
    """data.ipynb: ``examples`` utterances to listen to; ``probe``: run the linear modality probes."""

    examples: int = 2
    probe: bool = True
    features: tuple[str, ...] = ("egemaps", "openface-au", "minilm")


@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainNotebook(Workspace, CogmenParams):
    """train.ipynb: one configuration.

    Attributes:
        modalities: training modalities (``a``, ``av``, ...).
        mask: ``none`` | ``utterance`` | ``feature`` (the four scenarios, random masking at that
            granularity) | ``unimodal`` (random masking of a one-modality model).
        graph: ``window`` | ``past`` | ``disjoint``.
    """

    modalities: str = "av"
    mask: str = "none"
    graph: str = "window"

    def validate(self) -> None:
        _check_cogmen_and_workspace(self)
        require(self.mask in ("none", "utterance", "feature", "unimodal"),
                f"mask must be none, utterance, feature or unimodal, got {self.mask!r}")
        require(self.graph in ("window", "past", "disjoint"), f"graph must be window, past or disjoint, got {self.graph!r}")

    @property
    def name(self) -> str:
        return f"cogmen-{self.modalities}-mask-{self.mask}-{self.graph}"

    def masking(self):
        from emowb.train.masking import MaskingConfig

        if self.mask == "none":
            return None
        if self.mask == "unimodal":
            return MaskingConfig.unimodal(self.modalities[0])
        mods = [m for m in self.modalities]
        p_full = {m: 0.6 / len(mods) for m in mods}
        return MaskingConfig(p_full=p_full, granularity=self.mask)

    def run_config(self, corpus_dir: Path, seed: int):
        from emowb.train.run import RunConfig

        return RunConfig(data=self.data_config(corpus_dir), model=self.model_config(self.modalities, graph=self.graph),
                         train=self.train_config(self, seed=seed), masking=self.masking())


@dataclasses.dataclass(frozen=True, kw_only=True)
class MaskingNotebook(Workspace, CogmenParams):
    """masking.ipynb: the paper's Tables 2/3, a grid over random-masking settings, and sliders.

    Attributes:
        paper_table: train the ten Table 2/3 variants.
        disjoint: include the disjoint-graph variants (Table 3).
        grid_start_prob, grid_mask_length, grid_granularity: the grid of random-masking settings
            (scenario probabilities as below).
        p_none, p_full_a, p_full_v, p_random: scenario probabilities (sum to one).
        start_prob, mask_length, granularity: random masking of the slider run.
    """

    paper_table: bool = True
    disjoint: bool = True
    grid_start_prob: tuple[float, ...] = (0.1, 0.2, 0.4)
    grid_mask_length: tuple[int, ...] = (1, 3)
    grid_granularity: tuple[str, ...] = ("utterance", "feature")
    p_none: float = 0.1
    p_full_a: float = 0.3
    p_full_v: float = 0.3
    p_random: float = 0.3
    start_prob: float = 0.2
    mask_length: int = 1
    granularity: str = "utterance"

    def validate(self) -> None:
        _check_cogmen_and_workspace(self)
        total = self.p_none + self.p_full_a + self.p_full_v + self.p_random
        require(abs(total - 1) < 1e-6, f"p_none + p_full_a + p_full_v + p_random must be 1, got {total:.4f}")

    def masking(self, *, start_prob: float, mask_length: int, granularity: str, p_none=None,
                p_full_a=None, p_full_v=None, p_random=None):
        from emowb.train.masking import MaskingConfig

        return MaskingConfig(p_none=self.p_none if p_none is None else p_none,
                             p_full={"a": self.p_full_a if p_full_a is None else p_full_a,
                                     "v": self.p_full_v if p_full_v is None else p_full_v},
                             p_random=self.p_random if p_random is None else p_random,
                             start_prob=start_prob, mask_length=int(mask_length), granularity=granularity)

    def experiment(self, corpus_dir: Path, variants: Sequence, name: str):
        from emowb.train.experiment import ExperimentConfig

        return ExperimentConfig(name=name, data=self.data_config(corpus_dir).replace(fold=None),
                                model=self.model_config("av"), train=self.train_config(self),
                                variants=tuple(variants), seeds=self.seeds,
                                folds=self.folds or None)


@dataclasses.dataclass(frozen=True, kw_only=True)
class KDNotebook(Workspace, CogmenParams):
    """kd.ipynb: triplet KD from an audio+video (or masked) teacher to an audio-only student.

    Attributes:
        alpha: weight of the triplet loss; ce_weight: weight of cross-entropy (paper: 1 and 1).
        margin, p, mining: the triplet loss (``random`` = the authors', ``hard``, ``semi-hard``).
        teacher_mask: ``none`` or ``utterance``/``feature`` (COGMEN-Mask as the teacher).
        seq_layers, gnn_heads: (from :class:`CogmenParams`) the teacher's sizes (paper: 4, 7).
        table1: train Table 1's three student sizes; otherwise one student of
            ``student_seq_layers`` / ``student_gnn_heads``.
        baseline: also train each student without KD.
    """

    alpha: float = 1.0
    ce_weight: float = 1.0
    margin: float = 1.0
    p: float = 2.0
    mining: str = "random"
    teacher_mask: str = "none"
    table1: bool = False
    student_seq_layers: int = 2
    student_gnn_heads: int = 7
    baseline: bool = True

    def validate(self) -> None:
        _check_cogmen_and_workspace(self)
        require(self.alpha >= 0 and self.ce_weight >= 0, "alpha and ce_weight must be >= 0")
        require(self.teacher_mask in ("none", "utterance", "feature"),
                f"teacher_mask must be none, utterance or feature, got {self.teacher_mask!r}")

    def triplet_config(self, corpus_dir: Path):
        from emowb.kd.losses import TripletLossConfig
        from emowb.kd.triplet import TripletConfig
        from emowb.train.masking import MaskingConfig

        teacher = self.model_config("av")
        student = self.model_config("a", seq_layers=self.student_seq_layers, gnn_heads=self.student_gnn_heads)
        kw = {} if self.table1 else {"student_seq_layers": self.student_seq_layers,
                                     "student_gnn_heads": self.student_gnn_heads}
        return TripletConfig(
            name="triplet-kd", data=self.data_config(corpus_dir).replace(fold=None), teacher=teacher,
            teacher_masking=None if self.teacher_mask == "none" else MaskingConfig(granularity=self.teacher_mask),
            student=student,
            loss=TripletLossConfig(alpha=self.alpha, ce_weight=self.ce_weight, margin=self.margin, p=self.p,
                                   mining=self.mining),
            train=self.train_config(self), teacher_train=self.train_config(self), seeds=self.seeds,
            folds=self.folds or None, baseline=self.baseline, **kw)

    def out_dir(self, corpus_dir: Path) -> Path:
        """One folder per configuration, so runs with other parameters never overwrite it."""
        return self.out("kd", stable_hash(self.triplet_config(corpus_dir).to_dict(), n=10))


@dataclasses.dataclass(frozen=True, kw_only=True)
class EmoDistillNotebook(Workspace):
    """emodistill.ipynb: prosodic + linguistic teachers -> speech student.

    Attributes:
        backbone: the student's backbone: ``mlp`` (eGeMAPS functionals), ``cnn`` (log-mel),
            ``ssl`` / ``ssl-pooled`` (with ``ssl_model``, a local HuBERT/wav2vec2/WavLM folder).
        alpha, beta, gamma: weights of logit KD, embedding KD and cross-entropy.
        tau_linguistic, tau_prosodic: temperatures.
        taus: temperatures of the two sweeps; sweeps: run them.
        protocol, folds, seeds: the protocol.
        epochs, teacher_epochs: training lengths.
        prosodic_channels: channels of the prosodic ResNet's four residual blocks (its stem uses
            the first); the package default is (16, 32, 64, 128), the demo halves it for a CPU.
        per_speaker: z-score each speaker's audio inputs with their own statistics first
            (label-free; see ``EmoDistillConfig.per_speaker``).
    """

    backbone: str = "mlp"
    ssl_model: str = ""
    alpha: float = 1.0
    beta: float = 1.0
    gamma: float = 1.0
    tau_linguistic: float = 4.0
    tau_prosodic: float = 1.0
    taus: tuple[float, ...] = (1.0, 4.0)
    sweeps: bool = True
    protocol: str = "fixed"
    folds: tuple[str, ...] = ()
    seeds: tuple[int, ...] = (0,)
    epochs: int = 20
    teacher_epochs: int = 20
    prosodic_channels: tuple[int, ...] = (8, 16, 32, 64)
    per_speaker: bool = True

    def validate(self) -> None:
        Workspace.validate(self)
        require(self.backbone in ("mlp", "cnn", "ssl", "ssl-pooled"),
                f"backbone must be mlp, cnn, ssl or ssl-pooled, got {self.backbone!r}")
        require(self.backbone not in ("ssl", "ssl-pooled") or bool(self.ssl_model),
                "the ssl backbones need ssl_model (a local model folder)")
        require(all(t > 0 for t in self.taus), "taus must be > 0")

    def config(self, corpus_dir: Path):
        from emowb.kd.emodistill import DEFAULT_STUDENT_TRAIN, DEFAULT_TEACHER_TRAIN, EmoDistillConfig

        student = {"student.backbone": self.backbone}
        if self.backbone == "ssl":
            student["student.ssl_model"] = self.ssl_model
        extra = {"ssl_features_model": self.ssl_model} if self.backbone == "ssl-pooled" else {}
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

    def out_dir(self, corpus_dir: Path) -> Path:
        cfg = self.config(corpus_dir).to_dict()
        return self.out("emodistill", stable_hash({"config": cfg, "taus": list(self.taus), "sweeps": self.sweeps}, n=10))


@dataclasses.dataclass(frozen=True, kw_only=True)
class EmbeddingsNotebook(NotebookConfig):
    """embeddings.ipynb: ``kd_dir`` = a triplet-KD output (empty = the latest in the workspace);
    which fold / seed / split to show; UMAP settings; ``align`` for differing widths."""

    kd_dir: str = ""
    fold: str = ""
    seed: int = -1
    split: str = "test"
    n_neighbors: int = 15
    min_dist: float = 0.1
    align: str = "none"


@dataclasses.dataclass(frozen=True, kw_only=True)
class ConfusionNotebook(NotebookConfig):
    """confusion.ipynb: the KD output and masking table to compare (empty = latest)."""

    kd_dir: str = ""
    masking_dir: str = ""
    split: str = "test"


@dataclasses.dataclass(frozen=True, kw_only=True)
class ReproduceNotebook(NotebookConfig):
    """reproduce.ipynb: where the results are (empty = the latest in the workspace)."""

    masking_dir: str = ""
    kd_dir: str = ""
    emodistill_dir: str = ""


def latest(folder: str | os.PathLike, marker: str) -> Path | None:
    """The most recently modified sub-folder of ``folder`` that contains ``marker``."""
    root = Path(folder)
    if not root.is_dir():
        return None
    found = [p for p in root.iterdir() if (p / marker).is_file()]
    return max(found, key=lambda p: (p / marker).stat().st_mtime) if found else None
