"""COGMEN training speed: emowb against the official COGMEN code, same data, same settings, 1 thread.

The official code (https://github.com/Exploration-Lab/COGMEN) is *not* part of emowb; point
``--reference`` (or ``EMOWB_COGMEN_REFERENCE``) at a checkout of it. Without one the script prints
how to get it and exits 0. The checkout is only imported, in subprocesses, and never modified.

Data. One synthetic pickle in the official ``preprocess.py`` output format
(``{"train" | "dev" | "test": [cogmen.Sample]}``; ``audio`` 100-d, ``visual`` 512-d,
``sbert_sentence_embeddings`` 768-d), at IEMOCAP-4's shape by default: 151 dialogues, 4,490
utterances, COGMEN's split (120 training dialogues of which the first 10 % are dev, 31 test),
dialogue lengths from ~10 to at most 110 with a mean of utterances / dialogues. Labels (4 classes at
IEMOCAP-4's priors, persistent within a dialogue) shift the audio features' mean, so training is
not degenerate. Both systems read this one file: the reference through its own ``Dataset``, emowb
through its COGMEN importer (imported once, outside the timings).

Runs. Each run is a fresh interpreter (``OMP_NUM_THREADS=1``, ``torch.set_num_threads(1)``):

- reference: the official ``train.py`` itself (``runpy``) with ``--dataset iemocap_4 --modalities M
  --from_begin --epochs E --device cpu`` and the shared settings (``--gnn_nheads``, ``--seed``,
  ``--concat_gin_gout``); ``comet_ml`` and ``sentence_transformers`` are stubbed (the pickle
  already holds the sentence embeddings), tqdm bars are off (``TQDM_DISABLE``), cwd is a folder
  with ``model_checkpoints/``;
- emowb: ``train_run`` on the imported corpus (protocol ``given:cogmen``) with the reference's
  settings: Adam, lr 1e-4, weight decay 1e-8, batch 32, E epochs, no early stopping,
  ReduceLROnPlateau on the dev loss (patience 10, factor 0.1), hidden 100, 2 SeqContext layers
  with the reference's head rule, the reference's GNN heads and classifier input, dropout 0.5,
  wp = wf = 5, raw features, speakers indexed M=0 / F=1, one evaluation context (the model's own
  modalities). emowb's own design is kept where it differs: padding mask on
  (``--emowb-reference-mode`` adds runs with ``CogmenConfig(reference=True)``), test scored once at
  the end rather than after every epoch (``--emowb-test-each-epoch`` to match the reference's
  work), a resumable run folder (config, history, the resume state ``last.pt`` and the model-only
  ``best.pt`` written in the background within ``TrainConfig.checkpoint_budget``, predictions,
  embeddings; ``keep_last`` at its default, so a full ``last.pt`` is also written at the end).

For each repeat and modality set the systems run one after the other, the order reversed on every
other repeat.

What is measured (wall = ``time.perf_counter``, CPU = ``time.process_time``):

- train epoch: one call of ``Coach.train_epoch`` / ``Trainer._train_epoch`` (median over all epochs
  of all repeats);
- dev / test pass: one call of ``Coach.evaluate`` / ``Trainer.evaluate`` (or ``Trainer.score``, the
  lighter pass emowb's training loop uses where the trainer has it) on dev / test (median over
  all calls). The reference runs two forward passes per batch there (``model(data)`` for the
  predictions, ``model.get_loss(data)`` for the loss); emowb one;
- training loop: ``Coach.train`` (epochs, then dev and test with the best model) /
  ``Trainer.fit`` (epochs, then dev and test with the best model and the run folder's results);
- whole run: reference from entering ``coach.train()`` to after train.py's final ``torch.save``;
  emowb around ``train_run``, which also loads the features and builds the cached dialogues and
  graphs (``data prep``, ``emowb.train.run.prepare_data``, also shown alone);
- process: the subprocess from spawn to exit, CPU from ``getrusage(RUSAGE_CHILDREN)`` (interpreter
  start-up and imports, ~10 s, included);
- checkpoints: ``torch.save`` time during a run (reference: the best model on each dev
  improvement + the final checkpoint; emowb: ``best.pt`` + ``last.pt``), and the checkpointing
  time spent in the training thread (reference: the same; emowb: ``Trainer._checkpoint`` or, in
  older trainers, ``_save_last``, which may hand the write to a background thread). CPU is the
  whole process's, so a background write counts in the CPU of whatever runs meanwhile;
- counts of epochs and dev / test passes, and the test weighted F1 of the best-dev model.

Ratios are reference / emowb: above 1 means emowb is faster. Read the per-epoch and per-pass rows
for the cost of the model and its input pipeline, the training-loop and whole-run rows for what a
user waits for (at a tiny shape these are dominated by fixed costs: checkpoints, result files).
The test F1 is a sanity check only: the data are synthetic.

A weight-parity check (also in a subprocess) builds the official ``cogmen.COGMEN(args)`` with a fixed
seed, copies its weights into ``emowb.models.cogmen.COGMEN(CogmenConfig(reference=True, ...))`` by a
name mapping (and, for ``atv``, a permutation of the residual stream: the reference concatenates
a, t, v; emowb a, v, t), runs both in eval mode on the same test batches and reports the largest
|difference| of the log-probabilities (float32: ~1e-6 or below) and the prediction agreement.

    python benchmarks/cogmen_vs_reference.py --reference ~/src/COGMEN [--modalities a,atv --epochs 4
        --repeats 2 --dialogues 151 --utterances 4490 --json out.json --md out.md --work DIR]
    python benchmarks/cogmen_vs_reference.py --reference ~/src/COGMEN --epochs 1 --dialogues 12 \\
        --utterances 200 --repeats 1                                   # smoke run
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pickle
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Any, Iterator, Sequence

import numpy as np

HERE = Path(__file__).resolve()
REPO = HERE.parents[1]
ENV_REFERENCE = "EMOWB_COGMEN_REFERENCE"
CLONE_URL = "https://github.com/Exploration-Lab/COGMEN"
#: feature widths of COGMEN's IEMOCAP pickles
DIMS = {"a": 100, "v": 512, "t": 768}
#: the width of the ``text`` attribute of a Sample (``video_text`` in COGMEN's features pickle)
TEXT_DIM = 100
#: IEMOCAP-4: 4,490 utterances in 151 dialogues; COGMEN: 120 training (first 10 % dev), 31 test
IEMOCAP4 = {"dialogues": 151, "utterances": 4490, "train_dialogues": 120, "test_dialogues": 31}
#: hap, sad, neu, ang: the IEMOCAP-4 class shares behind COGMEN's class weights
LABEL_PRIORS = (0.1426, 0.2386, 0.3760, 0.2428)
MAX_LEN = 110
N_CLASSES = 4
#: reference state-dict prefixes -> emowb's (the parity check's weight mapping)
NAME_MAP = (
    ("rnn.transformer_encoder.", "encoder."),
    ("rnn.transformer_out.", "seq_out."),
    ("gcn.conv1.", "rgcn."),
    ("gcn.conv2.", "gconv."),
    ("gcn.bn.", "bn."),
    ("clf.lin1.", "clf_hidden."),
    ("clf.lin2.", "clf_out."),
)
#: reference parameters the forward pass of COGMEN-transformer never uses
UNUSED_REFERENCE = ("rnn.encoding_layer.", "rnn.LayerNorm.", "clf.emotion_att.", "clf.lin_7.", "clf.linear.")
SYSTEMS = ("reference", "emowb", "emowb-refmode")
METRICS = (  # (key, label)
    ("train_epoch_cpu_s", "train epoch, CPU s"),
    ("train_epoch_wall_s", "train epoch, wall s"),
    ("dev_eval_cpu_s", "dev pass, CPU s"),
    ("dev_eval_wall_s", "dev pass, wall s"),
    ("test_eval_cpu_s", "test pass, CPU s"),
    ("test_eval_wall_s", "test pass, wall s"),
    ("train_loop_cpu_s", "coach.train() / Trainer.fit, CPU s"),
    ("train_loop_wall_s", "coach.train() / Trainer.fit, wall s"),
    ("whole_cpu_s", "whole run, CPU s"),
    ("whole_wall_s", "whole run, wall s"),
    ("process_cpu_s", "process, CPU s"),
    ("process_wall_s", "process, wall s"),
    ("checkpoint_wall_s", "torch.save, wall s"),
    ("checkpoint_fg_wall_s", "checkpointing, training thread, wall s"),
    ("data_prep_wall_s", "data prep, wall s"),
    ("epochs", "epochs"),
    ("dev_passes", "dev passes"),
    ("test_passes", "test passes"),
    ("test_weighted_f1", "test weighted F1"),
)
COUNT_KEYS = ("epochs", "dev_passes", "test_passes")
RATIO_KEYS = ("train_epoch_cpu_s", "train_epoch_wall_s", "dev_eval_cpu_s", "dev_eval_wall_s",
              "test_eval_cpu_s", "test_eval_wall_s", "train_loop_cpu_s", "train_loop_wall_s", "whole_cpu_s",
              "whole_wall_s", "process_cpu_s", "process_wall_s")


# --------------------------------------------------------------------------------------- reference
def find_reference(path: str | os.PathLike | None) -> Path | None:
    """The checkout at ``path`` if it looks like the official COGMEN repository, else None."""
    if not path:
        return None
    p = Path(path).expanduser()
    if (p / "cogmen" / "Coach.py").is_file() and (p / "train.py").is_file():
        return p.resolve()
    return None


def reference_order(modalities: str) -> str:
    """The order the reference concatenates features in (its ``Dataset.padding``: a, t, v)."""
    return "".join(m for m in "atv" if m in modalities)


def emowb_order(modalities: str) -> str:
    """emowb's order (always a, v, t)."""
    return "".join(m for m in "avt" if m in modalities)


