"""The result model: plain data, written once, read anywhere (no GPU, no live objects).

A run folder holds ``result.json`` (this model) and ``trace.parquet`` (every sample). Scoring,
comparison and reports read only these files. ``schema_version`` is checked on read: a newer
major version than this harness knows is refused with a clear error; older ones are upgraded.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from bench.errors import ResultError

SCHEMA_VERSION = "1.0"
RESULT_FILE = "result.json"
TRACE_FILE = "trace.parquet"

Status = Literal["complete", "incomplete", "interrupted", "failed", "running"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", validate_assignment=False)


class Stat(_Model):
    """A figure over repeats: mean, sample standard deviation, 95% CI (Student t), count."""

    mean: float | None
    std: float | None = None
    ci95_low: float | None = None
    ci95_high: float | None = None
    n: int = 0

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

    code: str
    message: str
    window: str | None = None
    severity: Literal["info", "warning", "error"] = "warning"


class ChannelEnergy(_Model):
    """One channel's share of a window."""

    channel: str
    energy_j: float | None
    method: Literal["counter", "integrated_power", "none"]
    integrated_energy_j: float | None = None  # from power, kept beside the counter for cross-checks
    samples: int = 0
    mean_power_w: float | None = None
    peak_power_w: float | None = None
    max_interval_s: float | None = None
    gaps: int = 0
    resets: int = 0


class Window(_Model):
    """A named measured interval of the trace (idle, warm-up, repeat-N) and its energy."""

    name: str
    t_start_ns: int  # monotonic, same clock as the trace
    t_end_ns: int
    duration_s: float
    energy_j: float | None  # sum over channels
    mean_power_w: float | None
    peak_power_w: float | None
    samples: int
    channels: list[ChannelEnergy] = Field(default_factory=list)
    issues: list[Issue] = Field(default_factory=list)
    clean: bool = True  # no gap, reset or other spoiler inside


class Repeat(_Model):
    """One measured repeat of a workload."""

    index: int
    window: str
    units: int
    steps: int
    duration_s: float
    gross_energy_j: float | None
    idle_energy_j: float | None
    net_energy_j: float | None
    mean_power_w: float | None
    peak_power_w: float | None
    throughput: float  # units per second
    energy_per_unit_j: float | None  # net energy / units
    gross_energy_per_unit_j: float | None
    clean: bool = True


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


class WorkloadResult(_Model):
    """One workload's part of a run."""

    workload: str
    kind: str
    status: Status
    reason: str | None = None
    unit: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    settings: dict[str, Any] = Field(default_factory=dict)
    optimizations: dict[str, Any] = Field(default_factory=dict)
    units_per_step: int | None = None
    flops_per_unit: float | None = None
    parameters: int | None = None
    memory_bytes: int | None = None
    peak_memory_bytes: int | None = None
    warmup: dict[str, Any] = Field(default_factory=dict)
    repeats: list[Repeat] = Field(default_factory=list)
    aggregate: Aggregate | None = None
    issues: list[Issue] = Field(default_factory=list)


class IdleBaseline(_Model):
    window: str
    duration_s: float
    energy_j: float | None
    power_w: float | None  # mean idle power
    power_std_w: float | None = None  # spread of 1 s block means: stability of the baseline
    clean: bool = True


class QualityAspect(_Model):
    aspect: str
    level: int
    reason: str


class Quality(_Model):
    """Measurement quality level (L0-L3), the weakest aspect deciding."""

    level: int
    label: str
    aspects: list[QualityAspect] = Field(default_factory=list)


class ChannelInfo(_Model):
    channel: str
    sampler: str
    capabilities: dict[str, Any]
    describe: dict[str, Any] = Field(default_factory=dict)


class Measurement(_Model):
    """How the energy was measured."""

    sampler: str
    channels: list[ChannelInfo]
    rate_hz: float
    achieved_rate_hz: float | None = None
    interval_p50_s: float | None = None
    interval_p99_s: float | None = None
    samples: int = 0
    gap_factor: float = 3.0


class TraceRef(_Model):
    path: str = Field(default=TRACE_FILE, pattern=r"^(trace\.[A-Za-z0-9_.-]+|missing)$")  # a file name, never a path
    rows: int = 0
    sha256: str | None = None
    t0_ns: int | None = None


class ValidityCheck(_Model):
    """One validity check of a finished run (in the manner of MLPerf's compliance checks)."""

    check: str
    ok: bool
    detail: str
    window: str | None = None
    value: float | None = None
    limit: float | None = None


class NodeWindow(_Model):
    """One node's part of a distributed window (J). ``energy_j`` covers the node's devices the run
    used (it is in the window's ``energy_j``); ``unused_energy_j`` the node's other devices (not in it)."""

    node: int
    duration_s: float
    energy_j: float | None
    unused_energy_j: float | None = None
    unused_channels: list[ChannelEnergy] = Field(default_factory=list)


