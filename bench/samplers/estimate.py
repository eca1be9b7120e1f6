"""CPU power estimated from utilisation and the chip's rated power: no sensor, quality level L0.

Model (default ``linear``)::

    power_w = rated_power_w * (idle_fraction + (1 - idle_fraction) * utilization)

with ``idle_fraction = 0.1`` and ``utilization`` in [0, 1]. Utilisation is the fraction of time the
cores were busy, and a busy core at a given clock draws about the same power whatever it runs, so
power grows about linearly with it (Fan, Weber and Barroso, "Power provisioning for a
warehouse-sized computer", ISCA 2007, found a linear model within a few percent of measured
servers). ``cubic`` is codecarbon's whole-machine model, ``rated * (0.1 + 0.9 * utilization**3)``,
offered to compare with its figures; it shares the end points and reads far lower in between
(0.21 vs 0.55 of rated power at half load).

Utilisation is system-wide, from ``/proc/stat`` deltas between reads, over all logical CPUs of the
machine: busy = user + nice + system + irq + softirq; the whole = busy + idle + iowait + steal (time
a hypervisor gave to another guest is not power drawn for us). Without ``/proc/stat`` it falls back
to this process's CPU time (:func:`os.times`) over wall time x CPUs. This process's share of the
busy time is recorded in :meth:`EstimateSampler.describe` (the runner records it again at the end of a
run): the estimate bills every process's CPU use to the benchmark, so a low share is recorded as an
``estimate_polluted`` issue by :mod:`bench.analysis.sanity`.

Rated power, first found wins:
1. the ``rated_power_w`` option (e.g. from a hardware profile; ``rated_power_source`` says which);
2. codecarbon's CPU table ``codecarbon/data/hardware/cpu_power.csv`` (TDP by model name), read with
   the csv module, matched to the CPU's model name: exact after normalisation (drop ``(R)``,
   ``(TM)``, ``CPU @ 2.40GHz``, ``N-Core Processor``), else the most specific table name whose
   words all occur in the CPU's name, else a unique table name containing all of the CPU's words;
   a tie between rows with different TDPs is ambiguous and not used. TDP is per socket, so it is
   multiplied by the number of sockets;
3. a generic 4 W per logical CPU (codecarbon's default; modern server and desktop chips rate 2-4 W
   per hardware thread, e.g. EPYC 7763 280 W / 128, Xeon Gold 6148 150 W / 40, i7-12700 65 W / 20).

Under a hypervisor the table's TDP is the whole host chip's and overstates a slice of it; this is
reported by :meth:`EstimateSampler.health`.
"""

from __future__ import annotations

import csv
import functools
import importlib.util
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.samplers.base import (
    Availability,
    Capabilities,
    PowerKind,
    Reading,
    Sampler,
    SamplerUnavailable,
    Scope,
    host_cpu,
)

log = logging.getLogger(__name__)

GENERIC_W_PER_CPU = 4.0
DEFAULT_IDLE_FRACTION = 0.1
UPDATE_PERIOD_S = 0.1
MODELS = ("linear", "cubic")
PROC_STAT = Path("/proc/stat")
CPUINFO = Path("/proc/cpuinfo")


def power_w(rated_w: float, utilization: float, model: str = "linear",
            idle_fraction: float = DEFAULT_IDLE_FRACTION) -> float:
    """Estimated power (W) at ``utilization`` (0..1, clamped) of a chip rated ``rated_w`` watts."""
    u = min(1.0, max(0.0, float(utilization)))
    if model == "linear":
        return rated_w * (idle_fraction + (1.0 - idle_fraction) * u)
    if model == "cubic":
        return rated_w * (0.1 + 0.9 * u**3)
    raise ValueError(f"unknown estimate model {model!r}; choices: {', '.join(MODELS)}")


# --- rated power --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RatedPower:
    """The chip's rated power (W) and where it came from."""

    watts: float
    source: str  # "option", "codecarbon cpu_power.csv", "generic"
    detail: str  # the matched table row, or why the table was not used


def cpu_table_path() -> Path | None:
    """Path of codecarbon's CPU table, found without importing codecarbon; None if absent."""
    spec = importlib.util.find_spec("codecarbon")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / "data" / "hardware" / "cpu_power.csv"
        if path.is_file():
            return path
    return None


