"""What a run needs around its orchestration: choosing samplers and workloads, the run folder,
the end-of-run hooks (quality, profile, validity), rescuing a result the folder cannot take, and
calling plugin hooks that must neither break nor hang the run."""

from __future__ import annotations

import datetime as _dt
import logging
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from bench import plugins
from bench.devices import Device
from bench.errors import SamplerError, UsageError
from bench.result.model import Issue, Result
from bench.result.io import write_result
from bench.samplers.base import Sampler
from bench.workload import Workload, WorkloadParams

if TYPE_CHECKING:  # pragma: no cover
    from bench.run.runner import RunConfig

log = logging.getLogger(__name__)


def select_samplers(device: Device, name: str | None, options: dict[str, Any]) -> tuple[str, list[Sampler]]:
    """Open the named sampler, or the device's first available default. Unusable -> :class:`UsageError`."""
    candidates = [name] if name else list(device.default_samplers)
    reasons = []
    for cand in candidates:
        cls = plugins.load("samplers", cand)
        avail = cls.is_available(device.spec)
        if not avail:
            reasons.append(f"{cand}: {avail.reason}")
            if name:
                raise UsageError(f"sampler {cand} cannot measure {device.spec}: {avail.reason}")
            continue
        try:
            samplers = cls.open(device.spec, identity=device.identity(), **options)
        except SamplerError as exc:
            if name:
                raise UsageError(f"sampler {cand} cannot measure {device.spec}: {exc}") from None
            reasons.append(f"{cand}: {exc}")
            continue
        if not samplers:
            reasons.append(f"{cand}: no channel")
            continue
        return cand, samplers
    raise UsageError(f"no sampler can measure {device.spec} ({'; '.join(reasons)}); "
                     f"choices: {', '.join(plugins.names('samplers'))}")


def make_workload(name: str, params: WorkloadParams) -> Workload:
    cls = plugins.load("workloads", name)
    return cls(params)


def _run_folder(cfg: "RunConfig") -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    what = cfg.suite or cfg.workloads[0][0]
    base = re.sub(r"[^A-Za-z0-9_.-]+", "_", cfg.name or f"{stamp}-{cfg.device}-{what}").lstrip(".") or "run"
    out = Path(cfg.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create output folder {out}: {exc.strerror}") from None
    for k in range(1000):
        folder = out / (base if k == 0 else f"{base}-{k}")
        try:
            folder.mkdir()
            return folder
        except FileExistsError:
            continue
        except OSError as exc:
            raise UsageError(f"cannot create run folder in {out}: {exc.strerror}") from None
    raise UsageError(f"too many runs named {base} in {out}")


def _rescue(res: Result, exc: OSError) -> Path:
    """Write a result that could not go to its folder into a temporary folder instead (nothing is lost)."""
    import tempfile

    folder = Path(tempfile.gettempdir()) / f"bench-rescue-{res.run_id}"
    folder.mkdir(parents=True, exist_ok=True)
    res.issues.append(Issue(code="storage_error", severity="error",
                            message=f"result folder not writable ({exc.strerror or exc}); trace left there"))
    res.trace.path = "missing"
    write_result(res, folder)
    return folder


def _validity_hook(res: Result, folder: Path) -> None:
    """Run the validity checks (trace coverage, rates, counter vs power, limits) into the result."""
    from bench.analysis.validity import check_validity

    try:
        res.validity = check_validity(res, folder)
    except Exception as exc:  # a check that cannot run is reported, never fatal to a finished run
        log.warning("validity checks failed to run: %s", exc)


def _score_hooks(res: Result) -> None:
    """Attach the quality level and the matched hardware profile (a broken profile file is a warning here:
    the run is finished and its figures must be written)."""
    from bench.errors import BenchError
    from bench.analysis.scoring.profiles import match_profile
    from bench.analysis.scoring.quality import assess_quality

    try:
        prof = match_profile(str(res.device.get("name", "")), device_type=res.device.get("type"))
        if prof is not None:
            res.profile = prof.model_dump(mode="json")
    except BenchError as exc:
        res.issues.append(Issue(code="profile_error", message=f"no hardware profile: {exc}"))
    res.quality = assess_quality(res)


def _safe(fn: Callable[[], Any], default: Any = None, timeout_s: float = 10.0) -> Any:
    """Call a plugin hook that must neither break nor hang the run; failures and hangs become ``default``.

    The call runs on a daemon thread, so a vendor library stuck in a hung read cannot hold the run.
    """
    fallback = {} if default is None else default
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except Exception as exc:
            box["error"] = exc

    worker = threading.Thread(target=target, name="bench-hook", daemon=True)
    worker.start()
    worker.join(timeout_s)
    name = getattr(fn, "__qualname__", fn)
    if worker.is_alive():
        log.warning("%s did not return within %.1f s; going on without it", name, timeout_s)
        return fallback
    if "error" in box:
        log.warning("%s failed: %s", name, box["error"])
        return fallback
    return box.get("value", fallback)
