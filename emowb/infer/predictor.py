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

__all__ = ["Prediction", "Predictor", "StudentHead", "OpenDialogue", "DialogueContext", "load_predictor",
           "frontend_spec", "run_predictor", "cogmen_predictor"]


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
                 classifier: Callable[[np.ndarray, np.ndarray], np.ndarray] | None = None,
                 context: "DialogueContext | None" = None, info: dict | None = None) -> None:
        if (classifier is None) == (context is None):
            raise ValueError("Predictor: give a classifier (utterance model) or a context (dialogue model)")
        self.labels = list(labels)
        self.frontend, self.normaliser, self.classifier = frontend, normaliser, classifier
        self.context = context
        self.info = dict(info or {})
        self.sr = frontend.sr

    def _prediction(self, logits) -> Prediction:
        logits = np.asarray(logits, np.float64).reshape(-1)
        p = np.exp(logits - logits.max())
        p /= p.sum()
        return Prediction(self.labels[int(p.argmax())], p)

    # ------------------------------------------------------------------ scoring
    def features(self, wave: np.ndarray) -> np.ndarray:
        """Raw features of one waveform (float32 mono at :attr:`sr`)."""
        return self.frontend(np.asarray(wave, np.float32))

    def score(self, x: np.ndarray) -> Prediction:
        """Classify one normalised input ((D,) or (T, D)) on its own (an utterance model)."""
        if self.classifier is None:
            raise ConfigError("this predictor is a dialogue model: score utterances with score_dialogue or "
                              "open_dialogue")
        x = np.asarray(x, np.float32)[None]
        lengths = np.array([x.shape[1] if self.normaliser.sequence else 1], np.int64)
        return self._prediction(self.classifier(x, lengths)[0])

    def score_dialogue(self, xs: Sequence[np.ndarray], speakers: Sequence[Hashable]) -> list[Prediction]:
        """Classify the normalised inputs of one dialogue (recording), in order: a dialogue model
        sees the earlier utterances (causal) or all of them (bidirectional, offline only); an
        utterance model scores each alone."""
        if self.context is None:
            return [self.score(x) for x in xs]
        return [self._prediction(z) for z in self.context.score_all(xs, [str(s) for s in speakers])]

    def open_dialogue(self) -> "OpenDialogue":
        """A live dialogue (a stream): ``.score(x, speaker)`` per utterance as it ends.

        Raises:
            ConfigError: a bidirectional dialogue model (its predictions need future utterances).
        """
        return OpenDialogue(self)

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
        # (the order of feats is the order of time: running statistics see the earlier ones only)
        """Normalise raw features of utterances in order (``speaker_norm`` as in :meth:`predict`)."""
        n = self.normaliser
        if speaker_norm == "offline":
            return n.offline(feats, speakers)
        if speaker_norm == "none":
            return [n.prior_only(f) for f in feats]
        running = n.running()
        return [running(f, s) for f, s in zip(feats, speakers)]


class OpenDialogue:
    """One live dialogue of a predictor (:meth:`Predictor.open_dialogue`)."""

    def __init__(self, predictor: Predictor) -> None:
        self.predictor = predictor
        self.state = predictor.context.open() if predictor.context is not None else None

    def score(self, x: np.ndarray, speaker: Hashable) -> Prediction:
        if self.state is None:
            return self.predictor.score(x)
        return self.predictor._prediction(self.state(x, str(speaker)))


