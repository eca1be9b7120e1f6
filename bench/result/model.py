"""The result model: plain data, written once, read anywhere (no GPU, no live objects).

A run folder holds ``result.json`` (this model) and ``trace.parquet`` (every sample). Scoring,
comparison and reports read only these files. ``schema_version`` is checked on read: a newer
major version than this harness knows is refused with a clear error; older ones are upgraded.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from bench.errors import ResultError
from bench.result.bounds import (
    FIGURE_MAX,
    MAX_CHANNELS,
    Base64,
    Capabilities,
    Count,
    Device,
    Hex64,
    Level,
    Name,
    NonNeg,
    Ns,
    Params,
    Positive,
    ProfileRecord,
    Real,
    RunId,
    Text,
    Warmup,
    bounded_list,
)

SCHEMA_VERSION = "1.0"
RESULT_FILE = "result.json"
TRACE_FILE = "trace.parquet"

Status = Literal["complete", "incomplete", "interrupted", "failed", "running"]


class _Model(BaseModel):
    # other keys are kept: a newer harness of the same major schema adds fields (bounded by the JSON limits)
    model_config = ConfigDict(extra="allow", validate_assignment=False)


class Stat(_Model):
    """A figure over repeats: mean, sample standard deviation, 95% CI (Student t), count."""

    mean: Real | None
    std: NonNeg | None = None
    ci95_low: Real | None = None
    ci95_high: Real | None = None
    n: Count = 0

    @model_validator(mode="after")
    def _ordered(self) -> "Stat":
        low, high, mean = self.ci95_low, self.ci95_high, self.mean
        if low is not None and high is not None and low > high:
            raise ValueError("ci95_low is above ci95_high")
        if mean is not None and ((low is not None and low > mean) or (high is not None and high < mean)):
            raise ValueError("the mean lies outside its confidence interval")
        return self

    @property
    def ci95_half_width(self) -> float | None:
        if self.ci95_low is None or self.ci95_high is None:
            return None
        return (self.ci95_high - self.ci95_low) / 2

    @property
    def ci95_relative(self) -> float | None:
        """Half-width of the CI relative to the mean (0.02 = +/-2%)."""
        hw = self.ci95_half_width
        if hw is None or not self.mean:
            return None
        return abs(hw / self.mean)


class Issue(_Model):
    """Something that spoils or qualifies a measurement (a gap, a reset, another process, ...)."""

    code: Name
    message: Text
    window: Name | None = None
    severity: Literal["info", "warning", "error"] = "warning"


class ChannelEnergy(_Model):
    """One channel's share of a window.

    ``energy_uncertainty_j`` bounds how far ``energy_j`` can be from the true energy of the window because
    the sensor is coarse (a counter's refreshes at the edges, averaged power's lag); ``edges`` says how the
    counter's edges were placed (``located``: on the fitted refresh instants; ``bracketed``: between the
    polls around a refresh; ``as_read``). ``integrated_energy_j`` is power integrated over the window, lag
    corrected where power is a moving average (``power_correction``: ``inverted`` or ``half_window_shift``),
    with its own bound ``integrated_uncertainty_j``; ``power_std_w`` is the spread of the power readings (how
    well readings refreshed every so often sample the load). Results written before these fields leave
    them None.
    """

    channel: Name
    energy_j: Real | None
    method: Literal["counter", "integrated_power", "none"]
    integrated_energy_j: Real | None = None  # from power, kept beside the counter for cross-checks
    samples: Count = 0
    mean_power_w: Real | None = None
    peak_power_w: Real | None = None
    max_interval_s: NonNeg | None = None
    gaps: Count = 0
    resets: Count = 0
    energy_uncertainty_j: NonNeg | None = None
    edges: Name | None = None
    integrated_uncertainty_j: NonNeg | None = None
    power_correction: Name | None = None
    power_std_w: NonNeg | None = None  # spread of the power readings in the window


class Window(_Model):
    """A named measured interval of the trace (idle, warm-up, repeat-N) and its energy."""

    name: Name
    t_start_ns: Ns  # monotonic, same clock as the trace
    t_end_ns: Ns
    duration_s: NonNeg
    energy_j: Real | None  # sum over channels
    mean_power_w: Real | None
    peak_power_w: Real | None
    samples: Count
    channels: bounded_list(ChannelEnergy, MAX_CHANNELS) = Field(default_factory=list)
    issues: bounded_list(Issue) = Field(default_factory=list)
    clean: bool = True  # no gap, reset or other spoiler inside
    energy_uncertainty_j: NonNeg | None = None  # bound from the sensors' coarseness, summed over channels


class Repeat(_Model):
    """One measured repeat of a workload."""

    index: Count
    window: Name
    units: Count
    steps: Count
    duration_s: NonNeg
    gross_energy_j: Real | None
    idle_energy_j: Real | None
    net_energy_j: Real | None
    mean_power_w: Real | None
    peak_power_w: Real | None
    throughput: NonNeg  # units per second
    energy_per_unit_j: Real | None  # net energy / units
    gross_energy_per_unit_j: Real | None
    clean: bool = True
    energy_uncertainty_j: NonNeg | None = None  # the window's sensor bound (J); the same for gross and net


class Aggregate(_Model):
    """Figures across repeats."""

    energy_per_unit_j: Stat
    gross_energy_per_unit_j: Stat
    throughput: Stat
    net_energy_j: Stat
    gross_energy_j: Stat
    mean_power_w: Stat
    duration_s: Stat
    flops_per_joule: Stat | None = None
    # the sensors' bound relative to the energy, averaged over the repeats (0.002 = 0.2%): a systematic
    # part that repeating does not average away, which the CI checks add to the CI's half-width
    energy_uncertainty_relative: NonNeg | None = None  # of gross energy
    net_energy_uncertainty_relative: NonNeg | None = None  # of net energy


class Latency(_Model):
    """Latency of one step of an inference workload, in seconds: percentiles over ``steps`` timed steps.

    ``method`` says how the steps were timed: ``synchronized`` (a phase after the measured repeats in which
    the device is synchronised after every step, outside the energy windows) or ``window`` (each occurrence
    of a window of a measuring session, synchronised at both edges)."""

    method: Literal["synchronized", "window"]
    steps: Count
    units_per_step: Count | None = None
    p50_s: NonNeg | None
    p90_s: NonNeg | None
    p99_s: NonNeg | None
    mean_s: NonNeg | None = None
    min_s: NonNeg | None = None
    max_s: NonNeg | None = None
    window: Name | None = None  # the window the latency phase ran in (its energy is not in any figure)


class WorkloadResult(_Model):
    """One workload's part of a run."""

    workload: Name
    kind: Name
    status: Status
    reason: Text | None = None
    unit: Name | None = None
    params: Params = Field(default_factory=dict)  # type: ignore[assignment]
    settings: Params = Field(default_factory=dict)  # type: ignore[assignment]
    optimizations: dict[str, Any] = Field(default_factory=dict)
    units_per_step: Count | None = None
    flops_per_unit: NonNeg | None = None
    parameters: Count | None = None
    memory_bytes: Count | None = None
    peak_memory_bytes: Count | None = None
    warmup: Warmup = Field(default_factory=dict)  # type: ignore[assignment]
    repeats: bounded_list(Repeat) = Field(default_factory=list)
    aggregate: Aggregate | None = None
    issues: bounded_list(Issue) = Field(default_factory=list)
    latency: Latency | None = None  # inference workloads and session windows
    source: dict[Name, Text] | None = None  # where a workload given as FILE.py:Class or module:Class came from


