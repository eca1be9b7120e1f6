"""Workloads of a run: found by name among the plugins, or given as a reference to a class in a file or module
(``path/to/file.py:ClassName``, ``package.module:ClassName``), built from their parameters, checked against the
device.

A workload given by reference needs no packaging and no registration. Where it came from (the reference, the
file's absolute path and SHA-256, the module and class) is kept in :data:`SOURCES` and written into the result
beside the workload's figures, so a reviewer can tell a workload from a file from a registered one and check
which code ran.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import inspect
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench import plugins
from bench.errors import UsageError
from bench.workload import Workload, WorkloadParams, check_dtype, check_workload_class

if TYPE_CHECKING:  # pragma: no cover
    from bench.devices import Device

REFERENCE_FORM = "path/to/file.py:ClassName or package.module:ClassName"
_CLASS = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
_MODULE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")

# workload class -> where it was loaded from (for workloads given by reference)
SOURCES: dict[type, dict[str, Any]] = {}


def is_reference(name: str) -> bool:
    """Whether ``name`` names a class in a file or module (``where:ClassName``) rather than a registered workload."""
    return ":" in name


def workload_class(name: str) -> type[Workload]:
    """The workload registered as ``name``, or the class a reference names, checked against the contract."""
    if is_reference(name):
        return load_reference(name)
    if name.endswith(".py"):
        raise UsageError(f"{name} names a file; add the workload class: {name}:ClassName")
    try:
        return plugins.load("workloads", name, check_workload_class)
    except UsageError as exc:
        if str(exc).startswith("unknown"):
            raise UsageError(f"{exc}; or give a workload class as {REFERENCE_FORM}") from None
        raise


def load_reference(ref: str) -> type[Workload]:
    """The :class:`Workload` subclass that ``ref`` (``FILE.py:Class`` or ``module:Class``) names.

    Raises :class:`UsageError` (one line) for a missing file or module, one that fails to import, a missing
    class or one that does not keep the workload contract.
    """
    where, _, cls_name = ref.rpartition(":")
    if not where or not _CLASS.match(cls_name):
        raise UsageError(f"malformed workload {ref!r}; expected {REFERENCE_FORM}")
    if where.endswith(".py") or "/" in where or "\\" in where:
        module, source = _import_file(Path(where), ref)
    else:
        module, source = _import_module(where, ref)
    obj: Any = module
    for part in cls_name.split("."):
        obj = getattr(obj, part, None)
    if obj is None:
        found = sorted(n for n, v in vars(module).items()
                       if inspect.isclass(v) and issubclass(v, Workload) and v is not Workload
                       and v.__module__ == module.__name__)
        raise UsageError(f"{where} has no class {cls_name}; workload classes there: {', '.join(found) or 'none'}")
    problems = check_reference_class(obj)
    if problems:
        raise UsageError(f"{ref} is not a usable workload: {'; '.join(problems)}")
    SOURCES[obj] = {**source, "reference": ref, "class": cls_name, "module": module.__name__}
    return obj


def check_reference_class(obj: Any) -> list[str]:
    """What is wrong with ``obj`` as a workload class given by reference (empty when it keeps the contract)."""
    if not (inspect.isclass(obj) and issubclass(obj, Workload)):
        return [f"must be a subclass of bench.workload.Workload, got {obj!r}"]
    problems = []
    if inspect.isabstract(obj):
        problems.append(f"does not implement {', '.join(sorted(getattr(obj, '__abstractmethods__', ())))}")
    if not obj.unit:
        problems.append("declares no unit (what one unit of work is: sample, token, image ...)")
    if obj.kind not in ("inference", "training"):
        problems.append(f"kind must be 'inference' or 'training', got {obj.kind!r}")
    if "smoke" not in obj.presets:
        problems.append("has no 'smoke' preset")
    label = obj.name or obj.__name__
    if label in plugins.names("workloads"):
        problems.append(f"declares name {label!r}, which is a registered workload; choose another name")
    return problems


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _import_file(path: Path, ref: str) -> tuple[Any, dict[str, Any]]:
    path = path.expanduser().resolve()
    if not path.is_file():
        raise UsageError(f"workload file {path} not found (from {ref!r}; expected {REFERENCE_FORM})")
    sha = _sha256(path)
    name = f"bench_user_workload_{re.sub(r'[^A-Za-z0-9_]', '_', path.stem)}_{sha[:12]}"
    source = {"kind": "file", "path": str(path), "sha256": sha}
    if name in sys.modules:  # the same file, unchanged: the module already loaded
        return sys.modules[name], source
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UsageError(f"workload file {path} cannot be imported as Python")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look classes up by module
    try:
        spec.loader.exec_module(module)
    except BaseException as exc:
        del sys.modules[name]
        raise UsageError(f"workload file {path} failed to import: {type(exc).__name__}: {exc}".splitlines()[0]) \
            from None
    return module, source


def _import_module(where: str, ref: str) -> tuple[Any, dict[str, Any]]:
    if not _MODULE.match(where):
        raise UsageError(f"malformed workload {ref!r}; expected {REFERENCE_FORM}")
    try:
        module = importlib.import_module(where)
    except ModuleNotFoundError as exc:
        if exc.name and where.startswith(exc.name):
            raise UsageError(f"no module {where!r} (from {ref!r}); is it installed or on PYTHONPATH?") from None
        raise UsageError(f"module {where} failed to import: ModuleNotFoundError: {exc}") from None
    except BaseException as exc:
        raise UsageError(f"module {where} failed to import: {type(exc).__name__}: {exc}".splitlines()[0]) from None
    file = getattr(module, "__file__", None)
    source: dict[str, Any] = {"kind": "module", "path": None, "sha256": None}
    if file and Path(file).is_file():
        source.update(path=str(Path(file).resolve()), sha256=_sha256(Path(file)))
    return module, source


def workload_label(name: str) -> str:
    """The name a workload has in a result: a registered workload's own; a referenced class's ``name`` (else its
    class name)."""
    if not is_reference(name):
        return name
    cls = workload_class(name)
    return cls.name or cls.__name__


def workload_source(workload: Workload) -> dict[str, Any] | None:
    """Where a workload given by reference came from (None for a registered workload)."""
    source = SOURCES.get(type(workload))
    return dict(source) if source is not None else None


def make_workload(name: str, params: WorkloadParams, device: "Device | None" = None) -> Workload:
    """The workload ``name`` with ``params``; with ``device``, checked that the device can run its dtype."""
    wl = workload_class(name)(params)
    if device is not None:
        check_dtype(device, wl.settings["dtype"])
    return wl


def workload_names() -> list[str]:
    """Names of every workload that can be loaded here (built-in and plugins)."""
    return plugins.names("workloads")
