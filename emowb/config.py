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

from emowb.utils import write_json

__all__ = ["Config", "ConfigError", "require", "parse_assignments"]


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
            raise ConfigError(f"{cls.__name__}: unknown key(s) {unknown}; known: {sorted(known)}")
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


# --------------------------------------------------------------------------- helpers
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
    raise ConfigError(f"{cls.__name__}: unknown key {key!r}; known: {sorted(names)}")


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
