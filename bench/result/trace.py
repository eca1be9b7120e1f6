"""The trace: every sample the meter took, on disk while the run goes on.

During a run samples stream into ``trace.arrows`` (Arrow IPC stream, one record batch per flush),
which stays readable up to its last complete batch even if the process is killed. When the run
ends it is rewritten, batch by batch with bounded memory, into ``trace.parquet`` and removed.
:func:`iter_batches` and :func:`read_trace` read either form.

Columns: ``t_ns`` (int64, monotonic ns), ``channel`` (string), ``energy_j`` (raw cumulative
counter, J), ``power_w``, ``temperature_c``, ``clock_mhz``, ``power_limit_w``, ``utilization``
(float64, null where the channel gives none). Schema metadata ``bench`` holds JSON: the channels'
capabilities and the harness version.

A trace from elsewhere is untrusted: it is read only if it is a regular file, its columns are exactly these
types, it holds at most :data:`MAX_ROWS` rows (checked in the Parquet footer, or per message of a stream, before
anything is decoded), each row group at most :data:`MAX_ROW_GROUP_BYTES` uncompressed, channel names at most
:data:`MAX_CHANNEL_CHARS` characters, and no null time or channel. Anything else is one :class:`ResultError` line.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.errors import ResultError
from bench.result import arrowstream
from bench.result.files import open_regular, parse_json

if TYPE_CHECKING:  # pragma: no cover
    from bench.samplers.base import Reading

STREAM_FILE = "trace.arrows"
PARQUET_FILE = "trace.parquet"
FIELDS = ("energy_j", "power_w", "temperature_c", "clock_mhz", "power_limit_w", "utilization")
ROW_GROUP_ROWS = 65536
MAX_ROWS = 1 << 24  # 16.7 M samples: a day at 100 Hz on one channel is 8.6 M (docs/performance.md)
MAX_FILE_BYTES = 2 << 30  # MAX_ROWS rows take ~1.2 GB as an uncompressed stream, a few hundred MB as Parquet
MAX_ROW_GROUP_BYTES = 512 << 20
MAX_FOOTER_BYTES = 64 << 20
MAX_METADATA_BYTES = 1 << 20
MAX_CHANNEL_CHARS = 256
MAX_COLUMNS = 64
BATCH_ROWS = 65536


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
    for batch_or_schema in _stream(path, schema_only=True):
        return batch_or_schema
    return schema()


def _stream(path: Path, schema_only: bool = False) -> Iterator:
    """The schema (``schema_only``) or the record batches of a stream file, each message checked before it is
    decoded (:mod:`bench.result.arrowstream`); a truncated or damaged tail ends the stream quietly."""
    with open_regular(path, MAX_FILE_BYTES, ResultError, "trace") as fh:
        size = os.fstat(fh.fileno()).st_size
        sch, rows = None, 0
        try:
            for kind, n, message in arrowstream.messages(fh, size):
                if sch is None:
                    if kind != arrowstream.SCHEMA:
                        raise ResultError(f"{path}: not a readable trace stream (no schema first)")
                    try:
                        sch = arrowstream.decode(message)
                    except _read_errors() as exc:
                        raise ResultError(f"{path}: not a readable trace stream ({_why(exc)})") from None
                    _check_schema(path, sch)
                    if schema_only:
                        yield sch
                        return
                    continue
                rows += n or 0
                if rows > MAX_ROWS:
                    raise ResultError(f"{path}: more than {MAX_ROWS:,} rows; refused")
                try:
                    batch = arrowstream.decode(message, sch)
                except _read_errors():
                    return  # damaged last batch: everything before it is intact
                _check_batch(path, batch)
                yield batch
        except arrowstream.Refused as exc:
            raise ResultError(f"{path}: not a bench trace stream: {exc}; refused") from None
        if sch is None and size >= 8 and not schema_only:
            raise ResultError(f"{path}: not a readable trace stream")


def _stream_batches(path: Path) -> Iterator:
    """Record batches of a stream file, stopping quietly at a truncated tail (killed writer)."""
    yield from _stream(path)


def trace_path(folder: Path) -> Path:
    """The trace file of a run folder: the finished Parquet file, else the in-progress stream."""
    folder = Path(folder)
    for name in (PARQUET_FILE, STREAM_FILE):
        if os.path.lexists(folder / name):
            return folder / name
    raise ResultError(f"{folder}: no trace ({PARQUET_FILE} or {STREAM_FILE})")


def _parquet(path: Path, fh: Any) -> Any:
    """The checked :class:`pyarrow.parquet.ParquetFile` of an open trace: footer size, rows, row groups and
    schema within the limits before any column is decoded."""
    import pyarrow.parquet as pq

    size = os.fstat(fh.fileno()).st_size
    if size >= 12:
        fh.seek(size - 8)
        tail = fh.read(8)
        footer = int.from_bytes(tail[:4], "little")
        if tail[4:] == b"PAR1" and footer > MAX_FOOTER_BYTES:
            raise ResultError(f"{path}: a Parquet footer of {footer:,} bytes; refused")
        fh.seek(0)
    try:
        pf = pq.ParquetFile(fh, read_dictionary=["channel"])
        meta = pf.metadata
        sch = pf.schema_arrow
    except _read_errors() as exc:
        raise ResultError(f"{path}: not a readable Parquet trace ({_why(exc)})") from None
    if meta.num_rows > MAX_ROWS:
        raise ResultError(f"{path}: {meta.num_rows:,} rows, more than the {MAX_ROWS:,} allowed; refused")
    for i in range(meta.num_row_groups):
        group = meta.row_group(i)
        if group.total_byte_size > MAX_ROW_GROUP_BYTES or group.num_rows > MAX_ROWS:
            raise ResultError(f"{path}: row group {i} is {group.total_byte_size:,} bytes uncompressed "
                              f"(at most {MAX_ROW_GROUP_BYTES:,}); refused")
    _check_schema(path, sch)
    return pf


def iter_batches(path: Path, columns: list[str] | None = None) -> Iterator:
    """Record batches of a trace file (Parquet or stream), with bounded memory, each checked (no null time or
    channel, channel names of bounded length); at most :data:`MAX_ROWS` rows in all."""
    path = Path(path)
    if path.is_dir():
        path = trace_path(path)
    if path.suffix != ".parquet":
        for batch in _stream(path):
            yield batch.select(columns) if columns else batch
        return
    with open_regular(path, MAX_FILE_BYTES, ResultError, "trace") as fh:
        pf = _parquet(path, fh)
        batches = pf.iter_batches(batch_size=BATCH_ROWS, columns=columns)
        rows = 0
        while True:
            try:
                batch = next(batches)
            except StopIteration:
                return
            except _read_errors() as exc:
                raise ResultError(f"{path}: damaged Parquet trace ({_why(exc)})") from None
            rows += batch.num_rows
            if rows > MAX_ROWS:
                raise ResultError(f"{path}: more than {MAX_ROWS:,} rows; refused")
            yield _check_batch(path, batch)


def _check_schema(path: Path, sch: Any) -> None:
    """The columns a trace must have, with exactly their types (a reader never meets a string for a number)."""
    import pyarrow as pa

    try:
        names = sch.names
    except ValueError:  # a column name that is not UTF-8
        raise ResultError(f"{path}: not a bench trace (a column name is not UTF-8)") from None
    if len(names) > MAX_COLUMNS or len(set(names)) != len(names):
        raise ResultError(f"{path}: not a bench trace ({len(names)} columns, some repeated or too many)")
    missing = {"t_ns", "channel", *FIELDS} - set(names)
    if missing:
        raise ResultError(f"{path}: not a bench trace (missing columns {', '.join(sorted(missing))})")
    wanted = {"t_ns": (pa.int64(),), "channel": (pa.string(), pa.dictionary(pa.int32(), pa.string())),
              **{f: (pa.float64(),) for f in FIELDS}}
    for name, types in wanted.items():
        if sch.field(name).type not in types:
            raise ResultError(f"{path}: column {name} is {sch.field(name).type}, not {types[0]}")


def _check_batch(path: Path, batch: Any) -> Any:
    """A batch with no null time or channel and short channel names; channel as plain strings."""
    import pyarrow as pa
    import pyarrow.compute as pc

    names = batch.schema.names
    for name in ("t_ns", "channel"):
        if name in names and batch.column(name).null_count:
            raise ResultError(f"{path}: column {name} has missing values")
    if "channel" in names:
        col = batch.column("channel")
        values = col.dictionary if isinstance(col, pa.DictionaryArray) else col
        longest = pc.max(pc.utf8_length(values)).as_py() if len(values) else 0
        if longest and longest > MAX_CHANNEL_CHARS:
            raise ResultError(f"{path}: a channel name of {longest:,} characters (at most {MAX_CHANNEL_CHARS})")
        if isinstance(col, pa.DictionaryArray):
            batch = batch.set_column(names.index("channel"), "channel", col.cast(pa.string()))
    return batch


def read_trace(path: Path, columns: list[str] | None = None):
    """The whole trace as a pyarrow Table (use :func:`iter_batches` for very long traces)."""
    import pyarrow as pa

    batches = list(iter_batches(path, columns))
    if not batches:
        return schema().empty_table() if not columns else schema().empty_table().select(columns)
    return pa.Table.from_batches(batches)


def trace_metadata(path: Path) -> dict[str, Any]:
    """The JSON metadata the meter stored in the trace's schema (channel capabilities, ...), strictly parsed."""
    path = Path(path)
    if path.is_dir():
        path = trace_path(path)
    if path.suffix == ".parquet":
        with open_regular(path, MAX_FILE_BYTES, ResultError, "trace") as fh:
            sch = _parquet(path, fh).schema_arrow
    else:
        sch = _stream_schema(path)
    raw = (sch.metadata or {}).get(b"bench", b"{}")
    if len(raw) > MAX_METADATA_BYTES:
        raise ResultError(f"{path}: trace metadata of {len(raw):,} bytes; refused")
    data = parse_json(raw, f"{path} (metadata)", ResultError)
    return data if isinstance(data, dict) else {}
