"""One experiment runner for every method: variants × folds × seeds -> run folders -> tables.

A **method** (:class:`Method`) says what its runs are and how one is trained; the runner
(:func:`run_method`) does everything else, the same way for COGMEN experiments
(:class:`~emowb.train.experiment.CogmenMethod`), triplet KD (:class:`~emowb.kd.triplet.TripletMethod`)
and EmoDistill (:class:`~emowb.kd.emodistill.EmoDistillMethod`):

1. creates the output folder and writes ``experiment.json`` (what was asked);
2. plans the runs: one :class:`RunSpec` per fold × seed × variant, whose run folder is
   ``OUT/<variant folder>/<fold>/seed<k>-<identity>``. The identity
   (:attr:`~emowb.train.trainer.RunRecord.identity`, :func:`emowb.config.identity`) hashes
   everything that changes the run's results and nothing else: the run's configuration without
   runtime options, the split, the corpus' *content* fingerprint (not its path) and inputs such as
   feature-set configurations or a KD student's teacher. Two variants (rows) that are the same run
   share one folder and are trained once; runs of another configuration (e.g. another student
   backbone) can share the output folder;
3. hands the runs to an executor (:class:`LocalExecutor`: one after the other, here;
   :mod:`emowb.train.executors`: worker processes or a Ray cluster). A run is a pure function of
   its spec and the method's configuration (spec -> run folder); a finished run (``metrics.json``)
   is not trained again, an interrupted one resumes. Whoever trains a run holds its lock
   (``.<run folder name>.lock`` beside it, :func:`run_lock`), so several processes sharing one
   output folder never train the same run twice at the same time;
4. collects the results **from the run folders** (``metrics.json``), not from memory, so an
   executor that trains elsewhere only has to fill the folders;
5. writes ``runs.csv`` (the method's rows, also those of runs another process finished;
   rewritten after every run, so it shows the progress),
   then ``summary.csv`` (mean ± std and 95% t-interval per row) and ``table.md`` (the method's
   table; paired differences are :func:`emowb.eval.summary.paired_differences`), and lets the
   method write its extra files (:meth:`Method.finish`).

A method in short::

    class MyMethod(Method):
        name = "mine"
        def variants(self): ...                  # the rows
        def splits(self): ...                    # the folds
        def record(self, variant, split, seed):  # RunRecord: the run's config + inputs -> identity
        def folder(self, variant): ...           # OUT/<folder>/<fold>/seed<k>-<identity>
        def execute(self, spec, *, resume):      # model + loss + data -> Trainer(run_config=record)
        def rows(self, spec, metrics): ...       # runs.csv rows of one finished run
        def table(self, runs, summary): ...      # table.md

    result = run_method(MyMethod(...), "out", executor=LocalExecutor())

With ``stem="x"`` the files are ``x_experiment.json``, ``x_runs.csv``, ``x_summary.csv`` and
``x.md`` (several tables in one output folder, as the EmoDistill ablations).

**Several writers on one output folder** (two ``emowb experiment`` processes sharding a grid by
hand, a resubmitted Slurm job next to a running one): every shared file (``experiment.json``,
``runs.csv``, ``summary.csv``, ``table.md``) is written atomically while holding
``OUT/.emowb.lock`` (:func:`output_lock`), each run folder is trained under its own lock, and each
process ends by collecting every run from the folders, so the last one to finish writes the
whole table. The locks are ``flock`` locks (:func:`emowb.utils.exclusive_lock`): the kernel drops
them when their holder dies, so a killed process never blocks the next, and their files are
removed on release.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

import pandas as pd

from emowb.config import SCHEMA_VERSION, Config, ConfigError, require, setting
from emowb.eval.metrics import SCALAR_METRICS
from emowb.eval.summary import summarise_frame
from emowb.train.trainer import RunRecord, is_finished
from emowb.utils import LockBusy, atomic_path, exclusive_lock, write_json

__all__ = ["RunSpec", "Method", "MethodRecipe", "Resources", "LocalExecutor", "ExperimentResult", "OutputFiles",
           "run_method", "run_lock", "output_lock", "execute_locked", "plan"]

#: The lock of an output folder's shared files (experiment.json, runs.csv, summary.csv, table.md).
OUTPUT_LOCK = ".emowb.lock"


@dataclasses.dataclass(frozen=True)
class RunSpec:
    """One run of an experiment: everything its method needs to train it into ``run_dir``.

    Attributes:
        method: the method's name.
        variant: the method's variant object (the row; a :class:`~emowb.config.Config`).
        name: the row label.
        fold: the split's name.
        seed: the run's training seed.
        identity: the hash of everything that changes the run's results.
        run_dir: the run folder.
    """

    method: str
    variant: Any
    name: str
    fold: str
    seed: int
    identity: str
    run_dir: Path


@dataclasses.dataclass(frozen=True, kw_only=True)
class Resources(Config):
    """What one run needs: CPU cores and a share of a GPU (declared once, by the method).

    Attributes:
        cpus: CPU cores (torch threads) of one run; an executor runs ``cores // cpus`` runs at a time.
        gpus: the share of one GPU a run takes where GPUs are (``0.25``: four runs per GPU; small
            COGMEN runs leave a GPU mostly idle, so packing several is what fills it); ignored where
            there is none or the run's device is ``cpu``.
    """

    cpus: float = setting(1.0, changes_results=False, help="CPU cores (torch threads) per run")
    gpus: float = setting(0.0, changes_results=False, help="share of one GPU per run (0.25: four runs per GPU)")

    def validate(self) -> None:
        require(self.cpus > 0, f"Resources.cpus must be > 0, got {self.cpus}")
        require(0 <= self.gpus <= 1 or float(self.gpus).is_integer(),
                f"Resources.gpus must be a share in [0, 1] or a whole number of GPUs, got {self.gpus}")


@dataclasses.dataclass(frozen=True)
class MethodRecipe:
    """How a worker process rebuilds a method: ``factory(*args, **kwargs)``, all picklable.

    A method holds loaded corpora, feature sets and caches, which are large and sometimes not
    picklable; a recipe holds only its configuration, and each worker rebuilds the method once
    from it (loading the corpus from disk) and then trains as many runs as it is given.
    """

    factory: Callable[..., "Method"]
    args: tuple = ()
    kwargs: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def build(self) -> "Method":
        return self.factory(*self.args, **dict(self.kwargs))


class Method:
    """What an experiment method tells the runner (subclass and override).

    Required: :attr:`name`, :attr:`config`, :meth:`variants`, :meth:`splits`, :meth:`seeds`,
    :meth:`record` (or :meth:`spec`), :meth:`folder`, :meth:`execute`, :meth:`rows`,
    :meth:`table`. The others have defaults.
    """

    #: the method's name, recorded in every run's ``config.json`` and in ``experiment.json``
    name: str = ""
    #: the experiment's configuration
    config: Any = None

    # ------------------------------------------------------------------ the plan
    def variants(self) -> Sequence[Any]:
        """The rows (in table order)."""
        raise NotImplementedError

    def splits(self) -> Sequence[Any]:
        """The folds (:class:`~emowb.data.splits.Split`)."""
        raise NotImplementedError

    def seeds(self) -> Sequence[int]:
        return tuple(self.config.seeds)

    def variant_name(self, variant) -> str:
        return variant.name

    def record(self, variant, split, seed: int) -> RunRecord:
        """The run's :class:`~emowb.train.trainer.RunRecord` (cheap: nothing is trained)."""
        raise NotImplementedError

    def folder(self, variant) -> Path:
        """The variant's folder, relative to the output folder."""
        raise NotImplementedError

    def spec(self, out: Path, variant, split, seed: int) -> RunSpec:
        """The run of ``variant`` on ``split`` with ``seed`` (default layout:
        ``OUT/<folder>/<fold>/seed<k>-<identity>``)."""
        rec = self.record(variant, split, seed)
        ident = rec.identity
        return RunSpec(method=self.name, variant=variant, name=self.variant_name(variant), fold=split.name,
                       seed=rec.seed, identity=ident,
                       run_dir=Path(out) / self.folder(variant) / split.name / f"seed{rec.seed}-{ident}")

    def split(self, name: str):
        """The fold called ``name``."""
        for s in self.splits():
            if s.name == name:
                return s
        raise ConfigError(f"no fold {name!r}; folds are {[s.name for s in self.splits()]}")

    # ------------------------------------------------------------------ one run
    def execute(self, spec: RunSpec, *, resume: bool = True) -> None:
        """Train the run into ``spec.run_dir`` (build model, loss and data; the shared Trainer)."""
        raise NotImplementedError

    def finished(self, spec: RunSpec) -> bool:
        return is_finished(spec.run_dir)

    def metrics(self, spec: RunSpec) -> dict:
        """A finished run's results (its ``metrics.json``)."""
        return json.loads((spec.run_dir / "metrics.json").read_text())

    # ------------------------------------------------------------------ elsewhere
    def recipe(self) -> MethodRecipe:
        """How a worker process rebuilds this method (default: ``type(self)(self.config)``).

        Override when the constructor needs more than the configuration (see
        :meth:`EmoDistillMethod.recipe <emowb.kd.emodistill.EmoDistillMethod.recipe>`). A worker
        checks that its rebuilt method plans the very spec it was sent (same identity, same
        folder), so a recipe that misses something fails loudly instead of training another run.
        """
        return MethodRecipe(type(self), (self.config,))

    def resources(self) -> Resources:
        """What one run needs (default: the training config's threads; a quarter of a GPU when the
        run may use one)."""
        train = getattr(self.config, "train", None)
        threads = getattr(train, "num_threads", None) or 1
        device = getattr(train, "device", "cpu")
        return Resources(cpus=float(threads), gpus=0.0 if device == "cpu" else 0.25)

    # ------------------------------------------------------------------ results
    def rows(self, spec: RunSpec, metrics: Mapping) -> list[dict]:
        """The ``runs.csv`` rows of one finished run."""
        raise NotImplementedError

    def describe(self, spec: RunSpec, metrics: Mapping) -> str:
        """The log line of a finished run."""
        return f"{spec.name} {spec.fold} seed {spec.seed}: best epoch {metrics.get('best_epoch')}"

    def summarise(self, runs: pd.DataFrame) -> pd.DataFrame:
        """``summary.csv``: mean ± std per row (default: per ``model`` and ``context``)."""
        return summarise_frame(runs, by=["model", "context"], metrics=list(SCALAR_METRICS))

    def table(self, runs: pd.DataFrame, summary: pd.DataFrame) -> str:
        """``table.md``."""
        raise NotImplementedError

    def experiment_record(self) -> dict:
        """What ``experiment.json`` holds (default: the configuration)."""
        return self.config.to_dict()

    def after_runs(self) -> None:
        """Called once every run is finished, before the final tables."""

    def finish(self, out: Path, result: "ExperimentResult", files: "OutputFiles") -> None:
        """Write the method's extra files (called last)."""


