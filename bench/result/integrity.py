"""Tamper evidence for result folders: digest checks, Ed25519 signatures and key files.

A sealed ``result.json`` carries ``integrity.digest``: SHA-256 over the canonical JSON of the result; the
trace file's own SHA-256 is inside (``trace.sha256``), so the digest covers both files. From digest format 2
(``integrity.format``) the block also lists every file of the folder it covers (``integrity.files``), and that
list is under the digest; format 1 results (written before the list existed) still verify, their covered files
being the ones they name. Either way a file in the folder that the digest does not cover (added), a covered file
that is missing (removed) or one whose bytes differ (changed) fails verification. Verification also checks the
file is byte for byte the harness's own layout, so even a change that leaves the parsed content equal
(whitespace, ``1e5`` -> ``1E5``) is caught, and that the result is valid (:func:`bench.result.io.validate_result`).

A signature is Ed25519 over ``SIGNATURE_CONTEXT + digest`` (the hex digest as ASCII), stored as
base64 with the signer's raw public key (base64) beside it. Without a digest match no signature
counts. An embedded key proves the file is unchanged since it was signed; only a key the reviewer
trusts (``trusted``) proves who signed it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import ResultError, UsageError
from bench.result.files import read_limited
from bench.result.io import (
    DIGEST_FORMAT,
    atomic_write_bytes,
    content_digest,
    covered_files,
    file_sha256,
    read_result_raw,
    trace_refs,
    validate_result,
    writable,
)
from bench.result.model import RESULT_FILE
from bench.result.trace import STREAM_FILE

SIGNATURE_CONTEXT = b"bench-result-signature-v1\n"
INTEGRITY_KEYS = frozenset({"algorithm", "digest", "signature", "public_key", "format", "files"})
MAX_KEY_FILE_BYTES = 16 << 10  # a PEM key is a few hundred bytes
# states: intact ones first; the rest make `bench verify` exit 1
SIGNED, UNSIGNED, EDITED, BAD_SIGNATURE, UNTRUSTED = "signed", "unsigned", "edited", "bad-signature", "untrusted-key"
GOOD_STATES = (SIGNED, UNSIGNED)


@dataclass
class Check:
    """The integrity of one result folder. ``state`` is one of signed, unsigned, edited, bad-signature,
    untrusted-key; ``problems`` says what differs."""

    folder: Path
    state: str
    run_id: str | None = None
    digest: str | None = None
    key_fingerprint: str | None = None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.state in GOOD_STATES

    @property
    def detail(self) -> str:
        if self.problems:
            return "; ".join(self.problems)
        if self.state == SIGNED:
            return f"intact, signed by key {self.key_fingerprint}"
        return "intact, not signed"


# --- reading ----------------------------------------------------------------------------------


def result_file(path: Path | str) -> Path:
    """The ``result.json`` of a run folder (or the file itself)."""
    path = Path(path)
    return path / RESULT_FILE if path.is_dir() else path


def read_raw(path: Path | str) -> tuple[bytes, dict[str, Any]]:
    """The bytes and parsed JSON of a result; :class:`ResultError` names what is wrong with bad input."""
    _, raw, data = read_result_raw(path)
    return raw, data


def layout_bytes(data: dict[str, Any]) -> bytes:
    """The bytes the harness writes for ``data`` (the layout of :func:`bench.result.model.write_result`)."""
    return json.dumps(data, indent=2, sort_keys=False, allow_nan=False).encode() + b"\n"


# --- keys -------------------------------------------------------------------------------------


def fingerprint(public_key: Any) -> str:
    """Short id of an Ed25519 public key: the first 16 hex digits of SHA-256 of its raw 32 bytes."""
    return hashlib.sha256(_raw_public(public_key)).hexdigest()[:16]


def _raw_public(public_key: Any) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def _key_target(path: Path, force: bool) -> None:
    """Refuse a key path that is a symbolic link (a key is never written through one), a folder or anything but a
    regular file, or that exists without ``force``."""
    if path.is_symlink():
        raise UsageError(f"{path} is a symbolic link; refusing to write a key through it")
    if path.exists() and not path.is_file():
        raise UsageError(f"{path} exists and is not a regular file; refusing to write a key there")
    if path.exists() and not force:
        raise UsageError(f"{path} exists; refusing to overwrite a key (use --force)")
    folder = path.parent
    if not folder.is_dir():
        raise UsageError(f"{path}: folder {folder} does not exist")


def write_key_file(path: Path, data: bytes, mode: int, force: bool = False) -> None:
    """Write a key file with ``mode``: created with ``O_EXCL | O_NOFOLLOW`` (never through a link, never over a
    file another process just put there); with ``force``, created beside the old one and renamed over it."""
    _key_target(path, force)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    target = path if not path.exists() else path.with_name(f".{path.name}.{os.getpid()}.new")
    try:
        fd = os.open(target, flags, mode)
    except FileExistsError:
        raise UsageError(f"{target} exists; refusing to overwrite a key (use --force)") from None
    except OSError as exc:
        raise UsageError(f"cannot write {target} ({exc.strerror or exc})") from None
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), mode)
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        if target != path:
            os.replace(target, path)
    except OSError as exc:
        Path(target).unlink(missing_ok=True)
        raise UsageError(f"cannot write {path} ({exc.strerror or exc})") from None


def generate_keypair(path: Path | str, force: bool = False) -> tuple[Path, Path]:
    """Write a new Ed25519 private key (PEM PKCS8, mode 0600) to ``path`` and its public key to ``path.pub``
    (mode 0644). Neither is written through a symbolic link; without ``force`` neither may exist."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    priv_path = Path(path)
    pub_path = priv_path.with_name(priv_path.name + ".pub")
    for p in (priv_path, pub_path):
        _key_target(p, force)
    key = Ed25519PrivateKey.generate()
    priv = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    pub = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    write_key_file(priv_path, priv, 0o600, force)
    try:
        write_key_file(pub_path, pub, 0o644, force)
    except UsageError:
        priv_path.unlink(missing_ok=True)  # no private key without its public half
        raise
    return priv_path, pub_path


