"""Writing a benchmark's figures into the docs: the JSON under docs/data/ and a marked section of a markdown
page, both replaced whole by the script that measured them (so no figure in the docs is typed by hand)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.atomic import atomic_write_bytes

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, text.encode("utf-8"))


def emit(report: dict[str, Any], out: Path | None, allow_nan: bool = True) -> str:
    """A benchmark's report as JSON on stdout, and in ``out`` too (its ``--out``); returns the text.
    ``allow_nan=False``: strict JSON, a NaN or infinity is an error."""
    text = json.dumps(report, indent=2, allow_nan=allow_nan)
    print(text)
    if out:
        out.write_text(text + "\n", encoding="utf-8")
    return text


def write_data(name: str, report: dict[str, Any]) -> Path:
    """``docs/data/<name>.json``."""
    path = DOCS / "data" / f"{name}.json"
    _atomic_write(path, json.dumps(report, indent=2) + "\n")
    return path


def write_section(page: str, name: str, body: str) -> Path:
    """Replace the section ``name`` of ``docs/<page>`` (between its begin and end markers) with ``body``; a page
    without the markers gets the section appended."""
    path = DOCS / page
    begin = f"<!-- {name}: begin (written by benchmarks/{name}.py; do not edit by hand) -->"
    end = f"<!-- {name}: end -->"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    block = f"{begin}\n{body.strip()}\n{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    _atomic_write(path, text)
    return path
