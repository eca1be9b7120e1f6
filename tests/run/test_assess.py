"""What the end of a run records: readings the rated power rules out spoil their windows, a declared counter that
gives nothing is an issue, and the sanity findings are in the result and shown by show, score and the report."""

from __future__ import annotations

from typing import Any

import pytest

from bench import plugins
from bench.analysis.sanity import sanity_issues
from bench.clock import SimClock
from bench.conformance.fake_nvml import FakeNvml
from bench.result.io import load_result, write_result
from bench.run.assess import assess
from bench.samplers.base import Availability, Capabilities, PowerKind, Reading, Sampler, Scope
from tests.factories import estimate_channel, make_result, workload
from tests.support.simrun import simulated_run

H100 = "NVIDIA H100 80GB HBM3"


class FixedPower(Sampler):
    """A GPU plugin that reports a fixed power (W), with or without an energy counter it declares."""

    name = "fixedpower"
    power_w = 300.0
    counter = False

    def __init__(self, device: str) -> None:
        self.channel = device
        self.capabilities = Capabilities(energy_counter=type(self).counter, power=PowerKind.INSTANT, scope=Scope.GPU,
                                         update_period_s=0.01)

    @classmethod
    def is_available(cls, device: str) -> Availability:
        return Availability(device.startswith("cuda:"), "cuda devices only")

    @classmethod
    def open(cls, device: str, **options: Any) -> list[Sampler]:
        return [cls(device)]

    def read(self) -> Reading:
        return Reading(power_w=type(self).power_w, temperature_c=40.0, clock_mhz=1500.0)


@pytest.fixture
def fixed_power():
    plugins.register("samplers", "fixedpower", FixedPower)
    yield FixedPower
    plugins.unregister("samplers", "fixedpower")
    FixedPower.power_w, FixedPower.counter = 300.0, False


def run(tmp_path, watts: float, counter: bool = False):
    FixedPower.power_w, FixedPower.counter = watts, counter
    clock = SimClock()
    return simulated_run(tmp_path, FakeNvml.of(H100, clock=clock), clock, sampler="fixedpower")


def test_milliwatts_read_as_watts_spoil_every_window(tmp_path, fixed_power):
    result = run(tmp_path, 300_000.0)  # 300 W reported in mW, on a 700 W part
    assert result.status == "complete"
    assert result.windows and not any(w.clean for w in result.windows)
    repeat = next(w for w in result.windows if w.name == "ticking/repeat.1")
    (issue,) = [i for i in repeat.issues if i.code == "over_rated_peak"]
    assert "a reading of 300000 W is over 2 x the rated 700 W (profile nvidia-h100-sxm)" in issue.message
    assert "unit slip (mW as W?)" in issue.message
    wl = result.workload("ticking")
    assert not any(r.clean for r in wl.repeats) and wl.aggregate.gross_energy_j.n == 0
    assert result.idle is not None and not result.idle.clean
    (summary,) = [i for i in result.issues if i.code == "over_rated_peak"]
    assert summary.severity == "error" and summary.message.startswith(f"{len(result.windows)} window(s) not clean")
    assert result.quality.level <= 1


def test_energy_over_rated_power_times_time_spoils_the_window(tmp_path, fixed_power):
    result = run(tmp_path, 900.0)  # under 2 x 700 W at every reading, but 1.29 x rated on average
    codes = {i.code for w in result.windows for i in w.issues}
    assert "over_rated_energy" in codes and "over_rated_peak" not in codes
    assert not any(w.clean for w in result.windows)


def test_a_plausible_power_is_left_alone(tmp_path, fixed_power):
    result = run(tmp_path, 650.0)
    assert all(w.clean for w in result.windows)
    assert not {"over_rated_peak", "over_rated_energy"} & {i.code for i in result.issues}


def test_a_declared_counter_that_gives_nothing_is_recorded(tmp_path, fixed_power):
    result = run(tmp_path, 300.0, counter=True)
    repeat = next(w for w in result.windows if w.name == "ticking/repeat.1")
    assert repeat.channels[0].method == "integrated_power"
    (issue,) = [i for i in repeat.issues if i.code == "counter_missing"]
    assert "declares an energy counter but gave no counter reading" in issue.message
    (summary,) = [i for i in result.issues if i.code == "counter_missing"]
    assert summary.message.startswith(f"{len(result.windows)} window(s): ")
    method = next(a for a in result.quality.aspects if a.aspect == "energy method")
    assert method.level == 1 and "counter not used" in method.reason


# --- sanity findings of the figures ----------------------------------------------------------------


def codes(result) -> list[str]:
    return [i.code for i in sanity_issues(result)]


def test_negative_net_energy_and_a_ci_below_zero_are_issues():
    # 3 repeats near idle power: net energy scattered around zero
    wl = workload(gross_per_unit=[0.0235, 0.0240, 0.0242], idle_power_w=80.0)
    result = make_result(workloads=[wl])
    found = sanity_issues(result)
    assert [i.code for i in found] == ["net_energy_not_positive", "ci_below_zero", "idle_near_load"]
    assert "mean net energy" in found[0].message and found[0].severity == "error"
    assert "95% CI of net J/token reaches" in found[1].message and "(n=3)" in found[1].message


def test_idle_within_ten_percent_of_load_is_flagged_and_not_beyond():
    near = make_result(workloads=[workload(gross_per_unit=[0.0264] * 3)])  # 88 W loaded, idle 80 W: 90.9%
    assert codes(near) == ["idle_near_load"]
    assert "idle power 80 W is 90.9% of the loaded 88 W" in sanity_issues(near)[0].message
    far = make_result(workloads=[workload(gross_per_unit=[0.0270] * 3)])  # 90 W: 88.9%
    assert codes(far) == []


def test_an_estimate_polluted_by_other_processes_is_an_issue():
    channel = estimate_channel()
    channel.describe.update(process_cpu_share=0.21, busy_cpu_s=40.0)
    result = make_result(channels=[channel])
    (issue,) = sanity_issues(result)
    assert issue.code == "estimate_polluted" and "used 21% of the busy CPU time" in issue.message
    channel.describe.update(process_cpu_share=0.8)
    assert codes(make_result(channels=[channel])) == []


def test_findings_are_recorded_at_the_end_of_a_run_and_shown(cli, tmp_path):
    result = make_result(workloads=[workload(gross_per_unit=[0.0235, 0.0240, 0.0242])])
    assess(result, tmp_path)  # no trace here: validity is reported as not run, the rest is recorded
    assert {"net_energy_not_positive", "ci_below_zero", "idle_near_load"} <= {i.code for i in result.issues}
    write_result(result, tmp_path)
    shown = cli("show", str(tmp_path)).out
    assert "error: net_energy_not_positive" in shown and "(found now)" not in shown
    scored = cli("score", str(tmp_path)).out
    assert "error: net_energy_not_positive" in scored and "warning: ci_below_zero" in scored
    old = make_result(workloads=[workload(gross_per_unit=[0.0235, 0.0240, 0.0242])], run_id="old")
    folder = tmp_path / "old"
    folder.mkdir()
    write_result(old, folder)  # written before these checks existed: nothing recorded
    assert load_result(folder).issues == []
    assert "net_energy_not_positive" in cli("show", str(folder)).out and "(found now)" in cli("show", str(folder)).out
