"""The conformance kit for device backends (``bench.devices`` plugins).

Checks: ``contract``; ``probe`` never raises and returns device strings of the backend's type;
``open_absent`` raises :class:`bench.errors.DeviceError`; then, on a present device (the hardware,
else the backend's ``conformance_fake()`` classmethod, same protocol as a sampler's): ``open``,
``name``, ``identity`` (JSON-able and stable), ``memory_stats`` (bytes as ints), ``synchronize``,
``supports_dtype``, ``torch_device``, ``default_samplers`` (installed, and one available here).
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from bench.conformance.core import FAIL, PASS, SKIP, CheckResult, Report, real_time
from bench.errors import DeviceError
from bench.guarded import call_with_timeout

DEVICE_CHECKS = ("contract", "probe", "open_absent", "open", "name", "identity", "memory_stats", "synchronize",
                 "supports_dtype", "torch_device", "default_samplers")


def run_device_conformance(target: str | type, *, device: str | None = None, fake: bool | None = None,
                           timeout_s: float = 10.0) -> Report:
    """Run the device checks on the backend ``target`` (entry-point name or class), on ``device`` when named (an
    absent one fails the ``device`` check unless ``fake`` is True), else on the first device found here, else
    on the backend's fake."""
    from bench import contracts, plugins
    from bench.errors import BenchError

    name = target if isinstance(target, str) else str(getattr(target, "type", "?"))
    package = "?"
    if isinstance(target, str):
        ref = next((r for r in plugins.inventory("devices") if r.name == target), None)
        package = f"{ref.package} {ref.version}" if ref else "?"
        try:
            cls = contracts.load("devices", target)
        except BenchError as exc:
            report = Report(name, "devices", package, None, "absent", "the plugin could not be loaded")
            report.checks = [CheckResult("contract", FAIL, str(exc))]
            report.checks += [CheckResult(n, SKIP, "the plugin could not be loaded") for n in DEVICE_CHECKS[1:]]
            return report
    else:
        cls, package = target, getattr(target, "__module__", "?")
    problems = contracts.check("devices", cls, name)
    report = Report(name, "devices", package, None, "absent")
    report.checks.append(CheckResult("contract", FAIL if problems else PASS, "; ".join(problems) or
                                     "subclass of Device; type, probe, open, torch_device, synchronize, name"))
    found = _timed("probe", lambda: _check_probe(cls), timeout_s)
    report.checks += [found, _timed("open_absent", lambda: _check_absent(cls), timeout_s)]
    present = found.figures.get("found") or []
    factory = getattr(cls, "conformance_fake", None)
    if device and fake is not True:
        if device not in present:
            report.device = device
            report.checks.append(CheckResult("device", FAIL, f"{device} is not present (probe found "
                                             f"{', '.join(present) or 'none'}); the kit does not fall back to the "
                                             "fake when a device is named (pass --fake to check the fake instead)"))
            report.checks += [CheckResult(n, SKIP, f"{device} is not present") for n in DEVICE_CHECKS[3:]]
            return report
        present = [device]
    if present and fake is not True:
        report.mode, setup_cm = "hardware", contextlib.nullcontext(present[0])
    elif callable(factory) and fake is not False:
        report.mode, report.mode_note = "fake", f"{getattr(cls, '__qualname__', name)}.conformance_fake"
        setup_cm = _fake_spec(factory)
    else:
        report.mode_note = "no device here and no conformance_fake"
        report.checks += [CheckResult(n, SKIP, report.mode_note) for n in DEVICE_CHECKS[3:]]
        return report
    with setup_cm as spec:
        report.device = spec
        report.checks += _present_checks(cls, spec, timeout_s)
    return report


@contextlib.contextmanager
def _fake_spec(factory: Any) -> Any:
    with factory() as setup:
        yield setup.device


def _timed(name: str, fn: Any, timeout_s: float) -> CheckResult:
    start = real_time()
    done, result, error = call_with_timeout(fn, timeout_s)
    if not done:
        result = CheckResult(name, FAIL, f"did not finish within {timeout_s:g} s (cut off)")
    elif error is not None:
        result = CheckResult(name, FAIL, f"raised {type(error).__name__}: {error}")
    elif not isinstance(result, CheckResult):
        result = CheckResult(name, PASS, str(result) if result else "ok")
    result.duration_s = real_time() - start
    return result


def _check_probe(cls: type) -> CheckResult:
    from bench.devices import parse_spec

    found = cls.probe()
    if not isinstance(found, list):
        return CheckResult("probe", FAIL, f"probe() returned {type(found).__name__}, not a list")
    wrong = [s for s in found if not isinstance(s, str) or parse_spec(s)[0] != cls.type]
    if wrong:
        return CheckResult("probe", FAIL, f"probe() returned {wrong} (not {cls.type}[:N] strings)", {"found": found})
    return CheckResult("probe", PASS, f"{len(found)} device(s) here", {"found": found})