class WindowBreakdown(_Model):
    """Per-node energy and per-rank work of one window of a distributed run."""

    window: str
    nodes: list[NodeWindow]
    steps_by_rank: list[int] | None = None  # whole steps each global rank ran inside the window
    units_by_rank: list[int] | None = None  # units of work each rank did (summed into the repeat's units)


class RankInfo(_Model):
    rank: int
    local_rank: int
    node: int
    host: str
    pid: int
    device: dict[str, Any] = Field(default_factory=dict)


class NodeDevice(_Model):
    """A device of a node: used by some ranks, or idle beside the run (``used_by`` empty)."""

    spec: str  # as the node's local rank 0 sees it
    name: str | None = None
    identity: dict[str, Any] = Field(default_factory=dict)
    used_by: list[int] = Field(default_factory=list)  # global ranks
    channels: list[str] = Field(default_factory=list)  # channel names in that node's trace
    note: str | None = None  # why it is not measured, if it is not


class NodeInfo(_Model):
    """One node of a distributed run: its ranks, its devices, and where its trace is."""

    node: int
    host: str
    leader: int  # the global rank that sampled this node's devices
    ranks: list[int]
    devices: list[NodeDevice] = Field(default_factory=list)
    channels: list[ChannelInfo] = Field(default_factory=list)
    trace: TraceRef | None = None  # trace.parquet (node 0) or trace.node-N.parquet
    trace_location: Literal["result_folder", "node_local", "missing"] = "result_folder"
    trace_host_path: str | None = None  # absolute path on that node's host when not in the result folder
    provenance: dict[str, Any] = Field(default_factory=dict)
    issues: list[Issue] = Field(default_factory=list)


class DistributedWorkload(_Model):
    workload: str
    mode: Literal["ddp", "independent"]  # ddp: gradients all-reduced; independent: data-parallel, no exchange
    params_in_sync: bool | None = None  # after training, every rank held the same weights


class Distributed(_Model):
    """How a multi-device / multi-node run was spread and how its energy splits. The result's
    top-level windows and repeats are whole-run figures: energy summed over the used devices of
    every node, units of work summed over every rank."""

    launcher: str  # torchrun, slurm or env
    backend: str  # nccl, gloo, ...
    world_size: int
    nnodes: int
    ranks: list[RankInfo] = Field(default_factory=list)
    nodes: list[NodeInfo] = Field(default_factory=list)
    windows: list[WindowBreakdown] = Field(default_factory=list)
    workloads: list[DistributedWorkload] = Field(default_factory=list)
    failure: str | None = None


class PhaseTime(_Model):
    """How long one phase of a run took, on the run's monotonic clock: ``phase`` is ``idle`` (the idle baseline),
    ``setup``, ``warmup`` or ``repeats`` (the measured windows) of ``workload``, or ``finish`` (the trace
    written as Parquet and the result assessed); ``start_s`` counts from the start of the run."""

    phase: str
    workload: str | None = None
    start_s: float
    duration_s: float


class Timing(_Model):
    """When the run started and finished (UTC, ISO 8601), its length (s) and each phase's."""

    started_utc: str
    finished_utc: str | None = None  # None while the run goes on (a provisional result)
    duration_s: float | None = None
    phases: list[PhaseTime] = Field(default_factory=list)


class Integrity(_Model):
    """SHA-256 over the canonical result (without this block) and the trace's digest."""

    algorithm: str = "sha256"
    digest: str
    signature: str | None = None
    public_key: str | None = None


class Result(_Model):
    schema_version: str = SCHEMA_VERSION
    run_id: str
    created_utc: str
    status: Status
    reason: str | None = None
    harness: dict[str, Any]
    config: dict[str, Any]
    provenance: dict[str, Any]
    device: dict[str, Any]
    measurement: Measurement
    idle: IdleBaseline | None = None
    workloads: list[WorkloadResult] = Field(default_factory=list)
    windows: list[Window] = Field(default_factory=list)
    issues: list[Issue] = Field(default_factory=list)
    quality: Quality | None = None
    profile: dict[str, Any] | None = None
    trace: TraceRef = Field(default_factory=TraceRef)
    validity: list[ValidityCheck] | None = None
    distributed: Distributed | None = None  # multi-device / multi-node runs only
    timing: Timing | None = None  # results written before it was recorded have none
    integrity: Integrity | None = None

    def workload(self, name: str) -> WorkloadResult:
        for w in self.workloads:
            if w.workload == name:
                return w
        raise ResultError(f"result {self.run_id} has no workload {name!r}")
