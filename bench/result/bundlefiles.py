"""The members of a submission bundle read within limits: constants of the format, the manifest's model, and the
reader that streams members out of the archive (:func:`read_members`) without ever holding one in memory.

Limits are checked on each member's tar header, before its data is read: :data:`MAX_MEMBERS` members, sizes per
kind of file, :data:`MAX_HEADER_BYTES` for pax and GNU long-name headers (which :mod:`tarfile` reads whole into
memory), :data:`MAX_UNPACKED_BYTES` in all.
"""

from __future__ import annotations

import hashlib
import re
import tarfile
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from bench.errors import ResultError
from bench.result.bounds import Base64, Hex64, Name, RunId
from bench.result.files import field_path, open_regular, parse_json
from bench.result.io import MAX_RESULT_BYTES
from bench.result.model import RESULT_FILE
from bench.result.trace import MAX_FILE_BYTES as MAX_TRACE_BYTES
from bench.safetext import clean

MANIFEST = "manifest.json"
MANIFEST_SIG = "manifest.sig"
FORMAT = "bench-bundle"
FORMAT_VERSION = 1
MANIFEST_CONTEXT = b"bench-bundle-manifest-v1\n"
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")  # always fullmatch: "$" would let a newline end a name
BundleName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")]  # pydantic's "$": end of text


MAX_MEMBERS = 10_000
MAX_MANIFEST_BYTES = 4 << 20
MAX_SIG_BYTES = 4 << 10
MAX_HEADER_BYTES = 64 << 10  # a pax or GNU long-name header: a few names, not megabytes
MAX_UNPACKED_BYTES = 64 << 30


class BoundedTarInfo(tarfile.TarInfo):
    """A tar header whose extended headers (pax, GNU long names) may not claim more than
    :data:`MAX_HEADER_BYTES`: :mod:`tarfile` reads such a header whole into memory before anything else."""

    @classmethod
    def frombuf(cls, buf: bytes, encoding: str, errors: str) -> "BoundedTarInfo":
        info = super().frombuf(buf, encoding, errors)
        extended = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE, tarfile.GNUTYPE_LONGNAME,
                    tarfile.GNUTYPE_LONGLINK)
        if info.type in extended and info.size > MAX_HEADER_BYTES:
            raise ResultError(f"an extended tar header of {info.size:,} bytes (at most {MAX_HEADER_BYTES:,}); refused")
        return info


class ManifestSig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    public_key: Base64
    signature: Base64


class Manifest(BaseModel):
    """``manifest.json``: the entries are checked one by one (:class:`Entry`), so one bad entry refuses only its
    result."""

    model_config = ConfigDict(extra="allow")

    format: Literal["bench-bundle"]
    format_version: int = Field(ge=1)
    created_utc: Name | None = None
    harness: dict[str, Any] = Field(default_factory=dict)
    results: list[Any] = Field(default_factory=list, max_length=MAX_MEMBERS)