def _check_absent(cls: type) -> CheckResult:
    try:
        cls.open(9999)
    except DeviceError as exc:
        return CheckResult("open_absent", PASS, "an absent device raises DeviceError", {"message": str(exc)[:120]})
    except Exception as exc:  # noqa: BLE001 - a finding
        return CheckResult("open_absent", FAIL, f"open(9999) raised {type(exc).__name__}, not DeviceError")
    return CheckResult("open_absent", FAIL, "open(9999) returned a device: an absent device must raise DeviceError")


def _present_checks(cls: type, spec: str, timeout_s: float) -> list[CheckResult]:
    from bench.devices import parse_spec

    holder: dict[str, Any] = {}

    def do_open() -> CheckResult:
        dev = cls.open(parse_spec(spec)[1])
        holder["dev"] = dev
        if not isinstance(dev, cls) or dev.spec != spec:
            return CheckResult("open", FAIL, f"open() gave {dev!r} (spec {getattr(dev, 'spec', '?')}), not {spec}")
        return CheckResult("open", PASS, f"opened {spec}")

    results = [_timed("open", do_open, timeout_s)]
    dev = holder.get("dev")
    if dev is None:
        return results + [CheckResult(n, SKIP, "open failed") for n in DEVICE_CHECKS[4:]]
    for name, fn in (("name", _name), ("identity", _identity), ("memory_stats", _memory), ("synchronize", _sync),
                     ("supports_dtype", _dtypes), ("torch_device", _torch_device),
                     ("default_samplers", _samplers)):
        results.append(_timed(name, lambda f=fn: f(dev), timeout_s))
    return results


def _name(dev: Any) -> CheckResult:
    name = dev.name()
    ok = isinstance(name, str) and name.strip()
    return CheckResult("name", PASS if ok else FAIL, "" if ok else f"name() gave {name!r}", {"name": name})


def _identity(dev: Any) -> CheckResult:
    first, second = dev.identity(), dev.identity()
    if not isinstance(first, dict):
        return CheckResult("identity", FAIL, f"identity() gave {type(first).__name__}, not a dict")
    json.dumps(first)
    json.dumps(dev.describe())
    if first != second:
        return CheckResult("identity", FAIL, "identity() changed between two calls", {"first": first, "second": second})
    note = "" if first else " (empty: samplers cannot match the device by UUID or PCI id)"
    return CheckResult("identity", PASS, "JSON-able and stable" + note, {k: str(v) for k, v in first.items()})


def _memory(dev: Any) -> CheckResult:
    stats = dev.memory_stats()
    bad = {k: v for k, v in stats.items() if not isinstance(v, int) or isinstance(v, bool) or v < 0}
    if not isinstance(stats, dict) or bad:
        return CheckResult("memory_stats", FAIL, f"memory_stats() must map names to byte counts (ints >= 0): {bad}")
    dev.reset_peak_memory()
    return CheckResult("memory_stats", PASS, "byte counts", dict(stats))


def _sync(dev: Any) -> CheckResult:
    start = real_time()
    dev.synchronize()
    return CheckResult("synchronize", PASS, "returned", {"seconds": real_time() - start})


def _dtypes(dev: Any) -> CheckResult:
    from bench.workload import DTYPES

    answers = {d: dev.supports_dtype(d) for d in DTYPES}
    if not all(isinstance(v, bool) for v in answers.values()) or not answers.get("fp32"):
        return CheckResult("supports_dtype", FAIL, "supports_dtype must answer True/False and support fp32", answers)
    return CheckResult("supports_dtype", PASS, "answers for every dtype", answers)


def _torch_device(dev: Any) -> CheckResult:
    import torch

    td = dev.torch_device
    if not isinstance(td, torch.device):
        return CheckResult("torch_device", FAIL, f"torch_device is {type(td).__name__}, not a torch.device")
    torch.ones(4, device=td).sum().item()
    return CheckResult("torch_device", PASS, f"allocates and computes on {td}", {"torch_device": str(td)})


def _samplers(dev: Any) -> CheckResult:
    from bench import contracts, plugins
    from bench.conformance.core import safe_available

    installed = set(plugins.names("samplers"))
    missing = [s for s in dev.default_samplers if s not in installed]
    if missing or not dev.default_samplers:
        return CheckResult("default_samplers", FAIL, f"default samplers {missing or '(none)'} are not installed")
    answers = {}
    for s in dev.default_samplers:
        ok, reason = safe_available(contracts.load("samplers", s), dev.spec)
        answers[s] = "available" if ok else reason
    if not any(v == "available" for v in answers.values()):
        return CheckResult("default_samplers", FAIL, f"none of the default samplers can measure {dev.spec}", answers)
    return CheckResult("default_samplers", PASS, "installed; at least one measures the device", answers)
