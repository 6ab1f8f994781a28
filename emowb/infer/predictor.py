"""A trained speech-only student as a predictor: waveforms -> labels and probabilities.

:class:`Predictor` = front end (:mod:`emowb.infer.frontend`) + normalisation
(:mod:`emowb.infer.normalise`) + classifier, built from an EmoDistill student's run folder
(:meth:`Predictor.from_run`, PyTorch) or from an exported bundle (:func:`emowb.infer.export.load_bundle`,
ONNX Runtime). Both give the same :class:`Prediction` objects::

    from emowb.infer import load_predictor, predict_files

    p = load_predictor("out/kd/runs/.../seed0-abc123")        # or a bundle folder
    table = predict_files(p, ["talk.wav", "clips/"])           # one row per utterance

Served students: ``mlp`` (openSMILE functionals), ``cnn`` (log-mel) and ``ssl-pooled`` (pooled
Whisper states) — everything the speech-only student of :mod:`emowb.kd.emodistill` trains on
cached features. A student that fine-tunes an encoder on waveforms (``ssl``) is refused with a
message.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Callable, Hashable, Sequence

import numpy as np
import torch
from torch import nn

from emowb.config import ConfigError
from emowb.infer.frontend import FrontEnd, make_frontend
from emowb.infer.normalise import SPEAKER_NORMS, Normaliser

__all__ = ["Prediction", "Predictor", "StudentHead", "load_predictor", "frontend_spec", "run_predictor"]


@dataclasses.dataclass
class Prediction:
    """One scored utterance.

    Attributes:
        label: the predicted class.
        probs: (C,) class probabilities (softmax of the logits), in ``Predictor.labels`` order.
    """

    label: str
    probs: np.ndarray


class StudentHead(nn.Module):
    """A speech student without its training-only heads: normalised input -> logits.

    ``forward(x, lengths)``: x (B, D) for vector inputs or (B, T, D) frames with ``lengths`` (B,)
    int64; returns (B, C) logits. This is the module exported to ONNX.
    """

    def __init__(self, student) -> None:
        super().__init__()
        self.backbone, self.classifier = student.backbone, student.classifier
        self.sequence = student.config.backbone.value == "cnn"

    def forward(self, x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        e = self.backbone(x, lengths) if self.sequence else self.backbone(x)
        return self.classifier(e)                            # the dropout before it is off in eval


class Predictor:
    """Front end + normalisation + classifier of a speech-only student.

    Args:
        labels: class names, in the classifier's order.
        frontend: waveform -> raw features.
        normaliser: the run's input normalisation.
        classifier: ``(x (1, D) or (1, T, D) float32, lengths (1,) int64) -> (1, C) logits`` (numpy).
        info: what the predictor is (run folder, config, metrics) for records and model cards.
    """

    def __init__(self, *, labels: Sequence[str], frontend: FrontEnd, normaliser: Normaliser,
                 classifier: Callable[[np.ndarray, np.ndarray], np.ndarray], info: dict | None = None) -> None:
        self.labels = list(labels)
        self.frontend, self.normaliser, self.classifier = frontend, normaliser, classifier
        self.info = dict(info or {})
        self.sr = frontend.sr

    # ------------------------------------------------------------------ scoring
    def features(self, wave: np.ndarray) -> np.ndarray:
        """Raw features of one waveform (float32 mono at :attr:`sr`)."""
        return self.frontend(np.asarray(wave, np.float32))

    def score(self, x: np.ndarray) -> Prediction:
        """Classify one normalised input ((D,) or (T, D))."""
        x = np.asarray(x, np.float32)[None]
        lengths = np.array([x.shape[1] if self.normaliser.sequence else 1], np.int64)
        logits = np.asarray(self.classifier(x, lengths), np.float64)[0]
        p = np.exp(logits - logits.max())
        p /= p.sum()
        return Prediction(self.labels[int(p.argmax())], p)

    def predict(self, waves: Sequence[np.ndarray], *, speakers: Sequence[Hashable] | None = None,
                speaker_norm: str = "running") -> list[Prediction]:
        """Classify utterances, in order (see :mod:`emowb.infer.normalise` for ``speaker_norm``).

        Args:
            waves: float32 mono waveforms at :attr:`sr`.
            speakers: a speaker key per utterance (default: all one speaker).
            speaker_norm: ``running`` | ``offline`` | ``none``.
        """
        if speaker_norm not in SPEAKER_NORMS:
            raise ConfigError(f"speaker_norm={speaker_norm!r}: use one of {SPEAKER_NORMS}")
        speakers = list(speakers) if speakers is not None else ["speaker"] * len(waves)
        feats = [self.features(w) for w in waves]
        return [self.score(x) for x in self.normalise(feats, speakers, speaker_norm)]

    def normalise(self, feats: Sequence[np.ndarray], speakers: Sequence[Hashable], speaker_norm: str) -> list[np.ndarray]:
        """Normalise raw features of utterances in order (``speaker_norm`` as in :meth:`predict`)."""
        n = self.normaliser
        if speaker_norm == "offline":
            return n.offline(feats, speakers)
        if speaker_norm == "none":
            return [n.prior_only(f) for f in feats]
        running = n.running()
        return [running(f, s) for f, s in zip(feats, speakers)]


# --------------------------------------------------------------------------- from a run folder
def frontend_spec(fs_config: dict) -> dict:
    """The front-end spec of a feature set's configuration (its cache key)."""
    ext = fs_config.get("extractor")
    if ext == "OpenSmileExtractor":
        if fs_config.get("level") != "functionals":
            raise ConfigError(f"cannot serve openSMILE level {fs_config.get('level')!r}: functionals only")
        return {"kind": "opensmile", "feature_set": fs_config["feature_set"], "audio": fs_config.get("audio", {}),
                "opensmile": fs_config.get("opensmile")}
    if ext == "LogMelExtractor":
        return {"kind": "logmel", **{k: fs_config[k] for k in ("n_mels", "n_fft", "hop", "f_min", "f_max")},
                "audio": fs_config.get("audio", {})}
    if ext == "WhisperExtractor":
        if fs_config.get("layer") != "all":
            raise ConfigError("cannot serve a Whisper feature of one layer: the pooled student reads layer='all'")
        return {"kind": "whisper", "model": fs_config["model"], "pad_30s": bool(fs_config.get("pad_30s")),
                "n_states": fs_config["n_states"], "hidden_size": fs_config["hidden_size"],
                "model_fingerprint": fs_config.get("model_fingerprint"), "audio": fs_config.get("audio", {})}
    raise ConfigError(f"cannot serve features of extractor {ext!r}: emowb serves openSMILE functionals, "
                      "log-mel and pooled Whisper states")