class DialogueContext:
    """A COGMEN run's model over a dialogue's audio features (other modalities unavailable).

    ``score_all(xs, speakers)``: logits of every utterance, the causal model step by step
    (incremental inference, :class:`~emowb.models.incremental.CausalDialogue`), the bidirectional
    one in one pass over the whole dialogue; ``open()``: a step function for a stream (causal
    models only).
    """

    def __init__(self, model, *, audio) -> None:
        self.model, self.audio = model.eval(), audio
        self.causal = bool(getattr(model.config, "causal", False))
        self.others = [m for m in model.mods if m is not audio]

    def open(self):
        if not self.causal:
            raise ConfigError("this COGMEN is bidirectional (causal=False): each prediction uses later utterances, "
                              "so it cannot score a stream; train it with --causal (graph past + causal "
                              "attention) for streaming, or predict files offline")
        state = self.model.start_dialogue()
        unavailable = {m: False for m in self.others}

        def step(x: np.ndarray, speaker: str) -> np.ndarray:
            with torch.inference_mode():
                out = state.step({self.audio: torch.from_numpy(np.asarray(x, np.float32))}, speaker,
                                 available=unavailable or None)
            return out.logits[0].numpy()

        return step

    def score_all(self, xs: Sequence[np.ndarray], speakers: Sequence[str]) -> list[np.ndarray]:
        if self.causal:
            step = self.open()
            return [step(x, s) for x, s in zip(xs, speakers)]
        from emowb.batching.dialogues import Dialogue, _speaker_indices, collate
        from emowb.batching.graph import dialogue_edges

        cfg = self.model.config
        g = cfg.graph_spec()
        n = len(xs)
        spk = torch.from_numpy(_speaker_indices("input", list(speakers), None, cfg.speaker_index, ("M", "F"),
                                                g.n_speakers))
        ei, et = dialogue_edges(spk, wp=g.wp, wf=g.wf, kind=g.kind, convention=g.convention, n_speakers=g.n_speakers)
        mods = tuple(self.model.mods)
        feats = {m: (torch.from_numpy(np.stack(xs).astype(np.float32)) if m is self.audio
                     else torch.zeros(n, self.model.dims[m])) for m in mods}
        avail = torch.stack([torch.full((n,), m is self.audio) for m in mods], 1)
        d = Dialogue(dialogue_id="input", utt_ids=[str(i) for i in range(n)], modalities=mods, features=feats,
                     avail=avail, speaker=spk, labels=torch.zeros(n, dtype=torch.long),
                     scored=torch.ones(n, dtype=torch.bool), edge_index=ei, edge_type=et)
        with torch.inference_mode():
            return list(self.model(collate([d])).logits.numpy())


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
        raise ConfigError(f"{run_dir} is a {stored.method} run: emowb export serves the speech-only students of "
                          "EmoDistill (emowb kd emodistill / emowb bench); a COGMEN run predicts from its run "
                          "folder (emowb predict --run)")
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


def cogmen_predictor(run_dir: str | Path, *, prior_utterances: float = 5.0, corpus: str | Path | None = None) -> Predictor:
    """A :class:`Predictor` of a COGMEN run folder (plain or triplet-KD student) on audio alone.

    The model reads the run's audio feature set (openSMILE functionals); its other modalities, if
    any (a masked or AV model), are unavailable and filled as the model was trained to fill them.
    Utterances of one recording form a dialogue: a causal model scores them step by step (and
    can score a stream), a bidirectional one only offline over the whole recording.
    """
    from emowb.batching.normalise import feature_stats, speaker_normalise
    from emowb.train.run import RunConfig, load_inputs, load_run, load_trained
    from emowb.types import Modality

    run_dir = Path(run_dir)
    stored = load_run(run_dir)
    cfg = stored.config
    if not isinstance(cfg, RunConfig):
        raise ConfigError(f"{run_dir} is not a COGMEN run")
    a = Modality.AUDIO
    if a not in cfg.model.mods:
        raise ConfigError(f"{run_dir}: this COGMEN takes {cfg.model.modalities!r}, no audio: it cannot run on speech")
    data = cfg.data if corpus is None else cfg.data.replace(corpus=str(corpus))
    if not data.corpus or not Path(data.corpus).is_dir():
        raise ConfigError(f"{run_dir}: its corpus {data.corpus!r} is not here (paths are read from the current "
                          "folder); pass the corpus folder (--corpus)")
    crp, feats = load_inputs(data, cfg.model.mods)
    loaded = load_trained(run_dir, corpus=crp, features=feats)
    fs = feats[a]
    spec = frontend_spec(dict(fs.config))
    split = stored.split
    train_ids = crp.subset(split.train)["utt_id"].tolist()
    fsn = speaker_normalise(crp, {a: fs}, over="corpus", invalid="zero")[a] if data.per_speaker else fs
    stats = feature_stats({a: fsn}, train_ids) if data.standardize else None
    m0, v0, n0 = _prior(fs, crp, train_ids, prior_utterances=prior_utterances)
    norm = Normaliser(train_mean=None if stats is None else stats.mean[a],
                      train_std=None if stats is None else stats.std[a], per_speaker=bool(data.per_speaker),
                      prior_mean=m0, prior_var=v0, prior_count=n0, sequence=False)
    model = loaded.model
    info = {"run_dir": str(run_dir), "method": stored.method, "identity": stored.identity, "fold": stored.fold,
            "seed": stored.seed, "model": "cogmen", "modalities": cfg.model.modalities,
            "causal": bool(getattr(cfg.model, "causal", False)), "feature_config": dict(fs.config),
            "metrics": _metrics(run_dir)}
    return Predictor(labels=crp.labels, frontend=make_frontend(spec), normaliser=norm,
                     context=DialogueContext(model, audio=a), info=info)


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
        from emowb.train.run import RunConfig, load_run

        if isinstance(load_run(source).config, RunConfig):
            return cogmen_predictor(source, corpus=corpus)
        return run_predictor(source, corpus=corpus, log=None)[0]
    raise ConfigError(f"{source} is neither a run folder (config.json) nor an exported bundle (bundle.json)")
