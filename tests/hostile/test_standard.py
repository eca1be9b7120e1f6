"""Hostile standards given with ``--standard``: not a regular file, too big, numbers of the wrong type or past what
a float holds; and random numbers in every numeric field of a standard."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.analysis.scoring.standard import SHIPPED_DIR, load_standard_file
from bench.errors import ConfigError
from tests.factories import write_result_folder
from tests.hostile.corpus import fifo, sparse_file
from tests.hostile.support import handled
from tests.support.fuzz import FAST

SHIPPED = sorted(SHIPPED_DIR.glob("*.toml"))[-1]


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return write_result_folder(tmp_path_factory.mktemp("s") / "r", [0.5, 0.5, 0.5], duration_s=2.0, idle_s=2.0,
                               warmup_s=1.0)


def _commands(result, standard, out):
    return [["score", "--standard", standard, str(result)], ["check", "--standard", standard, str(result)],
            ["compare", "--standard", standard, str(result)],
            ["report", "--standard", standard, "--no-traces", "-o", str(out), str(result)]]


@pytest.mark.parametrize("make", [lambda p: p.symlink_to("/dev/zero"), fifo, lambda p: p.mkdir(),
                                  lambda p: sparse_file(p, 1 << 30, head=b"[rules]\n")],
                         ids=["dev-zero", "fifo", "folder", "sparse-gigabyte"])
def test_a_standard_that_is_not_a_small_regular_file(result, tmp_path, make):
    path = tmp_path / "std.toml"
    make(path)
    for args in _commands(result, str(path), tmp_path / "r.html"):
        res = handled(*args, codes=(2,), seconds=10)
        assert len(res.err.strip().splitlines()) == 1 and "std.toml" in res.err, res.err
    assert not (tmp_path / "r.html").exists()


def test_dev_zero_by_its_own_name(result):
    res = handled("score", "--standard", "/dev/zero", str(result), codes=(2,), seconds=10)
    assert "not a regular file" in res.err


EDITS = {
    "quality-level-true": (r"min_quality_level = \d+", "min_quality_level = true", "rules.min_quality_level"),
    "repeats-text": (r"min_repeats = \d+", 'min_repeats = "3"', "rules.min_repeats"),
    "per-units-huge": (r"(?m)^per_units = \d+", "per_units = 1" + "0" * 400, "reported.per_units"),
    "window-inf": (r"min_window_s = [\d.]+", "min_window_s = inf", "rules.min_window_s"),
    "edge-overflow": (r"(?m)^edge = [\d.e+]+", "edge = 1e308", "workloads"),
    "ratio-huge": (r"(?m)^ratio = [\d.]+", "ratio = 1e300", "workloads"),
}


@pytest.mark.parametrize("name", sorted(EDITS))
def test_numbers_of_the_wrong_type_or_out_of_range(result, tmp_path, name):
    pattern, new, field = EDITS[name]
    text = SHIPPED.read_text()
    assert re.search(pattern, text), pattern
    path = tmp_path / "std.toml"
    path.write_text(re.sub(pattern, new, text, count=1))
    res = handled("score", "--standard", str(path), str(result), codes=(2,))
    assert f"std.toml: {field}" in res.err and len(res.err.strip().splitlines()) == 1, res.err


toml_numbers = st.one_of(st.booleans().map(lambda b: "true" if b else "false"),
                         st.integers(min_value=-(10**30), max_value=10**30).map(str),
                         st.floats(allow_nan=True, allow_infinity=True).map(
                             lambda f: "nan" if f != f else "inf" if f == float("inf") else "-inf"
                             if f == float("-inf") else repr(f)),
                         st.sampled_from(["1" + "0" * 400, '"3"', "[1]", "{a = 1}"]))
NUMERIC = ["min_quality_level", "min_window_s", "min_repeats", "max_ci95_relative", "min_sampling_hz", "per_units",
           "ratio", "edge"]


@FAST
@given(field=st.sampled_from(NUMERIC), value=toml_numbers, nth=st.integers(0, 5))
def test_any_number_in_any_field_loads_or_is_one_line(tmp_path_factory, field, value, nth):
    text = SHIPPED.read_text()
    spots = list(re.finditer(rf"(?m)^{field} = .*$", text))
    spot = spots[nth % len(spots)]
    path = tmp_path_factory.mktemp("std") / "std.toml"
    path.write_text(text[:spot.start()] + f"{field} = {value}" + text[spot.end():])
    try:
        std = load_standard_file(path)
    except ConfigError as exc:
        assert "\n" not in str(exc) and str(exc).startswith(str(path))
        return
    for rule in std.workloads.values():  # a standard that loads grades any finite value
        for value in (0.0, 1e-300, 1.0, 1e300):
            assert rule.grade(value) in "ABCDEFG"
    assert f"{std.reported.per_units:g}"
