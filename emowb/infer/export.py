"""``emowb export RUN``: a speech-only student as a self-contained bundle, served with ONNX Runtime.

Bundle folder::

    bundle.json       format + version, labels, front end, normalisation, the run's config,
                      split and metrics, files, the parity measured at export
    classifier.onnx   normalised input -> logits (inputs ``x`` and, for frames, ``lengths``)
    frontend.onnx     waveform (S,) -> features, where the front end is a network (log-mel,
                      Whisper log-mel + encoder); openSMILE functionals run through ``opensmile``
    stats.npz         training and prior statistics (:mod:`emowb.infer.normalise`)
    MODEL_CARD.md     training data, protocol, scores, intended use, limits

:func:`load_bundle` rebuilds a :class:`~emowb.infer.predictor.Predictor` from these files alone
(no run folder, no corpus, no PyTorch model code). A bundle written by another bundle format or
another emowb version is refused with a message naming both versions.

At export, the ONNX graphs are run next to the PyTorch modules on up to 8 utterances of the run's
test split and the largest absolute differences (front end, logits) are recorded in
``bundle.json["parity"]``.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from emowb.config import ConfigError
from emowb.infer.frontend import FrontEnd, make_frontend
from emowb.infer.normalise import Normaliser
from emowb.infer.predictor import Predictor, StudentHead, run_predictor

__all__ = ["BUNDLE_FORMAT", "BUNDLE_VERSION", "export_bundle", "load_bundle", "OnnxFrontEnd"]

BUNDLE_FORMAT = "emowb-bundle"
BUNDLE_VERSION = 1
OPSET = 18


class _VectorHead(nn.Module):
    def __init__(self, head: StudentHead) -> None:
        super().__init__()
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x, None)


def _export(module: nn.Module, args: tuple, path: Path, *, inputs: list[str], dynamic: dict) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), args, str(path), dynamo=False, opset_version=OPSET, input_names=inputs,
                          output_names=["out"], dynamic_axes=dynamic)


def _session(path: Path):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    # one thread each, as a deployed model on a small device; set ORT_NUM_THREADS to change it
    import os

    n = int(os.environ.get("ORT_NUM_THREADS", "1"))
    opts.intra_op_num_threads = n
    opts.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


class OnnxFrontEnd(FrontEnd):
    """A network front end (log-mel, Whisper) run by ONNX Runtime: wave (S,) -> features."""

    def __init__(self, spec: dict, path: Path) -> None:
        super().__init__(spec)
        self.sequence = spec["kind"] == "logmel"
        self.session = _session(path)

    def __call__(self, wave: np.ndarray) -> np.ndarray:
        self.check(wave)
        from emowb.features.whisper import HOP, SR, WINDOW_S

        wave = np.ascontiguousarray(wave, np.float32)
        if self.spec["kind"] != "whisper" or len(wave) <= WINDOW_S * SR:
            return self.session.run(None, {"wave": wave})[0]
        # longer than Whisper's window: the extractor's 30-s windows, frame-weighted mean
        win = int(WINDOW_S * SR)
        windows = [wave[a:a + win] for a in range(0, len(wave), win)]
        if len(windows[-1]) < 4 * HOP:
            windows.pop()
        frames = [max(1, -(-(len(w) // HOP) // 2)) for w in windows]
        pooled = [self.session.run(None, {"wave": w})[0].astype(np.float64) for w in windows]
        return (sum(p * f for p, f in zip(pooled, frames)) / sum(frames)).astype(np.float32)


def _parity_waves(runner, split, n: int = 8) -> list[np.ndarray]:
    """Up to ``n`` real waveforms of the run's test (else dev) utterances."""
    from emowb.features.common import AudioPolicy, audio_jobs, read_job

    t = runner.corpus.table
    part = split.test or split.dev
    ids = t.loc[t["dialogue_id"].isin(set(part)), "utt_id"].tolist()[:n]
    jobs = [j for j in audio_jobs(runner.corpus) if j.utt_id in set(ids)]
    policy = AudioPolicy(sr=16000)
    waves = [read_job(j, policy)[0] for j in jobs]
    return [w for w in waves if w is not None]


