"""Numbers on the command line: every one finite and in range, checked before anything is measured or written;
and a run is sealed "complete" only when every workload it was to run is in it, complete."""

from __future__ import annotations

import math

import click
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.run.config import RunConfig
from tests.factories import write_result_folder
from tests.hostile.support import handled
from tests.support.fuzz import FAST

RUN = ["run", "--device", "cpu", "--workload", "gemm", "--sampler", "estimate", "--quiet"]
BAD_RUN = [
    ("--idle", v) for v in ("nan", "inf", "-inf", "1e309", "-1", "1e300")] + [
    ("--duration", v) for v in ("inf", "1e309", "0", "nan", "1e300")] + [
    ("--warmup-min", "nan"), ("--warmup-max", "nan"), ("--warmup-max", "inf")] + [
    ("--read-timeout", v) for v in ("nan", "inf", "0", "1e300")] + [
    ("--repeats", v) for v in ("0", "-1", "100000000000000000000", "1.5", "abc", "9" * 5000)] + [
    ("--rate", v) for v in ("nan", "0", "1e9", "inf")] + [
    ("--device", v) for v in ("", "   ")] + [
    ("--seed", v) for v in ("-1", str(2**64), "nan")] + [
    ("--batch-size", v) for v in ("0", str(2**40))] + [
    ("--seq-len", "-5"), ("--size", str(2**40)), ("--dist-timeout", "nan"), ("--dist-timeout", "inf"),
    ("--rdzv-timeout", "0"), ("--nproc-per-node", "100000")]


@pytest.mark.parametrize("option,value", BAD_RUN, ids=[f"{o}={v[:12]}" for o, v in BAD_RUN])
def test_a_bad_run_option_stops_before_anything_is_written(tmp_path, option, value):
    args = [a for a in RUN if not (option == "--device" and a in ("--device", "cpu"))]
    res = handled(*args, option, value, "--out", str(tmp_path / "out"), codes=(2,), seconds=15)
    assert len(res.err.strip().splitlines()) == 1 and option in res.err, res.err
    assert not (tmp_path / "out").exists()


@pytest.fixture(scope="module")
def result(tmp_path_factory):
    return write_result_folder(tmp_path_factory.mktemp("n") / "r", [0.5, 0.5, 0.5], duration_s=2.0, idle_s=2.0,
                               warmup_s=1.0)


BAD_OTHER = [
    ("compare", "--alpha", "nan"), ("compare", "--alpha", "inf"), ("compare", "--alpha", "0"),
    ("compare", "--alpha", "0.6"),
    ("score", "--carbon-intensity", "nan"), ("score", "--carbon-intensity", "inf"),
    ("score", "--carbon-intensity", "-1"), ("score", "--carbon-intensity", "1e300"), ("score", "--pue", "0.5"),
    ("score", "--pue", "nan"), ("score", "--wue", "nan"), ("score", "--ewif", "nan"), ("score", "--ewif", "1e400"),
    ("score", "--ewif", "inf"),
    ("report", "--max-points", "100000000000000000000"), ("report", "--workers", "0"),
    ("report", "--workers", "1000000000"),
]


@pytest.mark.parametrize("command,option,value", BAD_OTHER, ids=[" ".join(b) for b in BAD_OTHER])
def test_a_bad_number_elsewhere_is_a_usage_error(result, tmp_path, command, option, value):
    extra = ["-o", str(tmp_path / "r.html")] if command == "report" else []
    res = handled(command, option, value, *extra, str(result), codes=(2,))
    assert len(res.err.strip().splitlines()) == 1 and option in res.err, res.err
    assert list(tmp_path.iterdir()) == []


def test_plugins_check_timeout_is_finite():
    for value in ("nan", "inf", "0", "1e300"):
        res = handled("plugins", "check", "estimate", "--timeout", value, codes=(2,))
        assert "--timeout" in res.err


NUMERIC_FIELDS = {"rate_hz": float, "idle_s": float, "warmup_min_s": float, "warmup_max_s": float,
                  "repeats": int, "duration_s": float, "read_timeout_s": float}


@FAST
@given(field=st.sampled_from(sorted(NUMERIC_FIELDS)),
       value=st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr),
                       st.integers(min_value=-(10**40), max_value=10**40).map(str),
                       st.sampled_from(["nan", "-inf", "1e309", "", " ", "0x10", "1_000", "٣"])))
def test_a_run_option_is_finite_and_within_the_config_bounds_or_refused(field, value):
    """What the command line accepts for a run, :class:`RunConfig` accepts too: never a non-finite number."""
    from bench.cli.run import ConfigValue

    kind = NUMERIC_FIELDS[field]
    try:
        number = ConfigValue(field, kind).convert(value, None, None)
    except click.BadParameter as exc:
        assert "\n" not in exc.format_message()
        return
    assert isinstance(number, kind) and math.isfinite(number)
    assert RunConfig.field_problem(field, number) is None


def test_a_run_stopped_by_an_internal_error_is_never_sealed_complete(tmp_path, monkeypatch):
    from bench.result.io import load_result
    from bench.run.runner import Runner

    def broken(self):
        raise ValueError("a bug in the idle phase")

    monkeypatch.setattr(Runner, "measure_idle", broken)
    with pytest.raises(ValueError):
        handled(*RUN, "--idle", "0.2", "--duration", "0.1", "--repeats", "1", "--warmup-min", "0",
                "--warmup-max", "0.2", "--out", str(tmp_path), "--name", "bug")
    result = load_result(tmp_path / "bug")
    assert result.status == "failed" and "internal error" in result.reason and result.workloads == []


def test_a_run_missing_a_workload_is_not_complete(tmp_path, monkeypatch):
    from bench.result.io import load_result
    from bench.run.runner import Runner

    monkeypatch.setattr(Runner, "_workload", lambda self, name, wl: None)  # the workload never reaches the result
    res = handled(*RUN, "--idle", "0", "--duration", "0.1", "--repeats", "1", "--warmup-min", "0",
                  "--warmup-max", "0.2", "--out", str(tmp_path), "--name", "lost", codes=(1,))
    result = load_result(tmp_path / "lost")
    assert result.status == "incomplete" and "0 of 1 workloads" in result.reason, res.output
