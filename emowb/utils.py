"""Small shared helpers: atomic writes, file locks, seeding, hashing, device choice."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import random
import re
import shutil
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import numpy as np

#: ``.<name>.<pid>@<host hash>.<random>.tmp``: the temporary sibling :func:`atomic_path` writes.
TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.(?P<pid>\d+)@(?P<host>[0-9a-f]{6})\.[A-Za-z0-9_]+\.tmp$")


def _host_tag() -> str:
    """6 hex digits of this machine's name: a pid means something only on the machine that wrote it."""
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:6]


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` exists on this machine (a zombie counts as alive)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    except OSError:
        return True          # cannot tell: keep its files
    return True


def remove_stale_temps(folder: str | os.PathLike) -> list[Path]:
    """Remove the :func:`atomic_path` temporaries in ``folder`` left by dead processes.

    A temporary whose writer was killed (``kill -9``, power loss) is never renamed nor removed;
    its name holds the writer's pid and machine, so the next write into ``folder`` removes it when
    that process no longer exists on this machine. Temporaries of live processes, of other
    machines (a shared file system) and any other file are left alone. Returns what was removed.
    """
    folder = Path(folder)
    removed = []
    host = _host_tag()
    try:
        entries = [e for e in os.scandir(folder) if e.name.startswith(".") and e.name.endswith(".tmp")]
    except OSError:
        return removed
    for e in entries:
        m = TEMP_NAME.match(e.name)
        if not m or m["host"] != host or int(m["pid"]) == os.getpid() or pid_alive(int(m["pid"])):
            continue
        p = Path(e.path)
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                p.unlink()
        removed.append(p)
    return removed


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, *, suffix: str = "") -> Iterator[Path]:
    """Yield a temporary sibling path; rename it onto ``path`` only if the block succeeds.

    Works for files and directories. An interrupted or failing write therefore never leaves a
    half-written ``path`` behind (the temporary is removed). A full disk (``ENOSPC``) is
    re-raised as an ``OSError`` naming ``path`` (not the temporary). The temporary is
    ``.<name>.<pid>@<host>.<random>.tmp``; a process killed before it could remove it leaves it
    behind, and the next write into the same folder removes it (:func:`remove_stale_temps`).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(path.parent)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.{os.getpid()}@{_host_tag()}.", suffix=".tmp",
                                dir=path.parent))
    target = tmp / ("item" + suffix)
    try:
        yield target
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        os.replace(target, path)
    except OSError as e:
        if e.errno == errno.ENOSPC and (not e.filename or str(e.filename).startswith(str(tmp))):
            # name what was being written, not the temporary
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path)) from e
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class LockBusy(RuntimeError):
    """:func:`exclusive_lock` with ``wait=False`` found the lock held by another process."""


@contextlib.contextmanager
def exclusive_lock(path: str | os.PathLike, *, wait: bool = True) -> Iterator[float]:
    """Hold an exclusive ``flock`` on the file ``path`` (created if missing); yield the seconds waited.

    Between processes on one machine, and on shared file systems whose ``flock`` works across
    machines (NFSv4, Lustre, GPFS). The kernel drops the lock when its holder dies (``kill -9``
    included), so a killed holder never blocks the next one. The holder removes the file while it
    still holds the lock, so no lock files pile up next to run folders; a process that was
    waiting on the removed file notices (another inode at ``path``) and locks the new one. Where
    the file system cannot lock (``ENOLCK``) it goes ahead unlocked, as the feature store does.

    Args:
        path: the lock file.
        wait: False: raise :class:`LockBusy` at once when another process holds it.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        yield 0.0
        return
    path = Path(path)
    t0 = time.perf_counter()
    while True:
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except FileNotFoundError:          # the folder was removed just now: make it again
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            os.close(fd)
            raise LockBusy(f"{path} is held by another process") from None
        except OSError as e:
            os.close(fd)
            if e.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                raise
            yield 0.0                      # the file system cannot lock: go ahead unlocked
            return
        try:                               # the holder before us may have removed the file
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        yield time.perf_counter() - t0
    finally:
        with contextlib.suppress(OSError):
            path.unlink()                  # while holding it: a waiter on this file retries
        os.close(fd)                       # releases the lock


def write_json(path: str | os.PathLike, obj: Any) -> None:
    """Write JSON atomically, with sorted keys so that files are byte-stable."""
    with atomic_path(path, suffix=".json") as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=_json_default) + "\n")


def _json_default(o: Any) -> Any:
    import enum

    if isinstance(o, enum.Enum):
        return o.value
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, (set, frozenset)):
        return sorted(o)
    raise TypeError(f"not JSON serialisable: {type(o).__name__}")


def stable_hash(obj: Any, n: int = 12) -> str:
    """A short hash of a JSON-serialisable object (key order does not matter)."""
    blob = json.dumps(obj, sort_keys=True, default=_json_default).encode()
    return hashlib.sha256(blob).hexdigest()[:n]


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (CPU and CUDA) and ask torch for deterministic kernels."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a hard dependency, but keep data tools light
        return
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)


def resolve_device(device: str = "auto") -> str:
    """``"auto"`` -> ``"cuda"`` when a GPU is visible, else ``"cpu"``. Validates explicit values."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device={device!r} requested but torch sees no CUDA GPU")
    if device not in ("cpu",) and not device.startswith("cuda"):
        raise ValueError(f"unknown device {device!r}: use 'auto', 'cpu' or 'cuda[:N]'")
    return device


def file_sha256(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            b = f.read(chunk)
            if not b:
                break
            h.update(b)
    return h.hexdigest()


def die_with_parent(parent_pid: int | None = None) -> None:
    """Make this (worker) process end when its parent does, even on the parent's ``kill -9``.

    Call it first in a process-pool initializer with the parent's pid (``os.getpid()`` taken in
    the parent). On Linux the kernel sends ``SIGKILL`` when the parent dies
    (``prctl(PR_SET_PDEATHSIG)``); the parent pid is checked afterwards, closing the race of a
    parent that died before the call. Elsewhere a daemon thread polls ``os.getppid()`` once a
    second. Without this, the workers of a killed ``emowb features`` ran on as orphans. (Linux sends
    the signal when the *thread* that started the worker ends: use the pool from that thread.)
    """
    parent_pid = parent_pid or os.getppid()
    armed = False
    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            libc = ctypes.CDLL(None, use_errno=True)
            armed = libc.prctl(1, signal.SIGKILL, 0, 0, 0) == 0   # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            armed = False
    if os.getppid() != parent_pid:   # the parent died before (or while) we armed the signal
        os._exit(1)
    if armed:
        return

    def watch() -> None:
        import time

        while os.getppid() == parent_pid:
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="emowb-die-with-parent", daemon=True).start()