def _card(info: dict, spec: dict, parity: dict, labels: list[str]) -> str:
    test = (info.get("metrics") or {}).get("test") or {}
    ctx = next((v for v in test.values() if isinstance(v, dict)), {})
    score = lambda k: f"{ctx[k]:.3f}" if isinstance(ctx.get(k), (int, float)) else "n/a"  # noqa: E731
    fmt = lambda v: "n/a (not a network)" if v is None else f"{v:.2g}"  # noqa: E731
    c = info.get("corpus", {})
    s = info.get("split", {})
    return f"""# Model card: speech emotion student ({info.get('backbone')} on {spec['kind']})

Exported by emowb from run `{info.get('identity')}` (method {info.get('method')}, fold {info.get('fold')},
seed {info.get('seed')}).

## What it does
Classifies the emotion of one spoken utterance into {len(labels)} classes: {', '.join(labels)}.
Input: mono speech at 16 kHz (other rates are resampled, channels averaged). Output: a label and
class probabilities. Long recordings are first cut into utterances by an energy voice-activity
detector (`emowb predict`).

## Training data and protocol
- Corpus: `{c.get('name')}`, {c.get('n_train_utterances')} training utterances from
  {c.get('n_train_speakers')} speakers; classes {', '.join(c.get('labels', labels))}.
- Protocol: `{s.get('protocol')}`, fold `{s.get('name')}`: {len(s.get('test', []))} held-out test dialogues
  (speakers {', '.join(s.get('test_speakers', [])) or 'n/a'}).
- Features: {spec['kind']} ({json.dumps({k: v for k, v in spec.items() if k not in ('audio',)})}).
- Speaker normalisation at training: {'per speaker (z-score over each speaker)' if info.get('per_speaker') else 'none'};
  at inference the default is running (causal) statistics with a prior from the training
  speakers (see `docs/inference.md`): measure what that costs on your data.

## Scores (the run's own test part, not a promise for your audio)
- unweighted accuracy (UA): {score('UA')}
- weighted accuracy (WA): {score('WA')}
- weighted F1: {score('weighted_f1')}
- test utterances: {ctx.get('n', 'n/a')}

## Intended use
Research on speech emotion recognition; a baseline a researcher can run on their own
recordings. Not for decisions about people (hiring, health, policing, surveillance).

## Limits
- Trained on {c.get('n_train_speakers')} speakers of one corpus: acted or synthetic speech
  transfers poorly to natural conversation, other languages, recording conditions and ages.
- Categorical labels only; emotions outside {', '.join(labels)} are forced into one of them.
- The voice-activity detector is energy-based: noisy rooms and overlapping talkers break it.
- Scores come from a single fold and seed of the protocol above.

## Export parity
ONNX Runtime vs PyTorch on {parity.get('n_utterances')} real utterances: max |Δ| front end
{fmt(parity.get('frontend_max_abs'))}, logits {fmt(parity.get('logits_max_abs'))}.
"""


