"""The standard file: it loads, broken copies are refused, versions sort, and every band edge grades right."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest

from bench.analysis.scoring import standard as S
from bench.analysis.scoring.score import score_result
from bench.analysis.scoring.standard import (
    GRADES,
    list_standards,
    load_standard,
    load_standard_file,
)
from bench.errors import ConfigError, UsageError
from bench.result.io import load_result, write_result
from tests.analysis.scoring import assert_refused
from tests.factories import make_result, workload

SHIPPED = sorted(S.SHIPPED_DIR.glob("*.toml"))
SUITE = ("gemm", "resnet50-infer", "resnet50-train", "bert-infer", "llm-prefill", "llm-decode", "llm-train")
EPS = 1e-6


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_standard_loads(path):
    s = load_standard_file(path)
    assert s.id == path.stem
    assert s.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert s.rules.min_quality_level >= 1  # an L0 estimate can never conform
    for name, rule in s.workloads.items():
        assert [b.grade for b in rule.bands] == list(GRADES), name
        assert all(b.rationale and b.sources for b in rule.bands[:-1]), name


def test_default_is_the_newest_clause7_and_covers_the_suite(std):
    assert std.id == "clause7-2025.2"
    assert set(SUITE) <= set(std.workloads)
    assert std.workloads["gemm"].metric == "flops_per_joule" and std.workloads["gemm"].direction == "higher"
    assert all(std.workloads[w].metric == "energy_per_unit_j" for w in SUITE if w != "gemm")
    assert std.reported.per_units == 1000 and std.reported.graded is False


def test_lookup_by_id_version_and_path(std, tmp_path):
    assert load_standard("clause7-2025.2").sha256 == std.sha256
    assert load_standard("2025.2").sha256 == std.sha256
    old = load_standard("2025.1")  # earlier versions stay loadable, so earlier results still score under them
    assert old.id == "clause7-2025.1" and old.sha256 != std.sha256
    copy = tmp_path / "mine.toml"
    copy.write_bytes(Path(std.path).read_bytes())
    assert load_standard(str(copy)).sha256 == std.sha256
    with pytest.raises(UsageError, match=r"unknown standard '1999\.1'; choices: clause7-2025\.1, clause7-2025\.2"):
        load_standard("1999.1")


def test_versions_sort_numerically_and_newest_is_default(tmp_path, monkeypatch):
    text = Path(load_standard("2025.1").path).read_text()
    for version in ("2025.1", "2025.9", "2025.10", "2024.3"):
        body = text.replace('id = "clause7-2025.1"', f'id = "clause7-{version}"').replace(
            'version = "2025.1"', f'version = "{version}"')
        (tmp_path / f"clause7-{version}.toml").write_text(body)
    monkeypatch.setattr(S, "SHIPPED_DIR", tmp_path)
    assert [s.version for s in S.shipped_standards()] == ["2024.3", "2025.1", "2025.9", "2025.10"]
    assert load_standard().version == "2025.10"
    rows = list_standards()
    assert [r["default"] for r in rows] == [False, False, False, True]


def test_shipped_file_name_must_match_its_id(tmp_path, monkeypatch):
    (tmp_path / "clause7-2030.1.toml").write_text(Path(load_standard().path).read_text())
    monkeypatch.setattr(S, "SHIPPED_DIR", tmp_path)
    with pytest.raises(ConfigError, match=r"clause7-2030\.1\.toml: id: 'clause7-2025\.2' does not match"):
        load_standard()


def _sub(pattern: str, repl: str, count: int = 1):
    def edit(text: str) -> str:
        new, n = re.subn(pattern, repl, text, count=count, flags=re.M)
        assert n, pattern
        return new
    return edit


BREAKAGES = {
    "not geometric": (_sub(r"^edge = 0\.064$", "edge = 0.07"), "workloads.llm-decode", "geometric"),
    "edges out of order": (_sub(r"^edge = 0\.064$", "edge = 0.02"), "workloads.llm-decode", "must be above"),
    "band missing": (_sub(r'^\[\[workloads\.gemm\.bands\]\]\ngrade = "G"\n.*\n.*\n', ""), "workloads.gemm",
                     "bands must be exactly A, B, C, D, E, F, G"),
    "L0 allowed": (_sub(r"^min_quality_level = 2$", "min_quality_level = 0"), "rules.min_quality_level",
                   "greater than or equal to 1"),
    "unknown metric": (_sub(r'^metric = "flops_per_joule"$', 'metric = "tokens_per_watt"'),
                       "workloads.gemm.metric", "Input should be"),
    "unknown basis": (_sub(r'^basis = "gross"$', 'basis = "both"'), "workloads.gemm.basis", "Input should be"),
    "id mismatch": (_sub(r'^id = "clause7-2025\.(\d+)"$', 'id = "clause7-2030.9"'), "id", "must be 'clause7-2025."),
    "typo field": (_sub(r"^min_repeats = 3$", "min_repeat = 3"), "rules.min_repeat", "unknown field"),
    "bad toml": (_sub(r"^\[rules\]$", "[rules"), "(toml)", "line"),
    "negative edge": (_sub(r"^edge = (0\.0045|0\.005)$", r"edge = -\1"), "workloads.llm-prefill.bands.0.edge",
                      "greater than 0"),
    "edge on G": (_sub(r'^grade = "G"$', 'grade = "G"\nedge = 99.0'), "workloads.gemm", "takes no edge"),
}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_broken_copy_is_refused_with_file_field_problem(path, breakage, tmp_path):
    edit, field, problem = BREAKAGES[breakage]
    bad = tmp_path / path.name
    bad.write_text(edit(path.read_text()))
    assert_refused(load_standard_file, bad, field, problem)


# --- grades on both sides of every edge ---------------------------------------------------------


def _edges():
    std = load_standard()
    for name, rule in std.workloads.items():
        for i, band in enumerate(rule.bands[:-1]):
            yield name, band.grade, GRADES[i + 1], band.edge


@pytest.mark.parametrize("name,grade,next_grade,edge", list(_edges()), ids=lambda v: str(v))
def test_both_sides_of_every_edge(std, name, grade, next_grade, edge):
    rule = std.workloads[name]
    better, worse = (edge * (1 - EPS), edge * (1 + EPS))
    if rule.direction == "higher":
        better, worse = worse, better
    assert rule.grade(edge) == grade  # on the edge: the better grade
    assert rule.grade(better) == grade
    assert rule.grade(worse) == next_grade


@pytest.mark.parametrize("name,grade,next_grade,edge", list(_edges()), ids=lambda v: str(v))
def test_scored_result_gets_the_grade_on_both_sides(std, profiles, name, grade, next_grade, edge):
    """Through the whole scoring path, from a result's gross energy per unit."""
    rule = std.workloads[name]
    flops = 2 * 8192**3
    for factor, expected in ((1 - EPS, grade), (1 + EPS, next_grade)):
        if rule.direction == "higher":
            value = edge / factor  # FLOP/J just above (factor < 1) or below the edge
            per_unit = flops / value
        else:
            per_unit = edge * factor
        wl = workload(name, unit=rule.unit, gross_per_unit=[per_unit] * 3, flops_per_unit=flops, parameters=None)
        score = score_result(make_result(workloads=[wl]), std, profiles)
        assert score.workloads[0].grade == expected, (name, factor, score.workloads[0].value)


