"""The conformance kit: it passes the built-in samplers (on their fakes) and the example plugin, and
fails deliberately broken samplers naming the right check."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from bench.clock import SimClock
from bench.conformance.checks import SAMPLER_CHECKS
from bench.conformance.core import ConformanceFailure, DrivenClock
from bench.conformance.device import run_device_conformance
from bench.conformance.kit import assert_conformance, run_conformance
from tests import ROOT
from tests.support.broken_plugins import samplers as broken

EXAMPLE = ROOT / "examples" / "bench-plugin-acme"


@pytest.fixture(scope="module")
def acme_installed():
    from tests.support.acme import ensure_acme_installed

    ensure_acme_installed()


# --- built-in samplers on their fakes ------------------------------------------------------------


@pytest.mark.parametrize("name", ["nvml", "rapl", "estimate", "replay", "amdsmi"])
def test_kit_passes_every_builtin_sampler_on_its_fake(name):
    start = time.monotonic()
    report = run_conformance(name, fake=True)
    took = time.monotonic() - start
    assert report.ok, report.format_table()
    assert report.mode == "fake" and report.package.startswith("bench ")
    assert [c.name for c in report.checks] == list(SAMPLER_CHECKS)
    assert took < 10.0  # a few seconds per sampler at most (simulated clocks), even on a busy machine
    window = report.check("meter_window").figures
    for channel_figures in (v for v in window.values() if isinstance(v, dict)):
        # the meter places a coarse counter's edges on its refreshes; what it cannot place it states as a bound
        assert channel_figures["bound_relative"] < 0.005
        assert channel_figures["relative_difference"] <= 1e-6 + channel_figures["bound_relative"]


def test_kit_figures_for_nvml_match_the_simulated_gpu():
    report = run_conformance("nvml", fake=True)
    units = report.check("units").figures
    assert units["rated_source"] == "hardware profile nvidia-h100-sxm" and units["bound_w"] == 1400.0
    assert units["max_power_w"] == pytest.approx(300.0)
    energy = report.check("energy_consistency").figures
    assert energy["counter_j"] == pytest.approx(300.0 * energy["span_s"], rel=1e-3)
    assert energy["relative_difference"] < 1e-3
    assert report.check("errors").figures["gpu_lost"] == "SamplerDeviceLost"
    assert report.check("read_latency").figures["p50_ms"] < 10.0


def test_kit_says_which_checks_do_not_apply_and_why():
    rapl = run_conformance("rapl", fake=True)  # counters only: nothing to compare them with
    na = {c.name: c.message for c in rapl.not_applicable}
    assert list(na) == ["timestamps", "energy_consistency"] and not rapl.skipped
    assert "power is none" in na["energy_consistency"]
    assert rapl.ok and rapl.verdict == "PASS" and rapl.summary().startswith("PASS (2 not applicable")
    estimate = run_conformance("estimate", fake=True)
    assert {c.name for c in estimate.not_applicable} == {"timestamps", "monotonic", "energy_consistency"}


def test_without_device_or_fake_the_report_is_incomplete_not_a_pass():
    report = run_conformance(broken.GoodSim, fake=False)
    assert report.mode == "absent"
    assert [c.name for c in report.checks if c.status != "skip"] == ["contract", "is_available"]
    assert "no device here and no fake" in report.check("open").message
    assert not report.failed and not report.ok and report.verdict == "INCOMPLETE"
    assert report.summary().startswith("INCOMPLETE: 12 check(s) skipped, no evidence for them: open, read_latency")
    assert report.to_dict()["ok"] is False and report.to_dict()["verdict"] == "INCOMPLETE"


# --- the example plugin, through its real entry point --------------------------------------------


def test_kit_passes_the_example_plugin(acme_installed):
    report = run_conformance("acme")  # auto: no Acme board here, so its own fake
    assert report.ok, report.format_table()
    assert report.mode == "fake" and report.package == "bench-plugin-acme 0.1.0"
    assert report.check("energy_consistency").figures["relative_difference"] < 0.02
    device = run_device_conformance("acme")
    assert device.ok, device.format_table()
    assert device.check("identity").figures["pci_bus_id"] == "0000:41:00.0"


def test_the_example_plugins_own_tests_pass_through_the_pytest_plugin(acme_installed, tmp_path):
    out = tmp_path / "conformance.json"
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--bench-conformance-json={out}",
         # its device-kit test imports torch (seconds); that kit runs in-process above
         "-k", "not device_backend", str(EXAMPLE / "tests")], cwd=EXAMPLE, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
    reports = json.loads(out.read_text())
    assert {r["target"] for r in reports} >= {"acme"} and all(r["ok"] for r in reports)


# --- deliberately broken samplers ----------------------------------------------------------------


@pytest.mark.parametrize("cls,check,words", [
    (broken.BackwardsCounter, "monotonic", "went backwards"),
    (broken.MilliwattPower, "units", "1000x too large"),
    (broken.NanPower, "units", "NaN"),
    (broken.SlowRead, "read_latency", "too slow"),
    (broken.RaisingAvailable, "is_available", "raised RuntimeError"),
    (broken.LyingCapabilities, "capabilities", "declares an energy counter"),
    (broken.WrongErrors, "errors", "not a SamplerError"),
])
def test_kit_fails_broken_plugins_naming_the_check(cls, check, words):
    report = run_conformance(cls)
    failed = {c.name: c.message for c in report.failed}
    assert check in failed, report.format_table()
    assert words in failed[check]
    assert report.check("contract").status == "pass"  # the class itself is well formed
    assert report.check("open").status == "pass"


def test_kit_passes_the_unspoiled_base_of_the_broken_plugins():
    report = assert_conformance(broken.GoodSim)
    assert report.check("errors").figures["device_lost"] == "SamplerDeviceLost"


def test_a_hanging_read_is_cut_off_and_the_rest_skipped():
    broken.HangingRead.release.clear()
    start = time.monotonic()
    try:
        report = run_conformance(broken.HangingRead, timeout_s=2.0)
    finally:
        broken.HangingRead.release.set()
    assert time.monotonic() - start < 8.0
    assert [c.name for c in report.failed] == ["read_latency"]
    assert "did not finish within 2 s" in report.check("read_latency").message
    assert report.check("meter_window").status == "skip"


def test_a_slow_sampler_is_not_read_for_long():
    start = time.monotonic()
    report = run_conformance(broken.SlowRead)
    assert time.monotonic() - start < 8.0  # 1 s of timed reads, then the slow sampler is left alone
    figures = report.check("read_latency").figures
    assert 25.0 < figures["p50_ms"] < 200.0 and figures["period_ms"] == 10.0
    assert report.check("meter_window").status == "skip"


# --- the two ways in: assert function and pytest fixture -----------------------------------------


def test_assert_conformance_raises_with_the_table():
    with pytest.raises(ConformanceFailure) as err:
        assert_conformance(broken.MilliwattPower)
    assert "FAIL  units" in str(err.value) and err.value.report.check("units").status == "fail"
    data = err.value.report.to_dict()
    assert json.loads(json.dumps(data))["ok"] is False


def test_pytest_fixture_runs_the_kit(bench_conformance):
    report = bench_conformance("replay", fake=True)
    assert report.ok and report.check("monotonic").figures["backwards_steps"] == 0
    with pytest.raises(ConformanceFailure):
        bench_conformance(broken.NanPower)
    assert bench_conformance(broken.NanPower, allow_fail=True).check("units").status == "fail"


def test_unknown_sampler_is_reported_not_raised():
    report = run_conformance("no-such-sampler")
    assert not report.ok and "unknown sampler" in report.check("contract").message
    assert all(c.status == "skip" for c in report.checks[1:])


def test_driven_clock_tells_listeners_the_new_time():
    clock, seen = DrivenClock(), []
    clock.on_advance(seen.append)
    clock.sleep(0.25)
    clock.advance(0.5)
    assert seen == [250_000_000, 750_000_000]
    assert isinstance(clock, SimClock) and clock.simulated


# --- what the kit must not let through -----------------------------------------------------------


def test_wall_clock_timestamps_fail_the_timestamps_check():
    report = run_conformance(broken.WallClockStamps)
    check = report.check("timestamps")
    assert check.status == "fail" and "wall clock (time.time_ns)" in check.message
    assert abs(check.figures["largest_offset_s"]) > 1e6  # decades of wall clock against a simulated clock
    assert report.check("timestamps").figures["stamped"] > 0 and not report.ok


@pytest.mark.parametrize("cls,words", [
    (broken.WrongSubclass, "raised SamplerUnavailable (the board is not there); the contract names SamplerDeviceLost"),
    (broken.BareError, "raised SamplerError (something went wrong); the contract names SamplerDeviceLost"),
])
def test_fault_checks_want_the_subclass_the_contract_names(cls, words):
    report = run_conformance(cls)
    failed = {c.name: c.message for c in report.failed}
    assert list(failed) == ["errors"] and words in failed["errors"], report.format_table()


def test_an_absent_device_of_the_plugins_own_type_is_tried():
    report = run_conformance(broken.AnyIndex)
    failed = {c.name: c.message for c in report.failed}
    assert "says yes for a device of its own type that does not exist" in failed["is_available"]
    assert "open('sim:9999') succeeded where it must raise SamplerUnavailable" in failed["errors"]
    assert report.check("errors").figures["absent_own_type"] == "no error"


@pytest.fixture
def goodsim_registered():
    from bench import plugins

    plugins.register("samplers", "goodsim", broken.GoodSim)
    yield
    plugins.unregister("samplers", "goodsim")


def test_a_named_absent_device_fails_instead_of_checking_the_fake(cli, goodsim_registered):
    report = run_conformance("goodsim", device="sim:7")
    assert report.mode == "absent" and report.verdict == "FAIL"
    assert "does not fall back to the plugin's fake" in report.check("device").message
    res = cli("plugins", "check", "goodsim", "--device", "sim:7")
    assert res.code == 1 and "goodsim: FAIL: device" in res.out
    res = cli("plugins", "check", "nvml", "--device", "cuda:7")  # no GPU here: was the fake and PASS
    assert res.code == 1 and "nvml: FAIL: device" in res.out
    res = cli("plugins", "check", "goodsim", "--device", "sim:7", "--fake")  # asked for: the fake it is
    assert res.code == 0 and "goodsim: PASS" in res.out


def test_skipped_checks_are_not_a_pass_on_the_command_line(cli, goodsim_registered):
    res = cli("plugins", "check", "goodsim", "--no-fake")
    assert res.code == 1 and "goodsim: INCOMPLETE: 12 check(s) skipped" in res.out
    assert "PASS" not in res.out.splitlines()[-1]


def test_the_device_kit_fails_a_named_absent_device():
    report = run_device_conformance("cpu", device="cpu:7")
    assert report.verdict == "FAIL" and "cpu:7 is not present (probe found cpu)" in report.check("device").message
    assert report.check("open").status == "skip"