class IdleBaseline(_Model):
    window: Name
    duration_s: NonNeg
    energy_j: Real | None
    power_w: Real | None  # mean idle power
    power_std_w: NonNeg | None = None  # spread of 1 s block means: stability of the baseline
    clean: bool = True
    measured_in: Name | None = None  # None: in this run; else the folder name of the run that measured it (a sweep)


class DeviceSetting(_Model):
    """The device setting a run was measured at, when a sweep set one. A None figure was left as found
    (``original_*``); ``baseline`` marks the sweep's point that changed nothing."""

    power_limit_w: NonNeg | None = None
    sm_clock_mhz: NonNeg | None = None  # SM clocks locked to this one clock
    original_power_limit_w: NonNeg | None = None
    original_sm_clock_lock: Annotated[list[Count], Field(max_length=2)] | None = None  # [min, max] MHz; None: no lock
    sweep_id: Name | None = None
    point: Name | None = None  # the point's label in its sweep
    baseline: bool = False

    def text(self) -> str:
        """The setting in words: ``power limit 250 W, SM clocks 1410 MHz`` or ``as found (power limit 300 W)``."""
        parts = []
        if self.power_limit_w is not None:
            parts.append(f"power limit {self.power_limit_w:g} W")
        if self.sm_clock_mhz is not None:
            parts.append(f"SM clocks {self.sm_clock_mhz:g} MHz")
        if parts:
            return ", ".join(parts)
        found = f"power limit {self.original_power_limit_w:g} W" if self.original_power_limit_w is not None else ""
        return f"as found ({found})" if found else "as found"


