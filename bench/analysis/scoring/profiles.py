"""Hardware profiles: one TOML file per chip with its rated power, peak FLOP/s, memory and their sources.

A profile is found by matching its ``match`` regular expressions (case-insensitive, ``re.search``)
against the device name as the driver reports it (NVML, torch, a plugin). A profile may also list
``device_types`` (e.g. ``["cpu"]``): it then matches any device of that type, but only as a
fallback when no name pattern matched.

Folders searched, later ones overriding earlier ones by file name (the profile id):
the shipped ``bench/data/profiles/``, then each folder of ``BENCH_PROFILES_DIR`` (``os.pathsep``
separated), then the folders given to :func:`load_profiles` (the CLI's ``--profiles-dir``).
"""

from __future__ import annotations

import logging
import math
import os
import re
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bench.analysis.scoring.datafile import read_toml, validate
from bench.errors import ConfigError

log = logging.getLogger(__name__)

ENV_VAR = "BENCH_PROFILES_DIR"
SHIPPED_DIR = Path(str(resources.files("bench.data").joinpath("profiles")))
PEAK_DTYPES = ("fp64", "fp32", "tf32", "fp16", "bf16", "fp8", "int8")
_FIGURES = ("rated_power_w", "rated_power_w_per_core", "memory_bytes", "memory_bandwidth_bytes_per_s",
            "server_overhead")


class HardwareProfile(BaseModel):
    """One chip. Units: W, FLOP/s (dense, no sparsity), bytes, bytes/s.

    ``server_overhead`` is the whole server's energy per unit of this chip's energy in its usual server
    (host CPUs, memory, fans, network, power supplies): the factor that turns device energy into the IT
    energy PUE and WUE are defined on (:mod:`bench.analysis.scoring.footprint`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(min_length=1)
    vendor: str = Field(min_length=1)
    name: str = Field(min_length=1)
    form_factor: str = Field(min_length=1)
    match: list[str] = Field(default_factory=list)
    device_types: list[str] = Field(default_factory=list)
    rated_power_w: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    rated_power_w_per_core: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    peak_flops: dict[str, float] = Field(default_factory=dict)
    memory_bytes: int | None = Field(default=None, gt=0)
    memory_bandwidth_bytes_per_s: float | None = Field(default=None, gt=0, allow_inf_nan=False)
    server_overhead: float | None = Field(default=None, ge=1, allow_inf_nan=False)  # IT energy / device energy
    sources: dict[str, str] = Field(default_factory=dict)
    notes: str = ""
    path: str | None = None
    sha256: str | None = None

    @field_validator("match")
    @classmethod
    def _regexes_compile(cls, patterns: list[str]) -> list[str]:
        for i, pattern in enumerate(patterns):
            if not pattern:
                raise ValueError(f"pattern {i} is empty (it would match every device)")
            try:
                re.compile(pattern, re.IGNORECASE)
            except re.error as exc:
                raise ValueError(f"pattern {i} {pattern!r} is not a regular expression ({exc})") from None
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
    def _complete(self) -> "HardwareProfile":
        if not self.match and not self.device_types:
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

    def match_text(self, device_name: str) -> str | None:
        """The longest text of ``device_name`` any name pattern matches, or None."""
        best: str | None = None
        for pattern in self.match:
            m = re.search(pattern, device_name, re.IGNORECASE)
            if m and (best is None or len(m.group(0)) > len(best)):
                best = m.group(0)
        return best

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
        for file in sorted(folder.glob("*.toml")):
            profile = load_profile_file(file)
            if profile.id in found:
                log.info("profile %s from %s overrides %s", profile.id, file, found[profile.id].path)
            found[profile.id] = profile
    return sorted(found.values(), key=lambda p: p.id)


def match_profile(device_name: str, profiles: list[HardwareProfile] | None = None,
                  device_type: str | None = None) -> HardwareProfile | None:
    """The profile for a device: the longest name-pattern match wins; else a ``device_types`` fallback."""
    if profiles is None:
        profiles = load_profiles()
    best: tuple[int, str, HardwareProfile] | None = None
    for profile in profiles:
        text = profile.match_text(device_name or "")
        if text is not None:
            key = (len(text), profile.id, profile)
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
            "match": list(p.match) + [f"type:{t}" for t in p.device_types],
            "path": p.path,
        })
    return rows
