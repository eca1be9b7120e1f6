"""A generic registry of plugins found through entry points (samplers, devices, workloads, conformance fakes).

It knows no contract itself: each layer passes its own check to :func:`load` (see
:func:`class_contract`), so this module imports nothing above the error tree.

Built-ins register through the same groups as vendor plugins (see ``pyproject.toml``). Loading is
lazy: a plugin's module is imported only when it is named or listed, and one that fails to import
or breaks the contract is reported with its package and reason without breaking the others.

``BENCH_PLUGINS`` (comma list of entry-point names or distribution names, e.g.
``acme,bench-plugin-foo``) restricts which third-party plugins may load at all. Names compare as
package indexes compare them (PEP 503: case-insensitive, runs of ``-``, ``_`` and ``.`` alike), so
``bench-plugin-foo``, ``bench_plugin_foo`` and ``Bench.Plugin.Foo`` are one name; a plugin it blocks
is reported as blocked, naming the variable, never as unknown. The harness's own
backends (distribution ``bench``) are always allowed, and a third-party plugin cannot take the name
of a built-in one: the built-in wins and the other is listed as shadowed.
"""

from __future__ import annotations

import inspect
import logging
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from bench.errors import PluginError, UsageError

log = logging.getLogger(__name__)

GROUPS = {
    "samplers": "bench.samplers",
    "devices": "bench.devices",
    "workloads": "bench.workloads",
    "fakes": "bench.fakes",  # conformance fakes: name of a sampler -> context manager (bench.conformance.kit)
}
ALLOWLIST_VAR = "BENCH_PLUGINS"
BLOCKED_NOTE = f"not in {ALLOWLIST_VAR}"
BUILTIN_DIST = "bench"

# Objects registered in-process (tests, notebooks): group -> name -> object. They win over entry points.
_registered: dict[str, dict[str, Any]] = {g: {} for g in GROUPS}
_cache: dict[tuple[str, str], Any] = {}
# One scan of the installed distributions' entry points (a few hundred METADATA files) per sys.path.
_scan: dict[tuple[str, ...], dict[str, list[Any]]] = {}


@dataclass(frozen=True)
class PluginRef:
    """A discovered plugin, not yet imported. ``note`` says why it is not usable (blocked, shadowed)."""

    group: str
    name: str
    value: str  # "module:attr"
    package: str
    version: str
    note: str = ""

    @property
    def builtin(self) -> bool:
        return self.package == BUILTIN_DIST


