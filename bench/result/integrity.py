"""Tamper evidence for result folders: digest checks, Ed25519 signatures and key files.

A sealed ``result.json`` carries ``integrity.digest``: SHA-256 over the canonical JSON of the result
without its ``integrity`` block; the trace file's own SHA-256 is inside (``trace.sha256``), so the
digest covers both files. Verification recomputes both from the files, and also checks the file is
byte for byte the harness's own layout, so even a change that leaves the parsed content equal
(whitespace, ``1e5`` -> ``1E5``) is caught.

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import ResultError, UsageError
from bench.result.io import (
    atomic_write_bytes,
    content_digest,
    file_sha256,
    read_result_raw,
)
from bench.result.model import RESULT_FILE, TRACE_FILE

SIGNATURE_CONTEXT = b"bench-result-signature-v1\n"
INTEGRITY_KEYS = frozenset({"algorithm", "digest", "signature", "public_key"})
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


def generate_keypair(path: Path | str, force: bool = False) -> tuple[Path, Path]:
    """Write a new Ed25519 private key (PEM PKCS8, mode 0600) to ``path`` and its public key to ``path.pub``."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    priv_path = Path(path)
    pub_path = priv_path.with_name(priv_path.name + ".pub")
    for p in (priv_path, pub_path):
        if p.exists() and not force:
            raise UsageError(f"{p} exists; refusing to overwrite a key (use --force)")
    key = Ed25519PrivateKey.generate()
    priv = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    pub = key.public_key().public_bytes(serialization.Encoding.PEM,
                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    fd = os.open(priv_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(priv)
    os.chmod(priv_path, 0o600)
    atomic_write_bytes(pub_path, pub)
    return priv_path, pub_path


def load_private_key(path: Path | str) -> Any:
    """An Ed25519 private key from a PEM file (as :func:`generate_keypair` writes)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise UsageError(f"{path}: not a readable unencrypted PEM private key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise UsageError(f"{path}: not an Ed25519 key ({type(key).__name__})")
    return key


def load_public_key(ref: Path | str) -> Any:
    """An Ed25519 public key from a PEM file, a file holding base64 of the raw key, or that base64 text."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey,
        Ed25519PublicKey,
    )

    path = Path(ref)
    text = path.read_bytes() if path.is_file() else str(ref).encode()
    try:
        if b"-----BEGIN" in text:
            key = (serialization.load_pem_private_key(text, password=None).public_key()
                   if b"PRIVATE KEY" in text else serialization.load_pem_public_key(text))
        else:
            key = Ed25519PublicKey.from_public_bytes(base64.b64decode(text.strip(), validate=True))
    except (ValueError, TypeError, binascii.Error) as exc:
        raise UsageError(f"{ref}: not an Ed25519 public key (PEM file or base64 of 32 bytes): {exc}") from None
    if isinstance(key, Ed25519PrivateKey):  # pragma: no cover - load_pem_* returned the public half above
        key = key.public_key()
    if not isinstance(key, Ed25519PublicKey):
        raise UsageError(f"{ref}: not an Ed25519 key ({type(key).__name__})")
    return key


# --- checking ---------------------------------------------------------------------------------


def trace_refs(data: dict[str, Any]) -> list[tuple[str, str | None]]:
    """(file name, recorded SHA-256) of every trace a result names that should sit in its folder: the
    run's trace, and in a distributed run each node's trace kept in the result folder."""
    ref = data.get("trace") if isinstance(data.get("trace"), dict) else {}
    refs = [(str(ref.get("path") or TRACE_FILE), ref.get("sha256"))]
    dist = data.get("distributed") if isinstance(data.get("distributed"), dict) else {}
    for node in dist.get("nodes") or []:
        nref = node.get("trace") if isinstance(node, dict) and isinstance(node.get("trace"), dict) else None
        if nref and node.get("trace_location", "result_folder") == "result_folder" and nref.get("path"):
            refs.append((str(nref["path"]), nref.get("sha256")))
    return list(dict.fromkeys(refs))


def _trace_problems(folder: Path, data: dict[str, Any], notes: list[str]) -> list[str]:
    problems = []
    for name, expected in trace_refs(data):
        trace = (folder / name).resolve()
        if not trace.is_relative_to(folder.resolve()):
            problems.append(f"trace path {name!r} points outside the result folder")
        elif not expected:
            notes.append(f"{name} is not covered by the digest (run not finalised)")
        elif not trace.is_file():
            problems.append(f"{name} is missing (its digest is recorded)")
        elif file_sha256(trace) != expected:
            problems.append(f"{name} does not match its digest")
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
        problems.append(f"unknown digest algorithm {integ.get('algorithm')!r}")
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
    """Check one result folder. Bad input (no result, unreadable JSON, newer schema) raises :class:`ResultError`.

    ``trusted``: public keys a signature must come from (None: any valid signature counts as signed).
    """
    file = result_file(path)
    folder = file.parent
    raw, data = read_raw(file)
    check = Check(folder=folder, state=EDITED, run_id=data.get("run_id"))
    problems, check.digest = _content_problems(raw, data)
    problems += _trace_problems(folder, data, check.notes)
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
    atomic_write_bytes(file, layout_bytes(data))
    return check_folder(file, trusted=[private_key.public_key()])
