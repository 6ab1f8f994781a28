"""A small base for frozen, validated experiment configurations.

Every experiment in emowb is described by one frozen dataclass that subclasses :class:`Config`.
It gives:

- keyword-only construction (``TrainConfig(epochs=5)``; positional arguments are refused);
- validation in :meth:`Config.validate` (called from ``__post_init__``) that raises
  :class:`ConfigError` with a message naming the field;
- light coercion of JSON/notebook literals to the declared types: ``"adam"`` to an Enum member,
  a list to a tuple, a dict to a nested config;
- :meth:`Config.to_dict` / :meth:`Config.from_dict` (unknown keys are an error), JSON
  :meth:`Config.save` / :meth:`Config.load`;
- :meth:`Config.from_params` which builds a config from *flat* keyword literals, as a papermill
  ``parameters`` cell or CLI ``--set key=value`` pairs provide them. A flat key is a field of the
  config itself, ``"nested.field"`` / ``"nested__field"`` for a field of a nested config, or the
  bare name of a field that exactly one nested config has. Unknown or ambiguous keys are errors.

Example::

    @dataclasses.dataclass(frozen=True, kw_only=True)
    class MyConfig(Config):
        lr: float = 1e-3
        optimizer: Optimizer = Optimizer.ADAM

        def validate(self) -> None:
            require(self.lr > 0, f"lr must be > 0, got {self.lr}")

    cfg = MyConfig.from_params(lr="0.01", optimizer="adamw")   # strings are coerced
"""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import types
import typing
from pathlib import Path
from typing import Any, Mapping

from emowb.utils import stable_hash, write_json

__all__ = ["Config", "ConfigError", "require", "parse_assignments", "setting", "identity", "suggest",
           "SCHEMA_VERSION"]

#: Bumped when the meaning of a stored configuration changes; part of every store's identity, so
#: results computed under an older schema are never taken for current ones.
SCHEMA_VERSION = 2

_MISSING = dataclasses.MISSING


