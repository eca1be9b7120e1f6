"""Quality levels L0-L3 from a result's own evidence; the weakest aspect decides and says why."""

from __future__ import annotations

import pytest

from bench.analysis.scoring.quality import LABELS, assess_quality, weakest
from bench.result.model import Issue
from tests.factories import (
    estimate_channel,
    make_result,
    meter_channel,
    power_only_channel,
    workload,
)

ASPECTS = ["sensor", "energy method", "sampling", "coverage", "idle baseline", "repeats", "meter"]


def _aspect(quality, name):
    return next(a for a in quality.aspects if a.aspect == name)


def test_counter_idle_and_repeats_is_l2_with_every_aspect_listed():
    q = assess_quality(make_result())
    assert q.level == 2 and q.label == LABELS[2]
    assert [a.aspect for a in q.aspects] == ASPECTS
    assert all(a.reason for a in q.aspects)
    assert [a.aspect for a in weakest(q)] == ["meter"]


def test_calibrated_meter_gives_l3():
    q = assess_quality(make_result(channels=[meter_channel()]))
    assert q.level == 3 and _aspect(q, "meter").reason == "calibrated external meter"


def test_estimate_is_l0_whatever_else():
    q = assess_quality(make_result(channels=[estimate_channel()]))
    assert q.level == 0
    assert "estimated" in _aspect(q, "sensor").reason
    assert weakest(q)[0].aspect == "sensor"


def test_power_only_is_l1():
    q = assess_quality(make_result(channels=[power_only_channel()]))
    assert q.level == 1 and "power only" in _aspect(q, "energy method").reason


def test_counter_not_used_in_a_window_is_l1():
    wl = workload(window_kw={"method": "integrated_power"})
    q = assess_quality(make_result(workloads=[wl]))
    assert q.level == 1 and "counter not used" in _aspect(q, "energy method").reason


@pytest.mark.parametrize("rate,level", [(0.5, 0), (None, 0), (1.0, 2), (10.0, 2)])
def test_sampling_rate_floor_is_1_hz(rate, level):
    q = assess_quality(make_result(achieved_rate_hz=rate))
    assert q.level == level
    if level == 0:
        assert weakest(q)[0].aspect == "sampling"


def test_no_idle_baseline_is_l1():
    q = assess_quality(make_result(idle=False))
    assert q.level == 1 and _aspect(q, "idle baseline").reason == "no idle baseline measured"
    assert assess_quality(make_result(idle_clean=False)).level == 1


def test_too_few_repeats_is_l1():
    q = assess_quality(make_result(workloads=[workload(gross_per_unit=[0.1, 0.1])]))
    assert q.level == 1 and "2 repeat(s), fewer than 3" in _aspect(q, "repeats").reason
    assert assess_quality(make_result(workloads=[workload(gross_per_unit=[0.1, 0.1])]), min_repeats=2).level == 2


def test_ci_wider_than_the_bound_is_l1():
    wide = workload(gross_per_unit=[0.08, 0.10, 0.12])  # +/-50% at 2 dof
    q = assess_quality(make_result(workloads=[wide]))
    assert q.level == 1 and "wider than" in _aspect(q, "repeats").reason
    assert assess_quality(make_result(workloads=[wide]), max_ci95_relative=0.6).level == 2


def test_gap_with_counter_is_l1_gap_without_counter_is_l0():
    gap = workload(window_kw={"gaps": 1})
    assert assess_quality(make_result(workloads=[gap])).level == 1
    gap_power = workload(window_kw={"gaps": 2, "method": "integrated_power"})
    q = assess_quality(make_result(workloads=[gap_power], channels=[power_only_channel()]))
    assert q.level == 0 and "part of the window not measured" in _aspect(q, "coverage").reason


def test_counter_reset_and_spoiled_window_are_l1():
    assert assess_quality(make_result(workloads=[workload(window_kw={"resets": 1})])).level == 1
    spoiled = workload(window_kw={"issues": [Issue(code="other_process", message="pid 42 on the GPU")]})
    q = assess_quality(make_result(workloads=[spoiled]))
    assert q.level == 1 and "other_process" in _aspect(q, "coverage").reason


def test_window_under_ten_sensor_updates_is_l1():
    short = workload(duration_s=0.5)
    q = assess_quality(make_result(workloads=[short]))
    assert q.level == 1 and "sensor updates" in _aspect(q, "coverage").reason


def test_missing_window_is_l0():
    wl, windows = workload()
    q = assess_quality(make_result(workloads=[(wl, windows[1:])]))
    assert q.level == 0 and "missing" in _aspect(q, "coverage").reason


def test_nothing_complete_is_l0():
    q = assess_quality(make_result(workloads=[workload(status="failed")]))
    assert q.level == 0 and _aspect(q, "repeats").level == 1


def test_net_basis_checks_the_net_ci():
    # same spread, smaller mean: +/-7.1% of gross (0.102 J) is +/-9.2% of net (gross - 80 W x 12 s / 40,000)
    wl = workload(gross_per_unit=[0.1, 0.1, 0.105])
    assert assess_quality(make_result(workloads=[wl]), basis="gross", max_ci95_relative=0.08).level == 2
    assert assess_quality(make_result(workloads=[wl]), basis="net", max_ci95_relative=0.08).level == 1
