"""The trace: every sample the meter took, on disk while the run goes on.

During a run samples stream into ``trace.arrows`` (Arrow IPC stream, one record batch per flush),
which stays readable up to its last complete batch even if the process is killed. When the run
ends it is rewritten, batch by batch with bounded memory, into ``trace.parquet`` and removed.
:func:`iter_batches` and :func:`read_trace` read either form.

Columns: ``t_ns`` (int64, monotonic ns), ``channel`` (string), ``energy_j`` (raw cumulative
counter, J), ``power_w``, ``temperature_c``, ``clock_mhz``, ``power_limit_w``, ``utilization``
(float64, null where the channel gives none). Schema metadata ``bench`` holds JSON: the channels'
capabilities and the harness version.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.errors import ResultError

if TYPE_CHECKING:  # pragma: no cover
    from bench.samplers.base import Reading

STREAM_FILE = "trace.arrows"
PARQUET_FILE = "trace.parquet"
FIELDS = ("energy_j", "power_w", "temperature_c", "clock_mhz", "power_limit_w", "utilization")
ROW_GROUP_ROWS = 65536


def _read_errors() -> tuple[type[BaseException], ...]:
    """What a damaged file can make pyarrow raise: its own errors, I/O, bad UTF-8 in names, thrift errors."""
    import pyarrow as pa

    return (pa.ArrowException, OSError, ValueError)


def _why(exc: BaseException) -> str:
    """An exception's text on one line (pyarrow's messages span several)."""
    return " ".join(str(exc).split())[:300] or type(exc).__name__


def schema(metadata: dict[str, Any] | None = None):
    import pyarrow as pa

    cols = [pa.field("t_ns", pa.int64(), nullable=False), pa.field("channel", pa.string(), nullable=False)]
    cols += [pa.field(name, pa.float64()) for name in FIELDS]
    meta = {b"bench": json.dumps(metadata or {}).encode()}
    return pa.schema(cols, metadata=meta)


class TraceWriter:
    """Buffers readings and appends them to the stream file in batches. Not thread-safe: one writer thread.

    The meter appends at every read, so :meth:`append` only keeps the row (one tuple); the columns are built at
    :meth:`flush`, once per batch (a column with no value in the batch is written as nulls without a look at
    each row)."""

    def __init__(self, folder: Path, metadata: dict[str, Any] | None = None, flush_rows: int = 8192) -> None:
        import pyarrow as pa

        self.folder = Path(folder)
        self.path = self.folder / STREAM_FILE
        self.metadata = metadata or {}
        self.flush_rows = flush_rows
        self.rows = 0
        self._schema = schema(self.metadata)
        self._rows: list[tuple] = []
        # pyarrow imports pandas on its first array conversion (~0.3 s): pay it now, not in a window
        self._batch([(0, "", *(None,) * len(FIELDS))])
        self._sink = pa.OSFile(str(self.path), "wb")
        self._writer = pa.ipc.new_stream(self._sink, self._schema)
        self._closed = False

    def append(self, channel: str, reading: "Reading") -> None:
        rows = self._rows
        rows.append((reading.t_ns, channel, reading.energy_j, reading.power_w, reading.temperature_c,
                     reading.clock_mhz, reading.power_limit_w, reading.utilization))
        if len(rows) >= self.flush_rows:
            self.flush()

    @property
    def pending(self) -> int:
        return len(self._rows)

    def _batch(self, rows: list[tuple]) -> Any:
        """One record batch of ``rows`` (tuples in column order)."""
        import pyarrow as pa

        n = len(rows)
        cols = list(zip(*rows))
        arrays = [pa.array(cols[0], type=pa.int64()), pa.array(cols[1], type=pa.string())]
        for values in cols[2:]:
            arrays.append(pa.nulls(n, pa.float64()) if values.count(None) == n else pa.array(values, pa.float64()))
        return pa.RecordBatch.from_arrays(arrays, schema=self._schema)

    def flush(self) -> None:
        """Write the buffered rows as one record batch and push it to the OS."""
        if self._closed or not self._rows:
            return
        batch = self._batch(self._rows)
        self._writer.write_batch(batch)
        self._sink.flush()
        self.rows += batch.num_rows
        self._rows = []

    def close(self) -> None:
        """Flush and close the stream (idempotent). The stream file stays until :func:`finalize`."""
        if self._closed:
            return
        try:
            self.flush()
            self._writer.close()
        finally:
            self._sink.close()
            self._closed = True


def finalize(folder: Path) -> Path:
    """Rewrite ``trace.arrows`` into ``trace.parquet`` (atomically) and remove the stream. Returns the path."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    folder = Path(folder)
    src, dst = folder / STREAM_FILE, folder / PARQUET_FILE
    tmp = folder / f".{PARQUET_FILE}.tmp"
    writer = None
    pending: list = []
    pending_rows = 0
    try:
        for batch in _stream_batches(src):
            if writer is None:
                writer = pq.ParquetWriter(str(tmp), batch.schema, compression="zstd")
            pending.append(batch)
            pending_rows += batch.num_rows
            if pending_rows >= ROW_GROUP_ROWS:
                writer.write_table(pa.Table.from_batches(pending))
                pending, pending_rows = [], 0
        if writer is None:  # no sample at all: still write an empty, valid file
            writer = pq.ParquetWriter(str(tmp), _stream_schema(src), compression="zstd")
        if pending:
            writer.write_table(pa.Table.from_batches(pending))
        writer.close()
        os.replace(tmp, dst)
    except BaseException:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
        raise
    src.unlink(missing_ok=True)
    return dst


