"""The ``emowb`` command. Each area registers its own subcommands (``register(subparsers)``).

The command-line modules sit on top of every other layer: :mod:`emowb.cli.data` (synth, corpus,
splits), :mod:`emowb.cli.features` (import, features, feature-sets), :mod:`emowb.cli.train`
(train, experiment, evaluate), :mod:`emowb.cli.kd` (kd ...), :mod:`emowb.cli.notebook`
(notebooks, demo).

Errors about the user's input (configuration, corpus, splits, audio, feature caches, run folders,
a full disk) are printed as one line naming the thing and the fix, exit status 2
(:func:`error_message`); ``EMOWB_TRACEBACK=1`` shows the traceback. Other exceptions are bugs
and keep their traceback.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import importlib.util
import os
import re
import sys

from emowb.config import ConfigError

__all__ = ["COMMAND_MODULES", "build_parser", "error_message", "main"]

# Modules that contribute subcommands; each defines ``register(subparsers)``. A module that is
# not part of this installation is skipped; one that exists but fails to import is an error.
COMMAND_MODULES = (
    "emowb.cli.data",        # synth, corpus info, splits
    "emowb.cli.features",    # import, features
    "emowb.cli.train",       # train, evaluate, experiments
    "emowb.cli.kd",          # distillation
    "emowb.cli.bench",       # one speech-only benchmark table on any corpus
    "emowb.cli.predict",     # predict, export: a student on anyone's audio
    "emowb.cli.notebook",    # notebooks, demo
)


def _exists(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ModuleNotFoundError:  # a parent package is not there
        return False


def build_parser() -> argparse.ArgumentParser:
    from emowb import __version__

    p = argparse.ArgumentParser(prog="emowb", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"emowb {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        if _exists(name):
            importlib.import_module(name).register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as e:
        # a configuration the user typed, or an error emowb raises about the user's data, files,
        # splits or disk: one line naming the thing and the fix, no traceback (EMOWB_TRACEBACK=1
        # shows it); anything else is a bug and keeps its traceback
        msg = error_message(e)
        if msg is None or os.environ.get("EMOWB_TRACEBACK"):
            raise
        print(f"emowb {args.command}: error: {msg}", file=sys.stderr)
        return 2


#: emowb's own error types (module, class) shown as one line; looked up only in modules already
#: imported (an error can only come from one), so the command line does not import them all.
OWN_ERRORS = (
    ("emowb.data.corpus", "CorpusError"),        # and the importers' SourceError
    ("emowb.data.audio", "AudioError"),
    ("emowb.data.splits", "SplitError"),
    ("emowb.features.base", "FeatureError"),     # and ExtractionError
    ("emowb.train.trainer", "TrainerError"),
    ("emowb.infer.frontend", "FrontEndError"),
)


def error_message(e: BaseException) -> str | None:
    """The one-line message of an error the command line reports without a traceback, or None."""
    if isinstance(e, OSError) and e.errno == errno.ENOSPC:
        where = e.filename or "the output"
        return f"no space left on device while writing {where}: free space or point --out elsewhere"
    own = (ConfigError,) + tuple(getattr(sys.modules[m], n) for m, n in OWN_ERRORS
                                 if m in sys.modules and hasattr(sys.modules[m], n))
    if not isinstance(e, own):
        return None
    lines = [ln.strip() for ln in str(e).splitlines() if ln.strip()]
    if len(lines) > 4:                           # a list of problems: the first few
        lines = lines[:4] + [f"... ({len(lines) - 4} more lines; EMOWB_TRACEBACK=1 shows the full error)"]
    return re.sub(r":;", ":", "; ".join(lines)) or type(e).__name__


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
