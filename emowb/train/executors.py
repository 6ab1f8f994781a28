"""Executors for the experiment runner: one process, N local worker processes, or a Ray cluster.

:func:`emowb.train.runner.run_method` plans the runs and collects their results from the run
folders; an executor only has to fill the folders. Three do it:

- ``local`` (:class:`~emowb.train.runner.LocalExecutor`): one run after the other, in this process;
- ``processes[:N]`` (:class:`ProcessExecutor`): N worker processes on this machine (default: as
  many as the cores allow at :class:`~emowb.train.runner.Resources` ``cpus`` each), started with
  the ``spawn`` method (no CUDA state or threads inherited) and ended when this process ends, even
  by ``kill -9`` (:func:`emowb.utils.die_with_parent`). Where GPUs are visible, each worker is given
  one (``CUDA_VISIBLE_DEVICES``), several workers per GPU when a run takes a share of one;
- ``ray[:ADDRESS]`` (:class:`RayExecutor`): Ray tasks on a cluster (``ray://HOST:10001``, ``auto``
  for the cluster this node belongs to) or on a local one started for the sweep (no address).
  Each run asks Ray for the method's :class:`~emowb.train.runner.Resources` (CPUs, a GPU share).

What travels is the run's :class:`~emowb.train.runner.RunSpec` and the method's
:class:`~emowb.train.runner.MethodRecipe` (its class and configuration): a worker rebuilds the
method once (loading the corpus from disk), checks that it plans the very run it was sent, and
trains it under the run's lock (:func:`~emowb.train.runner.execute_locked`). A run is a pure
function of its spec, so nothing is lost or recomputed when a worker dies: its run is tried
again (``retries`` times) and resumes from its last checkpoint, and finished runs are never
trained twice. The output folder must be visible to every worker at the same path (one machine,
or a shared file system on a cluster).

``ray`` is imported only by the ``ray`` executor (``pip install ray==2.60.0``)::

    run_method(method, "out", executor=make_executor("processes:2"))
    emowb experiment CORPUS --out runs/masking --executor ray
"""

from __future__ import annotations

import dataclasses
import os
import queue
import time
import traceback
from pathlib import Path
from typing import Any, Callable, Iterable

from emowb.config import Config, ConfigError, require, setting
from emowb.train.runner import LocalExecutor, Method, MethodRecipe, Resources, RunSpec, execute_locked

__all__ = ["EXECUTORS", "ExecutorConfig", "ProcessExecutor", "RayExecutor", "make_executor", "run_task",
           "RunFailed"]

EXECUTORS = ("local", "processes", "ray")
#: How to install Ray when the ``ray`` executor is asked for without it.
RAY_INSTALL = "pip install ray==2.60.0"


class RunFailed(RuntimeError):
    """A run failed on every attempt (the message names it and its last error)."""


@dataclasses.dataclass(frozen=True, kw_only=True)
class ExecutorConfig(Config):
    """Which executor trains a sweep's runs (the ``--executor`` option; :meth:`parse`).

    Attributes:
        kind: ``local``, ``processes`` or ``ray``.
        workers: ``processes``: worker processes (None: cores // the method's CPUs per run).
        address: ``ray``: the cluster (``ray://HOST:10001``, ``auto``; None: a local cluster, or
            the one ``RAY_ADDRESS`` names).
        retries: how many times a failed or killed run is tried again.
        resources: per-run resources (None: the method's :meth:`~emowb.train.runner.Method.resources`).
    """

    kind: str = setting("local", changes_results=False, help="local | processes | ray")
    workers: int | None = setting(None, changes_results=False, help="processes: worker processes")
    address: str | None = setting(None, changes_results=False, help="ray: the cluster address")
    retries: int = setting(2, changes_results=False, help="attempts after a failed or killed run")
    resources: Resources | None = setting(None, changes_results=False, help="per-run CPUs and GPU share")

    def validate(self) -> None:
        require(self.kind in EXECUTORS, f"executor must be one of {EXECUTORS}[:...], got {self.kind!r}")
        require(self.workers is None or self.workers >= 1,
                f"ExecutorConfig.workers must be >= 1, got {self.workers}")
        require(self.workers is None or self.kind == "processes", "ExecutorConfig.workers applies to 'processes' only")
        require(self.address is None or self.kind == "ray", "ExecutorConfig.address applies to 'ray' only")
        require(self.retries >= 0, f"ExecutorConfig.retries must be >= 0, got {self.retries}")

    @classmethod
    def parse(cls, text: str) -> "ExecutorConfig":
        """``local`` | ``processes`` | ``processes:N`` | ``ray`` | ``ray:ADDRESS`` (``ray:ray://h:10001``)."""
        kind, _, arg = str(text).strip().partition(":")
        kind = kind.strip().lower() or "local"
        require(kind in EXECUTORS, f"executor must be local, processes[:N] or ray[:ADDRESS], got {text!r}")
        if kind == "processes" and arg:
            require(arg.isdigit() and int(arg) >= 1, f"executor processes:N needs a worker count N >= 1, got {text!r}")
            return cls(kind=kind, workers=int(arg))
        require(kind != "local" or not arg, f"executor local takes no argument, got {text!r}")
        return cls(kind=kind, address=arg or None)

    def build(self):
        """The executor object :func:`~emowb.train.runner.run_method` takes."""
        if self.kind == "processes":
            return ProcessExecutor(self.workers, retries=self.retries, resources=self.resources)
        if self.kind == "ray":
            return RayExecutor(self.address, retries=self.retries, resources=self.resources)
        return LocalExecutor()


