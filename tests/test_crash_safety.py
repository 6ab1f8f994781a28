"""Trust every number, when processes die: no orphaned workers after ``kill -9`` of
``emowb features``, no temporaries left for ever by a killed write, one extraction when two
processes ask for the same feature set, and a training run killed anywhere resumes to the same
bytes as an uninterrupted one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from emowb.features import extract, opensmile_
from emowb.features.store import FEATURE_ROOT, extraction_lock
from emowb.utils import TEMP_NAME, _host_tag, atomic_path, remove_stale_temps, write_json
from fixtures_media import make_media_corpus, voice

ROOT = Path(__file__).resolve().parents[1]
EMOWB = [sys.executable, "-m", "emowb"]
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def _children(pid: int) -> list[int]:
    out = []
    for t in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            out += [int(x) for x in t.read_text().split()]
        except OSError:
            pass
    return out


def _running(pid: int) -> bool:
    """Exists and is not a zombie (an orphan reaped late by a container's init still counts dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _temp_name(name: str, pid: int) -> str:
    return f".{name}.{pid}@{_host_tag()}.abc123_x.tmp"


# ------------------------------------------------------------------ 1. no orphaned workers
@linux_only
def test_kill_9_of_features_leaves_no_worker_running(tmp_path):
    # 30 utterances (above opensmile_.INLINE_BELOW) of 8 s: extraction takes far longer than the kill
    assert opensmile_.INLINE_BELOW <= 30
    corpus = make_media_corpus(tmp_path / "c", [dict(utt_id=f"u{i:02d}", signal=voice(8.0, 16000, seed=i))
                                                for i in range(30)])
    proc = subprocess.Popen(EMOWB + ["features", str(corpus.root), "--set", "egemaps", "--workers", "2",
                                     "--force", "--no-progress"], env=_env(), cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    kids: list[int] = []
    try:
        workers: list[int] = []
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            kids = _children(proc.pid)
            # workers that have loaded openSMILE: their initializer has run, they are extracting
            workers = [k for k in kids if "libSMILEapi" in _read(f"/proc/{k}/maps")]
            if len(workers) >= 2:
                break
            time.sleep(0.1)
        assert proc.poll() is None and len(workers) == 2, proc.stderr.read().decode() if proc.poll() else workers
        kids = _children(proc.pid)                # the 2 workers and multiprocessing's resource tracker
        assert len(kids) == 3
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(map(_running, kids)):
            time.sleep(0.1)
        assert [k for k in kids if _running(k)] == []
    finally:                                       # never leave orphans behind, even on failure
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for k in set(kids) | set(_children(proc.pid)):
            if _running(k):
                os.kill(k, signal.SIGKILL)


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


# ------------------------------------------------------------------ 2. stale temporaries
def test_temporary_names_carry_pid_and_host(tmp_path):
    with atomic_path(tmp_path / "x.json", suffix=".json") as tmp:
        m = TEMP_NAME.match(tmp.parent.name)
        assert m and int(m["pid"]) == os.getpid() and m["name"] == "x.json" and m["host"] == _host_tag()
        tmp.write_text("{}")


def test_stale_temporaries_of_dead_processes_are_removed_on_the_next_write(tmp_path):
    dead, live = tmp_path / _temp_name("a.json", _dead_pid()), tmp_path / _temp_name("b.json", os.getppid())
    other_host = tmp_path / f".c.json.{_dead_pid()}@zzzzzz.abc.tmp"   # not ours to judge
    legacy = tmp_path / ".d.json.abcdefgh.tmp"                       # no pid: left alone
    for d in (dead, live, other_host, legacy):
        (d / "item.json").parent.mkdir()
        (d / "item.json").write_text("half")
    (tmp_path / _temp_name("e.parquet", _dead_pid())).write_text("a stale file")
    write_json(tmp_path / "new.json", {"a": 1})
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [live.name, other_host.name, legacy.name, "new.json"])
    assert remove_stale_temps(tmp_path) == []


def test_extraction_removes_a_stale_feature_folder_and_keeps_a_live_one(tmp_path):
    corpus = make_media_corpus(tmp_path / "c", [dict(utt_id=f"u{i}", signal=voice(0.5, 16000, seed=i))
                                                for i in range(3)])
    root = corpus.root / FEATURE_ROOT
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        stale = root / _temp_name("egemaps-0123456789ab", _dead_pid())
        live = root / _temp_name("egemaps-0123456789ab", sleeper.pid)
        for d in (stale, live):
            (d / "item").mkdir(parents=True)
            np.save(d / "item" / "values.npy", np.zeros(3))
        extract(corpus, "egemaps", progress=False, num_workers=1)
        assert not stale.exists() and live.is_dir()
        names = sorted(p.name for p in root.iterdir())
        assert names[0] == live.name and names[1].startswith("egemaps-") and len(names) == 2
    finally:
        sleeper.kill()
        sleeper.wait()


# ------------------------------------------------------------------ 3. one extraction at a time
def test_concurrent_extractions_of_one_set_extract_once(tmp_path, monkeypatch, capsys):
    corpus = make_media_corpus(tmp_path / "c", [dict(utt_id=f"u{i}", signal=voice(0.5, 16000, seed=i))
                                                for i in range(4)])
    real_run, runs, started, release = opensmile_.OpenSmileExtractor.run, [], threading.Event(), threading.Event()

    def slow_run(self, c):
        runs.append(threading.current_thread().name)
        started.set()
        release.wait(30)                                    # hold the lock until the other one waits
        return real_run(self, c)

    monkeypatch.setattr(opensmile_.OpenSmileExtractor, "run", slow_run)
    out, status = {}, {"first": {}, "second": {}}

    def go(key):
        out[key] = extract(corpus, "egemaps", progress=False, num_workers=1, status=status[key])

    first = threading.Thread(target=go, args=("first",), name="first")
    first.start()
    assert started.wait(30)
    second = threading.Thread(target=go, args=("second",), name="second")
    second.start()
    deadline = time.monotonic() + 30
    while "waiting for another process" not in capsys.readouterr().err and time.monotonic() < deadline:
        time.sleep(0.05)                                    # the second one is blocked on the lock
    release.set()
    first.join(60)
    second.join(60)
    assert runs == ["first"]                                # extracted once
    assert status["first"]["cache_hit"] is False and status["second"]["cache_hit"] is True
    assert status["second"]["waited_s"] > 0
    np.testing.assert_array_equal(out["first"].values, out["second"].values)
    [folder] = (corpus.root / FEATURE_ROOT).iterdir()                # the lock file is gone too
    assert folder.name.startswith("egemaps-")


def test_a_second_features_command_waits_and_gets_the_cache_hit(tmp_path):
    corpus = make_media_corpus(tmp_path / "c", [dict(utt_id=f"u{i}", signal=voice(0.5, 16000, seed=i))
                                                for i in range(4)])
    from emowb.features.extract import make_extractor
    from emowb.features.store import save_features

    ex = make_extractor("egemaps", progress=False, num_workers=1)
    with extraction_lock(corpus, ex.name, ex.config(), note=False):   # this process extracts...
        proc = subprocess.Popen(EMOWB + ["features", str(corpus.root), "--set", "egemaps", "--no-progress"],
                                env=_env(), cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        waiting = ""
        for line in proc.stderr:                           # ...while the command waits for it
            if line.startswith("waiting for another process"):
                waiting = line
                break
        mine = ex.run(corpus)
        save_features(corpus, mine)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert waiting.startswith("waiting for another process extracting feature set 'egemaps' of ")
    assert "cache hit" in out and "extracted" not in out
    from emowb.features import load_features

    np.testing.assert_array_equal(load_features(corpus, "egemaps").values, mine.values)


# ------------------------------------------------------------------ 5. a training run killed anywhere
@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    from cogmen_fixtures import tiny_model, tiny_train, toy_corpus, toy_features
    from emowb.data.splits import make_splits
    from emowb.train.run import DataConfig, RunConfig

    corpus = toy_corpus(tmp_path_factory.mktemp("c"), n_groups=3, dialogues_per_group=3, utts=6)
    cfg = RunConfig(data=DataConfig(per_speaker=False), model=tiny_model(modalities="av"),
                    train=tiny_train(epochs=3, keep_last=False))
    toy = (cfg, corpus, toy_features(corpus, signal=4.0), make_splits(corpus, "fixed", dev_share=0.25)[0])
    ref = tmp_path_factory.mktemp("ref") / "run"
    _train(toy, ref)
    return toy, ref


def _train(toy, run_dir):
    from emowb.train.run import train_run

    cfg, corpus, feats, split = toy
    return train_run(cfg, run_dir=run_dir, corpus=corpus, features=feats, split=split)


def _crash_child(toy, run_dir, point):
    from emowb.train.trainer import CRASH_ENV

    os.environ[CRASH_ENV] = point
    _train(toy, run_dir)
    os._exit(0)                                             # the hook did not fire


def _assert_same_run(run: Path, ref: Path) -> None:
    import pandas as pd
    import torch

    for f in ("metrics.json", "predictions.parquet"):
        assert (run / f).read_bytes() == (ref / f).read_bytes(), f
    with np.load(run / "embeddings.npz") as a, np.load(ref / "embeddings.npz") as b:   # a zip: has dates
        assert sorted(a.files) == sorted(b.files) and all(np.array_equal(a[k], b[k]) for k in a.files)
    ha, hb = (pd.read_csv(d / "history.csv").drop(columns="time_s") for d in (run, ref))
    pd.testing.assert_frame_equal(ha, hb, check_exact=True)
    wa, wb = (torch.load(d / "checkpoints" / "best.pt", weights_only=True) for d in (run, ref))
    assert wa["epoch"] == wb["epoch"] and all(torch.equal(wa["model"][k], wb["model"][k]) for k in wb["model"])
    left = sorted(p.name for p in run.rglob("*") if p.name.startswith(".") or p.name == "last.pt")
    assert left == []                                       # no temporaries, no last.pt (keep_last=False)


@linux_only
@pytest.mark.parametrize("point", ["epoch:2", "best:1", "last:2", "results", "metrics"])
def test_a_run_killed_at_any_point_resumes_to_the_same_bytes(toy_run, tmp_path, point):
    import multiprocessing as mp

    from emowb.train.trainer import is_finished

    toy, ref = toy_run
    run = tmp_path / "run"
    child = mp.get_context("fork").Process(target=_crash_child, args=(toy, run, point))   # no re-import: fast
    child.start()
    child.join(120)
    assert child.exitcode == 137, f"the crash hook {point!r} did not fire"
    assert is_finished(run) == (point == "metrics")
    if point == "results":                                  # killed mid-write: its temporary is left
        assert [p.name for p in run.iterdir() if TEMP_NAME.match(p.name)]
    again = _train(toy, run)
    _assert_same_run(run, ref)
    assert again.metrics == json.loads((ref / "metrics.json").read_text())


def _resume_epoch(run: Path) -> int:
    import torch

    return int(torch.load(run / "checkpoints" / "last.pt", weights_only=True)["state"]["epoch"])


@linux_only
@pytest.mark.parametrize("budget,point,resumes_from", [(1e-9, "epoch:3", 1), (1e-9, "last:2", 1), (1.0, "epoch:3", 2)])
def test_sparse_resume_states_replay_the_lost_epochs_to_the_same_bytes(toy_run, tmp_path, budget, point,
                                                                       resumes_from):
    """With a small checkpoint budget, last.pt is written after the first epoch and at the end only:
    a run killed later resumes from epoch 1 and replays the lost epochs to the uninterrupted result
    (checkpoint_budget does not change results: same identity, same folder)."""
    import multiprocessing as mp

    toy, ref = toy_run
    cfg = toy[0]
    sparse = (cfg.replace(train=cfg.train.replace(checkpoint_budget=budget)),) + toy[1:]
    run = tmp_path / "run"
    child = mp.get_context("fork").Process(target=_crash_child, args=(sparse, run, point))
    child.start()
    child.join(120)
    assert child.exitcode == 137
    assert _resume_epoch(run) == resumes_from
    again = _train(sparse, run)
    _assert_same_run(run, ref)
    assert again.metrics == json.loads((ref / "metrics.json").read_text())
    assert again.timings["checkpoint_writes"] >= 1


@linux_only
def test_emowb_train_killed_mid_epoch_resumes_to_the_same_bytes(tmp_path, monkeypatch):
    from cogmen_fixtures import toy_corpus, toy_features
    from emowb.cli import main
    from emowb.features.store import save_features
    from emowb.train.trainer import CRASH_ENV

    corpus = toy_corpus(tmp_path / "corpus", n_groups=3, dialogues_per_group=3, utts=6)
    corpus.save()
    for fs in toy_features(corpus, signal=4.0).values():
        save_features(corpus, fs)
    args = ["train", str(corpus.root), "--features", "a=toy-a,v=toy-v", "--epochs", "3", "--no-progress",
            "--set", "hidden_size=8", "--set", "seq_ff=16", "--set", "gnn_heads=2", "--set", "dev_share=0.2"]
    proc = subprocess.run(EMOWB + args + ["--out", str(tmp_path / "run")], env={**_env(), CRASH_ENV: "epoch:2"},
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 137, proc.stderr
    assert (tmp_path / "run" / "checkpoints" / "last.pt").is_file() and not (tmp_path / "run" / "metrics.json").exists()
    monkeypatch.delenv(CRASH_ENV, raising=False)
    assert main(args + ["--out", str(tmp_path / "run")]) == 0        # resumes from epoch 1's last.pt
    assert main(args + ["--out", str(tmp_path / "ref")]) == 0        # uninterrupted
    _assert_same_run(tmp_path / "run", tmp_path / "ref")