@functools.lru_cache(maxsize=4)
def load_cpu_table(path: Path) -> tuple[tuple[str, float], ...]:
    """(model name, TDP in W) rows of the table; rows without a number are skipped."""
    rows = []
    with open(path, encoding="utf-8", newline="") as fh:
        for row in csv.DictReader(fh):
            try:
                rows.append((" ".join(row["Name"].split()), float(row["TDP"])))
            except (KeyError, TypeError, ValueError):
                continue
    return tuple(rows)


_NOISE = [
    re.compile(r"\((?:r|tm)\)|[®™]"),
    re.compile(r"@\s*[\d.]+\s*[gm]hz"),
    re.compile(r"\b\d+-core\b|\bprocessor\b|\bcpu\b"),
]


def normalise_cpu_name(name: str) -> str:
    """Lower-case model name without trademarks, clock speed and filler words."""
    text = name.lower()
    for pattern in _NOISE:
        text = pattern.sub(" ", text)
    return " ".join(text.split())


def match_cpu(name: str, table: tuple[tuple[str, float], ...]) -> tuple[str, float] | str:
    """The table row for CPU ``name``, or a string saying why there is none."""
    wanted = normalise_cpu_name(name)
    if not wanted:
        return "the CPU model name is empty"
    rows = [(normalise_cpu_name(n), n, tdp) for n, tdp in table]
    for norm, original, tdp in rows:
        if norm == wanted:
            return original, tdp
    words = set(wanted.split())
    inside = [r for r in rows if r[0] and set(r[0].split()) <= words]
    if inside:
        best = max(len(r[0].split()) for r in inside)
        top = [r for r in inside if len(r[0].split()) == best]
        if len({r[2] for r in top}) == 1:
            return top[0][1], top[0][2]
        return f"{name!r} matches {len(top)} table rows with different TDPs (ambiguous)"
    around = [r for r in rows if words <= set(r[0].split())]
    if len({r[2] for r in around}) == 1:
        return around[0][1], around[0][2]
    if around:
        return f"{name!r} matches {len(around)} table rows with different TDPs (ambiguous)"
    return f"{name!r} is not in the table"


def _cpuinfo() -> str:
    try:
        return CPUINFO.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def socket_count(cpuinfo: str | None = None) -> int:
    """Distinct ``physical id`` values in /proc/cpuinfo (1 when it does not say)."""
    text = _cpuinfo() if cpuinfo is None else cpuinfo
    ids = set(re.findall(r"^physical id\s*:\s*(\d+)", text, flags=re.MULTILINE))
    return max(1, len(ids))


def under_hypervisor(cpuinfo: str | None = None) -> bool:
    text = _cpuinfo() if cpuinfo is None else cpuinfo
    return bool(re.search(r"^flags\s*:.*\bhypervisor\b", text, flags=re.MULTILINE))


def rated_power(cpu_name: str, rated_power_w: float | None = None, source: str | None = None,
                cpus: int | None = None, sockets: int | None = None,
                table_path: Path | None = None) -> RatedPower:
    """The rated power (W) of this machine's CPUs and its provenance (see the module docstring)."""
    if rated_power_w is not None:
        if not rated_power_w > 0:
            raise SamplerUnavailable(f"rated_power_w must be > 0 W, got {rated_power_w!r}")
        return RatedPower(float(rated_power_w), source or "option", f"rated_power_w={rated_power_w} W")
    path = table_path or cpu_table_path()
    if path is None:
        reason = "codecarbon's cpu_power.csv is not installed"
    else:
        found = match_cpu(cpu_name, load_cpu_table(path))
        if isinstance(found, tuple):
            n = sockets or socket_count()
            return RatedPower(found[1] * n, "codecarbon cpu_power.csv",
                              f"{found[0]} ({found[1]:g} W) x {n} socket(s)")
        reason = found
    n_cpus = cpus or os.cpu_count() or 1
    return RatedPower(GENERIC_W_PER_CPU * n_cpus, "generic",
                      f"{reason}; {GENERIC_W_PER_CPU:g} W x {n_cpus} logical CPUs")


# --- utilisation --------------------------------------------------------------------------------


