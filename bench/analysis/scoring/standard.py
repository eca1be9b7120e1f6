"""The efficiency standard: a versioned TOML file of measurement rules, metrics and grade bands.

A standard file ``standards/<name>-<version>.toml`` holds:
- ``rules``: how a result must have been measured to conform (quality level, window, repeats, CI,
  idle baseline, sampling rate, and the validity checks of the trace that must pass);
- ``workloads.<name>``: the metric (``energy_per_unit_j``, lower is better, or ``flops_per_joule``,
  higher is better), the energy basis (gross or net of idle), and seven grade bands A..G whose six
  edges lie on a geometric scale (each edge ``ratio`` times the last), each with its rationale and sources;
- ``reported``: what is reported but not graded (carbon and water per 1,000 units).

Bands are absolute: a grade means the same joules per unit whatever else has been submitted. A value
exactly on an edge gets the better grade. The newest shipped version is the default.
"""

from __future__ import annotations

import datetime as dt
import math
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bench.analysis.scoring.datafile import read_toml, validate
from bench.errors import ConfigError, UsageError

SHIPPED_DIR = Path(str(resources.files("bench.data").joinpath("standards")))
GRADES = ("A", "B", "C", "D", "E", "F", "G")
METRICS: dict[str, str] = {"energy_per_unit_j": "lower", "flops_per_joule": "higher"}
RATIO_TOLERANCE = 0.01  # edges must follow the declared ratio within 1%
ValidityName = Literal["trace_coverage", "sample_rate", "counter_vs_power", "power_within_limit",
                       "telemetry_recorded", "idle_stable"]  # bench.analysis.validity.CHECKS
Short = Annotated[str, Field(min_length=1, max_length=200)]
Prose = Annotated[str, Field(min_length=1, max_length=4000)]
Figure = Annotated[float, Field(gt=0, le=1e30, allow_inf_nan=False)]  # any positive, finite, float-safe figure


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Band(_Strict):
    """One grade. ``edge`` is the worst value that still earns it (G, the last, has none)."""

    grade: Literal["A", "B", "C", "D", "E", "F", "G"]
    edge: Figure | None = None
    rationale: Prose
    sources: Annotated[list[Prose], Field(max_length=32)] = Field(default_factory=list)


class WorkloadRule(_Strict):
    """How one workload is graded."""

    unit: Short
    metric: Literal["energy_per_unit_j", "flops_per_joule"]
    basis: Literal["gross", "net"]
    ratio: float = Field(gt=1, le=1e6, allow_inf_nan=False)
    presets: Annotated[list[Short], Field(max_length=32)] = Field(default_factory=list)
    dtypes: Annotated[list[Short], Field(max_length=32)] = Field(default_factory=list)
    reference: Annotated[str, Field(max_length=4000)] = ""
    reference_parameters: Figure | None = None
    rationale: Prose
    bands: Annotated[list[Band], Field(max_length=7)]

    @model_validator(mode="after")
    def _bands(self) -> "WorkloadRule":
        grades = tuple(b.grade for b in self.bands)
        if grades != GRADES:
            raise ValueError(f"bands must be exactly {', '.join(GRADES)} in that order, got {', '.join(grades) or 'none'}")
        edges = [b.edge for b in self.bands[:-1]]
        for band, edge in zip(self.bands[:-1], edges):
            if edge is None:
                raise ValueError(f"band {band.grade} needs an edge")
            if not band.sources:
                raise ValueError(f"band {band.grade} needs at least one source")
        if self.bands[-1].edge is not None:
            raise ValueError("band G is open-ended and takes no edge")
        for a, b, grade in zip(edges, edges[1:], GRADES[1:]):
            step = b / a if self.direction == "lower" else a / b  # type: ignore[operator]
            if step <= 1:
                raise ValueError(f"band {grade} edge must be {'above' if self.direction == 'lower' else 'below'} band {chr(ord(grade) - 1)}'s")
            if abs(step / self.ratio - 1) > RATIO_TOLERANCE:
                raise ValueError(f"band {grade} edge is {step:.4g}x the previous, not the declared ratio {self.ratio:g} (geometric scale)")
        return self

    @property
    def direction(self) -> str:
        """``lower`` or ``higher`` is better."""
        return METRICS[self.metric]

    @property
    def metric_unit(self) -> str:
        return "FLOP/J" if self.metric == "flops_per_joule" else f"J/{self.unit}"

    def grade(self, value: float) -> str:
        """The grade of ``value``; a value exactly on an edge gets the better grade."""
        if value is None or not math.isfinite(value):
            raise ValueError(f"cannot grade {value!r}")
        for band in self.bands[:-1]:
            if (value <= band.edge) if self.direction == "lower" else (value >= band.edge):  # type: ignore[operator]
                return band.grade
        return "G"

    def band_range(self, grade: str) -> tuple[float | None, float | None]:
        """(better edge, worse edge) of a grade: A has no better edge, G no worse edge."""
        i = GRADES.index(grade)
        better = self.bands[i - 1].edge if i > 0 else None
        worse = self.bands[i].edge
        return better, worse