def _stream_schema(path: Path):
    import pyarrow as pa

    try:
        with pa.OSFile(str(path), "rb") as fh:
            return pa.ipc.open_stream(fh).schema
    except _read_errors():
        return schema()


def _stream_batches(path: Path) -> Iterator:
    """Record batches of a stream file, stopping quietly at a truncated tail (killed writer)."""
    import pyarrow as pa

    try:
        fh = pa.OSFile(str(path), "rb")
    except OSError as exc:
        raise ResultError(f"{path}: cannot open trace ({_why(exc)})") from None
    with fh:
        try:
            reader = pa.ipc.open_stream(fh)
        except _read_errors() as exc:
            if fh.size() < 8:
                return  # killed before the schema was written: no rows
            raise ResultError(f"{path}: not a readable trace stream ({_why(exc)})") from None
        while True:
            try:
                yield reader.read_next_batch()
            except StopIteration:
                return
            except _read_errors():
                return  # truncated or damaged last batch: everything before it is intact


def trace_path(folder: Path) -> Path:
    """The trace file of a run folder: the finished Parquet file, else the in-progress stream."""
    folder = Path(folder)
    for name in (PARQUET_FILE, STREAM_FILE):
        if (folder / name).is_file():
            return folder / name
    raise ResultError(f"{folder}: no trace ({PARQUET_FILE} or {STREAM_FILE})")


def iter_batches(path: Path, columns: list[str] | None = None) -> Iterator:
    """Record batches of a trace file (Parquet or stream), with bounded memory."""
    import pyarrow.parquet as pq

    path = Path(path)
    if path.is_dir():
        path = trace_path(path)
    if path.suffix == ".parquet":
        try:
            pf = pq.ParquetFile(str(path))
            names = pf.schema_arrow.names
        except _read_errors() as exc:
            raise ResultError(f"{path}: not a readable Parquet trace ({_why(exc)})") from None
        _check_columns(path, names)
        batches = pf.iter_batches(columns=columns)
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                return
            except _read_errors() as exc:
                raise ResultError(f"{path}: damaged Parquet trace ({_why(exc)})") from None
            yield batch
        return
    for batch in _stream_batches(path):
        _check_columns(path, batch.schema.names)
        yield batch.select(columns) if columns else batch


def _check_columns(path: Path, names: list[str]) -> None:
    missing = {"t_ns", "channel"} - set(names)
    if missing:
        raise ResultError(f"{path}: not a bench trace (missing columns {', '.join(sorted(missing))})")


def read_trace(path: Path, columns: list[str] | None = None):
    """The whole trace as a pyarrow Table (use :func:`iter_batches` for very long traces)."""
    import pyarrow as pa

    batches = list(iter_batches(path, columns))
    if not batches:
        return schema().empty_table() if not columns else schema().empty_table().select(columns)
    return pa.Table.from_batches(batches)


def trace_metadata(path: Path) -> dict[str, Any]:
    """The JSON metadata the meter stored in the trace's schema (channel capabilities, ...)."""
    import pyarrow.parquet as pq

    path = Path(path)
    if path.is_dir():
        path = trace_path(path)
    try:
        sch = pq.read_schema(str(path)) if path.suffix == ".parquet" else _stream_schema(path)
    except _read_errors() as exc:
        raise ResultError(f"{path}: unreadable trace ({_why(exc)})") from None
    raw = (sch.metadata or {}).get(b"bench", b"{}")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise ResultError(f"{path}: malformed trace metadata") from None
    return data if isinstance(data, dict) else {}
