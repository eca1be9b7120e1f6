"""Reading files the harness did not write (results from other labs, bundles, profiles, standards, keys).

Every reader of such a file goes through here, so each limit is in one place:

- only a regular file is read: a FIFO, a device (``/dev/zero``), a socket or a folder is refused before a byte is
  read, and opening never blocks (a FIFO with no writer would hang ``open``);
- the size is checked before reading, and reading stops one byte past the limit whatever ``stat`` said;
- JSON is parsed strictly: UTF-8 only, no ``NaN``/``Infinity``, no number that overflows a float (``1e309``), no
  integer of more than :data:`MAX_INT_DIGITS` digits, nesting at most :data:`MAX_DEPTH` deep, strings at most
  :data:`MAX_STRING_CHARS` long and free of lone UTF-16 surrogates, lists and objects at most :data:`MAX_ITEMS`
  long. A violation is one line naming the file and the field (``measurement.rate_hz``).
"""

from __future__ import annotations

import json
import math
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from bench.errors import BenchError, ResultError
from bench.safetext import clean

MAX_DEPTH = 32  # a result nests about 8 deep (distributed.nodes[i].devices[j].identity...)
MAX_STRING_CHARS = 65_536
MAX_ITEMS = 1_000_000
MAX_INT_DIGITS = 40  # 2**63 has 19 digits; Python refuses past 4,300 with a ValueError of its own
MAX_KEY_CHARS = 1_024

ErrorType = Callable[[str], BenchError]


def _describe(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def _os_problem(exc: OSError) -> str:
    if isinstance(exc, FileNotFoundError):
        return "cannot read (no such file)"
    if isinstance(exc, PermissionError):
        return "cannot read (permission denied)"
    return f"cannot read ({exc.strerror or exc})"


def open_regular(path: Path | str, max_bytes: int, error: ErrorType = ResultError,
                 what: str = "file") -> IO[bytes]:
    """``path`` opened for binary reading if it is a regular file of at most ``max_bytes`` bytes; else ``error``
    with one line, ``PATH: WHAT: PROBLEM``. Opening never blocks, so a FIFO is refused rather than waited on."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOCTTY", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except OSError as exc:
        raise error(f"{path}: {what}: {_os_problem(exc)}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise error(f"{path}: {what}: {_describe(st.st_mode)}, not a regular file; refused")
        if st.st_size > max_bytes:
            raise error(f"{path}: {what}: {st.st_size:,} bytes, more than the {max_bytes:,} allowed; refused")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_limited(path: Path | str, max_bytes: int, error: ErrorType = ResultError, what: str = "file") -> bytes:
    """The bytes of a regular file of at most ``max_bytes`` bytes (see :func:`open_regular`)."""
    with open_regular(path, max_bytes, error, what) as fh:
        try:
            data = fh.read(max_bytes + 1)
        except OSError as exc:
            raise error(f"{path}: {what}: {_os_problem(exc)}") from None
    if len(data) > max_bytes:  # grew after the size check
        raise error(f"{path}: {what}: more than the {max_bytes:,} bytes allowed; refused")
    return data


# --- strict JSON ------------------------------------------------------------------------------


class Bad:
    """Stands in for a number JSON data may not hold, so the tree walk can name the field it was in."""

    def __init__(self, why: str) -> None:
        self.why = why


def _constant(token: str) -> Bad:
    return Bad(f"{token} is not a number JSON allows")


def _float(token: str) -> float | Bad:
    value = float(token)
    return value if math.isfinite(value) else Bad(f"{token[:40]} overflows a float")


def _int(token: str) -> int | Bad:
    if len(token.lstrip("-")) > MAX_INT_DIGITS:
        return Bad(f"an integer of {len(token.lstrip('-')):,} digits (at most {MAX_INT_DIGITS})")
    return int(token)


def field_path(parts: list[Any] | tuple[Any, ...]) -> str:
    """``measurement.channels.0.capabilities`` from its parts; ``(top)`` for the document itself."""
    return clean(".".join(str(p) for p in parts) or "(top)", limit=200)


def _has_surrogate(text: str) -> bool:
    return not text.isprintable() and any(0xD800 <= ord(c) <= 0xDFFF for c in text)


def _check_string(text: str, limit: int) -> str | None:
    if len(text) > limit:
        return f"a string of {len(text):,} characters (at most {limit:,})"
    if _has_surrogate(text):
        return "a lone UTF-16 surrogate, which is not Unicode text"
    return None


def check_tree(data: Any, max_depth: int = MAX_DEPTH) -> tuple[str, str] | None:
    """(field, problem) for the first thing in parsed JSON beyond the limits, or None. Iterative: any depth."""
    stack: list[tuple[Any, tuple[Any, ...]]] = [(data, ())]
    while stack:
        node, path = stack.pop()
        if isinstance(node, Bad):
            return field_path(path), node.why
        if isinstance(node, str):
            problem = _check_string(node, MAX_STRING_CHARS)
            if problem:
                return field_path(path), problem
            continue
        if not isinstance(node, (dict, list)):
            continue
        if len(path) >= max_depth:
            return field_path(path), f"nested more than {max_depth} deep"
        if len(node) > MAX_ITEMS:
            return field_path(path), f"{len(node):,} items (at most {MAX_ITEMS:,})"
        if isinstance(node, dict):
            for key, value in node.items():
                problem = _check_string(key, MAX_KEY_CHARS)
                if problem:
                    return field_path(path), f"a key that is {problem}"
                stack.append((value, (*path, key)))
        else:
            stack.extend((value, (*path, i)) for i, value in enumerate(node))
    return None


def parse_json(raw: bytes, where: Path | str, error: ErrorType = ResultError, max_depth: int = MAX_DEPTH) -> Any:
    """Strictly parsed JSON (see the module's description); every problem is ``error`` naming ``where`` and,
    where it can, the field."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise error(f"{where}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        data = json.loads(text, parse_constant=_constant, parse_float=_float, parse_int=_int)
    except RecursionError:
        raise error(f"{where}: (top): nested more than {max_depth} deep") from None
    except json.JSONDecodeError as exc:
        raise error(f"{where}: unreadable or truncated JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") \
            from None
    except ValueError as exc:  # pragma: no cover - the hooks above return Bad instead of raising
        raise error(f"{where}: unreadable JSON ({exc})") from None
    found = check_tree(data, max_depth)
    if found:
        raise error(f"{where}: field {found[0]}: {found[1]}")
    return data


def read_json(path: Path | str, max_bytes: int, error: ErrorType = ResultError, what: str = "file") -> Any:
    """A regular file of at most ``max_bytes`` parsed as strict JSON."""
    return parse_json(read_limited(path, max_bytes, error, what), path, error)


__all__ = ["MAX_DEPTH", "MAX_ITEMS", "MAX_STRING_CHARS", "check_tree", "field_path", "open_regular", "parse_json",
           "read_json", "read_limited"]
