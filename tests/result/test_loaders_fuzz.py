"""Property tests of the result and trace readers: any input gives a valid object or one ResultError line."""

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.errors import ResultError
from bench.result.io import load_result, write_result
from bench.result.trace import iter_batches, trace_metadata
from tests.support.fuzz import FAST, json_values, one_line_error


@FAST
@given(data=st.binary(max_size=400))
def test_result_loader_refuses_arbitrary_bytes(tmp_path, data):
    (tmp_path / "result.json").write_bytes(data)
    assert one_line_error(load_result, tmp_path, ResultError) is None


@FAST
@given(value=json_values)
def test_result_loader_refuses_arbitrary_json(tmp_path, value):
    (tmp_path / "result.json").write_text(json.dumps(value))
    assert one_line_error(load_result, tmp_path, ResultError) is None


@FAST
@given(field=st.sampled_from(["status", "measurement", "workloads", "trace", "schema_version", "windows", "idle"]),
       value=json_values)
def test_real_result_with_one_field_replaced(tmp_path, field, value):
    """Start from a valid result and break one field: a ResultError naming the problem, or a result that
    survives being written and read back unchanged."""
    from tests.factories import make_result

    data = make_result().model_dump(mode="json")
    data[field] = value
    (tmp_path / "result.json").write_text(json.dumps(data))
    out = one_line_error(load_result, tmp_path, ResultError)
    if out is not None:
        again = tmp_path / "again"
        again.mkdir(exist_ok=True)
        write_result(out, again)
        assert load_result(again).model_dump(exclude={"integrity"}) == out.model_dump(exclude={"integrity"})


def _valid_trace_bytes(tmp_path_factory):
    from bench.conformance.traces import steps, write_profile_trace

    path = write_profile_trace(tmp_path_factory.mktemp("t"), steps([(0, 10.0)], 1.0), resolution_s=0.01)
    return path.read_bytes(), sum(b.num_rows for b in iter_batches(path))


@pytest.fixture(scope="module")
def good_trace(tmp_path_factory):
    return _valid_trace_bytes(tmp_path_factory)


@FAST
@given(cut=st.integers(min_value=0, max_value=10_000), flips=st.lists(st.integers(0, 10_000), max_size=5),
       suffix=st.sampled_from(["trace.parquet", "trace.arrows"]))
def test_trace_readers_on_damaged_files(tmp_path, good_trace, cut, flips, suffix):
    """A cut or flipped trace reads as at most the rows the intact one had, or fails with one ResultError line."""
    raw, good_rows = good_trace
    data = bytearray(raw[: max(cut, 0)] if cut < len(raw) else raw)
    for pos in flips:
        if data:
            data[pos % len(data)] ^= 0xFF
    path = tmp_path / suffix
    path.write_bytes(bytes(data))
    try:
        rows = sum(b.num_rows for b in iter_batches(path))
        assert rows <= good_rows
        assert isinstance(trace_metadata(path), dict)
    except ResultError as exc:
        assert str(exc) and "\n" not in str(exc).strip()