def setting(default: Any = _MISSING, *, help: str = "", changes_results: bool = True,
            default_factory: Any = _MISSING) -> Any:
    """Declare one configuration field: its default, help text and whether it changes results.

    The one place a setting is declared. ``help`` documents it everywhere it is shown (CLI help,
    the notebooks' generated ``parameters`` cells, ``papermill --help-notebook``).
    ``changes_results=False`` marks options that cannot change what is computed (progress bars,
    thread counts, worker counts, where a corpus lives on disk): they are left out of every
    store's identity (:func:`identity`), so changing them reuses finished work. Mutable defaults
    (lists, dicts, configs) are copied per instance.
    """
    meta = {"help": help, "changes_results": bool(changes_results)}
    if default_factory is not _MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=meta)
    if isinstance(default, (list, dict, set)):
        d = default
        return dataclasses.field(default_factory=lambda: type(d)(d), metadata=meta)
    if default is _MISSING:
        return dataclasses.field(metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def suggest(key: str, known) -> str:
    """`` (did you mean 'alpha'?)`` for a misspelt ``key``, or ``""``."""
    import difflib

    close = difflib.get_close_matches(key, sorted(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def identity(config: "Config | Mapping[str, Any]", *, corpus_fingerprint: str | None = None,
             n: int = 12, **extra: Any) -> str:
    """The one identity of a stored result (feature set, teacher, run, notebook output).

    A hash of the configuration's fields that change results (:meth:`Config.result_dict`; for a
    plain mapping, the mapping itself), the corpus' content fingerprint (not its path, so the
    same corpus named by a relative or an absolute path is the same) and :data:`SCHEMA_VERSION`.
    ``extra`` adds other result-changing inputs (e.g. a split, a teacher's key).
    """
    body = config.result_dict() if isinstance(config, Config) else _plain(dict(config))
    return stable_hash({"config": body, "corpus": corpus_fingerprint, "schema": SCHEMA_VERSION,
                        **{k: _plain(v) for k, v in sorted(extra.items())}}, n=n)


class ConfigError(ValueError):
    """An invalid configuration value or an unknown configuration key."""


def require(condition: bool, message: str) -> None:
    """Raise :class:`ConfigError` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise ConfigError(message)


def parse_assignments(items, *, flag: str, dashes_to_underscores: bool = False) -> dict[str, Any]:
    """``["a=1", "b.c=[2, 3]", "d=text"]`` -> ``{"a": 1, "b.c": [2, 3], "d": "text"}``.

    The command-line form of flat parameters (``--set``, ``-o``, ``-p``): values are JSON when they
    parse as JSON, plain strings otherwise. A malformed item exits naming ``flag``.
    """
    out: dict[str, Any] = {}
    for item in items or []:
        if "=" not in item:
            raise SystemExit(f"{flag} expects KEY=VALUE, got {item!r}")
        k, v = (x.strip() for x in item.split("=", 1))
        if dashes_to_underscores:
            k = k.replace("-", "_")
        try:
            out[k] = json.loads(v)
        except json.JSONDecodeError:
            out[k] = v
    return out


@dataclasses.dataclass(frozen=True, kw_only=True)
class Config:
    """Base class of all emowb configurations (frozen, keyword-only dataclasses).

    Subclasses are declared with ``@dataclasses.dataclass(frozen=True, kw_only=True)`` and
    override :meth:`validate`.
    """

    def __post_init__(self) -> None:
        hints = _hints(type(self))
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            try:
                coerced = _coerce(value, hints.get(f.name, Any))
            except (TypeError, ValueError) as e:
                raise ConfigError(f"{type(self).__name__}.{f.name}: {e}") from None
            if coerced is not value:
                object.__setattr__(self, f.name, coerced)
        self.validate()

    def validate(self) -> None:
        """Check field values; raise :class:`ConfigError` naming the field. Override me."""

    # ------------------------------------------------------------------ dicts
    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict: enums become their values, tuples lists, nested configs dicts."""
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Config":
        """Build from a (possibly nested) dict; unknown keys raise :class:`ConfigError`."""
        if not isinstance(d, Mapping):
            raise ConfigError(f"{cls.__name__}: expected a mapping, got {type(d).__name__}")
        known = {f.name for f in dataclasses.fields(cls) if f.init}
        unknown = sorted(set(d) - known)
        if unknown:
            hint = suggest(unknown[0], known) if len(unknown) == 1 else ""
            raise ConfigError(f"{cls.__name__}: unknown key(s) {unknown}{hint}; known: {sorted(known)}")
        return cls(**dict(d))

    def replace(self, **changes: Any) -> "Config":
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    # ------------------------------------------------------------------ json
    def save(self, path: str | os.PathLike) -> Path:
        """Write :meth:`to_dict` as JSON (atomically)."""
        write_json(path, self.to_dict())
        return Path(path)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Config":
        """Read a JSON file written by :meth:`save`."""
        try:
            d = json.loads(Path(path).read_text())
        except json.JSONDecodeError as e:
            raise ConfigError(f"{path}: invalid JSON ({e})") from e
        return cls.from_dict(d)

    # ------------------------------------------------------------ flat params
    @classmethod
    def from_params(cls, base: "Config | None" = None, **flat: Any) -> "Config":
        """Build from flat literals (notebook parameters, ``--set`` pairs).

        Args:
            base: start from this config instead of the defaults.
            **flat: ``field=value``, ``nested__field=value`` (or ``"nested.field"`` passed via
                ``**{"nested.field": v}``), or ``field=value`` where ``field`` belongs to exactly
                one nested config.

        Raises:
            ConfigError: on an unknown or ambiguous key, or an invalid value.
        """
        base_dict = base.to_dict() if base is not None else {}
        tree: dict[str, Any] = {}
        for key, value in flat.items():
            path = _route(cls, key.replace("__", ".").split("."), key)
            node = tree
            for part in path[:-1]:
                node = node.setdefault(part, {})
            node[path[-1]] = value
        return cls.from_dict(_merge(cls, base_dict, tree))

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls) if f.init]

    # ------------------------------------------------------------ the schema
    @classmethod
    def runtime_fields(cls) -> tuple[str, ...]:
        """Fields declared ``changes_results=False`` (see :func:`setting`)."""
        return tuple(f.name for f in dataclasses.fields(cls)
                     if f.init and not f.metadata.get("changes_results", True))

    @classmethod
    def help_for(cls, name: str) -> str:
        """The help text declared for field ``name`` (``""`` when none was declared)."""
        for f in dataclasses.fields(cls):
            if f.name == name:
                return f.metadata.get("help", "")
        raise ConfigError(f"{cls.__name__}: unknown field {name!r}{suggest(name, cls.field_names())}")

    @classmethod
    def schema(cls) -> list[dict[str, Any]]:
        """One entry per field: name, type (as written), default, help, changes_results."""
        hints = _hints(cls)
        out = []
        for f in dataclasses.fields(cls):
            if not f.init:
                continue
            if f.default is not _MISSING:
                default = _plain(f.default)
            elif f.default_factory is not _MISSING:  # type: ignore[misc]
                default = _plain(f.default_factory())  # type: ignore[misc]
            else:
                default = _MISSING
            out.append({"name": f.name, "type": _type_name(hints.get(f.name, Any)), "default": default,
                        "help": f.metadata.get("help", ""),
                        "changes_results": f.metadata.get("changes_results", True)})
        return out

    def result_dict(self) -> dict[str, Any]:
        """:meth:`to_dict` without the fields that do not change results (recursively)."""
        runtime = set(self.runtime_fields())
        out = {}
        for f in dataclasses.fields(self):
            if f.name in runtime:
                continue
            v = getattr(self, f.name)
            out[f.name] = v.result_dict() if isinstance(v, Config) else _plain(v)
        return out


# --------------------------------------------------------------------------- helpers
def _type_name(tp: Any) -> str:
    if isinstance(tp, type) and not typing.get_args(tp):
        return tp.__name__
    return str(tp).replace("typing.", "").replace("emowb.", "")


def _hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception:  # pragma: no cover - unresolvable forward refs: no coercion then
        return {}


def _nested_config_type(tp: Any) -> type | None:
    """The Config subclass inside ``tp`` (``X``, ``X | None``), else None."""
    for t in _union_args(tp):
        if isinstance(t, type) and issubclass(t, Config):
            return t
    return None


def _union_args(tp: Any) -> tuple:
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is types.UnionType:
        return typing.get_args(tp)
    return (tp,)


def _coerce(value: Any, tp: Any) -> Any:
    """Coerce JSON/notebook literals to ``tp`` where that is unambiguous; else return as is."""
    if tp is Any or value is None:
        return value
    args = _union_args(tp)
    if len(args) > 1:
        for t in args:
            if t is type(None):
                continue
            if isinstance(t, type) and not typing.get_origin(t) and isinstance(value, t) \
                    and not (t is int and isinstance(value, bool)):
                return value
        last_error: Exception | None = None
        for t in args:
            if t is type(None):
                continue
            try:
                return _coerce(value, t)
            except (TypeError, ValueError) as e:
                last_error = e
        if last_error is not None:
            raise last_error
        return value
    origin = typing.get_origin(tp)
    if origin is tuple:
        if isinstance(value, str) or not hasattr(value, "__iter__") or isinstance(value, Mapping):
            raise TypeError(f"expected a sequence, got {value!r}")
        items = list(value)
        targs = typing.get_args(tp)
        if len(targs) == 2 and targs[1] is Ellipsis:
            return tuple(_coerce(v, targs[0]) for v in items)
        if targs and len(targs) == len(items):
            return tuple(_coerce(v, t) for v, t in zip(items, targs))
        return tuple(items)
    if origin in (dict, Mapping) or tp in (dict,):
        if not isinstance(value, Mapping):
            raise TypeError(f"expected a mapping, got {value!r}")
        targs = typing.get_args(tp)
        if len(targs) == 2:
            return {_coerce(k, targs[0]): _coerce(v, targs[1]) for k, v in value.items()}
        return dict(value)
    if isinstance(tp, type):
        if issubclass(tp, Config):
            if isinstance(value, tp):
                return value
            if isinstance(value, Mapping):
                return tp.from_dict(value)
            raise TypeError(f"expected {tp.__name__} or a dict, got {type(value).__name__}")
        if issubclass(tp, enum.Enum):
            if isinstance(value, tp):
                return value
            try:
                return tp(value)
            except ValueError:
                raise ValueError(f"{value!r} is not one of {[m.value for m in tp]}") from None
        if tp is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.lower() in ("true", "1", "yes", "false", "0", "no"):
                return value.lower() in ("true", "1", "yes")
            if isinstance(value, int) and value in (0, 1):
                return bool(value)
            raise TypeError(f"expected a bool, got {value!r}")
        if tp is int:
            if isinstance(value, bool):
                raise TypeError(f"expected an int, got {value!r}")
            if isinstance(value, int):
                return value
            if isinstance(value, float) and value.is_integer():
                return int(value)
            if isinstance(value, str):
                return int(value)
            raise TypeError(f"expected an int, got {value!r}")
        if tp is float:
            if isinstance(value, bool):
                raise TypeError(f"expected a number, got {value!r}")
            if isinstance(value, (int, float)):
                return float(value) if not isinstance(value, float) else value
            if isinstance(value, str):
                return float(value)
            raise TypeError(f"expected a number, got {value!r}")
        if tp is str:
            if isinstance(value, (str, os.PathLike)):
                return str(value) if not isinstance(value, str) else value
            raise TypeError(f"expected a string, got {value!r}")
    return value


def _plain(v: Any) -> Any:
    if isinstance(v, Config):
        return v.to_dict()
    if isinstance(v, enum.Enum):
        return v.value
    if isinstance(v, (tuple, list)):
        return [_plain(x) for x in v]
    if isinstance(v, Mapping):
        return {(k.value if isinstance(k, enum.Enum) else k): _plain(x) for k, x in v.items()}
    if isinstance(v, Path):
        return str(v)
    return v


def _route(cls: type, parts: list[str], key: str) -> list[str]:
    """Resolve a flat key to a path of field names; raise on unknown/ambiguous keys."""
    hints = _hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.init}
    head = parts[0]
    if head in names:
        if len(parts) == 1:
            return [head]
        sub = _nested_config_type(hints.get(head))
        if sub is None:
            raise ConfigError(f"{cls.__name__}: {head!r} is not a nested config (key {key!r})")
        return [head] + _route(sub, parts[1:], key)
    if len(parts) == 1:
        owners = []
        for n in sorted(names):
            sub = _nested_config_type(hints.get(n))
            if sub is not None:
                try:
                    owners.append([n] + _route(sub, parts, key))
                except ConfigError:
                    pass
        if len(owners) == 1:
            return owners[0]
        if len(owners) > 1:
            raise ConfigError(f"{cls.__name__}: key {key!r} is ambiguous; use one of "
                              f"{['.'.join(o) for o in owners]}")
    raise ConfigError(f"{cls.__name__}: unknown key {key!r}{suggest(key, _flat_keys(cls))}; "
                      f"known: {sorted(names)}")


