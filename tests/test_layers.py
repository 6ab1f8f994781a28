"""The package's layers hold: no module imports from a higher layer, and no import cycles.

Layers, lowest first (a module may import from its own layer and the layers below)::

    0  emowb (the package itself), types, utils, config
    1  data        corpora, importers, splits, synthetic corpus, audio, stats
    2  features    extractors (log-mel included), the feature cache, base types
    3  batching    dialogue / utterance batches, graph edges, normalisation
    4  models      COGMEN, ModelOutput
    5  eval        metrics, contexts, summaries, probes, reproduce
    6  train       trainer, masking, runs, experiments
    7  kd          knowledge distillation
    8  infer       trained students on new audio: predict, stream, export
    9  viz         figures
    10 notebook    the notebooks' configurations and runner
    11 cli         the command line (and ``python -m emowb``)

Every import counts: module-level ones, those inside functions, and module names given as string
literals (``importlib.import_module("emowb.x")``, lazy-import tables). Only the imports that run
on import (outside functions, ``if TYPE_CHECKING:`` and ``if __name__ == "__main__":``) can form
import cycles.
"""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "emowb"

#: top-level module / subpackage of ``emowb`` -> layer.
LAYERS = {
    "": 0, "types": 0, "utils": 0, "config": 0,
    "data": 1,
    "features": 2,
    "batching": 3,
    "models": 4,
    "eval": 5,
    "train": 6,
    "kd": 7,
    "infer": 8,
    "viz": 9,
    "notebook": 10,
    "cli": 11, "__main__": 11,
}

MODULE_NAME = re.compile(r"emowb(\.[A-Za-z_][A-Za-z0-9_]*)+")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


MODULES = {_module_name(p): p for p in sorted(PKG.rglob("*.py"))}


def layer_of(module: str) -> int | None:
    """Layer of a module (``None`` if its top-level part is not in :data:`LAYERS`)."""
    parts = module.split(".")
    return LAYERS.get(parts[1] if len(parts) > 1 else "")


def _resolve(name: str) -> str | None:
    """The emowb module that ``name`` (a module, or a module + attribute) refers to."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        candidate = ".".join(parts[:i])
        if candidate in MODULES:
            return candidate
    return None


def _not_run_on_import(test: ast.expr) -> bool:
    """``if TYPE_CHECKING:`` / ``if __name__ == "__main__":``: a block that importing never runs."""
    if (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
            (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"):
        return True
    return (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == "__name__"
            and len(test.comparators) == 1 and isinstance(test.comparators[0], ast.Constant)
            and test.comparators[0].value == "__main__")


def imports_of(module: str) -> list[tuple[str, int, bool]]:
    """(imported emowb module, line, at module level) for every import in ``module``'s file."""
    path = MODULES[module]
    is_pkg = path.name == "__init__.py"
    found: list[tuple[str, int, bool]] = []

    def add(name: str | None, line: int, top: bool) -> None:
        if name and (name == "emowb" or name.startswith("emowb.")):
            target = _resolve(name)
            if target is not None:
                found.append((target, line, top))

    class Visitor(ast.NodeVisitor):
        def __init__(self) -> None:
            self.depth = 0

        def _nested(self, node: ast.AST) -> None:
            self.depth += 1
            self.generic_visit(node)
            self.depth -= 1

        visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _nested

        def visit_If(self, node: ast.If) -> None:
            if _not_run_on_import(node.test):
                self._nested(node)
            else:
                self.generic_visit(node)

        def visit_Import(self, node: ast.Import) -> None:
            for alias in node.names:
                add(alias.name, node.lineno, self.depth == 0)

        def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
            if node.level:
                base = module.split(".") if is_pkg else module.split(".")[:-1]
                base = base[:len(base) - (node.level - 1)]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            for alias in node.names:
                sub = f"{mod}.{alias.name}"
                add(sub if sub in MODULES else mod, node.lineno, self.depth == 0)

        def visit_Constant(self, node: ast.Constant) -> None:
            # importlib.import_module("emowb.x"), lazy-import tables, command-module lists
            if isinstance(node.value, str) and MODULE_NAME.fullmatch(node.value) and node.value in MODULES:
                add(node.value, node.lineno, False)

    Visitor().visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
    return list(dict.fromkeys(found))


def _rel(module: str) -> str:
    return str(MODULES[module].relative_to(PKG.parent))


def test_every_top_level_part_has_a_layer():
    tops = {p.stem for p in PKG.glob("*.py")} | {p.name for p in PKG.iterdir()
                                                  if p.is_dir() and (p / "__init__.py").is_file()}
    tops.discard("__init__")
    unknown = sorted(tops - set(LAYERS))
    assert not unknown, (f"emowb/{unknown[0]} is not in the layer table of tests/test_layers.py: "
                         f"give every new top-level module / subpackage a layer ({unknown})")
    # a folder of modules without __init__.py would escape the table as a namespace package
    stray = sorted(p.name for p in PKG.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))
                   and not (p / "__init__.py").is_file() and any(p.rglob("*.py")))
    assert not stray, f"emowb/{stray[0]} holds modules but no __init__.py"


def test_no_import_goes_to_a_higher_layer():
    bad = []
    for module in MODULES:
        own = layer_of(module)
        for target, line, top in imports_of(module):
            if layer_of(target) > own:
                where = "" if top else " (inside a function / as a string)"
                bad.append(f"{_rel(module)}:{line}: layer {own} module {module} imports {target} "
                           f"(layer {layer_of(target)}){where}")
    assert not bad, "upward imports:\n" + "\n".join(bad)


def test_no_import_cycles():
    graph: dict[str, dict[str, int]] = {m: {} for m in MODULES}
    for module in MODULES:
        for target, line, top in imports_of(module):
            if top and target != module:
                graph[module].setdefault(target, line)
    # Tarjan's strongly connected components
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    msgs = []
    for comp in cycles:
        members = set(comp)
        edges = [f"  {_rel(a)}:{graph[a][b]} imports {b}" for a in comp for b in graph[a] if b in members]
        msgs.append(f"cycle among {comp}:\n" + "\n".join(edges))
    assert not cycles, "module-level import cycles:\n" + "\n".join(msgs)


def test_the_scan_sees_imports_in_functions_and_strings():
    # guard the scanner itself: the CLI's table of command modules and in-function imports count
    assert any(t == "emowb.cli.kd" and not top for t, _, top in imports_of("emowb.cli"))
    assert any(t == "emowb.features.logmel" and not top for t, _, top in imports_of("emowb.features.extract"))
    assert any(t == "emowb.batching.graph" and top for t, _, top in imports_of("emowb.batching.dialogues"))


PACKAGES = sorted(m for m, p in MODULES.items() if p.name == "__init__.py")


@pytest.mark.parametrize("package", PACKAGES)
def test_package_init_style(package):
    """Every package ``__init__``: a docstring and an explicit (literal) ``__all__`` that resolves."""
    tree = ast.parse(MODULES[package].read_text(encoding="utf-8"))
    assert ast.get_docstring(tree), f"{_rel(package)} has no docstring"
    literal = [n for n in tree.body if isinstance(n, ast.Assign)
               and any(isinstance(t, ast.Name) and t.id == "__all__" for t in n.targets)]
    assert literal, f"{_rel(package)} defines no __all__"
    names = ast.literal_eval(literal[0].value)
    mod = importlib.import_module(package)
    missing = [n for n in names if not hasattr(mod, n)]
    assert not missing, f"{_rel(package)}: __all__ names {missing} are not available"