class Rules(_Strict):
    """What a conforming measurement must show."""

    min_quality_level: int = Field(ge=1, le=3)  # L0 (an estimate) never conforms; validated strictly: not a bool
    min_window_s: float = Field(gt=0, le=86_400, allow_inf_nan=False)
    min_repeats: int = Field(ge=2, le=10_000)
    max_ci95_relative: float = Field(gt=0, lt=1, allow_inf_nan=False)
    idle_baseline_required: bool
    min_sampling_hz: float = Field(gt=0, le=1e6, allow_inf_nan=False)
    validity_checks: Annotated[list[ValidityName], Field(max_length=16)] = Field(default_factory=list)  # each must pass
    rationale: Annotated[dict[Short, Prose], Field(max_length=32)] = Field(default_factory=dict)


class Reported(_Strict):
    """Figures reported beside the grade but not graded."""

    per_units: int = Field(default=1000, gt=0, le=10**9)
    carbon: Short = "gCO2e"
    water: Short = "mL"
    graded: Literal[False] = False
    note: Annotated[str, Field(max_length=4000)] = ""


class Standard(_Strict):
    """One version of an efficiency standard. ``path`` and ``sha256`` are set by the loader."""

    id: Short
    name: str = Field(min_length=1, max_length=64, pattern=r"^[a-z0-9][a-z0-9_]*$")
    version: str = Field(max_length=40, pattern=r"^[0-9]{1,6}(\.[0-9]{1,6}){0,5}$")
    date: dt.date
    title: Short
    status: Literal["draft", "provisional", "final"] = "provisional"
    basis_rationale: Prose
    rules: Rules
    reported: Reported = Field(default_factory=Reported)
    workloads: Annotated[dict[Short, WorkloadRule], Field(max_length=256)]
    path: Annotated[str, Field(max_length=4096)] | None = None
    sha256: Annotated[str, Field(max_length=64)] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> "Standard":
        if self.id != f"{self.name}-{self.version}":
            raise ValueError(f"id: must be '{self.name}-{self.version}' (name-version), got {self.id!r}")
        if not self.workloads:
            raise ValueError("workloads: a standard grades at least one workload")
        return self

    @property
    def version_key(self) -> tuple[int, ...]:
        return tuple(int(p) for p in self.version.split("."))

    def record(self) -> dict[str, Any]:
        """What a score records about the standard it used."""
        return {"id": self.id, "version": self.version, "date": self.date.isoformat(),
                "status": self.status, "sha256": self.sha256, "path": self.path}


def load_standard_file(path: Path | str) -> Standard:
    """Read and validate one standard file."""
    path = Path(path)
    data, digest = read_toml(path)
    for key in ("path", "sha256"):
        if key in data:
            raise ConfigError(f"{path}: {key}: set by the loader from the file, remove it")
    return validate(Standard, path, {**data, "path": str(path), "sha256": digest})


def shipped_standards() -> list[Standard]:
    """Every shipped standard, oldest first. A bad shipped file raises :class:`ConfigError`."""
    found = []
    for file in sorted(SHIPPED_DIR.glob("*.toml")) if SHIPPED_DIR.is_dir() else []:
        std = load_standard_file(file)
        if file.stem != std.id:
            raise ConfigError(f"{file}: id: {std.id!r} does not match the file name {file.stem!r}")
        found.append(std)
    return sorted(found, key=lambda s: (s.name, s.version_key))


def _looks_like_path(ref: str) -> bool:
    return ref.endswith(".toml") or "/" in ref or "\\" in ref or Path(ref).is_file()


def load_standard(ref: str | Path | None = None) -> Standard:
    """A standard by id (``clause7-2025.1``), version (``2025.1``) or file path; None: the newest shipped."""
    if ref is not None and (isinstance(ref, Path) or _looks_like_path(str(ref))):
        return load_standard_file(ref)
    shipped = shipped_standards()
    if not shipped:
        raise ConfigError(f"{SHIPPED_DIR}: (folder): no standard files found")
    if ref is None:
        return max(shipped, key=lambda s: (s.version_key, s.date))
    for std in shipped:
        if str(ref) in (std.id, std.version):
            return std
    choices = ", ".join(s.id for s in shipped)
    raise UsageError(f"unknown standard {str(ref)!r}; choices: {choices}, or a path to a .toml file")


def list_standards() -> list[dict[str, Any]]:
    """One row per shipped standard for ``bench list standards`` (the default one flagged)."""
    shipped = shipped_standards()
    default = max(shipped, key=lambda s: (s.version_key, s.date)).id if shipped else None
    return [
        {**s.record(), "name": s.name, "title": s.title, "workloads": sorted(s.workloads),
         "default": s.id == default}
        for s in shipped
    ]
