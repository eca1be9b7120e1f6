"""Other tenants, MIG and throttling are checked at every window edge: each spoils exactly the windows whose edges
see it, with the reason, and the result's coverage drops to L1 as docs/standard.md says. The runner runs on a
simulated clock (the fake NVML and a workload that advances it), so which edges see a condition is exact."""

from __future__ import annotations

import pytest

from bench.clock import SimClock
from bench.conformance.fake_nvml import Episode, FakeGpu, FakeNvml
from tests.support.simrun import simulated_run

H100 = "NVIDIA H100 80GB HBM3"


def run_with(folder, episodes):
    """A whole run on one fake H100 at 300 W: 2 s idle, warm-up, three 2 s repeats; the result."""
    clock = SimClock()
    nvml = FakeNvml([FakeGpu(H100, power=300.0, episodes=episodes)], clock)
    return simulated_run(folder, nvml, clock), nvml


def seconds(nvml, t_ns):
    return (t_ns - nvml._t0_ns) / 1e9


CASES = {
    "other process": (Episode("process", value=424242), "other_processes", "pid 424242"),
    "throttling": (Episode("throttle", value=0x40), "throttled", "HwThermalSlowdown"),
    "MIG": (Episode("mig"), "mig_enabled", "MIG mode"),
}


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    result, _ = run_with(tmp_path_factory.mktemp("clean"), [])
    return result


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_condition_spoils_exactly_the_windows_whose_edges_see_it(tmp_path, clean, case):
    template, code, words = CASES[case]
    assert all(w.clean for w in clean.windows) and clean.quality.level == 2
    repeats = {w.name: w for w in clean.windows if "/repeat." in w.name}
    edge_s = (repeats["ticking/repeat.2"].t_start_ns - clean.windows[0].t_start_ns) / 1e9
    assert 6.0 <= edge_s < 7.0  # 2 s idle, two 1 s warm-up blocks, repeat.1 (+ the edges' refresh waits): repeat.2
    # the same run again, with the condition present across that one edge (and no other)
    episode = Episode(template.kind, after_s=edge_s - 0.5, until_s=edge_s + 0.5, value=template.value)
    result, nvml = run_with(tmp_path / "spoiled", [episode])

    def seen(t_ns):
        return episode.active(seconds(nvml, t_ns))

    spoiled = {w.name for w in result.windows if not w.clean}
    assert spoiled == {"ticking/repeat.1", "ticking/repeat.2"}, [(w.name, seconds(nvml, w.t_start_ns)) for w in
                                                                  result.windows]
    for w in result.windows:
        if "/repeat." in w.name:
            assert (not w.clean) == (seen(w.t_start_ns) or seen(w.t_end_ns)), w.name
    for name in spoiled:
        w = next(x for x in result.windows if x.name == name)
        (issue,) = [i for i in w.issues if i.code == code]
        assert words in issue.message and issue.window == name
    wl = result.workload("ticking")
    assert [r.clean for r in wl.repeats] == [False, False, True]
    assert wl.aggregate.gross_energy_j.n == 1  # the spoiled repeats leave the aggregate
    coverage = next(a for a in result.quality.aspects if a.aspect == "coverage")
    assert coverage.level == 1 and code in coverage.reason and result.quality.level == 1
    run_level = [i for i in result.issues if i.code == code]
    assert len(run_level) == 1 and run_level[0].window == "ticking/repeat.1"
