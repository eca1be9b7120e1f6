"""Reading the project's TOML data files (profiles, standards) into pydantic models, with one-line errors.

Every failure, whatever its cause (missing file, bad bytes, bad TOML, a field that does not
validate), becomes a :class:`bench.errors.ConfigError` whose message is ``FILE: FIELD: PROBLEM``.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from bench.errors import ConfigError
from bench.result.files import read_limited

try:  # Python 3.11+
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

M = TypeVar("M", bound=BaseModel)

MAX_FILE_BYTES = 1 << 20  # a profile or a standard is a few kB; refuse anything absurd


def read_toml(path: Path) -> tuple[dict[str, Any], str]:
    """The parsed table of ``path`` and the SHA-256 of its bytes. Raises :class:`ConfigError`.

    Only a regular file of at most :data:`MAX_FILE_BYTES` is read (``--standard /dev/zero`` or a FIFO is refused
    before a byte is read); numbers are checked by the models (a TOML ``inf`` or a 400-digit integer is refused)."""
    raw = read_limited(path, MAX_FILE_BYTES, ConfigError, "(file)")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: (file): not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: (toml): {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: (toml): nested too deeply") from None
    return data, hashlib.sha256(raw).hexdigest()


def validation_message(path: Path, exc: ValidationError) -> str:
    """``FILE: FIELD: PROBLEM`` for the first error of a pydantic validation."""
    errors = exc.errors(include_url=False)
    # a misspelt field shows up as "extra" plus "missing": name the misspelling first
    errors.sort(key=lambda e: e.get("type") != "extra_forbidden")
    first = errors[0]
    loc = ".".join(str(p) for p in first.get("loc", ())) or "(top)"
    msg = str(first.get("msg", "invalid"))
    if first.get("type") == "extra_forbidden":
        msg = "unknown field (misspelt?)"
    if msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    if not first.get("loc"):  # a whole-model check names its field at the start of its message
        m = re.match(r"^([A-Za-z_][\w.\-]*): (.+)$", msg, re.S)
        if m:
            loc, msg = m.group(1), m.group(2)
    more = len(errors) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more > 0 else ""
    return f"{path}: {loc}: {msg}{suffix}"


def validate(model: type[M], path: Path, data: dict[str, Any]) -> M:
    """Validate ``data`` as ``model`` strictly (``true`` is not a number, ``"5"`` not an integer); a failure is a
    :class:`ConfigError` naming file and field."""
    try:
        return model.model_validate(data, strict=True)
    except ValidationError as exc:
        raise ConfigError(validation_message(path, exc)) from None
    except RecursionError:
        raise ConfigError(f"{path}: (top): nested too deeply") from None
