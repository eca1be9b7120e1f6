import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.analysis.stats import percentile, summarize, t_critical

scipy_stats = pytest.importorskip("scipy.stats")


@pytest.mark.parametrize(("dof", "q"), [(1, 12.7062047), (4, 2.7764451), (30, 2.0422725)])
def test_t_critical_at_95_percent_matches_the_printed_table(dof, q):
    assert t_critical(0.95, dof) == pytest.approx(q, rel=1e-7)


def test_summarize_ci_matches_independent_computation():
    xs = [10.0, 12.0, 11.0, 13.5, 9.5]
    s = summarize(xs)
    mean = sum(xs) / 5
    std = math.sqrt(sum((x - mean) ** 2 for x in xs) / 4)
    half = scipy_stats.t.ppf(0.975, 4) * std / math.sqrt(5)
    assert s["mean"] == pytest.approx(mean)
    assert s["std"] == pytest.approx(std)
    assert s["ci95_low"] == pytest.approx(mean - half)
    assert s["ci95_high"] == pytest.approx(mean + half)
    assert s["n"] == 5


def test_single_value_has_no_interval_and_none_is_ignored():
    s = summarize([None, 4.0, float("nan")])
    assert s["mean"] == 4.0 and s["n"] == 1
    assert s["std"] is None and s["ci95_low"] is None


@settings(max_examples=50, deadline=None)
@given(st.lists(st.floats(min_value=-1e6, max_value=1e6), min_size=2, max_size=30))
def test_ci_contains_mean_and_is_symmetric(xs):
    s = summarize(xs)
    assert s["ci95_low"] <= s["mean"] + 1e-6 and s["mean"] <= s["ci95_high"] + 1e-6
    assert (s["mean"] - s["ci95_low"]) == pytest.approx(s["ci95_high"] - s["mean"], abs=1e-6)


def test_percentile():
    xs = [1.0, 2.0, 3.0, 4.0]
    assert percentile(xs, 50) == 2.5
    assert percentile(xs, 100) == 4.0
    assert percentile([], 50) is None
