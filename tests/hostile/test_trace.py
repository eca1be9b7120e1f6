"""Hostile traces: missing or mistyped columns, nulls, odd files in the trace's place, garbage metadata, a Parquet
file of 20 M rows in 300 kB and a compressed Arrow stream, through every command that reads a trace."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.factories import write_result_folder
from tests.hostile.corpus import compressed_stream, data_of, fifo, row_bomb, seal, trace_table
from tests.hostile.support import handled, peak_rss
from tests.support.fuzz import FAST

N = 100


def _with_trace(folder: Path, write, name: str = "trace.parquet", hashable: bool = True) -> Path:
    """Put a trace written by ``write(path)`` in ``folder`` and seal the result over it."""
    (folder / "trace.parquet").unlink()
    path = folder / name
    write(path)
    data = data_of(folder)
    data["trace"]["path"] = name
    data["trace"]["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest() if hashable else "0" * 64
    seal(folder, data)
    return folder


def _parquet(**overrides):
    return lambda path: pq.write_table(trace_table(N, **overrides), path)


def _metadata(raw: bytes):
    def write(path):
        table = trace_table(N)
        pq.write_table(table.replace_schema_metadata({b"bench": raw}), path)
    return write


CASES = {
    "no-t_ns": _parquet(t_ns=None),
    "no-power": _parquet(power_w=None),
    "t_ns-as-text": _parquet(t_ns=pa.array([str(i) for i in range(N)])),
    "power-as-text": _parquet(power_w=pa.array(["100"] * N)),
    "channel-as-number": _parquet(channel=pa.array(list(range(N)))),
    "null-time": _parquet(t_ns=pa.array([None] * N, pa.int64())),
    "long-channel": _parquet(channel=pa.array(["c" * 5000] * N)),
    "ansi-channel": _parquet(channel=pa.array(["\x1b[31mch$\\frac{$[/]"] * N)),
    "non-finite": _parquet(power_w=pa.array([float("nan"), float("inf"), -float("inf"), 1e308] * (N // 4))),
    "extreme-time": _parquet(t_ns=pa.array([2**63 - 1 - i for i in range(N)], pa.int64())),
    "metadata-nan": _metadata(b'{"channels": {"nvml:0": {"power": NaN}}}'),
    "metadata-deep": _metadata(b"[" * 50_000 + b"]" * 50_000),
    "metadata-garbage-caps": _metadata(b'{"channels": {"nvml:0": {"power": 7, "scope": [], "max_rate_hz": "x"}}}'),
    "not-parquet": lambda path: path.write_bytes(b"PAR1" + os.urandom(300) + b"PAR1"),
}
ODD_FILES = {
    "folder": lambda path: path.mkdir(),
    "fifo": fifo,
    "dev-zero": lambda path: path.symlink_to("/dev/zero"),
}


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return write_result_folder(tmp_path_factory.mktemp("tbase") / "good", [0.5, 0.51, 0.49], duration_s=2.0,
                               idle_s=2.0, warmup_s=1.0)


@pytest.fixture(scope="module")
def cases(tmp_path_factory, base):
    import shutil

    root = tmp_path_factory.mktemp("traces")
    out = {}
    for name, write in CASES.items():
        out[name] = _with_trace(shutil.copytree(base, root / name), write)
    for name, write in ODD_FILES.items():
        out[name] = _with_trace(shutil.copytree(base, root / name), write, hashable=False)
    return out


@pytest.mark.parametrize("name", sorted(CASES) + sorted(ODD_FILES))
def test_every_trace_reader_on_every_case(cases, name, tmp_path):
    folder = cases[name]
    handled("verify", str(folder), codes=(0, 1))
    res = handled("check", "--validity", str(folder), codes=(0, 1))
    if name in ("no-t_ns", "t_ns-as-text", "null-time", "long-channel", "fifo", "dev-zero", "folder"):
        assert res.code == 1 and "validity.trace" in res.out, res.out
    handled("report", str(folder), "-o", str(tmp_path / "r.html"), "--include-edited", codes=(0, 1))
    assert (tmp_path / "r.html").is_file()


@pytest.mark.parametrize("name", ["no-t_ns", "channel-as-number", "metadata-nan", "metadata-deep",
                                  "metadata-garbage-caps", "fifo", "dev-zero"])
def test_replay_refuses_a_bad_trace_before_it_measures(cases, name, tmp_path):
    trace = cases[name] / "trace.parquet"
    res = handled("run", "--device", "cpu", "--workload", "gemm", "--sampler", "replay", "--sampler-option",
                  f"trace={trace}", "--idle", "0", "--duration", "0.1", "--repeats", "1", "--warmup-min", "0",
                  "--warmup-max", "0.1", "--out", str(tmp_path / "o"), "--quiet", codes=(2,))
    assert len(res.err.strip().splitlines()) == 1 and "Traceback" not in res.err
    assert not (tmp_path / "o").exists()


def test_a_twenty_million_row_trace_and_a_compressed_stream_are_refused_in_bounded_memory(base, tmp_path):
    import shutil

    bomb = _with_trace(shutil.copytree(base, tmp_path / "rows"), row_bomb)
    assert (bomb / "trace.parquet").stat().st_size < 2 << 20
    stream = _with_trace(shutil.copytree(base, tmp_path / "stream"), compressed_stream, name="trace.arrows")
    rows = peak_rss([["report", str(bomb), "-o", str(tmp_path / "a.html")],
                     ["check", "--validity", str(bomb)],
                     ["report", str(stream), "-o", str(tmp_path / "b.html")],
                     ["check", "--validity", str(stream)]], timeout=180)
    for row in rows:
        assert row["code"] in (0, 1) and row["growth_mib"] < 150 and row["seconds"] < 20, row
    assert "more than" in rows[1]["out"] and "compressed" in rows[3]["out"]


# --- property tests ---------------------------------------------------------------------------------------


@FAST
@given(data=st.binary(max_size=600))
def test_stream_message_headers_of_any_bytes(data):
    """The flatbuffer reader answers any bytes with a header or a ValueError, nothing else."""
    from bench.result.arrowstream import header

    try:
        kind, body, rows, compressed = header(data)
        assert body >= 0 and isinstance(compressed, bool)
    except ValueError:
        pass


@pytest.fixture(scope="module")
def stream_bytes(tmp_path_factory):
    path = tmp_path_factory.mktemp("s") / "trace.arrows"
    batch = trace_table(50).to_batches()[0]
    with pa.OSFile(str(path), "wb") as sink, pa.ipc.new_stream(sink, batch.schema) as writer:
        for _ in range(3):
            writer.write_batch(batch)
    return path.read_bytes()


@FAST
@given(edits=st.lists(st.tuples(st.integers(0, 4000), st.integers(0, 255)), min_size=1, max_size=6),
       cut=st.integers(0, 5000))
def test_a_stream_with_any_bytes_changed_reads_or_is_refused(tmp_path_factory, stream_bytes, edits, cut):
    """Bytes set anywhere in a stream (its headers included): at most the rows it had, or one ResultError line."""
    from bench.errors import ResultError
    from bench.result.trace import iter_batches

    data = bytearray(stream_bytes[:cut] if cut < len(stream_bytes) else stream_bytes)
    for pos, value in edits:
        if data:
            data[pos % len(data)] = value
    path = tmp_path_factory.mktemp("m") / "trace.arrows"
    path.write_bytes(bytes(data))
    try:
        assert sum(b.num_rows for b in iter_batches(path)) <= 150
    except ResultError as exc:
        assert "\n" not in str(exc)


@pytest.mark.parametrize("name", ["t_ns-as-text", "metadata-garbage-caps", "fifo"])
def test_the_conformance_kit_on_a_bad_replay_trace_fails_its_open_check(cases, name):
    res = handled("plugins", "check", "replay", "-o", f"trace={cases[name] / 'trace.parquet'}", "--timeout", "2",
                  codes=(1,))
    assert "replay: FAIL: open" in res.out
