"""The configuration of one run: one pydantic model that validates every figure once, for the CLI, the Python
API and the runner alike. A bad value is a one-line :class:`~bench.errors.UsageError` naming the option."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_serializer,
    model_validator,
)

from bench.errors import UsageError
from bench.meter.meter import MAX_RATE_HZ
from bench.workload import WorkloadParams

LATENCY_MAX_DEFAULT_S = 5.0  # the latency phase lasts --duration by default, at most this long

# field -> the command-line option that sets it (for error messages)
OPTIONS = {
    "device": "--device", "workloads": "--workload", "suite": "--suite", "sampler": "--sampler",
    "sampler_options": "--sampler-option", "rate_hz": "--rate", "idle_s": "--idle", "warmup_min_s": "--warmup-min",
    "warmup_max_s": "--warmup-max", "warmup_tolerance": "--warmup-tolerance", "repeats": "--repeats",
    "duration_s": "--duration", "out": "--out", "name": "--name", "gap_factor": "--gap-factor",
    "read_timeout_s": "--read-timeout", "latency_s": "--latency",
}
MAX_PHASE_S = 86_400.0  # an idle baseline, a warm-up or one measured window: at most a day
MAX_REPEATS = 10_000
# what a result records of its configuration (the output folder and timeouts are not part of the method)
RECORDED = ("device", "suite", "workloads", "sampler", "sampler_options", "rate_hz", "idle_s", "warmup_min_s",
            "warmup_max_s", "warmup_tolerance", "repeats", "duration_s", "gap_factor", "latency_s", "session")


class RunConfig(BaseModel):
    """Everything that decides a run. Durations in seconds, rates in Hz.

    Constructing one validates it: a bad value raises :class:`UsageError` naming the option, e.g.
    ``--rate must be greater than 0 (got 0.0)``.
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    device: str = Field("cpu", max_length=256)
    workloads: list[tuple[str, WorkloadParams]] = Field(default_factory=list)
    suite: str | None = None
    sampler: str | None = None
    sampler_options: dict[str, Any] = Field(default_factory=dict)
    rate_hz: float = Field(10.0, gt=0, le=MAX_RATE_HZ, allow_inf_nan=False)
    idle_s: float = Field(10.0, ge=0, le=MAX_PHASE_S, allow_inf_nan=False)
    warmup_min_s: float = Field(2.0, ge=0, le=MAX_PHASE_S, allow_inf_nan=False)
    warmup_max_s: float = Field(60.0, ge=0, le=MAX_PHASE_S, allow_inf_nan=False)
    warmup_tolerance: float = Field(0.03, gt=0, lt=1, allow_inf_nan=False)
    repeats: int = Field(3, ge=1, le=MAX_REPEATS)
    duration_s: float = Field(10.0, gt=0, le=MAX_PHASE_S, allow_inf_nan=False)
    out: Path = Path("results")
    name: str | None = Field(None, max_length=200)
    gap_factor: float = Field(3.0, gt=1, le=1e6, allow_inf_nan=False)
    read_timeout_s: float = Field(10.0, ge=0.1, le=3600, allow_inf_nan=False)
    # seconds of the synchronised latency phase after an inference workload's repeats (None: --duration, at
    # most LATENCY_MAX_DEFAULT_S; 0 skips it)
    latency_s: float | None = Field(None, ge=0, le=86400, allow_inf_nan=False)
    session: bool = False  # a measuring session of the Python API: windows of the caller's code, no workload

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise UsageError(config_error(exc)) from None

    @model_validator(mode="after")
    def _consistent(self) -> "RunConfig":
        if not self.workloads and not self.session:
            raise ValueError("no workload to run")
        if self.workloads and self.session:
            raise ValueError("a measuring session runs no workload")
        if not self.device.strip():
            raise ValueError("--device is empty; give a device such as cpu or cuda:0")
        if self.warmup_max_s < self.warmup_min_s:  # the maximum never cuts the minimum short
            self.warmup_max_s = self.warmup_min_s
        return self

    @field_serializer("workloads")
    def _workloads(self, value: list[tuple[str, WorkloadParams]]) -> list[dict[str, Any]]:
        return [{"name": n, **dataclasses.asdict(p)} for n, p in value]

    @field_serializer("sampler_options")
    def _options(self, value: dict[str, Any]) -> dict[str, str]:
        return {k: str(v) for k, v in value.items() if k != "clock"}

    def record(self) -> dict[str, Any]:
        """The configuration as a result records it (JSON-able)."""
        return self.model_dump(mode="json", include=set(RECORDED))

    @classmethod
    def field_problem(cls, name: str, value: Any) -> str | None:
        """What is wrong with ``value`` for field ``name`` alone (``"must be greater than 0"``), or None.
        The command line checks each option with this before anything runs."""
        field = cls.model_fields[name]
        try:
            TypeAdapter(Annotated[field.annotation, field]).validate_python(value)
        except ValidationError as exc:
            return _phrase(str(exc.errors(include_url=False)[0].get("msg", "invalid")))
        return None

    @property
    def label(self) -> str:
        """What the run measures, for its folder name: the suite, else the first workload (a session: "session")."""
        if self.session:
            return "session"
        return self.suite or self.workloads[0][0].rpartition(":")[2]

    @property
    def latency_phase_s(self) -> float:
        """Seconds of the latency phase of each inference workload (0: none)."""
        if self.latency_s is not None:
            return self.latency_s
        return min(self.duration_s, LATENCY_MAX_DEFAULT_S)


def config_error(exc: ValidationError) -> str:
    """One line for the first problem of a configuration, naming the option that sets the field."""
    first = exc.errors(include_url=False)[0]
    loc = first.get("loc") or ()
    field = str(loc[0]) if loc else ""
    msg = _phrase(str(first.get("msg", "invalid")))
    if not field:
        return msg
    got = first.get("input")
    shown = f" (got {got!r})" if got is not None and not isinstance(got, (dict, list)) else ""
    return f"{OPTIONS.get(field, field)} {msg}{shown}"


def _phrase(msg: str) -> str:
    """pydantic's "Input should be greater than 0" as "must be greater than 0"."""
    if msg.startswith("Value error, "):
        return msg[len("Value error, "):]
    if msg.startswith("Input should be "):
        return "must be " + msg[len("Input should be "):]
    return msg[:1].lower() + msg[1:]
