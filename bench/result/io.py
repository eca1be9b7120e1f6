"""Reading and writing ``result.json``: atomic writes, canonical JSON, the content digest, schema checks.

Every failure to read a result is a one-line :class:`~bench.errors.ResultError` naming the file and, where it
can, the field. A result from elsewhere is untrusted input: it is size-limited before it is read, parsed
strictly (:mod:`bench.result.files`) and validated strictly against the bounded model.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bench.atomic import atomic_write_bytes
from bench.errors import ResultError, StorageError, UsageError
from bench.result.files import field_path, open_regular, parse_json, read_limited
from bench.result.model import RESULT_FILE, SCHEMA_VERSION, TRACE_FILE, Integrity, Result

MAX_RESULT_BYTES = 64 << 20  # a day-long suite with thousands of repeats is a few MB
MAX_HASHED_BYTES = 1 << 40


def writable(path: Path) -> bool:
    """Whether this process (its effective ids) may write ``path`` (a folder: create files in it)."""
    if os.access in os.supports_effective_ids:
        return os.access(path, os.W_OK | (os.X_OK if path.is_dir() else 0), effective_ids=True)
    return os.access(path, os.W_OK)  # pragma: no cover - every POSIX system has effective ids


def check_output(path: Path | str, option: str = "--output") -> Path:
    """``path`` if a file may be written there: its folder exists and is writable, and it is not a symbolic link,
    a folder or a device, nor a read-only file. Otherwise one :class:`UsageError` line naming ``option``."""
    path = Path(path)
    if path.is_symlink():
        raise UsageError(f"{option} {path} is a symbolic link; refusing to write through or over it")
    if path.exists() and not path.is_file():
        raise UsageError(f"{option} {path} exists and is not a regular file")
    folder = path.parent
    if not folder.is_dir():
        raise UsageError(f"{option} {path}: folder {folder} does not exist")
    if not writable(folder):
        raise UsageError(f"{option} {path}: folder {folder} is not writable (permission denied)")
    if path.exists() and not writable(path):
        raise UsageError(f"{option} {path} is read-only")
    return path


def write_output(path: Path | str, data: bytes, option: str = "--output") -> Path:
    """Write a file the user asked for (a report, a table) atomically, after :func:`check_output`; a failure
    while writing (disk full, a race) is one :class:`StorageError` line."""
    path = check_output(path, option)
    try:
        atomic_write_bytes(path, data)
    except OSError as exc:
        raise StorageError(f"cannot write {path} ({exc.strerror or exc})") from None
    return path


def canonical_json(data: Any) -> bytes:
    """Canonical bytes of JSON data: sorted keys, no spaces, UTF-8, no NaN."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


def file_sha256(path: Path) -> str:
    """SHA-256 of a regular file (a FIFO or a device is refused with a :class:`ResultError`, never read)."""
    h = hashlib.sha256()
    with open_regular(path, MAX_HASHED_BYTES, ResultError, "file") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


DIGEST_FORMAT = 2
SEAL_KEYS = ("digest", "signature", "public_key")  # what the digest cannot cover: itself and what signs it


def content_digest(data: dict[str, Any]) -> str:
    """Digest of a result's content: SHA-256 of canonical JSON.

    Format 1 (no ``integrity.format``): the result without its ``integrity`` block. Format 2: the result with the
    ``integrity`` block less :data:`SEAL_KEYS`, so the list of covered files is sealed too. Either way each
    trace's own SHA-256 is inside (``trace.sha256``), so the digest covers every file it names.
    """
    body = {k: v for k, v in data.items() if k != "integrity"}
    integ = data.get("integrity")
    if isinstance(integ, dict) and integ.get("format") is not None:
        body["integrity"] = {k: v for k, v in integ.items() if k not in SEAL_KEYS}
    return hashlib.sha256(canonical_json(body)).hexdigest()


def trace_refs(data: dict[str, Any]) -> list[tuple[str, str | None]]:
    """(file name, recorded SHA-256) of every trace a result names that should sit in its folder: the
    run's trace, and in a distributed run each node's trace kept in the result folder."""
    ref = data.get("trace") if isinstance(data.get("trace"), dict) else {}
    refs = [(str(ref.get("path") or TRACE_FILE), ref.get("sha256"))]
    dist = data.get("distributed") if isinstance(data.get("distributed"), dict) else {}
    nodes = dist.get("nodes") if isinstance(dist.get("nodes"), list) else []
    for node in nodes:
        nref = node.get("trace") if isinstance(node, dict) and isinstance(node.get("trace"), dict) else None
        if nref and node.get("trace_location", "result_folder") == "result_folder" and nref.get("path"):
            refs.append((str(nref["path"]), nref.get("sha256")))
    return list(dict.fromkeys(refs))