def normalize(name: str) -> str:
    """A plugin or distribution name as package indexes compare them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name.strip()).lower()


def _allowlist() -> set[str] | None:
    raw = os.environ.get(ALLOWLIST_VAR, "").strip()
    if not raw:
        return None
    return {normalize(n) for n in raw.split(",") if n.strip()}


def _allowed(name: str, package: str = "") -> bool:
    allow = _allowlist()
    if allow is None or package == BUILTIN_DIST:
        return True
    return normalize(name) in allow or (normalize(package) in allow if package else False)


def _group(group: str) -> str:
    if group not in GROUPS:
        raise ValueError(f"unknown plugin group {group!r}")
    return GROUPS[group]


def _entry_points(group: str) -> list[Any]:
    """The entry points of ``group``, from one scan of every installed distribution (redone when ``sys.path``
    changes or after :func:`clear_cache`): a scan reads each distribution's metadata, and a listing asks for
    every group several times."""
    key = tuple(sys.path)
    found = _scan.get(key)
    if found is None:
        every = metadata.entry_points()
        found = {g: list(every.select(group=g)) for g in GROUPS.values()}
        _scan.clear()
        _scan[key] = found
    return found[group]


def inventory(group: str) -> list[PluginRef]:
    """Every entry point of ``group``, usable or not (blocked by the allowlist, shadowed by a built-in)."""
    usable: dict[str, PluginRef] = {}
    others: list[PluginRef] = []
    for ep in _entry_points(_group(group)):
        dist = getattr(ep, "dist", None)
        ref = PluginRef(group, ep.name, ep.value, dist.name if dist else "?", dist.version if dist else "?")
        if not _allowed(ep.name, ref.package):
            others.append(_noted(ref, BLOCKED_NOTE))
            continue
        held = usable.get(ep.name)
        if held is None:
            usable[ep.name] = ref
        elif held.value == ref.value and held.package == ref.package:
            continue  # the same distribution seen twice on sys.path
        elif ref.builtin and not held.builtin:
            usable[ep.name] = ref
            others.append(_noted(held, f"name taken by the built-in {ep.name!r}"))
        else:
            keep_note = "name taken by the built-in" if held.builtin else f"name taken by {held.package}"
            others.append(_noted(ref, f"{keep_note} {ep.name!r}"))
    for name, obj in _registered[group].items():
        usable[name] = PluginRef(group, name, f"{obj.__module__}:{getattr(obj, '__qualname__', obj)}",
                                 "(registered)", "")
    return sorted(usable.values(), key=lambda r: r.name) + sorted(others, key=lambda r: r.name)


def _noted(ref: PluginRef, note: str) -> PluginRef:
    return PluginRef(ref.group, ref.name, ref.value, ref.package, ref.version, note)


def blocked(group: str, name: str) -> PluginRef | None:
    """The plugin ``name`` of ``group`` if it is installed but ``BENCH_PLUGINS`` blocks it, else None."""
    return next((r for r in inventory(group) if r.name == name and r.note == BLOCKED_NOTE), None)


def blocked_message(ref: PluginRef) -> str:
    """Why a blocked plugin does not load, and how to allow it."""
    kind = ref.group.rstrip("s")
    return (f"{kind} {ref.name!r} is installed ({ref.package} {ref.version}) but {ALLOWLIST_VAR}="
            f"{os.environ.get(ALLOWLIST_VAR, '').strip()!r} blocks it; add {ref.name!r} or {ref.package!r} to "
            f"{ALLOWLIST_VAR}, or unset it")


def discover(group: str) -> list[PluginRef]:
    """The usable plugins of ``group``: visible to this interpreter and allowed by ``BENCH_PLUGINS``."""
    return [r for r in inventory(group) if not r.note]


def names(group: str) -> list[str]:
    return [r.name for r in discover(group)]


Contract = Callable[[Any, str], list[str]]  # (object, registered name) -> problems; empty when it conforms


def class_contract(obj: Any, name: str, base: type, attr: str, classmethods: tuple[str, ...] = ()) -> list[str]:
    """The problems of ``obj`` as a plugin class registered as ``name``: it must subclass ``base``, declare
    ``attr`` equal to ``name``, implement every abstract method, make ``classmethods`` classmethods, and
    offer ``conformance_fake`` (if at all) as a classmethod. Each layer applies it to its own base class."""
    if not (inspect.isclass(obj) and issubclass(obj, base)):
        return [f"must be a subclass of {base.__module__}.{base.__qualname__}, got {obj!r}"]
    problems = []
    declared = getattr(obj, attr, None)
    if declared != name:
        problems.append(f"declares {attr} = {declared!r} but is registered as {name!r}")
    if inspect.isabstract(obj):
        missing = ", ".join(sorted(getattr(obj, "__abstractmethods__", ())))
        problems.append(f"does not implement {missing}")
    for meth in classmethods:
        if not isinstance(inspect.getattr_static(obj, meth, None), classmethod):
            problems.append(f"{meth} must be a classmethod")
    fake = inspect.getattr_static(obj, "conformance_fake", None)
    if fake is not None and not isinstance(fake, (classmethod, staticmethod)):
        problems.append("conformance_fake must be a classmethod")
    return problems


def load(group: str, name: str, contract: Contract | None = None) -> Any:
    """Import, check against ``contract`` and return the plugin object ``name`` of ``group``.

    Raises :class:`UsageError` (listing the choices) for an unknown name and :class:`PluginError`
    (naming the package and the reason) for one that fails to import or breaks the contract.
    Objects registered in-process are checked too.
    """
    _group(group)
    if name in _registered[group]:
        return _checked(group, name, _registered[group][name], "(registered)", "", contract)
    key = (group, name)
    if key in _cache:
        ref_package, ref_version, obj = _cache[key]
        return _checked(group, name, obj, ref_package, ref_version, contract)
    refs = inventory(group)
    ref = next((r for r in refs if r.name == name and not r.note), None)
    if ref is None:
        kind = group.rstrip("s")
        choices = ", ".join(r.name for r in refs if not r.note) or "none installed"
        held = next((r for r in refs if r.name == name), None)
        if held is not None and held.note == BLOCKED_NOTE:
            raise UsageError(f"{blocked_message(held)}; allowed now: {choices}")
        hint = f" ({held.note}: {held.package} {held.version})" if held else ""
        raise UsageError(f"unknown {kind} {name!r}{hint}; choices: {choices}")
    try:
        ep = metadata.EntryPoint(name=ref.name, value=ref.value, group=_group(group))
        obj = ep.load()
    except (Exception, SystemExit) as exc:  # a broken plugin must not break the CLI
        raise PluginError(
            f"plugin {name!r} ({ref.package} {ref.version}) failed to load: {type(exc).__name__}: {exc}"
        ) from exc
    _cache[key] = (ref.package, ref.version, obj)
    return _checked(group, name, obj, ref.package, ref.version, contract)


def _checked(group: str, name: str, obj: Any, package: str, version: str, contract: Contract | None) -> Any:
    problems = contract(obj, name) if contract is not None else []
    if problems:
        where = f"{package} {version}".strip()
        raise PluginError(f"plugin {name!r} ({where}) breaks the contract: " + "; ".join(problems))
    return obj


def register(group: str, name: str, obj: Any) -> None:
    """Register ``obj`` under ``name`` in-process (wins over an entry point of the same name)."""
    _group(group)
    _registered[group][name] = obj
    _cache.pop((group, name), None)


def unregister(group: str, name: str) -> None:
    _registered[group].pop(name, None)
    _cache.pop((group, name), None)


def clear_cache() -> None:
    """Forget loaded plugins (after installing or removing a distribution in a running process)."""
    _cache.clear()
    _scan.clear()
