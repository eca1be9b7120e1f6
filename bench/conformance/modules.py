"""Putting a fake vendor library in ``sys.modules`` in place of the real one, and taking it out again."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Any


def install(name: str, module: Any, monkeypatch: Any) -> Any:
    """``module`` becomes ``sys.modules[name]`` through pytest's monkeypatch (undone at teardown)."""
    monkeypatch.setitem(sys.modules, name, module)
    return module


@contextlib.contextmanager
def installed(name: str, module: Any) -> Iterator[Any]:
    """``module`` is ``sys.modules[name]`` inside the block; whatever was there before, after it."""
    missing = object()
    previous = sys.modules.get(name, missing)
    sys.modules[name] = module
    try:
        yield module
    finally:
        if previous is missing:
            sys.modules.pop(name, None)
        else:
            sys.modules[name] = previous
