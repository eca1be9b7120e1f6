"""Property tests: any input to a loader gives a valid object or one error from the BenchError tree."""

import json
import string
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.analysis.scoring.profiles import load_profile_file
from bench.analysis.scoring.standard import load_standard_file
from bench.clock import SimClock
from bench.devices import parse_spec
from bench.errors import BenchError, ConfigError, ResultError, UsageError
from bench.meter.meter import Meter
from bench.result.io import load_result
from bench.result.model import Result
from bench.result.trace import iter_batches, trace_metadata
from bench.samplers.base import (
    Availability,
    Capabilities,
    PowerKind,
    Reading,
    Sampler,
    Scope,
)

ROOT = Path(__file__).resolve().parents[1]
FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=25,
)


def _one_error(fn, path, expected=BenchError):
    try:
        return fn(path)
    except expected as exc:
        assert str(exc) and "\n" not in str(exc).strip()  # one line
        return None


@FAST
@given(data=st.binary(max_size=400))
def test_result_loader_on_arbitrary_bytes(tmp_path, data):
    (tmp_path / "result.json").write_bytes(data)
    out = _one_error(load_result, tmp_path, ResultError)
    assert out is None or isinstance(out, Result)


@FAST
@given(value=json_values)
def test_result_loader_on_arbitrary_json(tmp_path, value):
    (tmp_path / "result.json").write_text(json.dumps(value))
    assert _one_error(load_result, tmp_path, ResultError) is None


@FAST
@given(field=st.sampled_from(["status", "measurement", "workloads", "trace", "schema_version", "windows", "idle"]),
       value=json_values)
def test_real_result_with_one_field_replaced(tmp_path, field, value):
    """Start from a valid result and break one field: valid or a ResultError naming the problem."""
    from tests.result_factory import make_result

    data = make_result().model_dump(mode="json")
    data[field] = value
    (tmp_path / "result.json").write_text(json.dumps(data))
    out = _one_error(load_result, tmp_path, ResultError)
    assert out is None or isinstance(out, Result)


def _valid_trace_bytes(tmp_path_factory):
    from bench.conformance.traces import steps, write_profile_trace

    path = write_profile_trace(tmp_path_factory.mktemp("t"), steps([(0, 10.0)], 1.0), resolution_s=0.01)
    return path.read_bytes()


@pytest.fixture(scope="module")
def good_trace(tmp_path_factory):
    return _valid_trace_bytes(tmp_path_factory)


@FAST
@given(cut=st.integers(min_value=0, max_value=10_000), flips=st.lists(st.integers(0, 10_000), max_size=5),
       suffix=st.sampled_from(["trace.parquet", "trace.arrows"]))
def test_trace_readers_on_damaged_files(tmp_path, good_trace, cut, flips, suffix):
    data = bytearray(good_trace[: max(cut, 0)] if cut < len(good_trace) else good_trace)
    for pos in flips:
        if data:
            data[pos % len(data)] ^= 0xFF
    path = tmp_path / suffix
    path.write_bytes(bytes(data))
    try:
        rows = sum(b.num_rows for b in iter_batches(path))
        assert rows >= 0
        trace_metadata(path)
    except ResultError as exc:
        assert str(exc)


@FAST
@given(text=st.text(alphabet=string.printable, max_size=300))
def test_profile_and_standard_loaders_on_arbitrary_toml(tmp_path, text):
    for loader in (load_profile_file, load_standard_file):
        path = tmp_path / "x.toml"
        path.write_text(text)
        _one_error(loader, path, ConfigError)


@FAST
@given(text=st.text(max_size=30))
def test_device_strings(text):
    try:
        kind, index = parse_spec(text)
        assert kind and (index is None or index >= 0)
    except UsageError as exc:
        assert "device" in str(exc)


weird = st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True), st.integers(-10**30, 10**30),
                  st.text(max_size=5), st.booleans())


class Wild(Sampler):
    """A plugin whose readings are anything at all."""

    name = "wild"
    channel = "wild:0"

    def __init__(self, values):
        self.values = list(values)
        self.capabilities = Capabilities(energy_counter=True, power=PowerKind.INSTANT, scope=Scope.GPU,
                                         update_period_s=0.01)

    @classmethod
    def is_available(cls, device):
        return Availability(True)

    @classmethod
    def open(cls, device, **options):
        raise NotImplementedError

    def read(self):
        e, p = self.values.pop(0) if self.values else (None, None)
        return Reading(energy_j=e, power_w=p)


@FAST
@given(values=st.lists(st.tuples(weird, weird), min_size=1, max_size=40))
def test_meter_survives_any_plugin_output(values):
    clock = SimClock()
    m = Meter([Wild(values)], rate_hz=10, clock=clock, threaded=False)
    m.start()
    m.open_window("w")
    m.run_for(len(values) / 10)
    w = m.close_window("w")
    if w.energy_j is not None:
        assert w.energy_j == w.energy_j and abs(w.energy_j) != float("inf")  # finite, never NaN
    if m.error is not None:
        assert isinstance(m.error, BenchError)
