"""Command-line options generated from an experiment's schema (the notebooks' configurations).

``emowb kd triplet``, ``emowb kd emodistill`` / ``ablations`` and ``kd.ipynb`` / ``emodistill.ipynb``
/ ``emowb notebooks`` take the same parameters, declared once in :mod:`emowb.notebook.params`:
each becomes ``--name-with-dashes VALUE`` here (help and default from the schema), ``--size``
starts from a notebook preset, and ``--set KEY=VALUE`` reaches any field of the experiment's
package configuration that the notebook does not expose (``--set train.epochs=3``). A key known
to neither is an error naming the closest one.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from emowb.config import Config, ConfigError, parse_assignments, suggest
from emowb.notebook.params import NOTEBOOK_CONFIGS, _plain_text
from emowb.notebook.presets import SIZES, preset_values

__all__ = ["add_schema_options", "schema_params", "apply_sets"]


def _dest(name: str) -> str:
    return f"param_{name}"


def add_schema_options(p: argparse.ArgumentParser, notebook: str, *, skip: tuple[str, ...] = ()) -> None:
    """Add one option per parameter of ``notebook``'s schema (not ``skip``), ``--size`` and ``--set``."""
    cls = NOTEBOOK_CONFIGS[notebook]
    for e in cls.schema():
        if e["name"] in skip:
            continue
        default = e["default"]
        shown = ",".join(map(str, default)) if isinstance(default, (list, tuple)) else default
        # '%' would be read as an argparse format directive
        text = f"{_plain_text(e['help'])} (default: {shown})".replace("%", "%%")
        p.add_argument("--" + e["name"].replace("_", "-"), dest=_dest(e["name"]), default=None,
                       metavar="LIST" if e["type"].startswith("tuple") else e["type"].split("[")[0].upper(),
                       help=text)
    p.add_argument("--size", choices=SIZES, default=None,
                   help=f"start from the {notebook}.ipynb preset of this size (default: the schema's defaults)")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="any other configuration field, e.g. train.epochs=3 (repeatable; JSON values)")


def _value(entry: dict, text: str) -> Any:
    """A command-line string as the parameter's literal: JSON if it parses, a comma list for lists."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = text
    if entry["type"].startswith("tuple") and not isinstance(value, list):
        value = [v.strip() for v in str(text).split(",") if v.strip()]
    return value


def schema_params(a: argparse.Namespace, notebook: str, **fixed: Any) -> tuple[Config, dict[str, Any]]:
    """The notebook configuration the options describe, and the ``--set`` keys it does not take.

    Order: the ``--size`` preset, then ``fixed`` (e.g. the corpus argument), then the options
    given, then ``--set`` keys that are parameters of the notebook.
    """
    cls = NOTEBOOK_CONFIGS[notebook]
    schema = {e["name"]: e for e in cls.schema()}
    flat: dict[str, Any] = dict(preset_values(a.size, notebook)) if a.size else {}
    flat.update(fixed)
    for name, entry in schema.items():
        given = getattr(a, _dest(name), None)
        if given is not None:
            # a folder typed on the command line is relative to the current folder (the
            # notebooks' own defaults are relative to the repository root)
            flat[name] = str(Path(given).resolve()) if name == "workdir" else _value(entry, given)
    rest = {}
    for key, value in parse_assignments(a.sets, flag="--set").items():
        (flat if key in schema else rest)[key] = value
    return cls.from_params(**flat), rest


def apply_sets(config: Config, rest: dict[str, Any], *, notebook: str) -> Config:
    """``config`` with the remaining ``--set`` keys; an unknown key names the closest of both schemas."""
    if not rest:
        return config
    try:
        return type(config).from_params(config, **rest)
    except ConfigError as e:
        if "unknown key" not in str(e):
            raise
        key = next(k for k in rest if k in str(e))
        known = set(NOTEBOOK_CONFIGS[notebook].field_names())
        raise ConfigError(f"--set {key}: neither a parameter of {notebook}.ipynb nor a field of "
                          f"{type(config).__name__}{suggest(key.split('.')[-1], known) or ''}; {e}") from None
