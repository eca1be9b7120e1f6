"""What a sweep leaves on disk: a folder with ``sweep.json`` and one ordinary run folder per point.

``sweep.json`` indexes the points (their folder names, settings and statuses), the device and its original
settings, the configuration and whether the originals were put back. Each point's own ``result.json`` records its
setting too (``Result.setting``) and is sealed by its own digest, so ``bench show``, ``score``, ``compare`` and
``report`` read the points as ordinary results; analysis reads the settings from the sealed results.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bench.errors import ResultError
from bench.result.bounds import Count, Name, NonNeg, Text
from bench.result.files import read_json
from bench.result.io import atomic_write_bytes, load_result
from bench.result.model import Result

SWEEP_FILE = "sweep.json"
SWEEP_SCHEMA = "1.0"
MAX_SWEEP_BYTES = 4 << 20  # a sweep of a thousand points is a few hundred kB
MAX_POINTS = 10_000


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow")


class SweepPoint(_Model):
    """One point: its label (= its folder's name), the setting asked for and applied, and how its run ended."""

    index: Count
    label: Name
    folder: Name
    baseline: bool = False
    power_limit_w: NonNeg | None = None
    sm_clock_mhz: NonNeg | None = None
    requested_sm_clock_mhz: NonNeg | None = None  # before snapping to a supported clock
    status: Literal["planned", "running", "complete", "incomplete", "interrupted", "failed", "skipped"] = "planned"
    reason: Text | None = None
    run_id: Name | None = None

    @field_validator("folder")
    @classmethod
    def _inside_the_sweep(cls, v: str) -> str:
        """A point's folder is a child of the sweep folder: one plain name, never a path out of it."""
        if not v or v in (".", "..") or "/" in v or "\\" in v or "\0" in v:
            raise ValueError(f"not a folder name inside the sweep: {v!r}")
        return v


class SweepRestore(_Model):
    ok: bool
    detail: Text


class SweepRecord(_Model):
    schema_version: Name = SWEEP_SCHEMA
    sweep_id: Name
    created_utc: Name
    status: Literal["running", "complete", "incomplete", "interrupted", "failed"] = "running"
    reason: Text | None = None
    harness: dict[str, Any] = Field(default_factory=dict)
    device: dict[str, Any] = Field(default_factory=dict)
    control: dict[str, Any] = Field(default_factory=dict)
    original: dict[str, Any] = Field(default_factory=dict)  # power_limit_w, sm_clock_lock, clock_lock_readable
    config: dict[str, Any] = Field(default_factory=dict)
    points: list[SweepPoint] = Field(default_factory=list, max_length=MAX_POINTS)
    notes: list[Text] = Field(default_factory=list, max_length=MAX_POINTS)
    restored: SweepRestore | None = None

    @field_validator("config")
    @classmethod
    def _readable_config(cls, v: dict[str, Any]) -> dict[str, Any]:
        """The two settings analysis reads back: a slowdown budget (a finite fraction, 0 to 100) and a metric."""
        budget = v.get("max_slowdown", 0.05)
        if isinstance(budget, bool) or not isinstance(budget, (int, float)) or not 0 <= budget <= 100:
            raise ValueError(f"max_slowdown must be a number from 0 to 100, not {str(budget)[:40]!r}")
        if v.get("metric", "gross") not in ("gross", "net"):
            raise ValueError(f"metric must be gross or net, not {str(v.get('metric'))[:40]!r}")
        return v

    @property
    def max_slowdown(self) -> float:
        return float(self.config.get("max_slowdown", 0.05))

    @property
    def metric(self) -> str:
        return str(self.config.get("metric", "gross"))


def is_sweep(path: Path | str) -> bool:
    """Whether ``path`` is a sweep folder (or its ``sweep.json``)."""
    path = Path(path)
    return (path / SWEEP_FILE).is_file() if path.is_dir() else path.name == SWEEP_FILE and path.is_file()


def write_sweep(record: SweepRecord, folder: Path) -> Path:
    path = Path(folder) / SWEEP_FILE
    data = record.model_dump(mode="json")
    atomic_write_bytes(path, json.dumps(data, indent=2, allow_nan=False).encode() + b"\n")
    return path


def load_sweep(path: Path | str) -> tuple[Path, SweepRecord]:
    """(the sweep folder, its record); every failure is one :class:`ResultError` line naming the file."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    file = folder / SWEEP_FILE
    if not file.is_file():
        raise ResultError(f"{path}: not a sweep folder (no {SWEEP_FILE})")
    data = read_json(file, MAX_SWEEP_BYTES, ResultError, "sweep record")
    if not isinstance(data, dict):
        raise ResultError(f"{file}: not a sweep record")
    major = str(data.get("schema_version", "")).split(".")[0]
    if not major.isdigit() or int(major) > int(SWEEP_SCHEMA.split(".")[0]):
        raise ResultError(f"{file}: sweep schema {data.get('schema_version')!r} is not one this harness reads")
    try:
        return folder, SweepRecord.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ResultError(f"{file}: field {'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from None


def load_points(folder: Path, record: SweepRecord) -> tuple[list[tuple[str, Result]], dict[str, Path],
                                                              list[tuple[str, str]]]:
    """The points that have a readable result: (label, result) in sweep order, label -> folder, and
    (label, why) for the others."""
    points, folders, missing = [], {}, []
    for p in record.points:
        sub = folder / p.folder
        if p.status in ("planned", "skipped"):
            continue
        try:
            result = load_result(sub)
        except ResultError as exc:
            missing.append((p.label, str(exc)))
            continue
        points.append((p.label, result))
        folders[p.label] = sub
    return points, folders, missing


def find_sweeps(paths: list[Path | str]) -> list[Path]:
    """Sweep folders among and under ``paths`` (in argument order, each once)."""
    found: list[Path] = []
    seen: set[Path] = set()
    for raw in paths:
        p = Path(raw)
        candidates = [p] if is_sweep(p) else (sorted(q.parent for q in p.rglob(SWEEP_FILE)) if p.is_dir() else [])
        for c in candidates:
            c = c if c.is_dir() else c.parent
            if c.resolve() not in seen:
                seen.add(c.resolve())
                found.append(c)
    return found
