"""Hardware profiles: one TOML file per chip with its rated power, peak FLOP/s, memory and their sources.

A profile is found by matching its ``match`` name patterns against the device name as the driver reports it
(NVML, torch, a plugin), unless one of its ``exclude`` patterns matches too. Patterns are words matched whole, in
time linear in the name (:mod:`bench.analysis.scoring.namematch`): no regular expression is ever compiled, from
a profile or from a result. A profile may also list ``device_types`` (e.g. ``["cpu"]``): it then matches any
device of that type, but only as a fallback when no name pattern matched.

Folders searched, later ones overriding earlier ones by file name (the profile id):
the shipped ``bench/data/profiles/``, then each folder of ``BENCH_PROFILES_DIR`` (``os.pathsep``
separated), then the folders given to :func:`load_profiles` (the CLI's ``--profiles-dir``).
"""

from __future__ import annotations

import logging
import math
import os
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from bench.analysis.scoring import namematch
from bench.analysis.scoring.datafile import read_toml, validate
from bench.errors import ConfigError

log = logging.getLogger(__name__)

ENV_VAR = "BENCH_PROFILES_DIR"
SHIPPED_DIR = Path(str(resources.files("bench.data").joinpath("profiles")))
PEAK_DTYPES = ("fp64", "fp32", "tf32", "fp16", "bf16", "fp8", "int8")
_FIGURES = ("rated_power_w", "rated_power_w_per_core", "memory_bytes", "memory_bandwidth_bytes_per_s",
            "server_overhead")
MAX_PROFILE_FILES = 1000
Short = Annotated[str, Field(min_length=1, max_length=200)]
Patterns = Annotated[list[str], Field(max_length=32)]
RECORDED = "recorded"  # validation context: a profile as a result recorded it (its patterns are not used)


class HardwareProfile(BaseModel):
    """One chip. Units: W, FLOP/s (dense, no sparsity), bytes, bytes/s.

    ``server_overhead`` is the whole server's energy per unit of this chip's energy in its usual server
    (host CPUs, memory, fans, network, power supplies): the factor that turns device energy into the IT
    energy PUE and WUE are defined on (:mod:`bench.analysis.scoring.footprint`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Short
    vendor: Short
    name: Short
    form_factor: Short
    match: Patterns = Field(default_factory=list)
    exclude: Patterns = Field(default_factory=list)
    device_types: Annotated[list[Short], Field(max_length=16)] = Field(default_factory=list)
    rated_power_w: float | None = Field(default=None, gt=0, le=1e7, allow_inf_nan=False)
    rated_power_w_per_core: float | None = Field(default=None, gt=0, le=1e4, allow_inf_nan=False)
    peak_flops: Annotated[dict[str, float], Field(max_length=16)] = Field(default_factory=dict)
    memory_bytes: int | None = Field(default=None, gt=0, le=2**63 - 1)
    memory_bandwidth_bytes_per_s: float | None = Field(default=None, gt=0, le=1e18, allow_inf_nan=False)
    server_overhead: float | None = Field(default=None, ge=1, le=100, allow_inf_nan=False)  # IT energy / device energy
    sources: Annotated[dict[Short, Annotated[str, Field(max_length=4000)]], Field(max_length=64)] = \
        Field(default_factory=dict)
    notes: Annotated[str, Field(max_length=4000)] = ""
    path: Annotated[str, Field(max_length=4096)] | None = None
    sha256: Annotated[str, Field(max_length=64)] | None = None

    @field_validator("match", "exclude")
    @classmethod
    def _patterns(cls, patterns: list[str], info: ValidationInfo) -> list[str]:
        if (info.context or {}).get(RECORDED):
            return patterns  # never matched again: only its figures are used
        for i, pattern in enumerate(patterns):
            try:
                namematch.compile_pattern(pattern)
            except ValueError as exc:
                raise ValueError(f"pattern {i}: {exc}") from None
        return patterns

    @field_validator("peak_flops")
    @classmethod
    def _peak_dtypes(cls, peaks: dict[str, float]) -> dict[str, float]:
        for dtype, value in peaks.items():
            if dtype not in PEAK_DTYPES:
                raise ValueError(f"unknown dtype {dtype!r}; choices: {', '.join(PEAK_DTYPES)}")
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"{dtype} must be a positive number of FLOP/s, got {value!r}")
        return peaks

    @model_validator(mode="after")
    def _complete(self, info: ValidationInfo) -> "HardwareProfile":
        if not self.match and not self.device_types and not (info.context or {}).get(RECORDED):
            raise ValueError("match: needs 'match' patterns or 'device_types', else it can never match")
        if self.rated_power_w is None and self.rated_power_w_per_core is None:
            raise ValueError("rated_power_w: missing (or 'rated_power_w_per_core' for a generic CPU)")
        for key in _FIGURES:
            if getattr(self, key) is not None and not self.sources.get(key, "").strip():
                raise ValueError(f"sources.{key}: missing, every figure needs its source")
        for dtype in self.peak_flops:
            if not (self.sources.get(f"peak_flops.{dtype}") or self.sources.get("peak_flops", "")).strip():
                raise ValueError(f"sources.peak_flops: missing for {dtype}, every figure needs its source")
        return self

    # --- use -----------------------------------------------------------------------------------

    @classmethod
    def from_record(cls, recorded: dict[str, Any]) -> "HardwareProfile":
        """The profile a result recorded at run time, for its figures (its patterns are never matched)."""
        data = {**recorded, "match": [], "exclude": []}
        return cls.model_validate(data, strict=True, context={RECORDED: True})

    def match_weight(self, device_name: str) -> tuple[int, str] | None:
        """(characters of name tokens matched, the text matched) of the best name pattern, or None when no
        pattern matches or an ``exclude`` pattern does. Linear in the name's length."""
        name = namematch.tokens(device_name or "")
        if any(namematch.search(namematch.compile_pattern(p), name) for p in self.exclude):
            return None
        best: tuple[int, str] | None = None
        for pattern in self.match:
            found = namematch.search(namematch.compile_pattern(pattern), name)
            if found and (best is None or found[2] > best[0]):
                best = (found[2], device_name[found[0]:found[1]])
        return best

    def match_text(self, device_name: str) -> str | None:
        """The text of ``device_name`` the best name pattern matches, or None."""
        found = self.match_weight(device_name)
        return found[1] if found else None

    def source(self, figure: str) -> str | None:
        """The source note of a figure (``rated_power_w``, ``peak_flops.bf16``, ...)."""
        if figure.startswith("peak_flops."):
            return self.sources.get(figure) or self.sources.get("peak_flops")
        return self.sources.get(figure)

    def rated_power(self, device: dict[str, Any] | None = None, estimate_rated_w: float | None = None) -> tuple[float | None, str]:
        """Rated power (W) for a device and where it came from.

        A fixed ``rated_power_w`` wins. A generic profile (``rated_power_w_per_core``) takes the
        estimate sampler's rated power when the result has one, else per-core power x the
        device's logical CPU count (``device["cores"]``).
        """
        if self.rated_power_w is not None:
            return self.rated_power_w, self.source("rated_power_w") or ""
        if estimate_rated_w is not None and estimate_rated_w > 0:
            return float(estimate_rated_w), "the estimate sampler's rated power recorded in the result"
        cores = (device or {}).get("cores")
        if isinstance(cores, int) and cores > 0 and self.rated_power_w_per_core:
            return (
                self.rated_power_w_per_core * cores,
                f"{self.rated_power_w_per_core:g} W x {cores} logical CPUs; {self.source('rated_power_w_per_core')}",
            )
        return None, "no core count recorded"

    def record(self) -> dict[str, Any]:
        """The profile as plain data, for a result's ``profile`` block."""
        return self.model_dump(mode="json")