class QualityAspect(_Model):
    aspect: Name
    level: Level
    reason: Text


class Quality(_Model):
    """Measurement quality level (L0-L3), the weakest aspect deciding."""

    level: Level
    label: Name
    aspects: bounded_list(QualityAspect, 64) = Field(default_factory=list)


class ChannelInfo(_Model):
    channel: Name
    sampler: Name
    capabilities: Capabilities
    describe: dict[str, Any] = Field(default_factory=dict)  # what the sampler said of itself, as it said it


class Measurement(_Model):
    """How the energy was measured."""

    sampler: Name
    channels: bounded_list(ChannelInfo, MAX_CHANNELS)
    rate_hz: Positive
    achieved_rate_hz: NonNeg | None = None
    interval_p50_s: NonNeg | None = None
    interval_p99_s: NonNeg | None = None
    samples: Count = 0
    gap_factor: Positive = 3.0
    polling: Literal["stratified", "regular"] | None = None  # one read at a random instant of each period, or on a grid
    polling_seed: Count | None = None


class TraceRef(_Model):
    path: str = Field(default=TRACE_FILE, pattern=r"^(trace\.[A-Za-z0-9_.-]{1,100}|missing)$")  # a file name
    rows: Count = 0
    sha256: Hex64 | None = None
    t0_ns: Ns | None = None


class ValidityCheck(_Model):
    """One validity check of a finished run (in the manner of MLPerf's compliance checks)."""

    check: Name
    ok: bool
    detail: Text
    window: Name | None = None
    value: Real | None = None
    limit: Real | None = None

    @field_validator("value", "limit", mode="before")
    @classmethod
    def _unrepresentable_is_absent(cls, v: Any) -> Any:
        """A figure a check derives from extreme inputs (a ratio to a near-zero power) may leave the range a
        result holds; the verdict is in ``ok``, so such a figure is recorded as absent rather than refused."""
        if isinstance(v, (int, float)) and not isinstance(v, bool) and not (-FIGURE_MAX <= v <= FIGURE_MAX):
            return None
        return v


class NodeWindow(_Model):
    """One node's part of a distributed window (J). ``energy_j`` covers the node's devices the run
    used (it is in the window's ``energy_j``); ``unused_energy_j`` the node's other devices (not in it)."""

    node: Count
    duration_s: NonNeg
    energy_j: Real | None
    unused_energy_j: Real | None = None
    unused_channels: bounded_list(ChannelEnergy, MAX_CHANNELS) = Field(default_factory=list)


class WindowBreakdown(_Model):
    """Per-node energy and per-rank work of one window of a distributed run."""

    window: Name
    nodes: bounded_list(NodeWindow, MAX_CHANNELS)
    steps_by_rank: bounded_list(Count, MAX_CHANNELS) | None = None  # whole steps each global rank ran
    units_by_rank: bounded_list(Count, MAX_CHANNELS) | None = None  # units each rank did (summed into the repeat's)


class RankInfo(_Model):
    rank: Count
    local_rank: Count
    node: Count
    host: Name
    pid: Count
    device: Device = Field(default_factory=dict)  # type: ignore[assignment]


class NodeDevice(_Model):
    """A device of a node: used by some ranks, or idle beside the run (``used_by`` empty)."""

    spec: Name  # as the node's local rank 0 sees it
    name: Name | None = None
    identity: dict[str, Any] = Field(default_factory=dict)
    used_by: bounded_list(Count, MAX_CHANNELS) = Field(default_factory=list)  # global ranks
    channels: bounded_list(Name, MAX_CHANNELS) = Field(default_factory=list)  # channel names in that node's trace
    note: Text | None = None  # why it is not measured, if it is not