def run_lock(spec: RunSpec) -> Path:
    """The lock file of one run folder: ``.<folder name>.lock`` beside it (not inside: a run folder
    that exists is a run that started, and ``resume=False`` refuses it)."""
    return spec.run_dir.parent / f".{spec.run_dir.name}.lock"


@contextlib.contextmanager
def output_lock(out: Path) -> Iterator[None]:
    """Hold the lock of ``out``'s shared files (:data:`OUTPUT_LOCK`) while writing them."""
    with exclusive_lock(Path(out) / OUTPUT_LOCK):
        yield


def execute_locked(method: Method, spec: RunSpec, *, resume: bool, wait: bool = True) -> bool:
    """Train ``spec`` while holding its run lock, unless it is finished; return False only when
    ``wait=False`` and another process holds the lock (the run is being trained elsewhere).

    The finished check comes *after* the lock is taken: a process that waited for another's run
    finds it finished and trains nothing.
    """
    try:
        with exclusive_lock(run_lock(spec), wait=wait):
            if not (resume and method.finished(spec)):
                method.execute(spec, resume=resume)
    except LockBusy:
        return False
    return True


class LocalExecutor:
    """Trains the runs one after the other in this process.

    A run whose lock another process holds (two processes sharing an output folder) is put off
    to the end, and then waited for, so two processes on one grid split it between them.
    """

    def run(self, method: Method, specs: Iterable[RunSpec], *, resume: bool,
            done: Callable[[RunSpec, float], None]) -> None:
        later = []
        for spec in specs:
            t0 = time.perf_counter()
            if execute_locked(method, spec, resume=resume, wait=False):
                done(spec, time.perf_counter() - t0)
            else:
                later.append(spec)
        for spec in later:
            t0 = time.perf_counter()
            execute_locked(method, spec, resume=resume)
            done(spec, time.perf_counter() - t0)


