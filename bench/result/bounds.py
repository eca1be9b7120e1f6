"""The bounded field types of a result: every number finite and in range, every string and list of bounded length.

A result may come from anywhere (anyone can recompute a digest), so its model says what each field may hold and
:func:`bench.result.io.load_result` validates strictly: no ``true`` for a number, no ``"5"`` for an integer.
The open ``dict`` blocks the harness records (device, capabilities, settings, ...) name the keys the harness
itself reads with their types; other keys stay allowed (newer harnesses add some), bounded by the JSON limits of
:mod:`bench.result.files`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field
from typing_extensions import TypedDict

INT64_MAX = 2**63 - 1
MAX_NAME_CHARS = 256  # names, codes, identifiers
MAX_TEXT_CHARS = 16_384  # messages, reasons, details
MAX_LIST = 100_000  # windows, repeats, issues, ...
MAX_CHANNELS = 4_096

FIGURE_MAX = 1e18  # no figure of a run comes near: 1e18 J is a year of a 30 GW grid
Real = Annotated[float, Field(ge=-FIGURE_MAX, le=FIGURE_MAX, allow_inf_nan=False)]  # net energy may be negative
NonNeg = Annotated[float, Field(ge=0, le=FIGURE_MAX, allow_inf_nan=False)]
Positive = Annotated[float, Field(gt=0, le=FIGURE_MAX, allow_inf_nan=False)]
Fraction = Annotated[float, Field(ge=0, le=1, allow_inf_nan=False)]
Count = Annotated[int, Field(ge=0, le=INT64_MAX)]
Ns = Annotated[int, Field(ge=0, le=INT64_MAX)]  # monotonic nanoseconds, an int64 in the trace
Level = Annotated[int, Field(ge=0, le=3)]  # measurement quality L0-L3
Name = Annotated[str, Field(max_length=MAX_NAME_CHARS)]
Text = Annotated[str, Field(max_length=MAX_TEXT_CHARS)]
Ident = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")]
Hex64 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
RunId = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")]
Base64 = Annotated[str, Field(max_length=256, pattern=r"^[A-Za-z0-9+/=]*$")]
PowerKind = Literal["instant", "averaged", "estimated", "none"]  # bench.samplers.base.PowerKind's values
OPEN = ConfigDict(extra="allow")


class Device(TypedDict, total=False):
    """What a result records of its device: the keys the harness reads, typed; others kept."""

    __pydantic_config__ = OPEN  # type: ignore[misc]
    name: Name | None
    spec: Name | None
    type: Name | None
    cores: Count | None


class Capabilities(TypedDict, total=False):
    """A channel's capabilities (:meth:`bench.samplers.base.Capabilities.to_dict`)."""

    __pydantic_config__ = OPEN  # type: ignore[misc]
    energy_counter: bool
    power: PowerKind
    scope: Ident
    update_period_s: NonNeg | None
    power_average_window_s: NonNeg | None
    max_rate_hz: Positive | None
    energy_tolerance: Fraction
    counter_wrap_j: NonNeg | None
    calibrated: bool
    measured: bool
    power_update_period_s: NonNeg | None
    check_power_average_window_s: NonNeg | None
    check_power_update_period_s: NonNeg | None


class Params(TypedDict, total=False):
    """A workload's parameters or resolved settings: the keys grouping and grading read."""

    __pydantic_config__ = OPEN  # type: ignore[misc]
    preset: Name | None
    dtype: Name | None
    batch_size: Annotated[int, Field(ge=0, le=INT64_MAX)] | None
    seq_len: Annotated[int, Field(ge=0, le=INT64_MAX)] | None
    size: Annotated[int, Field(ge=0, le=INT64_MAX)] | None


class Warmup(TypedDict, total=False):
    __pydantic_config__ = OPEN  # type: ignore[misc]
    duration_s: NonNeg | None
    steps: Count | None
    blocks: Count | None
    steady: bool | None


class ProfileRecord(TypedDict, total=False):
    """The hardware profile a run matched, as recorded (:meth:`HardwareProfile.record`); never matched again."""

    __pydantic_config__ = OPEN  # type: ignore[misc]
    id: Name
    vendor: Name
    name: Name
    rated_power_w: Positive | None
    rated_power_w_per_core: Positive | None


def bounded_list(item: Any, max_length: int = MAX_LIST) -> Any:
    """``list[item]`` of at most ``max_length`` items."""
    return Annotated[list[item], Field(max_length=max_length)]  # type: ignore[valid-type]


__all__ = ["Capabilities", "Count", "Device", "Fraction", "Hex64", "Ident", "Level", "Name", "NonNeg",
           "Ns", "Params", "Positive", "PowerKind", "ProfileRecord", "Real", "RunId", "Text", "Warmup",
           "bounded_list"]