def export_bundle(run_dir: str | Path, out: str | Path, *, force: bool = False,
                  corpus: str | Path | None = None) -> Path:
    """Export a student run folder to a bundle (see the module docstring); returns the folder.

    Raises:
        ConfigError: the output exists (without ``force``), or the run cannot be served.

    ``corpus``: the training corpus' folder when it moved since training.
    """
    from emowb import __version__

    out = Path(out)
    if out.exists() and any(out.iterdir()) and not force:
        raise ConfigError(f"{out} exists and is not empty; pass --force to overwrite it")
    pred, head, runner = run_predictor(run_dir, corpus=corpus)
    tmp = out.with_name(out.name + ".tmp-export")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    spec = pred.frontend.spec
    norm = pred.normaliser
    dim = int(norm.train_mean.shape[0]) if norm.train_mean is not None else None
    # the classifier
    if norm.sequence:
        _export(head, (torch.zeros(1, 50, dim), torch.tensor([50])), tmp / "classifier.onnx", inputs=["x", "lengths"],
                dynamic={"x": {0: "B", 1: "T"}, "lengths": {0: "B"}, "out": {0: "B"}})
    else:
        _export(_VectorHead(head), (torch.zeros(1, dim),), tmp / "classifier.onnx", inputs=["x"],
                dynamic={"x": {0: "B"}, "out": {0: "B"}})
    module = pred.frontend.module()
    files = {"classifier": "classifier.onnx", "stats": "stats.npz", "card": "MODEL_CARD.md"}
    if module is not None:
        _export(module, (torch.zeros(16000),), tmp / "frontend.onnx", inputs=["wave"], dynamic={"wave": {0: "S"}})
        files["frontend"] = "frontend.onnx"
    np.savez(tmp / "stats.npz", **norm.to_arrays())
    # parity on real utterances
    waves = _parity_waves(runner, pred_split(pred))
    clf = _session(tmp / "classifier.onnx")
    fe = OnnxFrontEnd(spec, tmp / "frontend.onnx") if module is not None else None
    d_fe, d_logit = 0.0, 0.0
    running = norm.running()
    for w in waves:
        f_t = pred.features(w)
        if fe is not None:
            d_fe = max(d_fe, float(np.abs(fe(w) - f_t).max()))
        x = running(f_t, "parity")[None].astype(np.float32)
        feeds = {"x": x} if not norm.sequence else {"x": x, "lengths": np.array([x.shape[1]], np.int64)}
        with torch.inference_mode():
            ref = head(torch.from_numpy(x), torch.from_numpy(feeds.get("lengths", np.array([1])))).numpy()
        d_logit = max(d_logit, float(np.abs(clf.run(None, feeds)[0] - ref).max()))
    parity = {"n_utterances": len(waves), "frontend_max_abs": d_fe if fe is not None else None,
              "logits_max_abs": d_logit}
    info = {**pred.info, "per_speaker": norm.per_speaker}
    meta = {"format": BUNDLE_FORMAT, "format_version": BUNDLE_VERSION, "emowb_version": __version__,
            "labels": pred.labels, "frontend": spec, "normaliser": norm.to_json(), "files": files,
            "run": info, "parity": parity, "opset": OPSET}
    (tmp / "MODEL_CARD.md").write_text(_card(info, spec, parity, pred.labels))
    (tmp / "bundle.json").write_text(json.dumps(meta, indent=2, default=str))
    if out.exists():
        shutil.rmtree(out)
    tmp.replace(out)
    return out


def pred_split(pred: Predictor):
    from emowb.data.splits import Split

    return Split.from_json(pred.info["split_json"])


def _check_version(meta: dict, path: Path) -> None:
    from emowb import __version__

    if meta.get("format") != BUNDLE_FORMAT:
        raise ConfigError(f"{path}/bundle.json is not an emowb bundle (format {meta.get('format')!r})")
    if meta.get("format_version") != BUNDLE_VERSION:
        raise ConfigError(f"{path}: bundle format version {meta.get('format_version')} (emowb "
                          f"{meta.get('emowb_version')}); this emowb {__version__} reads version {BUNDLE_VERSION}: "
                          "re-export the run with this emowb, or install the emowb that wrote it")
    if meta.get("emowb_version") != __version__:
        raise ConfigError(f"{path}: exported by emowb {meta.get('emowb_version')}, this is emowb {__version__}: "
                          f"re-export the run with this version (emowb export RUN), or install emowb=="
                          f"{meta.get('emowb_version')}")


def load_bundle(path: str | Path) -> Predictor:
    """A :class:`~emowb.infer.predictor.Predictor` from a bundle folder, with ONNX Runtime."""
    path = Path(path)
    try:
        meta = json.loads((path / "bundle.json").read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ConfigError(f"{path}: unreadable bundle.json ({e}); re-export the run") from None
    _check_version(meta, path)
    files = meta["files"]
    for key, name in files.items():
        if not (path / name).is_file():
            raise ConfigError(f"{path}: the bundle lacks {name} ({key}); re-export the run")
    spec = meta["frontend"]
    frontend = OnnxFrontEnd(spec, path / files["frontend"]) if "frontend" in files else make_frontend(spec)
    with np.load(path / files["stats"]) as z:
        norm = Normaliser.from_parts(meta["normaliser"], {k: z[k] for k in z.files})
    clf = _session(path / files["classifier"])
    names = [i.name for i in clf.get_inputs()]

    def classify(x: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        feeds = {"x": x} if names == ["x"] else {"x": x, "lengths": lengths}
        return clf.run(None, feeds)[0]

    return Predictor(labels=meta["labels"], frontend=frontend, normaliser=norm, classifier=classify,
                     info={**meta["run"], "bundle": str(path)})
