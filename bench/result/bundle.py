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
import lzma
import os
import re
import shutil
import tarfile
import tempfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from bench.errors import ResultError, StorageError, UsageError
from bench.result.bundlefiles import (
    FORMAT,
    FORMAT_VERSION,
    MANIFEST,
    MANIFEST_CONTEXT,
    MANIFEST_SIG,
    NAME,
    Entry,
    Manifest,
    ManifestSig,
    Unpacked,
    load_manifest,
    read_members,
)
from bench.result.files import field_path, open_regular, parse_json
from bench.result.integrity import (
    check_folder,
    fingerprint,
    layout_bytes,
    read_raw,
    result_file,
)
from bench.result.io import covered_files, file_sha256, read_result_raw
from bench.result.model import RESULT_FILE
from bench.safetext import clean
from bench.version import __version__

MAX_SHOWN = 5  # names listed in one refusal line
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
        suffix = re.sub(r"[^A-Za-z0-9]", "_", run_id or _sha256(str(folder).encode()))[:8]
        name = f"{name}-{suffix}"
    while name in taken:
        name += "_"
    taken.add(name)
    return name


def _folder_files(folder: Path, data: dict[str, Any]) -> dict[str, Path]:
    """result.json and every other file its digest covers (checked intact before)."""
    return {name: folder / name for name in covered_files(data) if NAME.fullmatch(name)}


def _add(tar: tarfile.TarFile, name: str, data: bytes | Path, mtime: int) -> None:
    info = tarfile.TarInfo(name)
    info.mtime, info.mode = mtime, 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if isinstance(data, bytes):
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
        return
    with open_regular(data, 1 << 50, ResultError) as fh:  # streamed: a trace is never whole in memory
        info.size = os.fstat(fh.fileno()).st_size
        tar.addfile(info, fh)


def export_bundle(folders: list[Path], out: Path | str, private_key: Any = None) -> BundleReport:
    """Write a bundle of the intact results in ``folders`` to ``out`` (atomically); others are refused. A folder
    that cannot take ``out`` is a :class:`StorageError`."""
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
                        "files": {f: file_sha256(p) for f, p in files.items()}})
        report.done.append(name)
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    manifest = {"format": FORMAT, "format_version": FORMAT_VERSION, "created_utc": now.isoformat(),
                "harness": {"name": "bench", "version": __version__}, "results": entries}
    report.manifest = manifest
    manifest_bytes = layout_bytes(manifest)
    out = Path(out)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent)
    except OSError as exc:
        raise StorageError(f"cannot write {out} ({exc.strerror or exc})") from None
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
                for file, path in files.items():
                    _add(tar, f"results/{name}/{file}", path, mtime)
        os.replace(tmp, out)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise StorageError(f"cannot write {out} ({exc.strerror or exc})") from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return report


# --- import -----------------------------------------------------------------------------------

def _manifest(files: dict[str, bytes], trusted: list[Any] | None, report: BundleReport) -> Manifest:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    manifest = load_manifest(files)
    if MANIFEST_SIG in files:
        try:
            sig = ManifestSig.model_validate(parse_json(files[MANIFEST_SIG], MANIFEST_SIG, ResultError), strict=True)
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(sig.public_key, validate=True))
            key.verify(base64.b64decode(sig.signature, validate=True),
                       MANIFEST_CONTEXT + _sha256(files[MANIFEST]).encode())
        except (InvalidSignature, ValueError, KeyError, TypeError, ValidationError, ResultError) as exc:
            raise ResultError(f"{MANIFEST_SIG}: the manifest's signature does not verify ({type(exc).__name__})") \
                from None
        report.signer = fingerprint(key)
        if trusted is not None and report.signer not in {fingerprint(k) for k in trusted}:
            raise ResultError(f"{MANIFEST_SIG}: signed by key {report.signer}, which is not among the trusted keys")
    elif trusted is not None:
        raise ResultError(f"the bundle is not signed ({MANIFEST_SIG} missing) but trusted keys were given")
    return manifest


def _entry(raw: Any, members: Unpacked) -> tuple[str, Entry | None, str | None]:
    """(name, entry, why it is refused or None)."""
    name = raw.get("name") if isinstance(raw, dict) else None
    shown = clean(name, limit=100) if isinstance(name, str) else "?"
    try:
        entry = Entry.model_validate(raw, strict=True)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        return shown, None, f"malformed manifest entry: field {field_path(first['loc'])}: {first['msg']}"
    if RESULT_FILE not in entry.files:
        return entry.name, None, f"no {RESULT_FILE} listed"
    for file, digest in entry.files.items():
        got = members.files.get(f"results/{entry.name}/{file}")
        if got is None:
            return entry.name, None, f"{file} listed in the manifest but missing from the bundle"
        if got[1] != digest:
            return entry.name, None, f"{file} does not match the manifest's digest"
    return entry.name, entry, None


