"""Submission bundles: a tar.gz of result folders plus a manifest of digests, and its checked import.

Layout of a bundle::

    manifest.json                  format, harness version, one entry per result with its files' SHA-256
    manifest.sig                   optional: Ed25519 signature of manifest.json (see bench.result.integrity)
    results/<name>/result.json
    results/<name>/trace.parquet

Only intact results are exported. Import refuses the whole bundle if any member is not a plain file
or its path would land outside the target folder; then each result is checked against the manifest
and against its own digest before it is moved into place.
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import hashlib
import io
import json
import os
import re
import shutil
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from bench.errors import ResultError
from bench.result.integrity import (
    check_folder,
    fingerprint,
    layout_bytes,
    read_raw,
    result_file,
    trace_refs,
)
from bench.result.model import RESULT_FILE
from bench.version import __version__

MANIFEST = "manifest.json"
MANIFEST_SIG = "manifest.sig"
FORMAT = "bench-bundle"
FORMAT_VERSION = 1
MANIFEST_CONTEXT = b"bench-bundle-manifest-v1\n"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
IDENTICAL = "already imported (identical)"  # what _place says of a result whose files are in place already


@dataclass
class BundleReport:
    """What an export or import did: result names done, names already imported with identical files (an import
    run twice), and (path or name, reason) refused."""

    done: list[str] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    identical: list[str] = field(default_factory=list)
    manifest: dict[str, Any] = field(default_factory=dict)
    signer: str | None = None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _unique_name(folder: Path, taken: set[str], run_id: str | None) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]", "_", folder.name).lstrip("._-") or "result"
    name = base[:150]
    if name in taken:
        name = f"{name}-{(run_id or _sha256(str(folder).encode()))[:8]}"
    while name in taken:
        name += "_"
    taken.add(name)
    return name


def _folder_files(folder: Path, data: dict[str, Any]) -> dict[str, bytes]:
    """result.json and every trace it names that is in the folder (checked intact before)."""
    files = {RESULT_FILE: (folder / RESULT_FILE).read_bytes()}
    for trace, _ in trace_refs(data):
        if _NAME.match(trace) and (folder / trace).is_file():
            files[trace] = (folder / trace).read_bytes()
    return files


def _add(tar: tarfile.TarFile, name: str, data: bytes, mtime: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mtime, info.mode = len(data), mtime, 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    tar.addfile(info, io.BytesIO(data))


def export_bundle(folders: list[Path], out: Path | str, private_key: Any = None) -> BundleReport:
    """Write a bundle of the intact results in ``folders`` to ``out`` (atomically); others are refused."""
    report = BundleReport()
    entries, payload, taken = [], {}, set()
    for folder in folders:
        try:
            check = check_folder(folder)
        except ResultError as exc:
            report.refused.append((str(folder), str(exc)))
            continue
        if not check.ok:
            report.refused.append((str(folder), f"{check.state}: {check.detail}"))
            continue
        _, data = read_raw(check.folder)
        name = _unique_name(check.folder, taken, check.run_id)
        files = _folder_files(check.folder, data)
        payload[name] = files
        entries.append({"name": name, "run_id": check.run_id, "digest": check.digest, "integrity": check.state,
                        "key_fingerprint": check.key_fingerprint,
                        "files": {f: _sha256(b) for f, b in files.items()}})
        report.done.append(name)
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "created_utc": now.isoformat(),
                "harness": {"name": "bench", "version": __version__}, "results": entries}
    report.manifest = manifest
    manifest_bytes = layout_bytes(manifest)
    out = Path(out)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    try:
        with os.fdopen(fd, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as gz, \
                tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar:
            mtime = int(now.timestamp())
            _add(tar, MANIFEST, manifest_bytes, mtime)
            if private_key is not None:
                sig = private_key.sign(MANIFEST_CONTEXT + _sha256(manifest_bytes).encode())
                pub = base64.b64encode(private_key.public_key().public_bytes_raw()).decode()
                _add(tar, MANIFEST_SIG, layout_bytes({"public_key": pub, "signature": base64.b64encode(sig).decode()}),
                     mtime)
                report.signer = fingerprint(private_key.public_key())
            for name, files in payload.items():
                for file, data in files.items():
                    _add(tar, f"results/{name}/{file}", data, mtime)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return report


# --- import -----------------------------------------------------------------------------------


def _safe_member(member: tarfile.TarInfo) -> PurePosixPath:
    """The member's path if it is a plain file or folder with a relative path inside the bundle."""
    path = PurePosixPath(member.name)
    if (member.name.startswith(("/", "\\")) or "\\" in member.name or ".." in path.parts
            or any(p in ("", ".") for p in member.name.rstrip("/").split("/")) or ":" in member.name):
        raise ResultError(f"bundle member {member.name!r} would land outside the target folder; refused")
    if not (member.isfile() or member.isdir()):
        raise ResultError(f"bundle member {member.name!r} is not a plain file (link or device); refused")
    return path


def _read_members(tar: tarfile.TarFile) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    for member in tar.getmembers():
        path = _safe_member(member)
        if member.isdir():
            continue
        if str(path) in files:
            raise ResultError(f"bundle member {member.name!r} appears twice; refused")
        fh = tar.extractfile(member)
        files[str(path)] = fh.read() if fh is not None else b""
    return files


