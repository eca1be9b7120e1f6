"""The validity checks conformance needs: named by the standard, re-run by `bench check` by default, and a correct
counter never fails counter-vs-power because the power reading is a lagging average (uncorrected averages are not
compared; corrected ones are, with their bounds: tests/analysis/test_sensor_bounds.py)."""

from __future__ import annotations

import pytest

from bench.analysis.validity import check_validity
from bench.result.io import load_result, write_result
from bench.result.model import ChannelEnergy
from tests.factories import passing_validity, write_result_folder


def folder_with_counter(tmp_path, apart: float, power: str = "instant", window_s: float = 10.0):
    """A conforming gemm folder whose repeat windows carry a counter and integrated power ``apart`` (relative)
    from it; its recorded validity checks (as the run wrote them) all pass."""
    folder = write_result_folder(tmp_path / f"{power}-{apart}", [1.1, 1.1, 1.1], duration_s=window_s,
                                 run_id=f"r{power}{apart}".replace(".", ""))
    r = load_result(folder)
    caps = r.measurement.channels[0].capabilities
    caps["power"] = power
    caps["power_average_window_s"] = 1.0 if power == "averaged" else 0.0
    for w in r.windows:
        if "/repeat." in w.name:
            w.channels = [ChannelEnergy(channel="nvml:0", energy_j=w.energy_j, method="counter",
                                        integrated_energy_j=w.energy_j * (1 - apart), samples=w.samples,
                                        mean_power_w=w.mean_power_w, peak_power_w=w.peak_power_w)]
    r.validity = passing_validity()
    write_result(r, folder)
    return folder


def counter_checks(folder):
    return [c for c in check_validity(load_result(folder), folder) if c.check == "counter_vs_power"]


def test_a_counter_apart_from_instant_power_fails(tmp_path):
    checks = counter_checks(folder_with_counter(tmp_path, 0.058))
    assert len(checks) == 3 and not any(c.ok for c in checks)
    assert checks[0].limit == pytest.approx(0.05) and "5.80% apart, tolerance 5%" in checks[0].detail


def test_an_uncorrected_lagging_average_never_fails_a_correct_counter(tmp_path):
    # an averaged integral recorded without its lag corrected (no power_correction) lags the counter by up to
    # half the averaging window of power: it is not compared at all (the corrected case: test_sensor_bounds)
    assert counter_checks(folder_with_counter(tmp_path, 0.058, power="averaged")) == []
    assert len(counter_checks(folder_with_counter(tmp_path, 0.058, power="instant"))) == 3


def test_short_windows_of_an_averaged_reading_are_not_compared(tmp_path):
    assert counter_checks(folder_with_counter(tmp_path, 0.3, power="averaged", window_s=5.0)) == []


def test_bench_check_reruns_the_required_checks_by_default(cli, tmp_path):
    folder = folder_with_counter(tmp_path, 0.08)
    res = cli("check", str(folder))
    assert res.code == 1
    assert "  - run: validity.counter_vs_power: expected pass, got failed: gemm/repeat.1: nvml:0: counter" in res.out
    assert "(+2 more)" in res.out
    recorded = cli("check", "--no-validity", str(folder))  # judged by what the run recorded
    assert recorded.code == 0 and "PASS" in recorded.out
    good = folder_with_counter(tmp_path, 0.01)
    assert cli("check", str(good)).code == 0


def test_the_standard_names_the_checks_and_a_missing_trace_fails_them(cli, std, tmp_path):
    assert set(std.rules.validity_checks) == {"trace_coverage", "sample_rate", "counter_vs_power",
                                              "power_within_limit", "telemetry_recorded", "idle_stable"}
    folder = folder_with_counter(tmp_path, 0.01)
    (folder / "trace.parquet").unlink()
    res = cli("check", str(folder))
    assert res.code == 1 and "validity.trace_coverage: expected pass, got failed: could not re-run" in res.out
