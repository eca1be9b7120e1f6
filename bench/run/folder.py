"""The run folder: a fresh, uniquely named folder per run, and a rescue folder for a result the run folder
cannot take (nothing measured is lost)."""

from __future__ import annotations

import datetime as _dt
import re
import tempfile
from pathlib import Path

from bench.errors import UsageError
from bench.result.io import write_result
from bench.result.model import Issue, Result


def make_run_folder(out: Path, name: str | None, device: str, what: str) -> Path:
    """A new folder under ``out`` named ``name``, else ``TIME-DEVICE-WHAT``; ``-1``, ``-2`` ... if taken."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = re.sub(r"[^A-Za-z0-9_.-]+", "_", name or f"{stamp}-{device}-{what}").lstrip(".") or "run"
    out = Path(out)
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


def rescue_result(res: Result, exc: OSError) -> Path:
    """Write a result that could not go to its folder into a temporary folder instead (nothing is lost)."""
    folder = Path(tempfile.gettempdir()) / f"bench-rescue-{res.run_id}"
    folder.mkdir(parents=True, exist_ok=True)
    res.issues.append(Issue(code="storage_error", severity="error",
                            message=f"result folder not writable ({exc.strerror or exc}); trace left there"))
    res.trace.path = "missing"
    write_result(res, folder)
    return folder