def _place(entry: Entry, members: Unpacked, target: Path, staging: Path, trusted: list[Any] | None) -> str | None:
    """Move one result into staging, check it, move it into ``target``. Only the files its digest covers are
    unpacked. Returns why it was refused, or None."""
    name = entry.name
    try:
        _, _, data = read_result_raw(members.files[f"results/{name}/{RESULT_FILE}"][0])
    except ResultError as exc:
        return str(exc).split(": ", 1)[-1]
    covered = set(covered_files(data))
    listed = set(entry.files)
    if listed - covered:
        return f"not covered by the result's digest, not unpacked: {', '.join(sorted(listed - covered)[:MAX_SHOWN])}"
    if covered - listed:
        return f"covered by the result's digest but not in the bundle: {', '.join(sorted(covered - listed))}"
    folder = staging / name
    folder.mkdir()
    for file in entry.files:
        shutil.copyfile(members.files[f"results/{name}/{file}"][0], folder / file)
    try:
        check = check_folder(folder, trusted=trusted)
    except ResultError as exc:
        return str(exc)
    if not check.ok:
        return f"{check.state}: {check.detail}"
    if check.digest != entry.digest:
        return "the result's digest differs from the manifest's"
    dest = target / name
    if os.path.lexists(dest):
        return IDENTICAL if _same_files(dest, entry.files) else f"{dest} exists and differs; not overwritten"
    os.replace(folder, dest)
    return None


def _same_files(folder: Path, files: dict[str, str]) -> bool:
    """Whether ``folder`` holds every file of a manifest entry with the digest the manifest gives."""
    if folder.is_symlink() or not folder.is_dir():
        return False
    for file, digest in files.items():
        path = folder / file
        if path.is_symlink() or not path.is_file() or file_sha256(path) != digest:
            return False
    return True


def _target(target: Path) -> Path:
    """The import folder, made if missing; a user mistake (not a folder, not writable) is a :class:`UsageError`."""
    if target.is_symlink() and not target.exists():
        raise UsageError(f"--output {target} is a dangling symbolic link")
    if os.path.lexists(target) and not target.is_dir():
        raise UsageError(f"--output {target} exists and is not a folder")
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create --output {target} ({exc.strerror or exc})") from None
    if not os.access(target, os.W_OK | os.X_OK):
        raise UsageError(f"--output {target} is not writable (permission denied)")
    return target


def import_bundle(bundle: Path | str, target: Path | str, trusted: list[Any] | None = None) -> BundleReport:
    """Check a bundle and unpack its results into ``target``; refused results are named in the report.

    Nothing is held whole in memory: members are streamed to a scratch folder inside ``target`` (removed at the
    end) within :data:`MAX_MEMBERS` members and per-file size limits checked on each header before its data."""
    report = BundleReport()
    target = _target(Path(target))
    try:
        staging = Path(tempfile.mkdtemp(prefix=".bench-import-", dir=target))
    except OSError as exc:
        raise UsageError(f"cannot write into --output {target} ({exc.strerror or exc})") from None
    try:
        scratch = staging / ".members"
        scratch.mkdir()
        try:
            members = read_members(bundle, scratch)
        except (OSError, tarfile.TarError, EOFError, zlib.error, lzma.LZMAError) as exc:
            raise ResultError(f"{bundle}: not a readable bundle ({' '.join(str(exc).split())[:200]})") from None
        manifest = _manifest(members.small, trusted, report)
        report.manifest = manifest.model_dump(mode="json")
        listed = {MANIFEST, MANIFEST_SIG}
        seen: set[str] = set()
        for raw in manifest.results:
            name, entry, problem = _entry(raw, members)
            if name in seen:
                entry, problem = None, "listed twice in the manifest"
            seen.add(name)
            if entry is not None:
                listed.update(f"results/{name}/{f}" for f in entry.files)
                problem = _place(entry, members, target, staging, trusted)
            if problem is None:
                report.done.append(name)
            elif problem == IDENTICAL:
                report.identical.append(name)
            else:
                report.refused.append((name, problem))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    named = {f"results/{name}/" for name in seen}  # a refused result's files are accounted for by its line
    extra = sorted(f for f in set(members.files) - listed if not any(f.startswith(n) for n in named))
    extra += members.other
    if extra:
        report.refused.append((f"{len(extra)} file(s)", "not listed in the manifest; not unpacked: "
                               + ", ".join(clean(x, limit=80) for x in extra[:MAX_SHOWN])
                               + (" ..." if len(extra) > MAX_SHOWN else "")))
    return report


__all__ = ["BundleReport", "export_bundle", "import_bundle", "result_file"]