class NodeInfo(_Model):
    """One node of a distributed run: its ranks, its devices, and where its trace is."""

    node: Count
    host: Name
    leader: Count  # the global rank that sampled this node's devices
    ranks: bounded_list(Count, MAX_CHANNELS)
    devices: bounded_list(NodeDevice, MAX_CHANNELS) = Field(default_factory=list)
    channels: bounded_list(ChannelInfo, MAX_CHANNELS) = Field(default_factory=list)
    trace: TraceRef | None = None  # trace.parquet (node 0) or trace.node-N.parquet
    trace_location: Literal["result_folder", "node_local", "missing"] = "result_folder"
    trace_host_path: Text | None = None  # absolute path on that node's host when not in the result folder
    provenance: dict[str, Any] = Field(default_factory=dict)
    issues: bounded_list(Issue) = Field(default_factory=list)


class DistributedWorkload(_Model):
    workload: Name
    mode: Literal["ddp", "independent"]  # ddp: gradients all-reduced; independent: data-parallel, no exchange
    params_in_sync: bool | None = None  # after training, every rank held the same weights


class Distributed(_Model):
    """How a multi-device / multi-node run was spread and how its energy splits. The result's
    top-level windows and repeats are whole-run figures: energy summed over the used devices of
    every node, units of work summed over every rank."""

    launcher: Name  # torchrun, slurm or env
    backend: Name  # nccl, gloo, ...
    world_size: Count
    nnodes: Count
    ranks: bounded_list(RankInfo, MAX_CHANNELS) = Field(default_factory=list)
    nodes: bounded_list(NodeInfo, MAX_CHANNELS) = Field(default_factory=list)
    windows: bounded_list(WindowBreakdown) = Field(default_factory=list)
    workloads: bounded_list(DistributedWorkload) = Field(default_factory=list)
    failure: Text | None = None


class PhaseTime(_Model):
    """How long one phase of a run took, on the run's monotonic clock: ``phase`` is ``idle`` (the idle baseline),
    ``setup``, ``warmup``, ``repeats`` (the measured windows) or ``latency`` of ``workload``, or ``finish`` (the trace
    written as Parquet and the result assessed); ``start_s`` counts from the start of the run."""

    phase: Name
    workload: Name | None = None
    start_s: NonNeg
    duration_s: NonNeg


class Timing(_Model):
    """When the run started and finished (UTC, ISO 8601), its length (s) and each phase's."""

    started_utc: Name
    finished_utc: Name | None = None  # None while the run goes on (a provisional result)
    duration_s: NonNeg | None = None
    phases: bounded_list(PhaseTime) = Field(default_factory=list)


class Integrity(_Model):
    """The seal of a result (see :mod:`bench.result.integrity`): SHA-256 over the canonical result and, from
    format 2 on, the list of every file of the folder it covers; an Ed25519 signature where signed."""

    algorithm: Name = "sha256"
    digest: Name
    format: Count | None = None  # absent: format 1 (content and traces, no file list)
    files: bounded_list(Name, MAX_CHANNELS) | None = None
    signature: Base64 | None = None
    public_key: Base64 | None = None


class Result(_Model):
    schema_version: str = Field(default=SCHEMA_VERSION, pattern=r"^[0-9]{1,6}(\.[0-9]{1,6}){0,3}$")
    run_id: RunId
    created_utc: Name
    status: Status
    reason: Text | None = None
    harness: dict[str, Any]
    config: dict[str, Any]
    provenance: dict[str, Any]
    device: Device
    measurement: Measurement
    idle: IdleBaseline | None = None
    workloads: bounded_list(WorkloadResult, 10_000) = Field(default_factory=list)
    windows: bounded_list(Window) = Field(default_factory=list)
    issues: bounded_list(Issue) = Field(default_factory=list)
    quality: Quality | None = None
    profile: ProfileRecord | None = None
    trace: TraceRef = Field(default_factory=TraceRef)
    validity: bounded_list(ValidityCheck) | None = None
    distributed: Distributed | None = None  # multi-device / multi-node runs only
    setting: DeviceSetting | None = None  # the power limit / clocks a sweep set for this run
    timing: Timing | None = None  # results written before it was recorded have none
    integrity: Integrity | None = None

    def workload(self, name: str) -> WorkloadResult:
        for w in self.workloads:
            if w.workload == name:
                return w
        raise ResultError(f"result {self.run_id} has no workload {name!r}")