def make_executor(executor: Any = None):
    """An executor from ``--executor`` text, an :class:`ExecutorConfig`, an executor object or None
    (None and ``"local"``: :class:`~emowb.train.runner.LocalExecutor`)."""
    if executor is None or executor == "":
        return LocalExecutor()
    if isinstance(executor, str):
        executor = ExecutorConfig.parse(executor)
    if isinstance(executor, ExecutorConfig):
        return executor.build()
    if not callable(getattr(executor, "run", None)):
        raise ConfigError(f"not an executor: {executor!r} (give local, processes[:N], ray[:ADDRESS] or an "
                          "object with run(method, specs, resume=, done=))")
    return executor


# ----------------------------------------------------------------------------- in a worker
#: The methods this worker process rebuilt, by recipe (a worker trains many runs of one method).
_METHODS: dict[bytes, Method] = {}


def _method_for(recipe: MethodRecipe) -> Method:
    import pickle

    key = pickle.dumps(recipe)
    if key not in _METHODS:
        _METHODS.clear()          # one sweep at a time: do not keep an earlier sweep's corpus alive
        _METHODS[key] = recipe.build()
    return _METHODS[key]


def _check_spec(method: Method, spec: RunSpec) -> None:
    """Refuse to train a run that the worker's method would plan differently (another corpus on
    this node, a recipe that misses part of the method's state): it would fill the folder with
    another run's results."""
    mine = method.spec(Path("."), spec.variant, method.split(spec.fold), spec.seed)
    tail = mine.run_dir.parts
    same_dir = spec.run_dir == mine.run_dir if mine.run_dir.is_absolute() else spec.run_dir.parts[-len(tail):] == tail
    if mine.identity != spec.identity or not same_dir:
        raise RunFailed(f"the worker's {method.name} method plans {spec.name} {spec.fold} seed {spec.seed} as "
                        f"{mine.run_dir} (identity {mine.identity}), the driver as {spec.run_dir} (identity "
                        f"{spec.identity}): the worker sees another corpus or configuration")


def run_task(recipe: MethodRecipe, spec: RunSpec, resume: bool, threads: int | None = None) -> float:
    """Train one run in a worker (rebuilding the method on first use); return its seconds."""
    t0 = time.perf_counter()
    if threads:
        import torch

        torch.set_num_threads(int(threads))
    method = _method_for(recipe)
    _check_spec(method, spec)
    execute_locked(method, spec, resume=resume)
    return time.perf_counter() - t0


def _worker_main(index: int, parent_pid: int, recipe: MethodRecipe, tasks, results, threads: int,
                 gpu: str | None) -> None:
    """A :class:`ProcessExecutor` worker: ``(task id, spec, resume)`` in, ``(index, id, ok, payload)`` out."""
    from emowb.utils import die_with_parent

    die_with_parent(parent_pid)
    if gpu is not None:
        os.environ["CUDA_VISIBLE_DEVICES"] = gpu      # before CUDA is first touched in this process
    while True:
        item = tasks.get()
        if item is None:
            return
        task_id, spec, resume = item
        try:
            results.put((index, task_id, True, run_task(recipe, spec, resume, threads)))
        except BaseException as e:  # noqa: BLE001 - reported to the driver, which retries or fails
            results.put((index, task_id, False, f"{type(e).__name__}: {e}\n{traceback.format_exc()}"))


