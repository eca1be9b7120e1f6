"""The estimate sampler: its power model, the rated-power lookup and its L0 labelling."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from bench import contracts
from bench.samplers import estimate
from bench.samplers.base import PowerKind, SamplerUnavailable, Scope
from bench.samplers.estimate import (
    GENERIC_W_PER_CPU,
    EstimateSampler,
    RatedPower,
    SystemUtilization,
    match_cpu,
    normalise_cpu_name,
    rated_power,
)


class Script:
    """A utilisation source that returns preset values, one per call."""

    def __init__(self, *values: float | None) -> None:
        self.values = list(values)

    def __call__(self) -> float | None:
        return self.values.pop(0)


def _sampler(*values: float | None, **options) -> EstimateSampler:
    options.setdefault("rated_power_w", 100.0)
    (sampler,) = EstimateSampler.open("cpu", utilization=Script(*values), **options)
    return sampler


def _read_each(sampler: EstimateSampler, n: int) -> list:
    out = []
    for _ in range(n):
        sampler._last_t -= 1.0  # as if a whole update period had passed since the last read
        out.append(sampler.read())
    return out


def test_registered_under_entry_point() -> None:
    assert contracts.load("samplers", "estimate") is EstimateSampler


@pytest.mark.parametrize(
    ("model", "expected_w"),
    [("linear", [10.0, 32.5, 55.0, 100.0, 100.0]), ("cubic", [10.0, 11.40625, 21.25, 100.0, 100.0])],
)
def test_model_at_known_utilisations(model: str, expected_w: list[float]) -> None:
    utilisations = [0.0, 0.25, 0.5, 1.0, 1.3]  # above 1 is clamped
    readings = _read_each(_sampler(*utilisations, model=model), 5)
    assert [r.power_w for r in readings] == pytest.approx(expected_w)
    assert [r.utilization for r in readings] == pytest.approx([0.0, 0.25, 0.5, 1.0, 1.0])
    assert all(r.energy_j is None for r in readings)


def test_idle_fraction_option_sets_the_floor() -> None:
    readings = _read_each(_sampler(0.0, 0.5, idle_fraction=0.3), 2)
    assert [r.power_w for r in readings] == pytest.approx([30.0, 65.0])


def test_no_utilisation_yet_gives_no_power_not_zero() -> None:
    sampler = _sampler(None, 0.5)
    assert sampler.read().power_w is None
    assert sampler.read().power_w == pytest.approx(55.0)


def test_reads_faster_than_update_period_reuse_the_last_estimate() -> None:
    sampler = _sampler(0.5, 1.0)
    first, second = sampler.read(), sampler.read()  # back to back: one utilisation sample
    assert first.power_w == second.power_w == pytest.approx(55.0)
    assert _read_each(sampler, 1)[0].power_w == pytest.approx(100.0)


def test_always_labelled_estimated_l0() -> None:
    sampler = _sampler(0.5)
    caps = sampler.capabilities
    assert caps.power is PowerKind.ESTIMATED and caps.estimated
    assert not caps.energy_counter and caps.scope is Scope.PACKAGE
    info = sampler.describe()
    assert "estimate (quality L0)" in info["method"] and info["quality"] == "L0"
    assert info["rated_power_w"] == 100.0 and info["rated_power_source"] == "option"
    assert info["formula"] == "power_w = 100 * (0.1 + 0.9 * u)"


def test_available_for_cpu_only() -> None:
    assert EstimateSampler.is_available("cpu")
    assert not EstimateSampler.is_available("cuda:0")
    with pytest.raises(SamplerUnavailable):
        EstimateSampler.open("cuda:0")


def test_bad_options_are_refused() -> None:
    with pytest.raises(SamplerUnavailable, match="linear, cubic"):
        _sampler(0.5, model="quadratic")
    with pytest.raises(SamplerUnavailable, match="rated_power_w"):
        _sampler(0.5, rated_power_w=0)


@pytest.mark.parametrize(
    ("cpu_name", "row", "tdp_w"),
    [
        ("Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz", "Intel Xeon Gold 6148", 150.0),
        ("Intel(R) Xeon(R) Gold 6148F CPU @ 2.40GHz", "Intel Xeon Gold 6148F", 160.0),
        ("AMD EPYC 7763 64-Core Processor", "AMD EPYC 7763", 280.0),
        ("11th Gen Intel(R) Core(TM) i7-1185G7 @ 3.00GHz", "Intel Core i7-1185G7", 28.0),
        ("Intel(R) Xeon(R) CPU E5-2680 v4 @ 2.40GHz", "Intel Xeon E5-2680 v4", 120.0),
    ],
)
def test_table_lookup_finds_known_cpus(cpu_name: str, row: str, tdp_w: float) -> None:
    rated = rated_power(cpu_name, sockets=1)
    assert rated.source == "codecarbon cpu_power.csv"
    assert rated.watts == tdp_w
    assert rated.detail.startswith(f"{row} ({tdp_w:g} W)")


def test_table_power_is_per_socket() -> None:
    assert rated_power("Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz", sockets=2).watts == 300.0
    cpuinfo = "processor\t: 0\nphysical id\t: 0\n\nprocessor\t: 1\nphysical id\t: 1\n"
    assert estimate.socket_count(cpuinfo) == 2


def test_unknown_or_ambiguous_cpu_falls_back_with_reason() -> None:
    vague = rated_power("AMD EPYC", cpus=8)
    assert vague.source == "generic" and vague.watts == 8 * GENERIC_W_PER_CPU
    assert "ambiguous" in vague.detail
    unknown = rated_power("Frobnicator 9000 Deluxe", cpus=2)
    assert unknown.watts == 2 * GENERIC_W_PER_CPU and "not in the table" in unknown.detail


def test_missing_table_falls_back_with_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(estimate, "cpu_table_path", lambda: None)
    rated = rated_power("Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz", cpus=4)
    assert rated.watts == 16.0 and "not installed" in rated.detail


def test_option_wins_over_table() -> None:
    sampler = _sampler(0.5, rated_power_w=42.0, rated_power_source="hardware profile xeon-6148",
                       cpu_name="Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz")
    assert sampler.rated.watts == 42.0
    assert sampler.describe()["rated_power_source"] == "hardware profile xeon-6148"


def test_name_normalisation_and_specificity() -> None:
    assert normalise_cpu_name("Intel(R) Core(TM) i9-13900K CPU @ 3.00GHz") == "intel core i9-13900k"
    table = (("Intel Xeon Gold 6148", 150.0), ("Intel Xeon Gold 6148F", 160.0), ("6148", 1.0))
    assert match_cpu("Intel(R) Xeon(R) Gold 6148 CPU @ 2.40GHz", table) == ("Intel Xeon Gold 6148", 150.0)


def test_proc_stat_utilisation(tmp_path: Path) -> None:
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 0 50 800 50 0 0 0 7 7\ncpu0 1 2 3\n")
    source = SystemUtilization(stat)
    assert source() is None  # no time has passed
    # busy += 60 user + 20 system + 10 softirq; idle 80, iowait 10, steal 20; guest fields ignored
    stat.write_text("cpu  160 0 70 880 60 0 10 20 99 99\ncpu0 1 2 3\n")
    assert source() == pytest.approx(90 / 200)
    fds = set(os.listdir("/proc/self/fd"))
    sampler = EstimateSampler(RatedPower(65.0, "given", "test"), "cpu", source)
    sampler.close()  # the file the source keeps open is closed with the sampler
    assert len(set(os.listdir("/proc/self/fd")) - fds) == 0 and len(fds - set(os.listdir("/proc/self/fd"))) == 1
    stat.write_text("cpu  260 0 70 880 60 0 10 20 99 99\n")
    assert source() == pytest.approx(1.0)  # and opened again if it is read after all


def test_real_machine_estimate_is_within_rated_bounds() -> None:
    (sampler,) = EstimateSampler.open("cpu", rated_power_w=50.0)
    deadline = time.monotonic() + 0.3
    while time.monotonic() < deadline:  # keep a core busy
        sum(i * i for i in range(1000))
    reading = sampler.read()
    assert reading.utilization is not None and 0.0 < reading.utilization <= 1.0
    assert 5.0 < reading.power_w <= 50.0
    assert sampler.describe()["utilization"].endswith("(/proc/stat)")


def test_process_share_is_brought_up_to_now(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tick_s = 1.0 / (os.sysconf("SC_CLK_TCK") or 100)
    cpu_s = [10.0]
    monkeypatch.setattr(estimate, "_process_cpu_s", lambda: cpu_s[0])
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 0 0 900 0 0 0 0\n")
    source = SystemUtilization(stat)
    # no poll since: the machine was busy 200 jiffies, this process for half of them
    stat.write_text("cpu  300 0 0 1000 0 0 0 0\n")
    cpu_s[0] += 100 * tick_s
    assert source.process_share() == pytest.approx(0.5)
    assert source.busy_s == pytest.approx(200 * tick_s)


def test_proc_stat_going_away_falls_back_to_process_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cpu_s = [10.0]
    monkeypatch.setattr(estimate, "_process_cpu_s", lambda: cpu_s[0])
    stat = tmp_path / "stat"
    stat.write_text("cpu  100 0 0 900 0 0 0 0\n")
    source = SystemUtilization(stat)
    monkeypatch.setattr(estimate.ProcStat, "times", lambda self: None)  # the file can no longer be read
    assert source() is None  # the fallback's first interval starts here
    cpu_s[0] += 1e6  # far more CPU time than wall time x CPUs: clamped
    assert source() == 1.0
    time.sleep(0.02)
    assert source() == 0.0  # no CPU time since: idle, though /proc/stat is gone