@dataclasses.dataclass
class ExperimentResult:
    """Per-run rows, per-row summary, the markdown table, the output folder and the runs."""

    runs: pd.DataFrame
    summary: pd.DataFrame
    table: str
    out_dir: Path
    specs: list = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class OutputFiles:
    """The names of an experiment's files in its output folder (``stem``: see the module docstring)."""

    stem: str | None = None

    def extra(self, part: str, ext: str) -> str:
        """``<part>.<ext>``, or ``<stem>_<part>.<ext>`` (a method's extra file, e.g. teachers.csv)."""
        return f"{self.stem}_{part}.{ext}" if self.stem else f"{part}.{ext}"

    @property
    def experiment(self) -> str:
        return self.extra("experiment", "json")

    @property
    def runs(self) -> str:
        return self.extra("runs", "csv")

    @property
    def summary(self) -> str:
        return self.extra("summary", "csv")

    @property
    def table(self) -> str:
        return f"{self.stem}.md" if self.stem else "table.md"


def plan(method: Method, out: Path) -> list[RunSpec]:
    """Every (fold, seed, variant) of ``method``: folds outermost, variants innermost."""
    return [method.spec(out, v, split, seed) for split in method.splits() for seed in method.seeds()
            for v in method.variants()]


def run_method(method: Method, out_dir: str | Path, *, resume: bool = True, executor=None,
               log: Callable[[str], None] | None = print, stem: str | None = None) -> ExperimentResult:
    """Run an experiment method (see the module docstring).

    Args:
        method: the method (its configuration, loaded inputs and caches).
        out_dir: output folder.
        resume: skip finished runs and resume interrupted ones (``False``: a run folder that
            exists already is an error).
        executor: what trains the runs: an executor object, or its ``--executor`` text
            (``local``, ``processes[:N]``, ``ray[:ADDRESS]``; :mod:`emowb.train.executors`);
            default :class:`LocalExecutor`.
        log: one line per run (None = silent).
        stem: file-name stem (None: ``runs.csv``, ``summary.csv``, ``table.md``).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = OutputFiles(stem or None)
    say = log or (lambda s: None)
    if executor is None:
        executor = LocalExecutor()
    elif not hasattr(executor, "run"):
        from emowb.train.executors import make_executor

        executor = make_executor(executor)
    with output_lock(out):
        write_json(out / files.experiment, {"schema": SCHEMA_VERSION, "method": method.name,
                                            **method.experiment_record()})
    specs = plan(method, out)
    first: dict[Path, RunSpec] = {}                 # the first spec of each run folder
    for s in specs:
        first.setdefault(s.run_dir, s)
    unique = list(first.values())
    results: dict[Path, dict] = {}                  # run folder -> its metrics.json

    def done(spec: RunSpec, seconds: float) -> None:
        results[spec.run_dir] = method.metrics(spec)
        say(f"[{len(results)}/{len(unique)}] {method.describe(spec, results[spec.run_dir])} ({seconds:.1f} s)")
        # also the runs that another process sharing the folder finished: runs.csv shows them all
        rows = _collect(method, [s for s in specs if s.run_dir in results or method.finished(s)], results)
        if rows:
            _write(out, files, method, rows, tables=False)   # runs.csv as the runs finish

    executor.run(method, unique, resume=resume, done=done)
    method.after_runs()
    rows = _collect(method, specs, results)
    runs, summary, table = _write(out, files, method, rows, tables=True)
    result = ExperimentResult(runs=runs, summary=summary, table=table, out_dir=out, specs=specs)
    method.finish(out, result, files)
    return result


def _collect(method: Method, specs: Sequence[RunSpec], cache: dict[Path, dict]) -> list[dict]:
    """The rows of the finished runs, read from their folders (a run once per row label)."""
    rows: list[dict] = []
    seen: set[tuple[str, Path]] = set()
    for spec in specs:
        if (spec.name, spec.run_dir) in seen:
            continue
        seen.add((spec.name, spec.run_dir))
        if spec.run_dir not in cache:
            cache[spec.run_dir] = method.metrics(spec)
        rows += method.rows(spec, cache[spec.run_dir])
    return rows


def _write(out: Path, files: OutputFiles, method: Method, rows: list[dict], *,
           tables: bool) -> tuple[pd.DataFrame, pd.DataFrame | None, str | None]:
    runs = pd.DataFrame(rows)
    summary = method.summarise(runs) if tables else None
    table = method.table(runs, summary) if tables else None
    with output_lock(out):
        with atomic_path(out / files.runs, suffix=".csv") as tmp:
            runs.to_csv(tmp, index=False)
        if tables:
            with atomic_path(out / files.summary, suffix=".csv") as tmp:
                summary.to_csv(tmp, index=False)
            with atomic_path(out / files.table, suffix=".md") as tmp:
                tmp.write_text(table)
    return runs, summary, table