class ProcStat:
    """``/proc/stat`` kept open: each read is one ``pread`` of its first line, a few times cheaper than opening
    the file again for every read (the meter reads it at every poll)."""

    def __init__(self, path: Path = PROC_STAT) -> None:
        self.path = path
        self._fd: int | None = None

    def times(self) -> tuple[int, int] | None:
        """(busy, whole) jiffies summed over all CPUs, or None without a readable file."""
        try:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_RDONLY)
            head = os.pread(self._fd, 256, 0)  # the "cpu" line comes first: 8 counters of up to 20 digits
        except OSError:
            self.close()
            return None
        end = head.find(b"\n")
        return _stat_times((head if end < 0 else head[:end]).split())

    def close(self) -> None:
        if self._fd is not None:
            try:
                os.close(self._fd)
            except OSError:
                pass
            self._fd = None


def _stat_times(fields: list[bytes]) -> tuple[int, int] | None:
    """(busy, whole) jiffies from the fields of ``/proc/stat``'s ``cpu`` line."""
    if not fields or fields[0] != b"cpu":
        return None
    if len(fields) < 9:  # an old kernel without steal (or irq) columns: they count as 0
        fields = fields + [b"0"] * (9 - len(fields))
    try:
        user, nice, system, idle, iowait, irq, softirq, steal = map(int, fields[1:9])
    except ValueError:
        return None
    busy = user + nice + system + irq + softirq
    return busy, busy + idle + iowait + steal


def _process_cpu_s() -> float:
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


class SystemUtilization:
    """Machine-wide CPU utilisation (0..1) between successive calls, from /proc/stat.

    Falls back to this process's CPU time over wall time x CPUs where /proc/stat is missing (or goes
    missing: the call that finds it gone starts the fallback's first interval and returns None).
    Returns None while no time has passed (jiffies are 10 ms). A call with /proc/stat is one ``pread``
    and no other system call: the meter makes one at every poll.
    """

    def __init__(self, stat_path: Path = PROC_STAT) -> None:
        self.stat_path = stat_path
        self.cpus = os.cpu_count() or 1
        self._tick_s = 1.0 / (os.sysconf("SC_CLK_TCK") or 100)
        self._stat = ProcStat(stat_path)
        self._last = self._stat.times()
        self._last_wall = time.monotonic()
        self._last_proc = _process_cpu_s()
        self.method = "/proc/stat" if self._last is not None else "process CPU time (os.times)"
        self._start_proc = self._last_proc
        self._busy_total_s = 0.0

    def __call__(self) -> float | None:
        if self._last is not None:
            times = self._stat.times()
            if times is not None:
                busy, whole = times[0] - self._last[0], times[1] - self._last[1]
                if whole <= 0:
                    return None
                self._last = times
                self._busy_total_s += busy * self._tick_s
                return min(1.0, max(0.0, busy / whole))
            self._last = None  # /proc/stat went away: this process's CPU time from now on
            self._last_wall, self._last_proc = time.monotonic(), _process_cpu_s()
            return None
        now_wall, now_proc = time.monotonic(), _process_cpu_s()
        wall = now_wall - self._last_wall
        if wall <= 0:
            return None
        u = (now_proc - self._last_proc) / (wall * self.cpus)
        self._busy_total_s += now_proc - self._last_proc
        self._last_wall, self._last_proc = now_wall, now_proc
        return min(1.0, max(0.0, u))

    def close(self) -> None:
        self._stat.close()

    @property
    def busy_s(self) -> float:
        """CPU-seconds the machine was busy (all processes) since the source was made."""
        return self._busy_total_s

    def process_share(self) -> float | None:
        """This process's CPU time as a fraction of all busy CPU time since the source was made (both brought up
        to now)."""
        if self._last is not None:
            self()
            self._last_proc = _process_cpu_s()
        if self._busy_total_s <= 0:
            return None
        return min(1.0, (self._last_proc - self._start_proc) / self._busy_total_s)


# --- the sampler --------------------------------------------------------------------------------