# ------------------------------------------------------------------------------ executors
def _pending(method: Method, specs: Iterable[RunSpec], resume: bool,
             done: Callable[[RunSpec, float], None]) -> list[RunSpec]:
    """The runs to hand out; finished ones are reported at once (no worker needed)."""
    out = []
    for spec in specs:
        if resume and method.finished(spec):
            done(spec, 0.0)
        else:
            out.append(spec)
    return out


def _visible_gpus() -> list[str]:
    """This machine's GPUs as ``CUDA_VISIBLE_DEVICES`` entries (none without CUDA)."""
    try:
        import torch

        n = torch.cuda.device_count()
    except Exception:  # noqa: BLE001 - no usable CUDA
        return []
    listed = [g for g in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if g.strip()]
    return listed[:n] if listed else [str(i) for i in range(n)]


class ProcessExecutor:
    """Runs on N worker processes of this machine (see the module docstring).

    Args:
        workers: worker processes (None: cores // the CPUs per run, at least 1; with GPUs also at
            most GPUs / GPU share per run).
        retries: how many times a failed or killed run is tried again (it resumes from its
            checkpoint); after that the sweep stops with :class:`RunFailed`.
        resources: per-run resources (None: the method's).
    """

    def __init__(self, workers: int | None = None, *, retries: int = 2, resources: Resources | None = None) -> None:
        if workers is not None and workers < 1:
            raise ConfigError(f"ProcessExecutor: workers must be >= 1, got {workers}")
        self.workers, self.retries, self.resources = workers, retries, resources
        #: attempts per run of the last sweep, and the worker processes that died in it
        self.attempts: dict[Path, int] = {}
        self.deaths = 0

    def _plan_workers(self, res: Resources, n_runs: int) -> list[str | None]:
        """One ``CUDA_VISIBLE_DEVICES`` entry (or None) per worker."""
        cores = os.cpu_count() or 1
        gpus = _visible_gpus() if res.gpus > 0 else []
        n = self.workers or max(1, int(cores // res.cpus))
        if gpus and not self.workers:
            n = min(n, max(1, int(len(gpus) / res.gpus)))
        n = max(1, min(n, n_runs))
        return [gpus[i % len(gpus)] if gpus else None for i in range(n)]

    def run(self, method: Method, specs: Iterable[RunSpec], *, resume: bool,
            done: Callable[[RunSpec, float], None]) -> None:
        import multiprocessing as mp

        todo = _pending(method, specs, resume, done)
        if not todo:
            return
        res = self.resources or method.resources()
        recipe = method.recipe()
        ctx = mp.get_context("spawn")
        results = ctx.Queue()
        threads = max(1, int(res.cpus))
        parent = os.getpid()
        gpus = self._plan_workers(res, len(todo))
        workers: list[dict] = [{} for _ in gpus]
        self.attempts = {s.run_dir: 0 for s in todo}
        self.deaths = 0

        def start(i: int) -> None:
            tasks = ctx.SimpleQueue()
            p = ctx.Process(target=_worker_main, args=(i, parent, recipe, tasks, results, threads, gpus[i]),
                            name=f"emowb-worker-{i}", daemon=True)
            p.start()
            workers[i] = {"proc": p, "tasks": tasks, "task": None}

        queue_: list[RunSpec] = list(todo)
        running: dict[int, RunSpec] = {}          # task id -> spec
        next_id = 0

        def fail(spec: RunSpec, why: str) -> None:
            self.attempts[spec.run_dir] += 1
            if self.attempts[spec.run_dir] > self.retries:
                raise RunFailed(f"{spec.name} {spec.fold} seed {spec.seed} ({spec.run_dir}) failed "
                                f"{self.attempts[spec.run_dir]} time(s); last: {why.strip().splitlines()[0]}\n{why}")
            queue_.append(spec)                   # tried again; it resumes from its checkpoint

        try:
            for i in range(len(workers)):
                start(i)
            while queue_ or running:
                for i, w in enumerate(workers):
                    if w["task"] is None and queue_ and w["proc"].is_alive():
                        spec = queue_.pop(0)
                        w["task"], running[next_id] = next_id, spec
                        w["tasks"].put((next_id, spec, resume))
                        next_id += 1
                try:
                    i, task_id, ok, payload = results.get(timeout=0.5)
                except queue.Empty:
                    pass
                else:
                    if workers[i].get("task") == task_id:
                        workers[i]["task"] = None
                    spec = running.pop(task_id, None)
                    if spec is not None:          # None: its worker was declared dead already
                        if ok:
                            done(spec, float(payload))
                        else:
                            fail(spec, payload)
                for i, w in enumerate(workers):
                    if not w["proc"].is_alive():  # killed (kill -9, out of memory): its run goes back
                        self.deaths += 1
                        if self.deaths > (self.retries + 1) * len(todo) + len(workers):
                            raise RunFailed(f"worker processes keep dying ({self.deaths} so far; the last "
                                            f"exit code {w['proc'].exitcode}): see their output above")
                        if w["task"] is not None and w["task"] in running:
                            fail(running.pop(w["task"]), f"worker {w['proc'].pid} died "
                                                         f"(exit code {w['proc'].exitcode})")
                        start(i)
        finally:
            for w in workers:
                if w and w["proc"].is_alive():
                    w["tasks"].put(None)
            for w in workers:
                if w:
                    w["proc"].join(timeout=5)
                    if w["proc"].is_alive():      # still training (the sweep failed): stop it
                        w["proc"].kill()
                        w["proc"].join(timeout=5)
            results.close()


def import_ray():
    """``ray``, or a one-line error saying how to install it."""
    try:
        import ray
    except ImportError:
        raise ConfigError(f"the ray executor needs Ray: {RAY_INSTALL}") from None
    return ray


class RayExecutor:
    """Runs as Ray tasks (see the module docstring).

    Args:
        address: the cluster (``ray://HOST:10001``, ``auto``); None: the cluster ``RAY_ADDRESS``
            names, else a local one started now (and left running for the next sweep of this
            process; Ray stops it when the process exits).
        retries: Ray's ``max_retries`` (a killed worker) and, for exceptions, as many attempts.
        resources: per-run resources (None: the method's).
    """

    def __init__(self, address: str | None = None, *, retries: int = 2, resources: Resources | None = None) -> None:
        self.address, self.retries, self.resources = address, retries, resources

    def _init(self, ray) -> None:
        if ray.is_initialized():
            return
        if self.address:
            ray.init(address=self.address, log_to_driver=True)
        else:
            ray.init(include_dashboard=False, log_to_driver=True)

    def run(self, method: Method, specs: Iterable[RunSpec], *, resume: bool,
            done: Callable[[RunSpec, float], None]) -> None:
        ray = import_ray()
        todo = _pending(method, specs, resume, done)
        if not todo:
            return
        self._init(ray)
        res = self.resources or method.resources()
        # ask for a GPU share only where the cluster has GPUs: a GPU request on a CPU cluster
        # would never be scheduled
        gpus = res.gpus if res.gpus > 0 and ray.cluster_resources().get("GPU", 0) > 0 else 0
        remote = ray.remote(run_task).options(num_cpus=res.cpus, num_gpus=gpus, max_retries=self.retries,
                                              retry_exceptions=True, name="emowb-run")
        recipe = ray.put(method.recipe())
        refs = {remote.remote(recipe, spec, resume, max(1, int(res.cpus))): spec for spec in todo}
        try:
            while refs:
                ready, _ = ray.wait(list(refs), num_returns=1)
                spec = refs.pop(ready[0])
                try:
                    seconds = ray.get(ready[0])
                except Exception as e:  # noqa: BLE001 - Ray wraps the worker's exception
                    raise RunFailed(f"{spec.name} {spec.fold} seed {spec.seed} ({spec.run_dir}) failed after "
                                    f"{self.retries + 1} attempt(s): {str(e).strip().splitlines()[-1]}") from e
                done(spec, float(seconds))
        finally:
            for ref in refs:          # the sweep failed: do not leave its runs behind on the cluster
                ray.cancel(ref, force=True)
