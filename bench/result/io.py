"""Reading and writing ``result.json``: atomic writes, canonical JSON, the content digest, schema checks.

Every failure to read a result is a one-line :class:`~bench.errors.ResultError` naming the file.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bench.errors import ResultError
from bench.result.model import RESULT_FILE, SCHEMA_VERSION, Integrity, Result


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temp file in the same folder and a rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            os.fchmod(fh.fileno(), 0o644 & ~_umask())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def canonical_json(data: Any) -> bytes:
    """Canonical bytes of JSON data: sorted keys, no spaces, UTF-8, no NaN."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def content_digest(data: dict[str, Any]) -> str:
    """Digest of a result's content: canonical JSON without the ``integrity`` block.

    The trace's own SHA-256 is inside (``trace.sha256``), so the digest covers both files.
    """
    body = {k: v for k, v in data.items() if k != "integrity"}
    return hashlib.sha256(canonical_json(body)).hexdigest()


def write_result(result: Result, folder: Path) -> Path:
    """Seal (trace digest + content digest) and write ``result.json`` atomically. Returns its path."""
    folder = Path(folder)
    trace = folder / result.trace.path
    if trace.is_file():
        result.trace.sha256 = file_sha256(trace)
    data = result.model_dump(mode="json", exclude={"integrity"})
    result.integrity = Integrity(digest=content_digest(data))
    data["integrity"] = result.integrity.model_dump(mode="json")
    path = folder / RESULT_FILE
    atomic_write_bytes(path, json.dumps(data, indent=2, sort_keys=False, allow_nan=False).encode() + b"\n")
    return path


def _upgrade(data: dict[str, Any]) -> dict[str, Any]:
    """Bring an older schema's data to the current one (no-op while only 1.x exists)."""
    return data


def read_result_raw(path: Path | str) -> tuple[Path, bytes, dict[str, Any]]:
    """The file, bytes and parsed JSON of a result (a run folder or its ``result.json``).

    Checks only what every reader needs (readable JSON object, a schema this harness understands);
    every failure is a one-line :class:`ResultError` naming the file.
    """
    path = Path(path)
    file = path / RESULT_FILE if path.is_dir() else path
    if not file.is_file():
        raise ResultError(f"{path}: not a result folder (no {RESULT_FILE})")
    try:
        raw = file.read_bytes()
        data = json.loads(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultError(f"{file}: unreadable or truncated JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ResultError(f"{file}: not a result object")
    version = str(data.get("schema_version", ""))
    major = version.split(".")[0]
    if not major.isdigit():
        raise ResultError(f"{file}: missing or malformed schema_version {version!r}")
    if int(major) > int(SCHEMA_VERSION.split(".")[0]):
        raise ResultError(
            f"{file}: schema {version} is newer than this harness understands ({SCHEMA_VERSION}); upgrade bench"
        )
    return file, raw, data


def load_result(path: Path | str) -> Result:
    """Read a result from a run folder or a ``result.json``; every failure is a :class:`ResultError`."""
    file, _, data = read_result_raw(path)
    try:
        return Result.model_validate(_upgrade(data))
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        raise ResultError(f"{file}: field {loc}: {first['msg']}") from None


def json_schema() -> dict[str, Any]:
    """The JSON schema of ``result.json``."""
    schema = Result.model_json_schema()
    schema["$id"] = f"https://bench.invalid/schema/result-{SCHEMA_VERSION}.json"
    schema["title"] = "bench result"
    return schema