class Entry(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: BundleName
    run_id: RunId | None = None
    digest: Hex64
    integrity: Name | None = None
    key_fingerprint: Name | None = None
    files: dict[BundleName, Hex64] = Field(max_length=64)


def safe_member(member: tarfile.TarInfo) -> PurePosixPath:
    """The member's path if it is a plain file or folder with a relative path inside the bundle."""
    path = PurePosixPath(member.name)
    if (member.name.startswith(("/", "\\")) or "\\" in member.name or ".." in path.parts
            or any(p in ("", ".") for p in member.name.rstrip("/").split("/")) or ":" in member.name):
        raise ResultError(f"bundle member {clean(member.name, limit=100)!r} would land outside the target folder; "
                          "refused")
    if not (member.isfile() or member.isdir()):
        raise ResultError(f"bundle member {clean(member.name, limit=100)!r} is not a plain file (link or device); "
                          "refused")
    return path


def member_limit(path: PurePosixPath) -> int:
    if str(path) == MANIFEST:
        return MAX_MANIFEST_BYTES
    if str(path) == MANIFEST_SIG:
        return MAX_SIG_BYTES
    return MAX_RESULT_BYTES if path.name == RESULT_FILE else MAX_TRACE_BYTES


def copy_member(tar: tarfile.TarFile, member: tarfile.TarInfo, dest: Path) -> str:
    """Stream a member to ``dest`` (never whole in memory); its SHA-256."""
    h = hashlib.sha256()
    src = tar.extractfile(member)
    with open(dest, "xb") as out:
        while src is not None and (chunk := src.read(1 << 20)):
            h.update(chunk)
            out.write(chunk)
    return h.hexdigest()


class Unpacked:
    """The members of a bundle: the manifest and its signature in memory, every ``results/NAME/FILE`` streamed
    to a scratch folder with its SHA-256; anything else only counted."""

    def __init__(self, scratch: Path) -> None:
        self.scratch = scratch
        self.small: dict[str, bytes] = {}
        self.files: dict[str, tuple[Path, str]] = {}  # "results/NAME/FILE" -> (scratch file, sha256)
        self.other: list[str] = []
        self.seen: set[str] = set()

    def add(self, tar: tarfile.TarFile, member: tarfile.TarInfo, path: PurePosixPath) -> None:
        key = str(path)
        if key in self.seen:
            raise ResultError(f"bundle member {clean(member.name, limit=100)!r} appears twice; refused")
        self.seen.add(key)
        limit = member_limit(path)
        if member.size > limit:
            raise ResultError(f"bundle member {clean(member.name, limit=100)!r} is {member.size:,} bytes "
                              f"(at most {limit:,}); refused")
        if key in (MANIFEST, MANIFEST_SIG):
            fh = tar.extractfile(member)
            self.small[key] = fh.read(limit + 1) if fh is not None else b""
        elif len(path.parts) == 3 and path.parts[0] == "results" and NAME.fullmatch(path.parts[1]) \
                and NAME.fullmatch(path.parts[2]):
            dest = self.scratch / f"{len(self.files)}.member"
            self.files[key] = (dest, copy_member(tar, member, dest))
        else:
            self.other.append(key)


def read_members(bundle: Path | str, scratch: Path) -> Unpacked:
    members = Unpacked(scratch)
    total = count = 0
    with open_regular(bundle, 1 << 50, ResultError, "bundle") as fh, \
            tarfile.open(fileobj=fh, mode="r:*", tarinfo=BoundedTarInfo) as tar:
        for member in tar:
            count += 1
            if count > MAX_MEMBERS:
                raise ResultError(f"{bundle}: more than {MAX_MEMBERS:,} members; refused")
            path = safe_member(member)
            total += member.size
            if total > MAX_UNPACKED_BYTES:
                raise ResultError(f"{bundle}: more than {MAX_UNPACKED_BYTES:,} bytes unpacked; refused")
            if member.isfile():
                members.add(tar, member, path)
            tar.members.clear()  # tarfile keeps every header it has read: keep none
    return members


def load_manifest(files: dict[str, bytes]) -> Manifest:
    if MANIFEST not in files:
        raise ResultError(f"not a bench bundle: no {MANIFEST}")
    data = parse_json(files[MANIFEST], MANIFEST, ResultError)
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ResultError(f"{MANIFEST}: not a {FORMAT} manifest")
    version = data.get("format_version")
    if type(version) is not int:
        raise ResultError(f"{MANIFEST}: field format_version: must be an integer, got {clean(version, limit=40)}")
    if version > FORMAT_VERSION:
        raise ResultError(f"{MANIFEST}: bundle format {version} is newer than this harness understands "
                          f"({FORMAT_VERSION}); upgrade bench")
    try:
        return Manifest.model_validate(data, strict=True)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        raise ResultError(f"{MANIFEST}: field {field_path(first['loc'])}: {first['msg']}") from None


__all__ = ["FORMAT", "FORMAT_VERSION", "MANIFEST", "MANIFEST_CONTEXT", "MANIFEST_SIG", "MAX_MEMBERS", "NAME",
           "BoundedTarInfo", "Entry", "Manifest", "ManifestSig", "Unpacked", "load_manifest", "read_members",
           "safe_member"]