def _key_errors() -> tuple[type[BaseException], ...]:
    from cryptography.exceptions import UnsupportedAlgorithm

    return (ValueError, TypeError, UnsupportedAlgorithm, binascii.Error)


def load_private_key(path: Path | str) -> Any:
    """An Ed25519 private key from a PEM file (as :func:`generate_keypair` writes); anything else is one
    :class:`UsageError` line (the key is a file the user named)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    raw = read_limited(path, MAX_KEY_FILE_BYTES, UsageError, "key file")
    try:
        with warnings.catch_warnings():  # a deprecated algorithm's key is refused below, not warned about
            warnings.simplefilter("ignore")
            key = serialization.load_pem_private_key(raw, password=None)
    except _key_errors() as exc:
        raise UsageError(f"{path}: not a readable unencrypted PEM private key ({_why(exc)})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise UsageError(f"{path}: not an Ed25519 key ({type(key).__name__})")
    return key


def _why(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:200] or type(exc).__name__


def load_public_key(ref: Path | str) -> Any:
    """An Ed25519 public key from a PEM file, a file holding base64 of the raw key, or that base64 text."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

    text = str(ref).encode("utf-8", "surrogateescape")
    if os.path.lexists(ref):
        text = read_limited(ref, MAX_KEY_FILE_BYTES, UsageError, "key file")
    elif len(text) > 1024:
        raise UsageError("--pubkey: neither a key file nor base64 of a 32-byte key")
    try:
        if b"-----BEGIN" in text:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                key = (serialization.load_pem_private_key(text, password=None).public_key()
                       if b"PRIVATE KEY" in text else serialization.load_pem_public_key(text))
        else:
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(text.strip(), validate=True))
    except _key_errors() as exc:
        raise UsageError(f"{str(ref)[:200]}: not an Ed25519 public key (PEM file or base64 of 32 bytes): "
                         f"{_why(exc)}") from None
    if isinstance(key, Ed25519PrivateKey):  # pragma: no cover - load_pem_* returned the public half above
        key = key.public_key()
    if not isinstance(key, Ed25519PublicKey):
        raise UsageError(f"{str(ref)[:200]}: not an Ed25519 key ({type(key).__name__})")
    return key


# --- checking ---------------------------------------------------------------------------------


def _listing(folder: Path, limit: int = 10_000) -> list[str]:
    """The names in a result folder (at most ``limit``: a folder holding more is not a result's)."""
    names = []
    try:
        with os.scandir(folder) as entries:
            for entry in entries:
                names.append(entry.name)
                if len(names) > limit:
                    break
    except OSError as exc:
        raise ResultError(f"{folder}: cannot list the result folder ({exc.strerror or exc})") from None
    return names


def _shown(names: list[str], limit: int = 5) -> str:
    shown = ", ".join(repr(n) for n in sorted(names)[:limit])
    return shown + (f" and {len(names) - limit} more" if len(names) > limit else "")


def _file_problems(folder: Path, data: dict[str, Any], notes: list[str]) -> list[str]:
    """Each named trace against its digest, and the folder against the files the digest covers."""
    problems = []
    named = set()
    for name, expected in trace_refs(data):
        named.add(name)
        trace = folder / name
        if not expected:
            notes.append(f"{name} is not covered by the digest (run not finalised)")
        elif not os.path.lexists(trace):
            problems.append(f"{name} is missing (its digest is recorded)")
        elif trace.is_symlink():
            problems.append(f"{name} is a symbolic link, not the file its digest covers")
        else:
            try:
                if file_sha256(trace) != expected:
                    problems.append(f"{name} does not match its digest")
            except ResultError as exc:
                problems.append(str(exc).replace(f"{folder}/", "", 1))
    covered = set(covered_files(data))
    integ = data.get("integrity") if isinstance(data.get("integrity"), dict) else {}
    if integ.get("format") is not None and integ.get("files") != sorted(covered):
        problems.append("integrity.files does not list the files the result covers")
    if data.get("status") == "running" and STREAM_FILE not in named and os.path.lexists(folder / STREAM_FILE):
        named.add(STREAM_FILE)  # the meter's stream of a run that never finished (killed): the harness's own file
        notes.append(f"{STREAM_FILE} is not covered by the digest (run not finished)")
    for node in (data.get("distributed") or {}).get("nodes") or []:  # a node whose trace could not be finalised
        work = f"node-{node.get('node')}"
        if node.get("trace_location") != "node_local" and os.path.isdir(folder / work) and work not in named:
            named.add(work)
            notes.append(f"{work}/ (that node's unfinished trace) is not covered by the digest")
    added = [n for n in _listing(folder) if n not in covered and n not in named]
    if added:
        problems.append(f"not covered by the digest (added): {_shown(added)}")
    return problems


