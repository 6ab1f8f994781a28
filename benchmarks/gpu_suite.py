"""GPU suite: the first paper's grid, EmoDistill with a Whisper student, feature extraction — times,
GPU memory and utilisation.

Three parts, each on synthetic data of the real dimensions (speed does not depend on the values):

1. ``grid``: COGMEN-A, COGMEN-AV and COGMEN-Mask (utterance) × 5 seeds × 55 epochs at
   IEMOCAP-4's shape (:func:`benchmarks.cogmen_speed.make_data`: 120 dialogues, 4,500 utterances,
   audio 100-d, video 512-d), the reference's settings (batch 32, lr 1e-4, no early stopping), run by
   the experiment runner with an executor that packs several runs per GPU (``--pack`` runs per
   GPU: a COGMEN run leaves a big GPU mostly idle);
2. ``emodistill``: the speech student with a Whisper encoder (``--whisper``, fine-tuned) trained
   with the EmoDistill loss against both teachers' (synthetic) logits and embeddings, for one fold
   (IEMOCAP-4's utterances split 80 / 10 / 10, 1.5-8 s of audio each);
3. ``features``: Whisper encoder features of ``--utterances`` clips (log-mel front end + encoder,
   every hidden state pooled), as the ``whisper`` feature set extracts them.

Printed and written (``--json``): wall time per part, runs per hour, peak GPU memory (torch's peak
for parts 2 and 3; ``nvidia-smi``'s peak over the grid's worker processes) and mean / peak GPU
utilisation (``nvidia-smi`` sampled every second); on a CPU the process tree's CPU use and peak
memory instead.

    python benchmarks/gpu_suite.py --json benchmarks/results/gpu_suite_h100.json        # a GPU machine
    python benchmarks/gpu_suite.py --size tiny --device cpu                             # the test's size
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

#: Each size: the grid's shape and length, the EmoDistill fold, the extraction.
SIZES = {
    "paper": dict(dialogues=120, utterances=4500, seeds=5, epochs=55, variants=3, student_utts=4500,
                  student_epochs=3, clip_s=(1.5, 8.0), extract_utts=1000, whisper="base", finetune_top=0),
    "tiny": dict(dialogues=10, utterances=250, seeds=2, epochs=2, variants=3, student_utts=40,
                 student_epochs=1, clip_s=(0.5, 1.0), extract_utts=16, whisper="tiny.en", finetune_top=1),
}


class Monitor:
    """Samples GPU utilisation / memory (``nvidia-smi``) or the process tree's CPU / memory once a second."""

    def __init__(self, gpu: bool) -> None:
        self.gpu, self.samples, self._stop = gpu, [], threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        import psutil

        me = psutil.Process()
        me.cpu_percent()
        while not self._stop.wait(1.0):
            if self.gpu:
                try:
                    out = subprocess.run(["nvidia-smi", "--query-gpu=utilization.gpu,memory.used",
                                          "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=10)
                    rows = [[float(x) for x in line.split(",")] for line in out.stdout.strip().splitlines()]
                    self.samples.append({"util": float(np.mean([r[0] for r in rows])),
                                         "mem_mib": float(sum(r[1] for r in rows))})
                except (OSError, ValueError, subprocess.SubprocessError):
                    pass
            else:
                procs = [me] + me.children(recursive=True)
                cpu, rss = 0.0, 0
                for p in procs:
                    try:
                        cpu += p.cpu_percent() if p is me else p.cpu_percent(interval=None)
                        rss += p.memory_info().rss
                    except Exception:  # noqa: BLE001 - a worker that just ended
                        pass
                self.samples.append({"cpu_percent": cpu, "rss_mib": rss / 2**20})

    def summary(self) -> dict:
        if not self.samples:
            return {}
        keys = self.samples[0].keys()
        return {f"{k}_mean": round(float(np.mean([s[k] for s in self.samples])), 1) for k in keys} | {
            f"{k}_peak": round(float(np.max([s[k] for s in self.samples])), 1) for k in keys}


def grid(size: dict, work: Path, *, device: str, executor: str, pack: int) -> dict:
    """Part 1: the paper's grid through the experiment runner."""
    from cogmen_speed import make_data

    from emowb.data.corpus import Corpus
    from emowb.features.store import save_features
    from emowb.models.cogmen import CogmenConfig
    from emowb.train.executors import ExecutorConfig
    from emowb.train.experiment import ExperimentConfig, masking_table_variants, run_experiment
    from emowb.train.run import DataConfig
    from emowb.train.runner import Resources
    from emowb.train.trainer import TrainConfig

    corpus, feats = make_data(size["dialogues"], size["utterances"])
    # workers rebuild the method from its configuration: the corpus and features must be on disk
    root = work / "iemocap4-shape"
    shutil.rmtree(root, ignore_errors=True)
    corpus = Corpus.load(corpus.save(root), check_files=False)
    for mod, fs in feats.items():
        if mod.value in ("a", "v"):
            save_features(corpus, fs)
    variants = [v for v in masking_table_variants(disjoint=False) if v.name in
                ("COGMEN-A", "COGMEN-AV", "COGMEN-Mask (utterance)")][:size["variants"]]
    cfg = ExperimentConfig(
        name="gpu suite grid", data=DataConfig(corpus=str(root), features={"a": "rand-a", "v": "rand-v"},
                                               protocol="fixed", standardize=False, per_speaker=False),
        model=CogmenConfig(), variants=tuple(variants), seeds=tuple(range(size["seeds"])),
        train=TrainConfig(epochs=size["epochs"], batch_size=32, lr=1e-4, patience=None, device=device,
                          num_threads=1, progress=False, keep_last=False))
    gpus = 1.0 / pack if device != "cpu" else 0.0
    ex = ExecutorConfig.parse(executor).replace(resources=Resources(cpus=1.0, gpus=gpus)).build()
    out = work / "grid"
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    with Monitor(device != "cpu") as mon:
        res = run_experiment(cfg, out, log=None, executor=ex)
    seconds = time.perf_counter() - t0
    n_runs = res.runs.run_dir.nunique()
    return {"runs": int(n_runs), "epochs": size["epochs"], "executor": executor, "runs_per_gpu": pack if gpus else None,
            "seconds": round(seconds, 1), "runs_per_hour": round(3600 * n_runs / seconds, 1), **mon.summary(),
            "test_weighted_f1_mean": round(float(res.runs.weighted_f1.mean()), 4)}


def _waves(n: int, clip_s: tuple[float, float], seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    lens = rng.uniform(*clip_s, n)
    return [(0.1 * rng.standard_normal(int(s * 16000))).astype(np.float32) for s in lens]


def emodistill(size: dict, *, device: str) -> dict:
    """Part 2: the Whisper student trained with the EmoDistill loss for one fold."""
    import torch

    from emowb.batching.utterances import build_utterance_splits
    from emowb.data.corpus import IEMOCAP4, Corpus, CorpusInfo
    from emowb.data.splits import Split
    from emowb.features.base import FeatureSet
    from emowb.kd.cache import TeacherOutputs, fold_utterances
    from emowb.kd.emodistill import _identity
    from emowb.kd.losses import EmoDistillLoss, EmoDistillLossConfig, Teacher
    from emowb.kd.students import SpeechStudent, StudentConfig
    from emowb.train.trainer import TrainConfig, Trainer
    import pandas as pd

    n = size["student_utts"]
    rng = np.random.default_rng(0)
    rows = [dict(utt_id=f"u{i:05d}", dialogue_id=f"d{i // 10:04d}", turn=i % 10, speaker=f"s{(i // 10) % 10}{i % 2}",
                 group=f"g{(i // 10) % 10}", label=IEMOCAP4[int(rng.integers(4))], text="", audio="") for i in range(n)]
    corpus = Corpus(tempfile.mkdtemp(prefix="gpu_suite_"), pd.DataFrame(rows), CorpusInfo("suite", IEMOCAP4),
                    check_files=False)
    dialogues = sorted(corpus.table.dialogue_id.unique())
    held = max(1, len(dialogues) // 10)         # a tenth each for dev and test (at least one dialogue)
    split = Split("suite", tuple(dialogues[:-2 * held]), tuple(dialogues[-2 * held:-held]), tuple(dialogues[-held:]))
    waves = _waves(n, size["clip_s"])
    ids = corpus.table.utt_id.tolist()
    fs = FeatureSet("wave", "a", ids, sequences=[torch.from_numpy(w)[:, None].numpy() for w in waves])
    data = build_utterance_splits(corpus, split, {"wave": fs}, standardize=False)
    all_ids, split_of = fold_utterances(corpus, split)
    dims = {Teacher.PROSODIC: 64, Teacher.LINGUISTIC: 384}
    for t, d in dims.items():      # the teachers' cached outputs (their values do not change the cost)
        TeacherOutputs(name=t.value, key=t.value, utt_ids=all_ids, split=np.array([split_of[u] for u in all_ids]),
                       logits=rng.normal(size=(len(all_ids), 4)), embeddings=rng.normal(size=(len(all_ids), d)),
                       valid=np.ones(len(all_ids), bool)).attach(data.train, teacher=t)
    torch.manual_seed(0)
    student = SpeechStudent(StudentConfig(backbone="ssl", ssl_model=size["whisper"], ssl_mode="finetune",
                                          ssl_finetune_top=size["finetune_top"]), n_classes=4, teacher_dims=dims)
    train = TrainConfig(epochs=size["student_epochs"], batch_size=8, lr=1e-4, patience=None, device=device,
                        progress=False, keep_last=False)
    trainer = Trainer(student, config=train, train=data.train, dev=data.dev, test=data.test, labels=IEMOCAP4,
                      run_dir=None, loss=EmoDistillLoss(EmoDistillLossConfig()), contexts={"a": _identity})
    if device != "cpu":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    with Monitor(device != "cpu") as mon:
        fit = trainer.fit()
    seconds = time.perf_counter() - t0
    out = {"whisper": size["whisper"], "utterances": n, "epochs": size["student_epochs"], "seconds": round(seconds, 1),
           "seconds_per_epoch": round(float(fit.history.time_s.mean()), 2), **mon.summary()}
    if device != "cpu":
        out["torch_peak_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return out


def features(size: dict, *, device: str) -> dict:
    """Part 3: Whisper features (every hidden state, mean-pooled) of ``extract_utts`` clips."""
    import torch

    from emowb.features.whisper import load_whisper

    model = load_whisper(size["whisper"], device=device, progress=False)
    waves = _waves(size["extract_utts"], size["clip_s"], seed=1)
    if device != "cpu":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    with Monitor(device != "cpu") as mon, torch.inference_mode():
        for w in waves:
            mel = torch.from_numpy(model.log_mel(w, pad_30s=False))[None].to(device)
            states = model.hidden_states(mel)
            torch.stack([s.mean(1) for s in states], 1).cpu()
    seconds = time.perf_counter() - t0
    audio_s = sum(len(w) for w in waves) / 16000
    out = {"whisper": size["whisper"], "utterances": len(waves), "audio_s": round(audio_s, 1),
           "seconds": round(seconds, 2), "utterances_per_s": round(len(waves) / seconds, 1),
           "real_time_factor": round(seconds / audio_s, 4), **mon.summary()}
    if device != "cpu":
        out["torch_peak_mib"] = round(torch.cuda.max_memory_allocated() / 2**20, 1)
    return out


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", choices=sorted(SIZES), default="paper")
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda")
    ap.add_argument("--parts", default="grid,emodistill,features")
    ap.add_argument("--executor", default=None,
                    help="the grid's executor (default: processes with --pack runs per GPU; local on a CPU)")
    ap.add_argument("--pack", type=int, default=4, help="grid runs sharing one GPU")
    ap.add_argument("--work", type=Path, default=None, help="scratch folder (default: a temporary one)")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    import torch

    from emowb.utils import resolve_device

    device = resolve_device(a.device)
    size = SIZES[a.size]
    torch.set_num_threads(1 if device != "cpu" else max(1, (os.cpu_count() or 1) // 2))
    work = a.work or Path(tempfile.mkdtemp(prefix="gpu_suite_"))
    if a.executor is None:
        n_gpus = torch.cuda.device_count() if device != "cpu" else 0
        a.executor = f"processes:{n_gpus * a.pack}" if n_gpus else "local"
    gpu = torch.cuda.get_device_name(0) if device != "cpu" else None
    results = {"size": a.size, "device": device, "gpu": gpu, "gpus": torch.cuda.device_count() if gpu else 0,
               "cpus": os.cpu_count(), "torch": torch.__version__}
    print(f"GPU suite ({a.size}) on {gpu or 'CPU'}; work folder {work}", flush=True)
    parts = [p.strip() for p in a.parts.split(",") if p.strip()]
    for part in parts:
        t0 = time.perf_counter()
        if part == "grid":
            results[part] = grid(size, work, device=device, executor=a.executor, pack=a.pack)
        elif part == "emodistill":
            results[part] = emodistill(size, device=device)
        elif part == "features":
            results[part] = features(size, device=device)
        else:
            raise SystemExit(f"unknown part {part!r}: grid, emodistill, features")
        print(f"{part:10s} {time.perf_counter() - t0:8.1f} s  {json.dumps(results[part])}", flush=True)
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(results, indent=2) + "\n")
    if a.work is None:
        shutil.rmtree(work, ignore_errors=True)
    return results


if __name__ == "__main__":
    main()
