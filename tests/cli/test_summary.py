"""The summary `bench run` and `bench show` print, drawn at 80 columns as a terminal would: no number wraps,
every figure says it is a 95% CI over n repeats, each fact is said once, and every missing grade says why."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from bench.analysis.scoring.quality import assess_quality
from bench.cli.show import ci_text, print_summary
from tests.factories import estimate_channel, make_result, workload


def draw(result, width: int = 80) -> str:
    out = io.StringIO()
    print_summary(result, None, Console(file=out, width=width, color_system=None, force_terminal=False))
    return out.getvalue()


def numbers_of(result) -> list[tuple[str, str]]:
    """(mean, CI text) of every figure the summary shows, as it formats them."""
    from bench.cli.show import _fmt

    out = []
    for w in result.workloads:
        for field in ("throughput", "energy_per_unit_j", "gross_energy_per_unit_j", "mean_power_w"):
            stat = getattr(w.aggregate, field, None) if w.aggregate else None
            if stat is not None and stat.mean is not None:
                out.append((_fmt(stat.mean), ci_text(stat.ci95_relative, stat.n)))
    return out


@pytest.fixture
def graded():
    """A conforming H100 result: llm-decode gets a letter."""
    result = make_result()
    result.quality = assess_quality(result)
    return result


@pytest.fixture
def mixed():
    """An H100 result with a second workload in a unit and preset the standard does not grade (so the run does
    not conform, and nothing is graded) and a third that failed (no figures)."""
    failed, _ = workload("llm-prefill", gross_per_unit=[], status="failed")
    failed.reason = "OutOfMemoryError: out of memory on cuda:0"
    result = make_result(workloads=[workload(), workload("bert-infer", unit="sequence", preset="smoke",
                                                         gross_per_unit=[0.0500, 0.0505, 0.0498]),
                                    (failed, [])])
    result.quality = assess_quality(result)
    return result


@pytest.fixture
def estimated():
    """A CPU estimate: quality L0, so nothing is graded."""
    result = make_result(channels=[estimate_channel()], device_type="cpu", device_name="AMD EPYC",
                         workloads=[workload("gemm", unit="matmul", gross_per_unit=[0.0301, 0.0412, 0.0255])])
    result.quality = assess_quality(result)
    return result


@pytest.mark.parametrize("name", ["graded", "mixed", "estimated"])
def test_no_line_passes_80_columns_and_no_number_wraps(request, name):
    result = request.getfixturevalue(name)
    text = draw(result)
    lines = text.splitlines()
    assert all(len(line) <= 80 for line in lines), max(lines, key=len)
    for mean, ci in numbers_of(result):  # each figure and its CI whole, on one line
        assert any(mean in line and ci in line for line in lines), (mean, ci, text)
    assert re.search(r"±\d+\.\d% \(95% CI, n=3\)", text)


def test_a_grade_is_in_its_workload_title(graded):
    text = draw(graded)
    assert re.search(r"^llm-decode: complete, grade [A-G] *$", text, re.M)
    assert "ungraded" not in text


def test_every_missing_grade_says_why(mixed):
    text = draw(mixed)
    assert "llm-decode: complete, ungraded" in text and "bert-infer: complete, ungraded" in text
    assert re.search(r"^ungraded under clause7-\d{4}\.\d+: does not conform: bert-infer: unit", text, re.M)
    assert re.search(r"\bungraded under clause7-\d{4}\.\d+: unit sequence: .* preset smoke: ",
                     " ".join(text.split()))
    flat = " ".join(text.split())
    assert "llm-prefill: failed: OutOfMemoryError: out of memory on cuda:0: no figures, no grade" in flat
    assert "n/a" not in text


def test_each_fact_is_said_once(estimated):
    text = draw(estimated)
    quality = [line for line in text.splitlines() if line.startswith("quality:")]
    assert quality and quality[0].startswith("quality: L0 estimated: sensor: ")
    assert "L0 (L0" not in text
    weak = "estimated, no sensor"
    assert text.count(weak) == 1  # in the quality line, not again in the reason there is no grade
    assert re.search(r"^ungraded under clause7-\d{4}\.\d+: quality L0 is below L2$", text, re.M)
    assert "gemm: complete, ungraded" in text
