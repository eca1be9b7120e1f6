"""Entry-point discovery for samplers, devices and workloads.

Built-ins register through the same groups as vendor plugins (see ``pyproject.toml``). Loading is
lazy: a plugin's module is imported only when it is named or listed, and one that fails to import
is reported with its package and reason without breaking the others. ``BENCH_PLUGINS`` (comma
list of names) restricts which plugins may load at all.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from bench.errors import PluginError, UsageError

log = logging.getLogger(__name__)

GROUPS = {
    "samplers": "bench.samplers",
    "devices": "bench.devices",
    "workloads": "bench.workloads",
}
ALLOWLIST_VAR = "BENCH_PLUGINS"

# Objects registered in-process (tests, notebooks): group -> name -> object. They win over entry points.
_registered: dict[str, dict[str, Any]] = {g: {} for g in GROUPS}
_cache: dict[tuple[str, str], Any] = {}


@dataclass(frozen=True)
class PluginRef:
    """A discovered plugin, not yet imported."""

    group: str
    name: str
    value: str  # "module:attr"
    package: str
    version: str


def _allowed(name: str) -> bool:
    raw = os.environ.get(ALLOWLIST_VAR, "").strip()
    if not raw:
        return True
    return name in {n.strip() for n in raw.split(",") if n.strip()}


def _group(group: str) -> str:
    if group not in GROUPS:
        raise ValueError(f"unknown plugin group {group!r}")
    return GROUPS[group]


def discover(group: str) -> list[PluginRef]:
    """All plugins of ``group`` visible to this interpreter and allowed by ``BENCH_PLUGINS``."""
    refs: dict[str, PluginRef] = {}
    for ep in metadata.entry_points(group=_group(group)):
        if not _allowed(ep.name):
            continue
        dist = getattr(ep, "dist", None)
        refs[ep.name] = PluginRef(
            group, ep.name, ep.value, dist.name if dist else "?", dist.version if dist else "?"
        )
    for name, obj in _registered[group].items():
        refs[name] = PluginRef(group, name, f"{obj.__module__}:{obj.__qualname__}", "(registered)", "")
    return sorted(refs.values(), key=lambda r: r.name)


def names(group: str) -> list[str]:
    return [r.name for r in discover(group)]


def load(group: str, name: str) -> Any:
    """Import and return the plugin object ``name`` of ``group``.

    Raises :class:`UsageError` (listing the choices) for an unknown name and :class:`PluginError`
    (naming the package and the reason) for one that fails to import.
    """
    if name in _registered[group]:
        return _registered[group][name]
    key = (group, name)
    if key in _cache:
        return _cache[key]
    refs = {r.name: r for r in discover(group)}
    if name not in refs:
        kind = group.rstrip("s")
        choices = ", ".join(refs) or "none installed"
        hint = f" (not in {ALLOWLIST_VAR})" if not _allowed(name) else ""
        raise UsageError(f"unknown {kind} {name!r}{hint}; choices: {choices}")
    ref = refs[name]
    try:
        ep = metadata.EntryPoint(name=ref.name, value=ref.value, group=_group(group))
        obj = ep.load()
    except Exception as exc:  # a broken plugin must not break the CLI
        raise PluginError(
            f"plugin {name!r} ({ref.package} {ref.version}) failed to load: {type(exc).__name__}: {exc}"
        ) from exc
    _cache[key] = obj
    return obj


def register(group: str, name: str, obj: Any) -> None:
    """Register ``obj`` under ``name`` in-process (wins over an entry point of the same name)."""
    _group(group)
    _registered[group][name] = obj
    _cache.pop((group, name), None)


def unregister(group: str, name: str) -> None:
    _registered[group].pop(name, None)
    _cache.pop((group, name), None)