def test_band_range_and_units(std):
    rule = std.workloads["llm-decode"]
    assert rule.band_range("A") == (None, 0.032)
    assert rule.band_range("C") == (0.064, 0.128)
    assert rule.band_range("G") == (1.024, None)
    assert rule.metric_unit == "J/token" and std.workloads["gemm"].metric_unit == "FLOP/J"
    with pytest.raises(ValueError):
        rule.grade(float("nan"))


# --- re-scoring a result written by an older schema ---------------------------------------------

NEWER_OPTIONAL = {
    "top": ("quality", "profile", "integrity", "trace", "reason", "issues"),
    "measurement": ("interval_p50_s", "interval_p99_s", "gap_factor"),
    "idle": ("power_std_w",),
    "workload": ("optimizations", "peak_memory_bytes", "warmup", "issues", "reason"),
    "aggregate": ("flops_per_joule",),
    "window": ("issues",),
    "channel": ("integrated_energy_j", "mean_power_w", "peak_power_w", "max_interval_s"),
}


def _strip_newer(data: dict) -> dict:
    for key in NEWER_OPTIONAL["top"]:
        data.pop(key, None)
    for key in NEWER_OPTIONAL["measurement"]:
        data["measurement"].pop(key, None)
    for key in NEWER_OPTIONAL["idle"]:
        data["idle"].pop(key, None)
    for wl in data["workloads"]:
        for key in NEWER_OPTIONAL["workload"]:
            wl.pop(key, None)
        for key in NEWER_OPTIONAL["aggregate"]:
            wl["aggregate"].pop(key, None)
    for w in data["windows"]:
        for key in NEWER_OPTIONAL["window"]:
            w.pop(key, None)
        for ch in w["channels"]:
            for key in NEWER_OPTIONAL["channel"]:
                ch.pop(key, None)
    return data


def test_older_schema_result_grades_identically(std, profiles, tmp_path):
    gemm = workload("gemm", unit="matmul", gross_per_unit=[1.10, 1.11, 1.09],
                    flops_per_unit=2 * 8192**3, parameters=None)
    result = make_result(workloads=[workload(), gemm])
    folder = tmp_path / "new"
    folder.mkdir()
    write_result(result, folder)
    old = tmp_path / "old"
    old.mkdir()
    data = _strip_newer(json.loads((folder / "result.json").read_text()))
    data["schema_version"] = "1.0"
    (old / "result.json").write_text(json.dumps(data))
    new_score = score_result(load_result(folder), std, profiles)
    old_score = score_result(load_result(old), std, profiles)
    assert [w.grade for w in new_score.workloads] == ["C", "C"]
    dump = lambda s: s.model_dump(mode="json", exclude={"result_digest"})  # noqa: E731
    assert dump(old_score) == dump(new_score)
    assert old_score.standard["sha256"] == hashlib.sha256(Path(std.path).read_bytes()).hexdigest()
