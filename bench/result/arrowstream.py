"""An Arrow IPC stream read message by message, each checked before pyarrow decodes it.

The meter streams its samples as an Arrow IPC stream (``trace.arrows``): a schema message, then record batches.
pyarrow would decode whatever a message declares, so a crafted stream of a few megabytes could make it allocate
gigabytes (a compressed body, a body length past any real batch). Here each message's flatbuffer header is read
first (the few fields needed, by the flatbuffers layout) and a message is refused unless it is the schema or an
uncompressed record batch whose body fits :data:`MAX_BODY_BYTES`; rows are counted against the caller's limit
before the batch is decoded. A stream cut short (a killed writer) ends quietly at its last whole message.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

CONTINUATION = b"\xff\xff\xff\xff"
MAX_METADATA_BYTES = 1 << 20
MAX_BODY_BYTES = 256 << 20  # the meter writes batches of ~8,000 rows, well under 1 MB
SCHEMA, DICTIONARY_BATCH, RECORD_BATCH = 1, 2, 3  # flatbuffers MessageHeader union tags (Message.fbs)


class Refused(Exception):
    """A message this reader will not decode (compressed, oversized, not part of a trace stream)."""


class Truncated(Exception):
    """The stream ends inside a message (a killed writer): everything before it is whole."""


def _int(buf: bytes, pos: int, size: int, signed: bool = False) -> int:
    if pos < 0 or pos + size > len(buf):
        raise ValueError("flatbuffer offset out of range")
    return int.from_bytes(buf[pos:pos + size], "little", signed=signed)


def _field(buf: bytes, table: int, index: int) -> int | None:
    """Position of field ``index`` of the table at ``table``, or None when the field is absent."""
    vtable = table - _int(buf, table, 4, signed=True)
    vt_size = _int(buf, vtable, 2)
    slot = vtable + 4 + 2 * index
    if slot + 2 > vtable + vt_size:
        return None
    offset = _int(buf, slot, 2)
    return table + offset if offset else None


def _table(buf: bytes, pos: int) -> int:
    return pos + _int(buf, pos, 4)


def header(meta: bytes) -> tuple[int, int, int | None, bool]:
    """(header type, body length, rows or None, compressed) of a message's flatbuffer metadata.

    Message: 0 version, 1 header_type, 2 header, 3 bodyLength. RecordBatch: 0 length, 1 nodes, 2 buffers,
    3 compression. Raises ValueError on anything that is not such a flatbuffer."""
    root = _table(meta, 0)
    kind_at, head_at, body_at = _field(meta, root, 1), _field(meta, root, 2), _field(meta, root, 3)
    kind = _int(meta, kind_at, 1) if kind_at is not None else 0
    body = _int(meta, body_at, 8, signed=True) if body_at is not None else 0
    if body < 0:
        raise ValueError("negative body length")
    rows, compressed = None, False
    if kind == RECORD_BATCH and head_at is not None:
        batch = _table(meta, head_at)
        rows_at = _field(meta, batch, 0)
        rows = _int(meta, rows_at, 8, signed=True) if rows_at is not None else 0
        compressed = _field(meta, batch, 3) is not None
    return kind, body, rows, compressed


def _read(fh: IO[bytes], size: int) -> bytes:
    data = fh.read(size)
    if len(data) < size:
        raise Truncated()
    return data


def messages(fh: IO[bytes], file_size: int) -> Iterator[tuple[int, int | None, bytes]]:
    """(header type, rows, the whole message's bytes) for each message of the stream, checked before it is
    decoded. Raises :class:`Refused`; stops at the end-of-stream marker, the end of the file or a cut message."""
    while True:
        try:
            prefix = _read(fh, 4)
            if prefix == CONTINUATION:
                prefix = _read(fh, 4)
            size = int.from_bytes(prefix, "little", signed=True)
            if size == 0:
                return
            if size < 0 or size > MAX_METADATA_BYTES:
                raise Refused(f"a message header of {size:,} bytes")
            meta = _read(fh, size)
            try:
                kind, body_len, rows, compressed = header(meta)
            except ValueError:
                raise Truncated() from None  # damaged: treat like a cut tail
            if body_len > file_size - fh.tell():
                raise Truncated()
            if kind not in (SCHEMA, RECORD_BATCH):
                raise Refused(f"a message of type {kind}, which a trace stream does not hold")
            if compressed:
                raise Refused("a compressed record batch, which the meter never writes")
            if body_len > MAX_BODY_BYTES:
                raise Refused(f"a record batch of {body_len:,} bytes (at most {MAX_BODY_BYTES:,})")
            body = _read(fh, body_len)
        except Truncated:
            return
        yield kind, rows, CONTINUATION + len(meta).to_bytes(4, "little") + meta + body


def decode(message: bytes, schema: Any = None) -> Any:
    """The schema (``schema`` None) or record batch in one message's bytes."""
    import pyarrow as pa

    msg = pa.ipc.read_message(pa.py_buffer(message))
    return pa.ipc.read_schema(msg) if schema is None else pa.ipc.read_record_batch(msg, schema)


__all__ = ["MAX_BODY_BYTES", "Refused", "decode", "header", "messages"]
