"""The rules of the package's shape (docs/architecture.md), checked on the source so they stay true:

- imports point down the layers (a module imports its own package or a lower layer), function-local imports
  included; imports used only for type hints (under ``if TYPE_CHECKING:``) are exempt;
- no import cycle anywhere in ``bench/`` or ``workloads/``;
- no module uses another module's underscore names, nor a module whose name starts with an underscore;
- no production module imports the fakes.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

from tests import ROOT

PACKAGES = {"bench": ROOT / "bench", "bench_workloads": ROOT / "workloads"}

# (component, layer): a module may import its own component or any component of a lower layer
LAYERS: dict[str, int] = {
    "bench.version": 0, "bench.errors": 0, "bench.clock": 0, "bench.guarded": 0, "bench.safetext": 0, "bench.atomic": 0,
    "bench.plugins": 1,
    "bench.result": 2, "bench.control": 2,
    "bench.devices": 3, "bench.workload": 3,
    "bench.samplers": 4, "bench_workloads": 4,
    "bench.contracts": 5, "bench.meter": 5,
    "bench.analysis": 6,
    "bench.run": 7, "bench.conformance": 7,
    "bench.distributed": 8, "bench.report": 8, "bench.sweep": 8,
    "bench.api": 9,
    "bench.cli": 10,
    "bench": 11, "bench.__main__": 11, "bench.testing": 11,
}
FAKES = ("bench.conformance.fake_nvml", "bench.conformance.fake_cuda", "bench.conformance.fake_amdsmi",
         "bench.conformance.fake_sysfs", "bench.conformance.traces", "bench.conformance.fakes")
TEST_SIDE = ("bench.conformance", "bench.testing")  # the kit and the fakes may use the fakes


def _modules() -> dict[str, Path]:
    out = {}
    for pkg, base in PACKAGES.items():
        for path in base.rglob("*.py"):
            parts = list(path.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            out[".".join([pkg, *parts])] = path
    return out


MODULES = _modules()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _runtime_nodes(tree: ast.AST):
    """Every node except those inside ``if TYPE_CHECKING:`` blocks."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and _is_type_checking(child):
                stack.extend(child.orelse)
                continue
            stack.append(child)


def _resolve(name: str) -> str | None:
    """The internal module ``name`` denotes, or its nearest internal parent; None if external."""
    while name:
        if name in MODULES:
            return name
        name = name.rpartition(".")[0]
    return None


class Imports:
    """Per module: internal modules imported at run time, private names used, private modules imported."""

    def __init__(self) -> None:
        self.edges: dict[str, set[str]] = defaultdict(set)
        self.private: list[str] = []
        for mod, path in MODULES.items():
            self._scan(mod, ast.parse(path.read_text(encoding="utf-8"), str(path)))

    def _scan(self, mod: str, tree: ast.AST) -> None:
        aliases: dict[str, str] = {}  # local name -> internal module
        for node in _runtime_nodes(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    target = _resolve(a.name)
                    if target:
                        self._edge(mod, target)
                        aliases[a.asname or a.name.split(".")[0]] = target if a.asname else _resolve(
                            a.name.split(".")[0]) or target
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                base = _resolve(node.module)
                if base is None:
                    continue
                for a in node.names:
                    sub = f"{node.module}.{a.name}"
                    if sub in MODULES:
                        self._edge(mod, sub)
                        aliases[a.asname or a.name] = sub
                    else:
                        self._edge(mod, base)
                        if a.name.startswith("_") and not a.name.startswith("__") and base != mod:
                            self.private.append(f"{mod} imports {a.name} from {base}")
        for node in _runtime_nodes(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                    and node.attr.startswith("_") and not node.attr.startswith("__")
                    and aliases[node.value.id] != mod):
                self.private.append(f"{mod} uses {aliases[node.value.id]}.{node.attr}")

    def _edge(self, mod: str, target: str) -> None:
        if target != mod:
            self.edges[mod].add(target)
            last = target.rpartition(".")[2]
            if last.startswith("_") and not last.startswith("__"):
                self.private.append(f"{mod} imports the private module {target}")


IMPORTS = Imports()


def component(mod: str) -> str:
    best = max((c for c in LAYERS if mod == c or mod.startswith(c + ".")), key=len, default=None)
    assert best is not None, f"{mod} is in no layer of docs/architecture.md"
    return best


def test_every_module_belongs_to_a_layer():
    assert len(MODULES) > 60
    for mod in MODULES:
        component(mod)


def test_imports_point_down_the_layers():
    wrong = []
    for mod, targets in IMPORTS.edges.items():
        mine = component(mod)
        for t in sorted(targets):
            theirs = component(t)
            if theirs != mine and LAYERS[theirs] >= LAYERS[mine]:
                wrong.append(f"{mod} ({mine}, layer {LAYERS[mine]}) imports {t} ({theirs}, layer {LAYERS[theirs]})")
    assert not wrong, "\n".join(wrong)


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(MODULES):
        if v not in index:
            visit(v)
    return out


def test_no_import_cycles_function_local_imports_included():
    assert _cycles(IMPORTS.edges) == []


def test_the_cycle_finder_finds_a_cycle():
    fake = {m: set() for m in MODULES}
    fake["bench.errors"] = {"bench.clock"}
    fake["bench.clock"] = {"bench.errors"}
    assert _cycles(fake) == [["bench.clock", "bench.errors"]]


def test_no_module_uses_another_modules_private_names():
    assert IMPORTS.private == []


@pytest.mark.parametrize("fake", FAKES)
def test_production_code_never_imports_the_fakes(fake):
    users = [m for m, ts in IMPORTS.edges.items() if fake in ts and not m.startswith(TEST_SIDE)]
    assert users == []


def test_the_layer_table_in_the_docs_is_this_one():
    import re

    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    documented = {}
    for layer, packages in re.findall(r"^\| (\d+) \| ([^|]+) \|", text, flags=re.MULTILINE):
        for name in re.findall(r"`([\w.]+)`", packages):
            full = name if name.startswith(("bench", "__main__")) else f"bench.{name}"
            documented["bench.__main__" if name == "__main__" else full] = int(layer)
    assert documented == LAYERS
