"""What decides a sweep: the run every point repeats (a :class:`~bench.run.config.RunConfig`) and the settings to
visit. One pydantic model validates it, for the CLI and the Python API alike; a bad value is one
:class:`~bench.errors.UsageError` line naming the option.

Values are given as ``START:STOP:STEP`` (both ends included when the steps reach them) or as a comma-separated
list, each number optionally followed by its unit: ``300:150:50``, ``250W,200W``, ``1980,1410,1005MHz``.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from bench.errors import UsageError
from bench.run.config import RunConfig

MAX_VALUES = 64  # values per option: more is a typo (300:150:0.1) rather than a sweep anyone can wait for
OPTIONS = {"power_limits_w": "--power-limits", "sm_clocks_mhz": "--sm-clocks", "max_slowdown": "--max-slowdown",
           "metric": "--metric"}
UNITS = {"power_limits_w": "W", "sm_clocks_mhz": "MHz"}

Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class SweepConfig(BaseModel):
    """A sweep: ``run`` at every point; ``power_limits_w`` (W) and ``sm_clocks_mhz`` (MHz) to visit (both given:
    every pair); ``max_slowdown`` the slowdown budget of the second recommendation (a fraction: 0.05 = 5%);
    ``metric`` the energy per unit the frontier uses (gross or net of the idle baseline)."""

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)

    run: RunConfig
    power_limits_w: list[Positive] = Field(default_factory=list, max_length=MAX_VALUES)
    sm_clocks_mhz: list[Positive] = Field(default_factory=list, max_length=MAX_VALUES)
    max_slowdown: float = Field(0.05, ge=0, le=10, allow_inf_nan=False)
    metric: Literal["gross", "net"] = "gross"

    def __init__(self, **data: Any) -> None:
        try:
            super().__init__(**data)
        except ValidationError as exc:
            raise UsageError(_error(exc)) from None

    @model_validator(mode="after")
    def _something_to_sweep(self) -> "SweepConfig":
        if not self.power_limits_w and not self.sm_clocks_mhz:
            raise ValueError("nothing to sweep: give --power-limits and/or --sm-clocks")
        if self.run.suite:
            raise ValueError("a sweep runs --workload(s), not a --suite")
        self.power_limits_w = list(dict.fromkeys(self.power_limits_w))
        self.sm_clocks_mhz = list(dict.fromkeys(self.sm_clocks_mhz))
        return self

    @classmethod
    def field_problem(cls, name: str, value: Any) -> str | None:
        """What is wrong with ``value`` for field ``name`` alone, or None (the CLI checks each option with it)."""
        field = cls.model_fields[name]
        try:
            TypeAdapter(Annotated[field.annotation, field]).validate_python(value)
        except ValidationError as exc:
            return _phrase(exc.errors(include_url=False)[0])
        return None

    def record(self) -> dict[str, Any]:
        """What a sweep record keeps of its configuration (JSON-able)."""
        return {"run": self.run.record(), "power_limits_w": self.power_limits_w, "sm_clocks_mhz": self.sm_clocks_mhz,
                "max_slowdown": self.max_slowdown, "metric": self.metric}


def _phrase(err: dict[str, Any]) -> str:
    msg = str(err.get("msg", "invalid"))
    for prefix, repl in (("Value error, ", ""), ("Input should be ", "must be ")):
        if msg.startswith(prefix):
            msg = repl + msg[len(prefix):]
    if err.get("type") == "too_long":
        msg = f"has more than {MAX_VALUES} values"
    return msg


def _error(exc: ValidationError) -> str:
    first = exc.errors(include_url=False)[0]
    loc = first.get("loc") or ()
    msg = _phrase(first)
    field = str(loc[0]) if loc else ""
    if field == "run":
        return msg
    if field in OPTIONS:
        got = first.get("input")
        shown = f" (got {got!r})" if got is not None and not isinstance(got, (dict, list)) else ""
        return f"{OPTIONS[field]} {msg}{shown}"
    return msg


# --- parsing what the command line gives -------------------------------------------------------

_NUMBER = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?"


def _number(text: str, unit: str, option: str) -> Decimal:
    m = re.fullmatch(rf"\s*({_NUMBER})\s*(?:{re.escape(unit)})?\s*", text, flags=re.IGNORECASE)
    if not m:
        raise UsageError(f"{option}: {text.strip()!r} is not a number of {unit}")
    try:
        return Decimal(m.group(1))
    except InvalidOperation:  # pragma: no cover - the pattern admits only numbers
        raise UsageError(f"{option}: {text.strip()!r} is not a number of {unit}") from None


def parse_values(text: str, unit: str, option: str) -> list[float]:
    """``START:STOP:STEP`` (from START towards STOP by STEP, both ends included when reached) or ``A,B,C`` as
    floats in ``unit``. A malformed spec, a zero step or more than :data:`MAX_VALUES` values is one
    :class:`UsageError` naming ``option``."""
    text = str(text).strip()
    if not text:
        raise UsageError(f"{option} is empty; give START:STOP:STEP or a comma-separated list of {unit}")
    if ":" in text:
        parts = text.split(":")
        if len(parts) != 3:
            raise UsageError(f"{option}: {text!r} is not START:STOP:STEP (e.g. 300:150:50) nor a list (300,250,200)")
        start, stop, step = (_number(p, unit, option) for p in parts)
        if step == 0:
            raise UsageError(f"{option}: the step of {text!r} is 0")
        step = abs(step) if stop >= start else -abs(step)
        count = int((stop - start) / step) + 1
        if count > MAX_VALUES:
            raise UsageError(f"{option}: {text!r} gives {count} values; at most {MAX_VALUES} (a larger step?)")
        values = [start + k * step for k in range(count)]
    else:
        values = [_number(p, unit, option) for p in text.split(",") if p.strip()]
        if not values:
            raise UsageError(f"{option}: {text!r} has no value")
        if len(values) > MAX_VALUES:
            raise UsageError(f"{option}: {len(values)} values; at most {MAX_VALUES}")
    out = [float(v) for v in values]
    bad = [v for v in out if not (math.isfinite(v) and v > 0)]
    if bad:
        raise UsageError(f"{option}: {bad[0]:g} {unit} is not a positive value")
    return list(dict.fromkeys(out))


def parse_fraction(text: str, option: str = "--max-slowdown") -> float:
    """``5%`` or ``0.05`` as 0.05; a bare number of 1 or more is refused as ambiguous (``5`` is 500%: write 5%)."""
    raw = str(text).strip()
    m = re.fullmatch(rf"({_NUMBER})\s*(%?)", raw)
    if not m:
        raise UsageError(f"{option}: {raw!r} is not a fraction such as 5% or 0.05")
    value = float(m.group(1))
    if m.group(2):
        value /= 100
    elif value >= 1:
        raise UsageError(f"{option}: {raw} would be {value:.0%}; write {raw}% for {raw} percent, or a fraction "
                         "such as 0.05")
    return value