def _prior(fs, corpus, train_ids: Sequence[str], *, prior_utterances: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Prior of the running speaker statistics from the raw training features: (m0, v0, n0 rows)."""
    t = corpus.table.set_index("utt_id")
    idx = fs.index_of(list(train_ids))
    idx = idx[fs.valid[idx]]
    speakers = t.loc[[fs.utt_ids[i] for i in idx], "speaker"].to_numpy()
    rows = [np.atleast_2d(fs.values[i] if fs.values is not None else fs.sequences[i]).astype(np.float64) for i in idx]
    allrows = np.concatenate(rows, 0)
    variances = [np.concatenate([r for r, s in zip(rows, speakers) if s == spk], 0).var(0)
                 for spk in np.unique(speakers)]
    mean_rows = allrows.shape[0] / max(1, len(rows))
    return allrows.mean(0), np.mean(variances, 0), float(prior_utterances) * mean_rows


def run_predictor(run_dir: str | Path, *, prior_utterances: float = 5.0, corpus: str | Path | None = None, log=None):
    """(Predictor, StudentHead, the run's parts) of an EmoDistill student run folder (PyTorch).

    ``corpus``: the training corpus' folder when it is no longer where the run recorded it (a
    relative path is read from the current folder).

    Raises:
        ConfigError: not a speech-only student run, or a student that cannot be served.
    """
    from emowb.kd.emodistill import EmoDistill, EmoDistillConfig
    from emowb.kd.students import Backbone, SpeechStudent
    from emowb.train.run import load_run
    from emowb.train.trainer import TrainerError, load_best

    run_dir = Path(run_dir)
    stored = load_run(run_dir)
    cfg = stored.config
    if not isinstance(cfg, EmoDistillConfig):
        raise ConfigError(f"{run_dir} is a {stored.method} run; emowb predict serves speech-only students "
                          "(EmoDistill runs: emowb kd emodistill / emowb bench)")
    if stored.method != "emodistill":
        raise ConfigError(f"{run_dir} is a {stored.method} run (a teacher?), not a student")
    backbone = cfg.student.backbone
    if backbone is Backbone.SSL:
        raise ConfigError(f"{run_dir}: a student that fine-tunes an encoder on waveforms (backbone 'ssl') cannot be "
                          "served yet; train backbone ssl-pooled, mlp or cnn")
    if corpus is not None:
        cfg = cfg.replace(corpus=str(corpus))
    if not cfg.corpus or not Path(cfg.corpus).is_dir():
        raise ConfigError(f"{run_dir}: its corpus {cfg.corpus!r} is not here (paths are read from the current "
                          "folder); pass the corpus folder (--corpus), or predict with an exported bundle")
    runner = EmoDistill(cfg, log=log)
    split = stored.split
    name = cfg.student.input_name
    data = runner.student_data(split)
    inputs = runner.student_inputs()
    fs_norm = inputs[name]
    raw_cfg = {k: v for k, v in fs_norm.config.items() if k != "speaker_normalised"}
    spec = frontend_spec(raw_cfg)
    student = SpeechStudent(runner.student_config(), n_classes=len(runner.corpus.labels),
                            input_dim=data.train.dims[name], teacher_dims=runner.teacher_dims())
    try:
        load_best(student, run_dir)
    except TrainerError as e:
        raise ConfigError(str(e)) from None
    head = StudentHead(student).eval()
    # the raw features (before speaker normalisation) of the training utterances: the prior
    raw = _raw_feature(runner, cfg)
    train_ids = data.train.utt_ids
    stats = data.stats
    sequence = backbone is Backbone.CNN
    m0, v0, n0 = _prior(raw, runner.corpus, train_ids, prior_utterances=prior_utterances)
    norm = Normaliser(train_mean=None if stats is None or name not in stats.mean else stats.mean[name],
                      train_std=None if stats is None or name not in stats.std else stats.std[name],
                      per_speaker=bool(cfg.per_speaker), prior_mean=m0, prior_var=v0, prior_count=n0,
                      sequence=sequence)
    info = {"run_dir": str(run_dir), "method": stored.method, "identity": stored.identity, "fold": stored.fold,
            "seed": stored.seed, "backbone": backbone.value, "input": name, "feature_config": raw_cfg,
            "config": cfg.to_dict() if hasattr(cfg, "to_dict") else None,
            "split": {"name": split.name, "protocol": cfg.protocol, "test": list(split.test),
                      "test_speakers": sorted(map(str, runner.corpus.table.loc[
                          runner.corpus.table["dialogue_id"].isin(set(split.test)), "speaker"].unique()))},
            "split_json": split.to_json(),
            "corpus": {"name": runner.corpus.name, "labels": list(runner.corpus.labels),
                       "n_train_utterances": len(train_ids),
                       "n_train_speakers": int(runner.corpus.table.set_index("utt_id").loc[train_ids, "speaker"].nunique())},
            "metrics": _metrics(run_dir)}

    def classify(x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            return head(torch.from_numpy(x), torch.from_numpy(lengths)).numpy()

    pred = Predictor(labels=runner.corpus.labels, frontend=make_frontend(spec), normaliser=norm,
                     classifier=classify, info=info)
    return pred, head, runner


def _raw_feature(runner, cfg):
    from emowb.kd.students import Backbone

    b = cfg.student.backbone
    if b is Backbone.CNN:
        return runner.feature("logmel", n_mels=cfg.n_mels)
    if b is Backbone.MLP:
        return runner.feature(cfg.functionals)
    model = cfg.ssl_features_model or ("base" if cfg.ssl_features == "whisper" else "")
    return runner.feature(cfg.ssl_features, model=model, layer="all")


def _metrics(run_dir: Path) -> dict:
    import json

    p = run_dir / "metrics.json"
    return json.loads(p.read_text()) if p.is_file() else {}


def load_predictor(source: str | Path, *, backend: str = "auto", corpus: str | Path | None = None) -> Predictor:
    """A predictor from a run folder (PyTorch) or an exported bundle (ONNX Runtime).

    Args:
        source: a student's run folder (``config.json``) or a bundle folder (``bundle.json``).
        backend: ``auto`` (run -> torch, bundle -> onnx), ``torch`` or ``onnx`` (a bundle only).
        corpus: a run's training corpus, when it moved (see :func:`run_predictor`).
    """
    source = Path(source)
    if (source / "bundle.json").is_file():
        from emowb.infer.export import load_bundle

        if backend == "torch":
            raise ConfigError(f"{source} is an exported bundle: it runs with onnxruntime (backend onnx)")
        return load_bundle(source)
    if (source / "config.json").is_file():
        if backend == "onnx":
            raise ConfigError(f"{source} is a run folder: export it first (emowb export {source}) to run it with onnxruntime")
        return run_predictor(source, corpus=corpus, log=None)[0]
    raise ConfigError(f"{source} is neither a run folder (config.json) nor an exported bundle (bundle.json)")