def covered_files(data: dict[str, Any]) -> list[str]:
    """The files of a result folder its digest covers: ``result.json`` and every trace with a recorded SHA-256."""
    return sorted({RESULT_FILE, *(name for name, sha in trace_refs(data) if sha)})


def write_result(result: Result, folder: Path) -> Path:
    """Seal (trace digest, covered files, content digest: format 2) and write ``result.json`` atomically."""
    folder = Path(folder)
    trace = folder / result.trace.path
    if trace.is_file():
        result.trace.sha256 = file_sha256(trace)
    data = result.model_dump(mode="json", exclude={"integrity"})
    seal = {"algorithm": "sha256", "format": DIGEST_FORMAT, "files": covered_files(data)}
    result.integrity = Integrity(**seal, digest=content_digest({**data, "integrity": seal}))
    data["integrity"] = result.integrity.model_dump(mode="json")
    path = folder / RESULT_FILE
    atomic_write_bytes(path, json.dumps(data, indent=2, sort_keys=False, allow_nan=False).encode() + b"\n")
    return path


def _upgrade(data: dict[str, Any]) -> dict[str, Any]:
    """Bring an older schema's data to the current one (no-op while only 1.x exists)."""
    return data


def read_result_raw(path: Path | str) -> tuple[Path, bytes, dict[str, Any]]:
    """The file, bytes and parsed JSON of a result (a run folder or its ``result.json``).

    Checks what every reader needs before anything else looks at the data: a regular file of at most
    :data:`MAX_RESULT_BYTES`, strict JSON within the limits of :mod:`bench.result.files`, an object, a schema this
    harness understands. Every failure is a one-line :class:`ResultError` naming the file (and the field).
    """
    path = Path(path)
    file = path / RESULT_FILE if path.is_dir() else path
    if not file.is_file():
        raise ResultError(f"{path}: not a result folder (no {RESULT_FILE})")
    raw = read_limited(file, MAX_RESULT_BYTES, ResultError, "result file")
    data = parse_json(raw, file, ResultError)
    if not isinstance(data, dict):
        raise ResultError(f"{file}: not a result object")
    version = data.get("schema_version", "")
    major = version.split(".")[0] if isinstance(version, str) else ""
    if not (major.isascii() and major.isdigit() and len(major) <= 6):
        raise ResultError(f"{file}: field schema_version: missing or malformed ({str(version)[:40]!r})")
    if int(major) > int(SCHEMA_VERSION.split(".")[0]):
        raise ResultError(
            f"{file}: schema {version} is newer than this harness understands ({SCHEMA_VERSION}); upgrade bench"
        )
    return file, raw, data


def validate_result(data: dict[str, Any], where: Path | str) -> Result:
    """``data`` (parsed JSON) as a :class:`Result`, strictly: a number is a JSON number, an integer has no
    fraction, a string is a string; every bound of the model holds. A violation is a :class:`ResultError`
    naming ``where`` and the first field."""
    try:
        return Result.model_validate(_upgrade(data), strict=True)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        more = len(exc.errors()) - 1
        suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more > 0 else ""
        msg = str(first["msg"]).removeprefix("Value error, ")
        raise ResultError(f"{where}: field {field_path(first['loc'])}: {msg}{suffix}") from None
    except RecursionError:  # pragma: no cover - parse_json bounds the depth first
        raise ResultError(f"{where}: nested too deeply") from None


def load_result(path: Path | str) -> Result:
    """Read a result from a run folder or a ``result.json``; every failure is a :class:`ResultError`."""
    file, _, data = read_result_raw(path)
    return validate_result(data, file)


def json_schema() -> dict[str, Any]:
    """The JSON schema of ``result.json``."""
    schema = Result.model_json_schema()
    schema["$id"] = f"https://bench.invalid/schema/result-{SCHEMA_VERSION}.json"
    schema["title"] = "bench result"
    return schema