# -------------------------------------------------------------------------------------------- data
def split_sizes(n_dialogues: int) -> tuple[int, int, int]:
    """(train, dev, test) dialogue counts: COGMEN's IEMOCAP-4 proportions (31 of 151 test, the
    first 10 % of the training dialogues dev), at least one of each."""
    if n_dialogues < 3:
        raise ValueError(f"need at least 3 dialogues (train, dev, test), got {n_dialogues}")
    n_test = min(n_dialogues - 2, max(1, round(n_dialogues * IEMOCAP4["test_dialogues"] / IEMOCAP4["dialogues"])))
    n_train_all = n_dialogues - n_test
    n_dev = min(n_train_all - 1, max(1, int(n_train_all * 0.1)))
    return n_train_all - n_dev, n_dev, n_test


def dialogue_lengths(n_dialogues: int, n_utterances: int, rng: np.random.Generator) -> np.ndarray:
    """Lengths summing to ``n_utterances``: skewed like IEMOCAP's (most short, a few up to 110)."""
    mean = n_utterances / n_dialogues
    if mean < 4:
        raise ValueError(f"{n_utterances} utterances in {n_dialogues} dialogues: need at least 4 per dialogue")
    lo = int(min(10, max(4, mean // 2)))
    hi = max(lo + 1, min(MAX_LEN, int(4 * mean)))
    extra = rng.gamma(1.5, (mean - lo) / 1.5, n_dialogues) if mean > lo else np.zeros(n_dialogues)
    lens = np.clip(np.round(lo + extra), lo, hi).astype(int)
    # fix the total one utterance at a time, never leaving [lo, hi]
    diff = n_utterances - int(lens.sum())
    order = rng.permutation(n_dialogues)
    i = 0
    while diff:
        k = order[i % n_dialogues]
        if diff > 0 and lens[k] < hi:
            lens[k] += 1
            diff -= 1
        elif diff < 0 and lens[k] > lo:
            lens[k] -= 1
            diff += 1
        i += 1
        if i > 100 * n_utterances:  # pragma: no cover - only for impossible shapes
            raise ValueError(f"cannot fit {n_utterances} utterances in {n_dialogues} dialogues of {lo}..{hi}")
    return lens


def make_dialogues(n_dialogues: int, n_utterances: int, seed: int = 0) -> dict:
    """Synthetic dialogues in COGMEN's per-dialogue layout, with COGMEN's split.

    Returns ``{"train": [...], "dev": [...], "test": [...]}`` of dicts with the attributes of a
    ``cogmen.Sample`` (``vid, speaker, label, text, audio, visual, sentence,
    sbert_sentence_embeddings``). Training and dev dialogues come from sessions 1-4, test from
    session 5 (speaker-independent, as IEMOCAP's COGMEN split).
    """
    rng = np.random.default_rng(seed)
    n_train, n_dev, n_test = split_sizes(n_dialogues)
    lens = dialogue_lengths(n_dialogues, n_utterances, rng)
    means = rng.normal(0.0, 0.6, size=(N_CLASSES, DIMS["a"])).astype(np.float32)   # the class signal
    priors = np.asarray(LABEL_PRIORS) / sum(LABEL_PRIORS)
    vids = []
    n_fit = n_train + n_dev
    for k in range(n_fit):                       # dev = the first 10 %: COGMEN's preprocess.py
        sess = 1 + (k * 4) // n_fit
        vids.append(f"Ses0{sess}{'FM'[k % 2]}_{'impro' if k % 3 else 'script'}{k:03d}")
    for k in range(n_test):
        vids.append(f"Ses05{'FM'[k % 2]}_{'impro' if k % 3 else 'script'}{k:03d}")
    dialogues = []
    for k, (vid, n) in enumerate(zip(vids, lens)):
        n = int(n)
        labels = np.empty(n, np.int64)
        labels[0] = rng.choice(N_CLASSES, p=priors)
        for t in range(1, n):                    # emotions persist within a dialogue
            labels[t] = labels[t - 1] if rng.random() < 0.6 else rng.choice(N_CLASSES, p=priors)
        if k in (0, n_dev, n_fit) and n >= N_CLASSES:   # every class in each split's first dialogue
            labels[:N_CLASSES] = rng.permutation(N_CLASSES)
        audio = rng.normal(size=(n, DIMS["a"])).astype(np.float32) + means[labels]
        visual = rng.normal(size=(n, DIMS["v"])).astype(np.float32)
        text = rng.normal(size=(n, TEXT_DIM)).astype(np.float32)
        sbert = rng.normal(0.0, 0.1, size=(n, DIMS["t"])).astype(np.float32)
        dialogues.append(dict(
            vid=vid, speaker=["MF"[int(b)] for b in rng.integers(0, 2, n)], label=[int(x) for x in labels],
            text=list(text), audio=list(audio), visual=list(visual),
            sentence=[f"utterance {t} of {vid}" for t in range(n)], sbert_sentence_embeddings=sbert))
    return {"train": dialogues[n_dev:n_fit], "dev": dialogues[:n_dev], "test": dialogues[n_fit:]}


@contextlib.contextmanager
def _sample_class() -> Iterator[type]:
    """A stand-in ``cogmen.Sample.Sample`` class, registered in ``sys.modules`` while pickling.

    Pickle stores a class by module and qualified name, so the file unpickles as the official
    ``cogmen.Sample`` objects (attributes set, ``__init__`` not run) where the cogmen package is
    importable, and as emowb's stand-in in emowb's importer.
    """
    pkg = types.ModuleType("cogmen")
    mod = types.ModuleType("cogmen.Sample")
    cls = type("Sample", (), {"__module__": "cogmen.Sample", "__qualname__": "Sample",
                              "__doc__": "synthetic stand-in for cogmen.Sample.Sample"})
    mod.Sample = cls
    pkg.Sample = mod
    saved = {k: sys.modules.get(k) for k in ("cogmen", "cogmen.Sample")}
    sys.modules["cogmen"], sys.modules["cogmen.Sample"] = pkg, mod
    try:
        yield cls
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v


def write_reference_pickle(path: str | os.PathLike, n_dialogues: int, n_utterances: int, seed: int = 0) -> dict:
    """Write the synthetic data as the official ``data_iemocap_4.pkl``; return a summary of its shape."""
    parts = make_dialogues(n_dialogues, n_utterances, seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with _sample_class() as cls:
        data = {}
        for part, dialogues in parts.items():
            samples = []
            for d in dialogues:
                s = object.__new__(cls)
                s.__dict__.update(d)
                samples.append(s)
            data[part] = samples
        with open(path, "wb") as f:
            pickle.dump(data, f, protocol=4)
    lens = [len(d["label"]) for p in parts.values() for d in p]
    labels = np.concatenate([d["label"] for p in parts.values() for d in p])
    return {"file": str(path), "dialogues": len(lens), "utterances": int(sum(lens)),
            **{f"{p}_dialogues": len(v) for p, v in parts.items()},
            **{f"{p}_utterances": int(sum(len(d["label"]) for d in v)) for p, v in parts.items()},
            "length_min": int(min(lens)), "length_median": float(np.median(lens)),
            "length_mean": float(np.mean(lens)),
            "length_max": int(max(lens)), "dims": dict(DIMS),
            "label_counts": np.bincount(labels, minlength=N_CLASSES).tolist(), "seed": seed}


# ------------------------------------------------------------------------------ timing (subprocess)
class _Recorder:
    """Wall, process CPU and thread CPU per call of wrapped functions (in a worker process)."""

    def __init__(self) -> None:
        self.calls: dict[str, list[dict]] = {}
        self.wrapped: list[str] = []
        self.missing: list[str] = []
        self._active: set[str] = set()

    def wrap(self, owner: Any, name: str, key: str, *, classify=None, keep=None, group: str | None = None) -> bool:
        """Replace ``owner.name`` by a timed wrapper recording under ``key`` (or ``classify(args, kwargs)``).

        ``group``: a call made while another call of the same group is running (one wrapped
        function calling another) is not recorded again. Returns False (and notes the name) if
        ``owner`` has no such function.
        """
        fn = getattr(owner, name, None)
        where = owner.__name__ if isinstance(owner, types.ModuleType) else f"{owner.__module__}.{owner.__qualname__}"
        label = f"{where}.{name}"
        if fn is None or not callable(fn):
            self.missing.append(label)
            return False
        rec = self

        def timed(*args, **kwargs):
            if group is not None and group in rec._active:
                return fn(*args, **kwargs)
            k = classify(args, kwargs) if classify else key
            if group is not None:
                rec._active.add(group)
            w0, c0, t0 = time.perf_counter(), time.process_time(), time.thread_time()
            try:
                out = fn(*args, **kwargs)
            finally:
                if group is not None:
                    rec._active.discard(group)
            entry = {"wall_s": time.perf_counter() - w0, "cpu_s": time.process_time() - c0,
                     "thread_cpu_s": time.thread_time() - t0, "fn": name}
            if keep is not None:
                entry.update(keep(args, kwargs, out))
            rec.calls.setdefault(k, []).append(entry)
            return out

        timed.__wrapped__ = fn
        timed.__name__ = getattr(fn, "__name__", name)
        setattr(owner, name, timed)
        self.wrapped.append(label)
        return True

    def wrap_any(self, owner: Any, names: Sequence[str], key: str, **kw) -> str | None:
        """Wrap the first of ``names`` that ``owner`` has; report all as missing if none."""
        for n in names:
            if callable(getattr(owner, n, None)):
                self.wrap(owner, n, key, **kw)
                return n
        where = owner.__name__ if isinstance(owner, types.ModuleType) else f"{owner.__module__}.{owner.__qualname__}"
        self.missing.append(f"{where}.{'|'.join(names)}")
        return None

    def total(self, key: str, field: str = "wall_s") -> float:
        return float(sum(c[field] for c in self.calls.get(key, [])))


def _install_reference_stubs() -> None:
    """Stub modules the official code imports but a benchmark neither can nor needs to use."""
    comet = types.ModuleType("comet_ml")

    class Experiment:  # noqa: D401 - a stub
        def __init__(self, *a, **k):
            raise RuntimeError("comet_ml is stubbed by the benchmark (no --log_in_comet)")

    class Optimizer(Experiment):
        pass

    comet.Experiment, comet.Optimizer = Experiment, Optimizer
    st = types.ModuleType("sentence_transformers")

    class SentenceTransformer:
        """Stub: cogmen/Sample.py loads a hub model at import; the pickle holds the embeddings."""

        def __init__(self, *a, **k):
            pass

        def encode(self, *a, **k):
            raise RuntimeError("sentence_transformers is stubbed by the benchmark")

    st.SentenceTransformer = SentenceTransformer
    sys.modules["comet_ml"] = comet
    sys.modules["sentence_transformers"] = st


def _import_reference(ref: str):
    _install_reference_stubs()
    sys.path.insert(0, ref)
    import warnings

    with warnings.catch_warnings():
        # cogmen/Coach.py: "from numpy.core import overrides" (deprecated in numpy 2, still works)
        warnings.simplefilter("ignore", DeprecationWarning)
        import cogmen
    return cogmen


def reference_argv(spec: dict, modalities: str) -> list[str]:
    """train.py's command line for one run (its argparse builds ``args`` from it)."""
    argv = ["train.py", "--dataset", "iemocap_4", "--modalities", reference_order(modalities), "--from_begin",
            "--epochs", str(spec["epochs"]), "--device", "cpu", "--data_dir_path", spec["data_dir"],
            "--gnn_nheads", str(spec["gnn_heads"]), "--seed", str(spec["seed"])]
    if spec.get("concat"):
        argv.append("--concat_gin_gout")
    return argv


class _ArgsCaptured(Exception):
    def __init__(self, captured) -> None:
        super().__init__("train.py args captured")
        self.captured = captured


def reference_args(cogmen, spec: dict, modalities: str):
    """``args`` exactly as train.py builds them (its argparse and ``dataset_embedding_dims``):
    train.py runs until its ``main`` constructs the first ``cogmen.Dataset``, which stops it."""
    import runpy

    real = cogmen.Dataset

    def capture(samples, args):
        raise _ArgsCaptured(args)

    saved_argv = sys.argv
    cogmen.Dataset = capture
    sys.argv = reference_argv(spec, modalities)
    try:
        runpy.run_path(str(Path(spec["reference"]) / "train.py"), run_name="__main__")
    except _ArgsCaptured as e:
        return e.captured
    finally:
        cogmen.Dataset = real
        sys.argv = saved_argv
    raise RuntimeError("train.py finished without building a cogmen.Dataset")


def _versions() -> dict:
    import torch

    out = {"python": platform.python_version(), "torch": torch.__version__, "numpy": np.__version__,
           "torch_threads": torch.get_num_threads()}
    try:
        import torch_geometric

        out["torch_geometric"] = torch_geometric.__version__
    except ImportError:  # pragma: no cover
        pass
    return out


def _worker_reference(spec: dict) -> dict:
    entry_unix = time.time()
    w_entry, c_entry = time.perf_counter(), time.process_time()
    import runpy

    import torch

    torch.set_num_threads(spec["threads"])
    cogmen = _import_reference(spec["reference"])
    imports_s = time.perf_counter() - w_entry
    rec = _Recorder()

    def f1_of(args, kwargs, out):
        try:
            return {"f1": float(out[0]), "loss": float(out[1])}
        except (TypeError, ValueError, IndexError):
            return {}

    test_of = lambda a, k: "test_eval" if (k.get("test", a[1] if len(a) > 1 else False)) else "dev_eval"  # noqa: E731
    rec.wrap(cogmen.Coach, "train_epoch", "train_epoch", keep=lambda a, k, out: {"loss": float(out)})
    rec.wrap(cogmen.Coach, "evaluate", "", classify=test_of, keep=f1_of)
    rec.wrap(cogmen.Coach, "train", "coach_train")
    rec.wrap(torch, "save", "torch_save")
    marks: dict[str, float] = {}
    inner = cogmen.Coach.train

    def train_marked(self, *a, **k):   # the whole run starts when coach.train() is entered
        marks["w0"], marks["c0"] = time.perf_counter(), time.process_time()
        marks["threads"] = torch.get_num_threads()
        return inner(self, *a, **k)

    cogmen.Coach.train = train_marked
    run_dir = Path(spec["run_dir"])
    (run_dir / "model_checkpoints").mkdir(parents=True, exist_ok=True)
    os.chdir(run_dir)
    sys.argv = reference_argv(spec, spec["modalities"])
    w_main = time.perf_counter()
    runpy.run_path(str(Path(spec["reference"]) / "train.py"), run_name="__main__")
    w_end, c_end = time.perf_counter(), time.process_time()
    tests = rec.calls.get("test_eval", [])
    return {"system": "reference", "modalities": spec["modalities"], "entry_unix": entry_unix,
            "imports_s": imports_s, "setup_wall_s": marks["w0"] - w_main,
            "whole_wall_s": w_end - marks["w0"], "whole_cpu_s": c_end - marks["c0"],
            "worker_wall_s": w_end - w_entry, "worker_cpu_s": c_end - c_entry,
            "checkpoint_wall_s": rec.total("torch_save"), "checkpoint_cpu_s": rec.total("torch_save", "thread_cpu_s"),
            "checkpoint_writes": len(rec.calls.get("torch_save", [])),
            "checkpoint_fg_wall_s": rec.total("torch_save"),   # all in the training thread
            "train_loop_wall_s": rec.total("coach_train"), "train_loop_cpu_s": rec.total("coach_train", "cpu_s"),
            "test_weighted_f1": tests[-1].get("f1") if tests else None,
            "threads_in_training": marks.get("threads"), "calls": rec.calls, "wrapped": rec.wrapped,
            "missing": rec.missing, "versions": _versions()}


def emowb_run_config(spec: dict, modalities: str, *, reference_mode: bool):
    """The emowb :class:`~emowb.train.run.RunConfig` matching the reference run's settings."""
    from emowb.models.cogmen import CogmenConfig
    from emowb.train.run import DataConfig, RunConfig
    from emowb.train.trainer import TrainConfig
    from emowb.types import Modality

    code = Modality.code(Modality.parse(modalities))
    data = DataConfig(corpus=spec["corpus"], features={"a": "cogmen-a", "v": "cogmen-v", "t": "cogmen-t"},
                      protocol="given:cogmen", standardize=False, per_speaker=False)
    model = CogmenConfig(modalities=code, hidden_size=100, seq_layers=2, seq_heads=None, dropout=0.5, wp=5, wf=5,
                         speaker_index="role", gnn_heads=spec["gnn_heads"], concat_seq=bool(spec.get("concat")),
                         reference=reference_mode)
    train = TrainConfig(epochs=spec["epochs"], batch_size=32, lr=1e-4, weight_decay=1e-8, optimizer="adam",
                        patience=None, lr_monitor="dev_loss", lr_patience=10, lr_factor=0.1, seed=spec["seed"],
                        device="cpu", num_threads=spec["threads"], progress=False,
                        eval_test_each_epoch=bool(spec.get("test_each_epoch")))
    return RunConfig(data=data, model=model, train=train, contexts=(code,))


def _worker_emowb(spec: dict) -> dict:
    entry_unix = time.time()
    w_entry, c_entry = time.perf_counter(), time.process_time()
    import torch

    torch.set_num_threads(spec["threads"])
    import emowb.train.run as run_mod
    import emowb.train.trainer as trainer_mod

    imports_s = time.perf_counter() - w_entry
    rec = _Recorder()
    T = trainer_mod.Trainer

    def which(a, k):
        self, source = a[0], (a[1] if len(a) > 1 else k.get("source"))
        if source is getattr(self, "dev_data", None):
            return "dev_eval"
        if source is getattr(self, "test_data", None):
            return "test_eval"
        return "other_eval"

    def eval_f1(a, k, out):
        m = getattr(out, "metrics", None) or {}
        return {"f1": m.get("weighted_f1"), "loss": getattr(out, "loss", None)}

    def score_f1(a, k, out):
        try:
            return {"f1": out[1].get("weighted_f1"), "loss": float(out[0])}
        except (TypeError, IndexError, AttributeError, ValueError):
            return {}

    # Trainer's internals change: wrap whichever of these exist (what was wrapped or not found
    # is reported). The training loop's dev passes may go through a lighter ``score`` and the
    # final ones through ``evaluate``; a pass inside another is not counted twice.
    rec.wrap_any(T, ("_train_epoch", "train_epoch"), "train_epoch", group="epoch")
    rec.wrap_any(T, ("evaluate",), "", classify=which, keep=eval_f1, group="eval")
    if hasattr(T, "score"):
        rec.wrap(T, "score", "", classify=which, keep=score_f1, group="eval")
    # checkpointing in the training thread (older trainers: _save_last writes last.pt itself;
    # newer: _checkpoint snapshots the state and hands the write to a background thread)
    rec.wrap_any(T, ("_checkpoint", "_save_last"), "checkpoint_fg", group="checkpoint")
    rec.wrap(T, "fit", "fit", keep=lambda a, k, out: {"timings": dict(getattr(a[0], "_timings", None) or {})})
    rec.wrap(run_mod, "prepare_data", "data_prep")
    rec.wrap(torch, "save", "torch_save")
    threads: dict[str, int] = {}
    name = next((n for n in ("_train_epoch", "train_epoch") if hasattr(T, n)), None)
    if name is not None:
        inner_epoch = getattr(T, name)

        def epoch_marked(self, *a, **k):
            threads.setdefault("threads", torch.get_num_threads())
            return inner_epoch(self, *a, **k)

        setattr(T, name, epoch_marked)
    cfg = emowb_run_config(spec, spec["modalities"], reference_mode=spec.get("reference_mode", False))
    w0, c0 = time.perf_counter(), time.process_time()
    res = run_mod.train_run(cfg, run_dir=spec["run_dir"])
    w1, c1 = time.perf_counter(), time.process_time()
    ctx = cfg.contexts[0]
    test = (res.metrics.get("test") or {}).get(ctx, {})
    fit_timings = next((c.get("timings") for c in rec.calls.get("fit", []) if c.get("timings")), {})
    return {"system": "emowb-refmode" if spec.get("reference_mode") else "emowb", "modalities": spec["modalities"],
            "entry_unix": entry_unix, "imports_s": imports_s,
            "whole_wall_s": w1 - w0, "whole_cpu_s": c1 - c0,
            "worker_wall_s": w1 - w_entry, "worker_cpu_s": c1 - c_entry,
            "train_loop_wall_s": rec.total("fit"), "train_loop_cpu_s": rec.total("fit", "cpu_s"),
            "data_prep_wall_s": rec.total("data_prep"),
            "data_prep_cpu_s": rec.total("data_prep", "cpu_s"),
            "checkpoint_wall_s": rec.total("torch_save"), "checkpoint_cpu_s": rec.total("torch_save", "thread_cpu_s"),
            "checkpoint_writes": len(rec.calls.get("torch_save", [])),
            "checkpoint_fg_wall_s": rec.total("checkpoint_fg") if "checkpoint_fg" in rec.calls else None,
            "trainer_timings": fit_timings,
            "test_weighted_f1": test.get("weighted_f1"), "best_epoch": res.best_epoch,
            "threads_in_training": threads.get("threads"), "calls": rec.calls, "wrapped": rec.wrapped,
            "missing": rec.missing, "versions": _versions()}


# ------------------------------------------------------------------------------------------ parity
def reference_to_emowb_names(ref_state: dict) -> tuple[dict, list[str]]:
    """Rename a reference state dict to emowb's names; return it and the skipped (unused) keys.

    Raises:
        KeyError: a reference key that is neither mapped nor known to be unused.
    """
    out, skipped, unknown = {}, [], []
    for k, v in ref_state.items():
        for src, dst in NAME_MAP:
            if k.startswith(src):
                out[dst + k[len(src):]] = v
                break
        else:
            if k.startswith(UNUSED_REFERENCE):
                skipped.append(k)
            else:
                unknown.append(k)
    if unknown:
        raise KeyError(f"reference parameters with no emowb counterpart: {unknown}")
    return out, skipped


def input_permutation(src_order: str, dst_order: str, dims: dict | None = None) -> np.ndarray:
    """``p`` with ``x_dst[i] = x_src[p[i]]`` for features concatenated in ``src_order`` / ``dst_order``."""
    dims = dims or DIMS
    start, off = {}, 0
    for m in src_order:
        start[m] = off
        off += dims[m]
    return np.concatenate([np.arange(start[m], start[m] + dims[m]) for m in dst_order]).astype(np.int64)


def permute_inputs(state: dict, perm) -> dict:
    """Re-order the SeqContext residual stream of an emowb-named state dict.

    A model reading inputs concatenated in one order becomes the same function of inputs
    concatenated in another (``x_new[i] = x_old[perm[i]]``): every weight that reads the residual
    stream gets its input columns permuted, every one that writes it its output rows (the
    attention heads' own dimensions and the feed-forward hidden layer stay as they are).
    """
    import torch

    p = torch.as_tensor(np.asarray(perm), dtype=torch.long)
    if torch.equal(p, torch.arange(len(p))):
        return dict(state)
    out = {}
    for k, v in state.items():
        if k.startswith("encoder.layers."):
            sub = k.split(".", 3)[3]
            if sub in ("self_attn.in_proj_weight", "linear1.weight"):
                v = v[:, p]                                   # reads the stream
            elif sub in ("self_attn.out_proj.weight", "linear2.weight"):
                v = v[p, :]                                   # writes the stream
            elif sub in ("self_attn.out_proj.bias", "linear2.bias", "norm1.weight", "norm1.bias",
                         "norm2.weight", "norm2.bias"):
                v = v[p]
            elif sub not in ("self_attn.in_proj_bias", "linear1.bias"):
                raise KeyError(f"permute_inputs: unexpected encoder parameter {k}")
        elif k == "seq_out.weight":
            v = v[:, p]
        out[k] = v.clone()
    return out


def map_reference_state(ref_state: dict, modalities: str, emowb_state: dict) -> tuple[dict, list[str]]:
    """The reference's weights as an emowb state dict (names mapped, inputs re-ordered), checked
    against ``emowb_state`` (same keys but emowb's zero fill buffers, same shapes)."""
    named, skipped = reference_to_emowb_names(ref_state)
    perm = input_permutation(reference_order(modalities), emowb_order(modalities))
    mapped = permute_inputs(named, perm)
    own = {k for k in emowb_state if not k.startswith("fill_")}
    if set(mapped) != own:
        raise KeyError(f"state dicts differ: only in the reference {sorted(set(mapped) - own)}, "
                       f"only in emowb {sorted(own - set(mapped))}")
    bad = [(k, tuple(mapped[k].shape), tuple(emowb_state[k].shape)) for k in own
           if tuple(mapped[k].shape) != tuple(emowb_state[k].shape)]
    if bad:
        raise ValueError(f"shape mismatches (key, reference, emowb): {bad}")
    full = dict(emowb_state)
    full.update(mapped)
    return full, skipped


def _worker_parity(spec: dict) -> dict:
    import torch
    import torch.nn.functional as F

    torch.set_num_threads(spec["threads"])
    cogmen = _import_reference(spec["reference"])
    from emowb.data.corpus import Corpus
    from emowb.data.splits import given_split
    from emowb.features.store import load_features
    from emowb.models.cogmen import COGMEN
    from emowb.train.run import prepare_data
    from emowb.types import Modality

    data = cogmen.utils.load_pkl(spec["pickle"])
    corpus = Corpus.load(spec["corpus"], check_files=False)
    split = given_split(corpus, "cogmen")
    names = {"a": "cogmen-a", "v": "cogmen-v", "t": "cogmen-t"}
    out = {}
    for mods in spec["modality_sets"]:
        args = reference_args(cogmen, spec, mods)
        cogmen.utils.set_seed(spec["seed"])
        ref = cogmen.COGMEN(args).eval()
        cfg = emowb_run_config(spec, mods, reference_mode=True).model
        feats = {Modality(m): load_features(corpus, names[m]) for m in emowb_order(mods)}
        model = COGMEN(cfg, input_dims={m: DIMS[m] for m in emowb_order(mods)}, n_classes=N_CLASSES).eval()
        state, skipped = map_reference_state(ref.state_dict(), mods, model.state_dict())
        model.load_state_dict(state)
        prepared = prepare_data(corpus, feats, split, model=cfg, standardize=False, per_speaker=False)
        ds = cogmen.Dataset(data["test"], args)
        perm = torch.as_tensor(input_permutation(reference_order(mods), emowb_order(mods)))
        emowb_batches = list(prepared.test.batches(batch_size=args.batch_size, shuffle=False))
        if len(emowb_batches) != len(ds):
            raise AssertionError(f"{len(emowb_batches)} emowb test batches, {len(ds)} reference batches")
        max_d, max_x, agree, n = 0.0, 0.0, 0, 0
        with torch.no_grad():
            for i, batch in enumerate(emowb_batches):
                raw = ds.raw_batch(i)
                d = ds[i]
                vids = [s.vid for s in raw]
                if list(batch.dialogue_ids) != vids:
                    raise AssertionError(f"batch {i}: emowb dialogues {list(batch.dialogue_ids)[:3]}..., "
                                         f"reference {vids[:3]}...")
                lens = d["text_len_tensor"]
                if batch.lengths.tolist() != lens.tolist():
                    raise AssertionError(f"batch {i}: dialogue lengths differ")
                want_utts = [f"{v}_u{t:03d}" for v, n_ in zip(vids, lens.tolist()) for t in range(n_)]
                if list(batch.utt_ids) != want_utts:
                    raise AssertionError(f"batch {i}: emowb nodes are not in the reference's order")
                for b, n_ in enumerate(lens.tolist()):
                    if not torch.equal(batch.speaker[b, :n_].cpu(), d["speaker_tensor"][b, :n_]):
                        raise AssertionError(f"batch {i}, dialogue {vids[b]}: speaker indices differ (M=0/F=1)")
                if not torch.equal(batch.labels.cpu(), d["label_tensor"]):
                    raise AssertionError(f"batch {i}: labels differ")
                if hasattr(model, "_inputs"):        # the model's concatenated input vs the reference's
                    x_e = model._inputs(batch)
                    x_r = d["input_tensor"][..., perm]
                    for b, n_ in enumerate(lens.tolist()):
                        max_x = max(max_x, float((x_e[b, :n_] - x_r[b, :n_]).abs().max()))
                else:
                    max_x = float("nan")
                graph_out, features = ref.get_rep(d)
                h = torch.cat([features, graph_out], dim=-1) if args.concat_gin_gout else graph_out
                lp_r = ref.clf.get_prob(h, lens)
                lp_e = F.log_softmax(model(batch).logits, dim=-1)
                max_d = max(max_d, float((lp_r - lp_e).abs().max()))
                agree += int((lp_r.argmax(-1) == lp_e.argmax(-1)).sum())
                n += int(lp_r.shape[0])
        out[mods] = {"max_abs_dlogprob": max_d, "agreement": agree / max(n, 1), "nodes": n,
                     "batches": len(ds), "max_abs_dinput": max_x,
                     "input_permuted": reference_order(mods) != emowb_order(mods),
                     "reference_order": reference_order(mods), "emowb_order": emowb_order(mods),
                     "mapped_tensors": len(state) - sum(k.startswith("fill_") for k in state),
                     "skipped_reference_tensors": skipped, "seq_heads": model.seq_heads,
                     "reference_seq_heads": ref.rnn.nhead}
    return {"parity": out, "versions": _versions()}


WORKERS = {"reference": _worker_reference, "emowb": _worker_emowb, "parity": _worker_parity}


def _worker(kind: str, spec_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    res = WORKERS[kind](spec)
    tmp = Path(spec["out"]).with_suffix(".tmp")
    tmp.write_text(json.dumps(res, default=float))
    os.replace(tmp, spec["out"])
    return 0


# ------------------------------------------------------------------------------------- orchestration
def _child_env() -> dict:
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", TQDM_DISABLE="1",
               PYTHONHASHSEED="0")
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
    return env


def run_worker(kind: str, spec: dict, work: Path, tag: str, *, timeout: float | None = None) -> dict:
    """Run one worker in a fresh interpreter; return its result plus process wall / CPU."""
    logs = work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    spec = dict(spec, out=str(logs / f"{tag}.json"))
    spec_path = logs / f"{tag}.spec.json"
    spec_path.write_text(json.dumps(spec, indent=1))
    Path(spec["out"]).unlink(missing_ok=True)
    log_path = logs / f"{tag}.log"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    spawn_unix = time.time()
    w0 = time.perf_counter()
    with open(log_path, "wb") as log:
        proc = subprocess.run([sys.executable, str(HERE), "--worker", kind, str(spec_path)], stdout=log,
                              stderr=subprocess.STDOUT, env=_child_env(), timeout=timeout, cwd=str(work))
    wall = time.perf_counter() - w0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0 or not Path(spec["out"]).is_file():
        tail = log_path.read_text(errors="replace").splitlines()[-30:]
        raise RuntimeError(f"{kind} worker {tag} failed (exit {proc.returncode}); log {log_path}:\n  "
                           + "\n  ".join(tail))
    res = json.loads(Path(spec["out"]).read_text())
    res["process_wall_s"] = wall
    res["process_cpu_s"] = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    if "entry_unix" in res:
        res["startup_s"] = res["entry_unix"] - spawn_unix
    res["log"] = str(log_path)
    return res


def _median(xs: Sequence[float]) -> float | None:
    xs = [x for x in xs if x is not None]
    return float(statistics.median(xs)) if xs else None


def summarise(runs: list[dict]) -> dict:
    """Medians per (modalities, system) and reference / emowb ratios."""
    out: dict[str, dict] = {}
    for mods in dict.fromkeys(r["modalities"] for r in runs):
        by_sys: dict[str, dict] = {}
        for system in SYSTEMS:
            rs = [r for r in runs if r["modalities"] == mods and r["system"] == system]
            if not rs:
                continue
            calls = lambda key, field: [c[field] for r in rs for c in r["calls"].get(key, [])]  # noqa: E731
            by_sys[system] = {
                "runs": len(rs),
                "train_epoch_cpu_s": _median(calls("train_epoch", "cpu_s")),
                "train_epoch_wall_s": _median(calls("train_epoch", "wall_s")),
                "dev_eval_cpu_s": _median(calls("dev_eval", "cpu_s")),
                "dev_eval_wall_s": _median(calls("dev_eval", "wall_s")),
                "test_eval_cpu_s": _median(calls("test_eval", "cpu_s")),
                "test_eval_wall_s": _median(calls("test_eval", "wall_s")),
                **{k: _median([r.get(k) for r in rs]) for k in (
                    "train_loop_cpu_s", "train_loop_wall_s", "whole_cpu_s", "whole_wall_s", "process_cpu_s",
                    "process_wall_s", "checkpoint_wall_s", "checkpoint_fg_wall_s", "data_prep_wall_s",
                    "test_weighted_f1", "startup_s", "imports_s")},
                "epochs": _median([len(r["calls"].get("train_epoch", [])) for r in rs]),
                "dev_passes": _median([len(r["calls"].get("dev_eval", [])) for r in rs]),
                "test_passes": _median([len(r["calls"].get("test_eval", [])) for r in rs]),
                "threads_in_training": sorted({r.get("threads_in_training") for r in rs}, key=str),
            }
        ratios = {}
        ref = by_sys.get("reference")
        for system in ("emowb", "emowb-refmode"):
            if ref and system in by_sys:
                ratios[system] = {k: (ref[k] / by_sys[system][k]
                                      if ref.get(k) and by_sys[system].get(k) else None) for k in RATIO_KEYS}
        out[mods] = {"systems": by_sys, "ratios": ratios}
    return out


def _fmt(x: Any) -> str:
    if x is None:
        return "-"
    if isinstance(x, float):
        if x != x:
            return "nan"
        if abs(x) >= 100:
            return f"{x:.0f}"
        if abs(x) >= 10:
            return f"{x:.1f}"
        if abs(x) >= 0.01 or x == 0:
            return f"{x:.3f}"
        return f"{x:.2e}"
    return str(x)


def table_rows(summary: dict) -> tuple[list[str], list[list[str]]]:
    systems = [s for s in SYSTEMS if any(s in v["systems"] for v in summary.values())]
    header = ["modalities", "measure"] + systems + [f"ref/{s}" for s in systems if s != "reference"]
    rows = []
    for mods, v in summary.items():
        for key, label in METRICS:
            vals = [v["systems"].get(s, {}).get(key) for s in systems]
            if all(x is None for x in vals):
                continue
            ratios = [v["ratios"].get(s, {}).get(key) for s in systems if s != "reference"]
            fmt = (lambda x: "-" if x is None else f"{x:g}") if key in COUNT_KEYS else _fmt
            rows.append([mods, label] + [fmt(x) for x in vals] + [_fmt(r) if r is not None else "" for r in ratios])
    return header, rows


def print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    line = lambda r: "  ".join(str(c).ljust(w) if i < 2 else str(c).rjust(w)  # noqa: E731
                               for i, (c, w) in enumerate(zip(r, widths)))
    print(line(header))
    print("  ".join("-" * w for w in widths))
    last = None
    for r in rows:
        if last is not None and r[0] != last:
            print()
        last = r[0]
        print(line(r))


def markdown(result: dict) -> str:
    s, d, m = result["settings"], result["data"], result["machine"]
    header, rows = table_rows(result["summary"])
    md = ["# COGMEN training speed: emowb vs the official COGMEN code", "",
          f"Reference checkout: `{s['reference']}` (commit {s.get('reference_commit') or 'unknown'}). "
          "Ratios are reference / emowb (> 1: emowb faster). Medians over "
          f"{s['repeats']} repeat(s); per-epoch and per-pass figures are medians over all calls.", "",
          "## Settings", "",
          "| setting | value |", "|---|---|"]
    for k in ("modalities", "epochs", "repeats", "threads", "batch_size", "lr", "weight_decay", "optimizer",
              "hidden_size", "seq_layers", "seq_heads", "gnn_heads", "concat_gin_gout", "dropout", "wp", "wf",
              "seed", "standardize", "emowb_padding_mask", "emowb_reference_mode", "emowb_test_each_epoch"):
        md.append(f"| {k} | {s.get(k)} |")
    md += ["", "## Machine", "", "| | |", "|---|---|"]
    for k, v in m.items():
        md.append(f"| {k} | {v} |")
    md += ["", "## Data", "",
           f"{d['dialogues']} dialogues, {d['utterances']} utterances (train {d['train_dialogues']} / "
           f"dev {d['dev_dialogues']} / test {d['test_dialogues']} dialogues; lengths {d['length_min']}..."
           f"{d['length_max']}, mean {d['length_mean']:.1f}); widths a {DIMS['a']}, v {DIMS['v']}, t {DIMS['t']}; "
           f"emowb import {result['import_s']:.2f} s (not in the timings).", "",
           "## Results", "",
           "| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for r in rows:
        md.append("| " + " | ".join(r) + " |")
    par = result.get("parity")
    if par:
        md += ["", "## Weight parity (reference weights in emowb, `reference=True`, eval mode, test set)", "",
               "| modalities | nodes | max abs Δ log-prob | prediction agreement | max abs Δ input "
               "| inputs permuted |",
               "|---|---|---|---|---|---|"]
        for mods, p in par.items():
            if "error" in p:
                md.append(f"| {mods} | error: {p['error']} | | | | |")
            else:
                md.append(f"| {mods} | {p['nodes']} | {p['max_abs_dlogprob']:.2e} | {p['agreement']:.4f} | "
                          f"{p['max_abs_dinput']:.1e} | {p['input_permuted']} |")
    if result.get("notes"):
        md += ["", "## Notes", ""] + [f"- {n}" for n in result["notes"]]
    return "\n".join(md) + "\n"


def _git_commit(path: Path) -> str | None:
    try:
        out = subprocess.run(["git", "-C", str(path), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=10)
        return out.stdout.strip() or None if out.returncode == 0 else None
    except (OSError, subprocess.SubprocessError):
        return None


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="See the module docstring for what is measured and how to read it.")
    p.add_argument("--reference", default=os.environ.get(ENV_REFERENCE),
                   help=f"checkout of {CLONE_URL} (default: ${ENV_REFERENCE})")
    p.add_argument("--modalities", default="a,atv", help="comma-separated modality sets (default a,atv)")
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--dialogues", type=int, default=IEMOCAP4["dialogues"])
    p.add_argument("--utterances", type=int, default=IEMOCAP4["utterances"])
    p.add_argument("--gnn-heads", type=int, default=1, help="the reference's --gnn_nheads (its default 1)")
    p.add_argument("--concat-gin-gout", action="store_true",
                   help="the reference's --concat_gin_gout (emowb concat_seq=True)")
    p.add_argument("--seed", type=int, default=24, help="training seed of both (the reference's default 24)")
    p.add_argument("--data-seed", type=int, default=0, help="seed of the synthetic data")
    p.add_argument("--threads", type=int, default=1, help="torch threads in every run (default 1)")
    p.add_argument("--emowb-reference-mode", action="store_true",
                   help="also run emowb with CogmenConfig(reference=True) (no padding mask)")
    p.add_argument("--emowb-test-each-epoch", action="store_true",
                   help="emowb also scores test after every epoch, as the reference does")
    p.add_argument("--no-parity", action="store_true", help="skip the weight-parity check")
    p.add_argument("--json", help="write the results here")
    p.add_argument("--md", help="write a markdown report here")
    p.add_argument("--work", help="working folder (kept; default: a temporary folder, removed)")
    p.add_argument("--timeout", type=float, help="seconds allowed per subprocess")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--worker"]:
        return _worker(argv[1], argv[2])
    a = build_parser().parse_args(argv)
    ref = find_reference(a.reference)
    if ref is None:
        where = f" ({a.reference} is not a COGMEN checkout: no cogmen/Coach.py and train.py)" if a.reference else ""
        print(f"skipped: no reference checkout{where}; get it with `git clone {CLONE_URL}`, then pass "
              f"--reference PATH (or set {ENV_REFERENCE}=PATH)")
        return 0
    mod_sets = [m.strip() for m in a.modalities.split(",") if m.strip()]
    for m in mod_sets:
        if not m or set(m) - set("atv") or len(set(m)) != len(m):
            raise SystemExit(f"--modalities: {m!r} is not a set of a, t, v")
    if a.epochs < 1 or a.repeats < 1:
        raise SystemExit("--epochs and --repeats must be >= 1")
    tmp = None
    if a.work:
        work = Path(a.work).resolve()
        work.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="cogmen_vs_reference_")
        work = Path(tmp.name)
    try:
        return _run(a, ref, mod_sets, work)
    finally:
        if tmp is not None:
            tmp.cleanup()


def _run(a, ref: Path, mod_sets: list[str], work: Path) -> int:
    data_dir = work / "data"
    pkl = data_dir / "iemocap_4" / "data_iemocap_4.pkl"       # where train.py looks for it
    print(f"COGMEN speed, emowb vs the official code at {ref}; work folder {work}")
    data = write_reference_pickle(pkl, a.dialogues, a.utterances, seed=a.data_seed)
    print(f"data: {data['dialogues']} dialogues, {data['utterances']} utterances (train {data['train_dialogues']}, "
          f"dev {data['dev_dialogues']}, test {data['test_dialogues']}; "
          f"lengths {data['length_min']}..{data['length_max']}, "
          f"mean {data['length_mean']:.1f}) -> {pkl}")
    from emowb.features.imported import import_cogmen

    corpus_dir = work / "emowb_corpus"
    if corpus_dir.exists():
        shutil.rmtree(corpus_dir)
    t0 = time.perf_counter()
    import_cogmen(pkl, corpus_dir)
    import_s = time.perf_counter() - t0
    print(f"emowb import: {import_s:.2f} s (outside the timings) -> {corpus_dir}")
    spec = {"reference": str(ref), "data_dir": str(data_dir), "pickle": str(pkl), "corpus": str(corpus_dir),
            "epochs": a.epochs, "gnn_heads": a.gnn_heads, "concat": a.concat_gin_gout, "seed": a.seed,
            "threads": a.threads, "test_each_epoch": a.emowb_test_each_epoch}
    emowb_systems = [("emowb", False)] + ([("emowb-refmode", True)] if a.emowb_reference_mode else [])
    runs: list[dict] = []
    total = a.repeats * len(mod_sets) * (1 + len(emowb_systems))
    for r in range(a.repeats):
        for mods in mod_sets:
            jobs = [("reference", None)] + emowb_systems
            if r % 2:
                jobs = jobs[::-1]
            for system, refmode in jobs:
                tag = f"r{r}-{mods}-{system}"
                run_dir = work / "runs" / tag
                if run_dir.exists():
                    shutil.rmtree(run_dir)
                s = dict(spec, modalities=mods, run_dir=str(run_dir), reference_mode=bool(refmode))
                print(f"[{len(runs) + 1}/{total}] repeat {r + 1}, {mods}: {system} ...", end=" ", flush=True)
                res = run_worker("reference" if system == "reference" else "emowb", s, work, tag, timeout=a.timeout)
                res.update(repeat=r, order=jobs.index((system, refmode)))
                runs.append(res)
                ep = [c["cpu_s"] for c in res["calls"].get("train_epoch", [])]
                print(f"whole run {res['whole_wall_s']:.2f} s wall, {res['whole_cpu_s']:.2f} s CPU; "
                      f"epoch CPU {_fmt(_median(ep))} s; process {res['process_wall_s']:.1f} s")
                if res.get("missing"):
                    print(f"    note: not found to wrap: {res['missing']}")
    summary = summarise(runs)
    parity = None
    if not a.no_parity:
        print("weight parity ...", end=" ", flush=True)
        try:
            parity = run_worker("parity", dict(spec, modality_sets=mod_sets), work, "parity",
                                timeout=a.timeout)["parity"]
            print("done")
        except Exception as e:  # report, do not lose the timings
            parity = {m: {"error": str(e).splitlines()[0]} for m in mod_sets}
            print(f"FAILED: {e}")
    versions = next((r["versions"] for r in runs if r.get("versions")), {})
    ref_runs = [r for r in runs if r["system"] == "reference"]
    notes = []
    for r in runs:
        if r.get("missing"):
            notes.append(f"{r['system']}: could not wrap {r['missing']} (renamed?); wrapped {r['wrapped']}")
    notes = list(dict.fromkeys(notes))
    result = {
        "settings": {"reference": str(ref), "reference_commit": _git_commit(ref), "modalities": mod_sets,
                     "epochs": a.epochs, "repeats": a.repeats, "threads": a.threads, "batch_size": 32, "lr": 1e-4,
                     "weight_decay": 1e-8, "optimizer": "adam", "hidden_size": 100, "seq_layers": 2,
                     "seq_heads": "reference rule (first of 7..14 dividing the input width)",
                     "gnn_heads": a.gnn_heads, "concat_gin_gout": a.concat_gin_gout, "dropout": 0.5, "wp": 5, "wf": 5,
                     "seed": a.seed, "standardize": False, "emowb_padding_mask": True,
                     "emowb_reference_mode": a.emowb_reference_mode,
                     "emowb_test_each_epoch": a.emowb_test_each_epoch},
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpus": os.cpu_count(), **versions,
                    "threads": a.threads,
                    "reference_threads_in_training": sorted({r.get("threads_in_training") for r in ref_runs},
                                                            key=str)},
        "data": data, "import_s": import_s, "summary": summary, "parity": parity, "runs": runs,
        "wrapped": {r["system"]: r["wrapped"] for r in runs}, "notes": notes,
    }
    print()
    header, rows = table_rows(summary)
    print_table(header, rows)
    if parity:
        print("\nweight parity (reference weights in emowb reference=True, eval, test set):")
        for mods, p in parity.items():
            if "error" in p:
                print(f"  {mods}: error: {p['error']}")
            else:
                print(f"  {mods}: max |Δ log-prob| {p['max_abs_dlogprob']:.2e}, agreement {p['agreement']:.4f} "
                      f"over {p['nodes']} utterances; inputs permuted {p['input_permuted']} "
                      f"({p['reference_order']} -> {p['emowb_order']}), max |Δ input| {p['max_abs_dinput']:.1e}")
    for n in notes:
        print(f"note: {n}")
    if a.json:
        Path(a.json).parent.mkdir(parents=True, exist_ok=True)
        Path(a.json).write_text(json.dumps(result, indent=1, default=float))
        print(f"json: {a.json}")
    if a.md:
        Path(a.md).parent.mkdir(parents=True, exist_ok=True)
        Path(a.md).write_text(markdown(result))
        print(f"markdown: {a.md}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