class EstimateSampler(Sampler):
    """Estimated CPU package power from utilisation x rated power. Always available; quality L0."""

    name = "estimate"

    def __init__(self, rated: RatedPower, cpu_name: str, utilization: Callable[[], float | None],
                 model: str = "linear", idle_fraction: float = DEFAULT_IDLE_FRACTION,
                 utilization_method: str = "injected") -> None:
        if model not in MODELS:
            raise SamplerUnavailable(f"unknown estimate model {model!r}; choices: {', '.join(MODELS)}")
        if not 0.0 <= idle_fraction <= 1.0:
            raise SamplerUnavailable(f"idle_fraction must be within 0..1, got {idle_fraction!r}")
        self.rated = rated
        self.cpu_name = cpu_name
        self.model = model
        self.idle_fraction = idle_fraction
        self.channel = "estimate:cpu"
        self.capabilities = Capabilities(
            energy_counter=False,
            power=PowerKind.ESTIMATED,
            scope=Scope.PACKAGE,
            update_period_s=UPDATE_PERIOD_S,
            max_rate_hz=1.0 / UPDATE_PERIOD_S,
        )
        self._utilization = utilization
        self._utilization_method = utilization_method
        self._lock = threading.Lock()
        self._last_u: float | None = None
        self._last_w = 0.0  # the power of _last_u
        self._last_t = time.monotonic()

    @classmethod
    def is_available(cls, device: str) -> Availability:
        if not host_cpu(device):
            return Availability(False, f"estimate models the host CPU ('cpu'), not {device!r}")
        return Availability(True)

    @classmethod
    def open(cls, device: str, **options: Any) -> list["EstimateSampler"]:
        """Options: ``rated_power_w``, ``rated_power_source``, ``cpu_name``, ``model``
        (linear|cubic), ``idle_fraction``, ``utilization`` (a callable returning 0..1 or None)."""
        available = cls.is_available(device)
        if not available:
            raise SamplerUnavailable(available.reason)
        if options.get("cpu_name"):
            cpu_name = str(options["cpu_name"])
        else:
            from bench.devices.cpu import cpu_model_name

            cpu_name = cpu_model_name()
        rated = rated_power(cpu_name, options.get("rated_power_w"), options.get("rated_power_source"))
        source = options.get("utilization")
        method = "injected"
        if source is None:
            source = SystemUtilization()
            method = source.method
        log.info("estimate: %s rated %.1f W (%s: %s)", cpu_name, rated.watts, rated.source, rated.detail)
        return [cls(rated, cpu_name, source, str(options.get("model", "linear")),
                    float(options.get("idle_fraction", DEFAULT_IDLE_FRACTION)), method)]

    def read(self) -> Reading:
        """Estimated power (W) and the utilisation (0..1) it came from; None until one is known."""
        with self._lock:
            now = time.monotonic()
            if self._last_u is None or now - self._last_t >= UPDATE_PERIOD_S / 2:
                u = self._utilization()
                if u is not None:
                    self._last_u, self._last_t = min(1.0, max(0.0, float(u))), now
                    self._last_w = power_w(self.rated.watts, self._last_u, self.model, self.idle_fraction)
            if self._last_u is None:
                return Reading()
            return Reading(power_w=self._last_w, utilization=self._last_u)

    def close(self) -> None:
        close = getattr(self._utilization, "close", None)
        if callable(close):
            close()

    def describe(self) -> dict[str, Any]:
        if self.model == "linear":
            idle = self.idle_fraction
            formula = f"power_w = {self.rated.watts:g} * ({idle:g} + {1 - idle:g} * u)"
        else:
            formula = f"power_w = {self.rated.watts:g} * (0.1 + 0.9 * u**3)"
        share = getattr(self._utilization, "process_share", None)
        share = share() if callable(share) else None  # first: it brings the busy time up to now
        busy = getattr(self._utilization, "busy_s", None)
        return {
            "sampler": self.name,
            "channel": self.channel,
            "method": "estimate (quality L0): utilisation x rated power, no sensor",
            "quality": "L0",
            "model": self.model,
            "formula": formula,
            "cpu_name": self.cpu_name,
            "rated_power_w": self.rated.watts,
            "rated_power_source": self.rated.source,
            "rated_power_detail": self.rated.detail,
            "utilization": (
                f"system-wide over {os.cpu_count() or 1} logical CPUs ({self._utilization_method})"
            ),
            "process_cpu_share": share,
            "busy_cpu_s": float(busy) if isinstance(busy, (int, float)) else None,
        }

    def health(self) -> list[dict[str, str]]:
        if self.rated.source.startswith("codecarbon") and under_hypervisor():
            return [{"code": "estimate_vm_slice",
                     "message": "running under a hypervisor: the rated power is the whole host chip's "
                                "and overstates a slice of it; pass rated_power_w", "scope": "run"}]
        return []
