"""The ``emowb`` command. Each area registers its own subcommands (``register(subparsers)``).

The command-line modules sit on top of every other layer: :mod:`emowb.cli.data` (synth, corpus,
splits), :mod:`emowb.cli.features` (import, features, feature-sets), :mod:`emowb.cli.train`
(train, experiment, evaluate), :mod:`emowb.cli.kd` (kd ...), :mod:`emowb.cli.notebook`
(notebooks, demo).
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys

from emowb.config import ConfigError

__all__ = ["COMMAND_MODULES", "build_parser", "main"]

# Modules that contribute subcommands; each defines ``register(subparsers)``. A module that is
# not part of this installation is skipped; one that exists but fails to import is an error.
COMMAND_MODULES = (
    "emowb.cli.data",        # synth, corpus info, splits
    "emowb.cli.features",    # import, features
    "emowb.cli.train",       # train, evaluate, experiments
    "emowb.cli.kd",          # distillation
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
    except ConfigError as e:
        # a configuration the user typed: one line naming the key and the fix, no traceback
        # (EMOWB_TRACEBACK=1 shows it)
        if os.environ.get("EMOWB_TRACEBACK"):
            raise
        print(f"emowb {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
