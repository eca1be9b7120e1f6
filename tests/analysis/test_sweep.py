"""The sweep analysis: per-point figures, saving and slowdown with Fieller CIs, the frontier and recommendations."""

import math

import pytest

from bench.analysis.compare import fieller_ratio
from bench.analysis.sweep import LOWEST, WITHIN, analyse, pareto
from bench.result.sweep import load_points, load_sweep
from tests.factories import write_sweep_folder

UNITS = 1000
BASE = (None, [10.0, 10.2, 9.8], [10.0, 10.1, 9.9])
P250 = (250.0, [8.0, 8.1, 7.9], [10.3, 10.4, 10.2])  # -20% energy, +3% time: within a 5% budget
P200 = (200.0, [7.0, 7.1, 6.9], [12.0, 12.1, 11.9])  # -30% energy, +20% time: the lowest energy
P150 = (150.0, [7.5, 7.6, 7.4], [15.0, 15.1, 14.9])  # slower and hungrier than 200 W: off the frontier


def sweep(tmp_path, points, **kw):
    folder, record = load_sweep(write_sweep_folder(tmp_path / "s", points, units=UNITS, **kw))
    results, folders, missing = load_points(folder, record)
    assert missing == []
    return results, folders


def test_saving_and_slowdown_are_ratios_of_means_with_fieller_intervals(tmp_path):
    results, _ = sweep(tmp_path, [BASE, P250, P200, P150])
    ws = analyse(results).workload("gemm")
    p = next(x for x in ws.points if x.label == "01-250W")
    assert p.setting == "power limit 250 W" and not p.baseline and p.power_limit_w == 250.0
    assert p.energy_j == pytest.approx(8.0) and p.time_s == pytest.approx(10.3 / UNITS)
    assert p.saving == pytest.approx(1 - 8.0 / 10.0)
    assert p.slowdown == pytest.approx(10.3 / 10.0 - 1)
    e = fieller_ratio(P250[1], BASE[1])  # point / baseline; the saving's interval is 1 - that, ends swapped
    assert (p.saving_low, p.saving_high) == (pytest.approx(1 - e.high), pytest.approx(1 - e.low))
    t = fieller_ratio([d / UNITS for d in P250[2]], [d / UNITS for d in BASE[2]])
    assert (p.slowdown_low, p.slowdown_high) == (pytest.approx(t.low - 1), pytest.approx(t.high - 1))
    assert p.saving_low < p.saving < p.saving_high and p.slowdown_low < p.slowdown < p.slowdown_high
    base = ws.points[0]
    assert base.baseline and base.saving == 0.0 and base.slowdown == 0.0 and ws.baseline == "00-as-found"


def test_frontier_holds_the_points_nothing_beats_on_both_axes(tmp_path):
    results, _ = sweep(tmp_path, [BASE, P250, P200, P150])
    ws = analyse(results).workload("gemm")
    assert [p.label for p in ws.points if p.on_frontier] == ["00-as-found", "01-250W", "02-200W"]
    assert [p.label for p in pareto(ws.points)] == ["00-as-found", "01-250W", "02-200W"]  # fastest first


def test_recommendations_lowest_energy_and_within_the_slowdown_budget(tmp_path):
    results, _ = sweep(tmp_path, [BASE, P250, P200, P150])
    ws = analyse(results, max_slowdown=0.05).workload("gemm")
    lowest, within = ws.recommendation(LOWEST), ws.recommendation(WITHIN)
    assert (lowest.point, lowest.setting) == ("02-200W", "power limit 200 W")
    assert lowest.saving == pytest.approx(0.30) and lowest.slowdown == pytest.approx(0.20)
    assert lowest.significant and lowest.notes == []
    assert within.point == "01-250W" and within.title == "lowest energy within 5.0% slowdown"
    assert within.saving == pytest.approx(0.20) and within.significant
    # a looser budget lets the 200 W point in
    assert analyse(results, max_slowdown=0.25).workload("gemm").recommendation(WITHIN).point == "02-200W"


def test_no_saving_recommends_the_setting_as_found(tmp_path):
    worse = (250.0, [11.0, 11.1, 10.9], [10.5, 10.6, 10.4])
    results, _ = sweep(tmp_path, [BASE, worse])
    ws = analyse(results).workload("gemm")
    for rec in ws.recommendations:
        assert rec.point == "00-as-found" and not rec.significant
        assert "keep the setting as found" in rec.notes[0]


def test_a_saving_within_the_noise_and_a_slowdown_ci_past_the_budget_are_said(tmp_path):
    noisy = (250.0, [7.0, 11.0, 9.5], [9.6, 10.8, 10.6])  # mean -8.3% energy but the CI reaches 0; +3.3% time
    results, _ = sweep(tmp_path, [BASE, noisy])
    rec = analyse(results, max_slowdown=0.05).workload("gemm").recommendation(WITHIN)
    assert rec.point == "01-250W" and not rec.significant
    assert any("not significant" in n for n in rec.notes)
    assert rec.slowdown_high > 0.05 and any("past the 5.0% budget" in n for n in rec.notes)


def test_net_metric_uses_energy_net_of_the_idle_baseline(tmp_path):
    results, _ = sweep(tmp_path, [BASE, P250])
    gross = analyse(results, metric="gross").workload("gemm").points[1]
    net = analyse(results, metric="net").workload("gemm").points[1]
    idle_w = 50.0  # the factory's idle baseline
    net_point = [(e * UNITS - idle_w * d) / UNITS for e, d in zip(P250[1], P250[2])]
    net_base = [(e * UNITS - idle_w * d) / UNITS for e, d in zip(BASE[1], BASE[2])]
    assert net.saving == pytest.approx(1 - math.fsum(net_point) / math.fsum(net_base))
    assert net.saving != pytest.approx(gross.saving)  # the slower point pays more idle energy per unit


def test_trace_shows_the_power_limit_in_force(tmp_path):
    results, folders = sweep(tmp_path, [BASE, P250])
    ws = analyse(results, folders=folders).workload("gemm")
    p = ws.points[1]
    assert p.observed_power_limit_w == 700.0 and p.mean_clock_mhz == 1500.0  # what the synthetic trace holds
    rec = ws.recommendation(LOWEST)
    assert any("700 W in force, not the 250 W set" in n for n in rec.notes)


def test_as_dict_is_json_safe(tmp_path):
    import json

    results, _ = sweep(tmp_path, [BASE, P250])
    data = analyse(results).as_dict()
    text = json.dumps(data, allow_nan=False)
    assert '"point": "01-250W"' in text and data["workloads"][0]["points"][1]["saving"] == pytest.approx(0.2)