def _manifest(files: dict[str, bytes], trusted: list[Any] | None, report: BundleReport) -> dict[str, Any]:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    if MANIFEST not in files:
        raise ResultError(f"not a bench bundle: no {MANIFEST}")
    try:
        manifest = json.loads(files[MANIFEST])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ResultError(f"{MANIFEST}: unreadable ({exc})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ResultError(f"{MANIFEST}: not a {FORMAT} manifest")
    if int(manifest.get("format_version", 0)) > FORMAT_VERSION:
        raise ResultError(f"{MANIFEST}: bundle format {manifest.get('format_version')} is newer than this harness "
                          f"understands ({FORMAT_VERSION}); upgrade bench")
    if MANIFEST_SIG in files:
        try:
            sig = json.loads(files[MANIFEST_SIG])
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(sig["public_key"], validate=True))
            key.verify(base64.b64decode(sig["signature"], validate=True),
                       MANIFEST_CONTEXT + _sha256(files[MANIFEST]).encode())
        except (InvalidSignature, ValueError, KeyError, TypeError) as exc:
            raise ResultError(f"{MANIFEST_SIG}: the manifest's signature does not verify ({type(exc).__name__})") from None
        report.signer = fingerprint(key)
        if trusted is not None and report.signer not in {fingerprint(k) for k in trusted}:
            raise ResultError(f"{MANIFEST_SIG}: signed by key {report.signer}, which is not among the trusted keys")
    elif trusted is not None:
        raise ResultError(f"the bundle is not signed ({MANIFEST_SIG} missing) but trusted keys were given")
    return manifest


def _entry_problem(entry: Any, files: dict[str, bytes]) -> str | None:
    if not isinstance(entry, dict) or not isinstance(entry.get("files"), dict):
        return "malformed manifest entry"
    name = str(entry.get("name", ""))
    if not _NAME.match(name):
        return f"unsafe result name {name!r}"
    if RESULT_FILE not in entry["files"]:
        return f"no {RESULT_FILE} listed"
    for file, digest in entry["files"].items():
        key = f"results/{name}/{file}"
        if not _NAME.match(str(file)):
            return f"unsafe file name {file!r}"
        if key not in files:
            return f"{file} listed in the manifest but missing from the bundle"
        if _sha256(files[key]) != digest:
            return f"{file} does not match the manifest's digest"
    return None


def _place(name: str, entry: dict[str, Any], files: dict[str, bytes], target: Path, staging: Path,
           trusted: list[Any] | None) -> str | None:
    """Write one result into staging, check it, move it into ``target``. Returns why it was refused, or None."""
    folder = staging / name
    folder.mkdir()
    for file in entry["files"]:
        (folder / file).write_bytes(files[f"results/{name}/{file}"])
    try:
        check = check_folder(folder, trusted=trusted)
    except ResultError as exc:
        return str(exc)
    if not check.ok:
        return f"{check.state}: {check.detail}"
    if check.digest != entry.get("digest"):
        return "the result's digest differs from the manifest's"
    dest = target / name
    if dest.exists():
        return IDENTICAL if _same_files(dest, entry["files"]) else f"{dest} exists and differs; not overwritten"
    os.replace(folder, dest)
    return None


def _same_files(folder: Path, files: dict[str, str]) -> bool:
    """Whether ``folder`` holds every file of a manifest entry with the digest the manifest gives."""
    if not folder.is_dir():
        return False
    for file, digest in files.items():
        path = folder / file
        if not path.is_file() or _sha256(path.read_bytes()) != digest:
            return False
    return True


def import_bundle(bundle: Path | str, target: Path | str, trusted: list[Any] | None = None) -> BundleReport:
    """Check a bundle and unpack its results into ``target``; refused results are named in the report."""
    report = BundleReport()
    try:
        with tarfile.open(bundle, mode="r:*") as tar:
            files = _read_members(tar)
    except (OSError, tarfile.TarError, EOFError, gzip.BadGzipFile) as exc:
        raise ResultError(f"{bundle}: not a readable bundle ({exc})") from None
    manifest = _manifest(files, trusted, report)
    report.manifest = manifest
    entries = manifest.get("results") if isinstance(manifest.get("results"), list) else []
    listed = {MANIFEST, MANIFEST_SIG}
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".bench-import-", dir=target))
    seen: set[str] = set()
    try:
        for entry in entries:
            name = str(entry.get("name", "?")) if isinstance(entry, dict) else "?"
            problem = "listed twice in the manifest" if name in seen else _entry_problem(entry, files)
            seen.add(name)
            if problem is None:
                listed.update(f"results/{name}/{f}" for f in entry["files"])
                problem = _place(name, entry, files, target, staging, trusted)
            if problem is None:
                report.done.append(name)
            elif problem == IDENTICAL:
                report.identical.append(name)
            else:
                report.refused.append((name, problem))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    for extra in sorted(set(files) - listed):
        report.refused.append((extra, "not listed in the manifest; not unpacked"))
    return report


__all__ = ["BundleReport", "export_bundle", "import_bundle", "result_file"]