def _flat_keys(cls: type, prefix: str = "") -> set[str]:
    """Every key :meth:`Config.from_params` accepts: fields, and nested fields bare or dotted."""
    out: set[str] = set()
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        out.add(prefix + f.name)
        sub = _nested_config_type(hints.get(f.name))
        if sub is not None:
            inner = _flat_keys(sub)
            out |= {f"{prefix}{f.name}.{k}" for k in inner}
            if not prefix:
                out |= {k for k in inner if "." not in k}
    return out


def _merge(cls: type, base: dict, tree: dict) -> dict:
    out = dict(base)
    hints = _hints(cls)
    for k, v in tree.items():
        sub = _nested_config_type(hints.get(k))
        if isinstance(v, dict) and sub is not None and not _is_mapping_field(hints.get(k)):
            cur = out.get(k)
            cur = cur if isinstance(cur, dict) else (cur.to_dict() if isinstance(cur, Config) else
                                                     _default_dict(cls, k, sub))
            out[k] = _merge(sub, cur, v)
        else:
            out[k] = v
    return out


def _is_mapping_field(tp: Any) -> bool:
    return any(typing.get_origin(t) in (dict, Mapping) for t in _union_args(tp))


def _default_dict(cls: type, name: str, sub: type) -> dict:
    for f in dataclasses.fields(cls):
        if f.name == name:
            if f.default is not dataclasses.MISSING and isinstance(f.default, Config):
                return f.default.to_dict()
            if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
                v = f.default_factory()  # type: ignore[misc]
                if isinstance(v, Config):
                    return v.to_dict()
    return {}