def _content_problems(raw: bytes, data: dict[str, Any]) -> tuple[list[str], str | None]:
    integ = data.get("integrity")
    if not isinstance(integ, dict):
        return ["no integrity block: the file was not sealed by the harness"], None
    problems = []
    extra = set(integ) - INTEGRITY_KEYS
    if extra:
        problems.append(f"unknown integrity field(s) {', '.join(sorted(extra))}")
    if integ.get("algorithm") != "sha256":
        problems.append(f"unknown digest algorithm {str(integ.get('algorithm'))[:40]!r}")
    fmt = integ.get("format")
    if fmt is not None and (type(fmt) is not int or not 2 <= fmt <= DIGEST_FORMAT):
        problems.append(f"unknown digest format {str(fmt)[:20]!r} (this harness knows 1 to {DIGEST_FORMAT})")
    digest = integ.get("digest")
    if not isinstance(digest, str) or digest != content_digest(data):
        problems.append("content does not match its digest")
    elif raw != layout_bytes(data):
        problems.append("file bytes differ from the harness's layout (whitespace or number format edited)")
    return problems, digest if isinstance(digest, str) else None


def _canonical_b64(text: str, size: int, name: str) -> bytes:
    """Decode base64 that must be exactly the canonical encoding of ``size`` bytes (no spare-bit slack)."""
    data = base64.b64decode(text, validate=True)
    if len(data) != size or base64.b64encode(data).decode() != text:
        raise ValueError(f"{name} is not the canonical base64 of {size} bytes")
    return data


def _signature_state(check: Check, integ: dict[str, Any], trusted: list[Any] | None) -> None:
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    sig, pub = integ.get("signature"), integ.get("public_key")
    if sig is None and pub is None:
        check.state = UNSIGNED
        return
    try:
        if not isinstance(sig, str) or not isinstance(pub, str):
            raise ValueError("signature and public_key must both be present")
        key = Ed25519PublicKey.from_public_bytes(_canonical_b64(pub, 32, "public_key"))
        check.key_fingerprint = fingerprint(key)
        key.verify(_canonical_b64(sig, 64, "signature"), SIGNATURE_CONTEXT + str(check.digest).encode())
    except (InvalidSignature, ValueError, TypeError, binascii.Error) as exc:
        check.state = BAD_SIGNATURE
        check.problems.append(f"signature does not verify ({type(exc).__name__}{': ' + str(exc) if str(exc) else ''})")
        return
    if trusted is not None and check.key_fingerprint not in {fingerprint(k) for k in trusted}:
        check.state = UNTRUSTED
        check.problems.append(f"signed by key {check.key_fingerprint}, which is not among the trusted keys")
        return
    check.state = SIGNED


def check_folder(path: Path | str, trusted: list[Any] | None = None) -> Check:
    """Check one result folder. Bad input (no result, unreadable or invalid JSON, newer schema) raises
    :class:`ResultError`.

    ``trusted``: public keys a signature must come from (None: any valid signature counts as signed).
    """
    file = result_file(path)
    folder = file.parent
    raw, data = read_raw(file)
    result = validate_result(data, file)
    check = Check(folder=folder, state=EDITED, run_id=result.run_id)
    problems, check.digest = _content_problems(raw, data)
    if not problems:
        problems = _file_problems(folder, data, check.notes)
    if problems:
        check.problems = problems
        return check
    _signature_state(check, data["integrity"], trusted)
    return check


def sign_folder(path: Path | str, private_key: Any) -> Check:
    """Add an Ed25519 signature to an intact result (rewritten atomically). Refuses an edited one."""
    check = check_folder(path)
    if check.state == EDITED:
        raise ResultError(f"{check.folder}: refusing to sign an edited result: {check.detail}")
    file = result_file(path)
    _, data = read_raw(file)
    signature = private_key.sign(SIGNATURE_CONTEXT + str(check.digest).encode())
    data["integrity"]["signature"] = base64.b64encode(signature).decode()
    data["integrity"]["public_key"] = base64.b64encode(_raw_public(private_key.public_key())).decode()
    if not writable(file) or not writable(file.parent):
        raise ResultError(f"{check.folder}: cannot sign a read-only result (permission denied)")
    try:
        atomic_write_bytes(file, layout_bytes(data))
    except OSError as exc:
        raise ResultError(f"{check.folder}: cannot write the signed result ({exc.strerror or exc})") from None
    return check_folder(file, trusted=[private_key.public_key()])