def load_profile_file(path: Path | str) -> HardwareProfile:
    """Read and validate one profile file; its id is the file name without ``.toml``."""
    path = Path(path)
    data, digest = read_toml(path)
    for key in ("id", "path", "sha256"):
        if key in data:
            raise ConfigError(f"{path}: {key}: set by the loader from the file, remove it")
    data = {**data, "id": path.stem, "path": str(path), "sha256": digest}
    return validate(HardwareProfile, path, data)


def profile_dirs(extra_dirs: list[Path | str] | tuple[Path | str, ...] | None = None) -> list[Path]:
    """The folders searched, in order: shipped, ``BENCH_PROFILES_DIR``, then ``extra_dirs``."""
    dirs = [SHIPPED_DIR]
    env = os.environ.get(ENV_VAR, "")
    dirs += [Path(p) for p in env.split(os.pathsep) if p.strip()]
    dirs += [Path(p) for p in (extra_dirs or [])]
    return dirs


def load_profiles(extra_dirs: list[Path | str] | tuple[Path | str, ...] | None = None) -> list[HardwareProfile]:
    """Every profile, later folders overriding earlier ones by id. A bad file raises :class:`ConfigError`."""
    found: dict[str, HardwareProfile] = {}
    for folder in profile_dirs(extra_dirs):
        if folder != SHIPPED_DIR and not folder.is_dir():
            raise ConfigError(f"{folder}: (folder): profiles folder does not exist")
        if not folder.is_dir():
            continue
        files = sorted(folder.glob("*.toml"))
        if len(files) > MAX_PROFILE_FILES:
            raise ConfigError(f"{folder}: (folder): {len(files)} profile files, more than {MAX_PROFILE_FILES}")
        for file in files:
            profile = load_profile_file(file)
            if profile.id in found:
                log.info("profile %s from %s overrides %s", profile.id, file, found[profile.id].path)
            found[profile.id] = profile
    return sorted(found.values(), key=lambda p: p.id)


def match_profile(device_name: str, profiles: list[HardwareProfile] | None = None,
                  device_type: str | None = None) -> HardwareProfile | None:
    """The profile for a device: the match with the most name characters wins; else a ``device_types``
    fallback."""
    if profiles is None:
        profiles = load_profiles()
    best: tuple[int, str, HardwareProfile] | None = None
    for profile in profiles:
        found = profile.match_weight(device_name or "")
        if found is not None:
            key = (found[0], profile.id, profile)
            if best is None or key[0] > best[0]:
                best = key
            elif key[0] == best[0]:
                log.warning("device %r matches profiles %s and %s equally; using %s",
                            device_name, best[1], profile.id, best[1])
    if best is not None:
        return best[2]
    if device_type:
        for profile in profiles:
            if device_type in profile.device_types:
                return profile
    return None


def list_profiles(extra_dirs: list[Path | str] | tuple[Path | str, ...] | None = None) -> list[dict[str, Any]]:
    """One row per profile for ``bench list profiles``."""
    rows = []
    for p in load_profiles(extra_dirs):
        rows.append({
            "id": p.id,
            "vendor": p.vendor,
            "name": p.name,
            "form_factor": p.form_factor,
            "rated_power_w": p.rated_power_w,
            "rated_power_w_per_core": p.rated_power_w_per_core,
            "peak_flops": dict(p.peak_flops),
            "memory_bytes": p.memory_bytes,
            "memory_bandwidth_bytes_per_s": p.memory_bandwidth_bytes_per_s,
            "match": list(p.match) + [f"not {x}" for x in p.exclude] + [f"type:{t}" for t in p.device_types],
            "path": p.path,
        })
    return rows
