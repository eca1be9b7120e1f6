"""bench: a Green-AI energy benchmarking harness.

Importing this package has no side effects and imports neither torch nor pandas. The Python API
(:func:`measure`, :func:`measured`, :class:`Session`) loads on first use.
"""

from typing import Any

from bench.version import __version__

# public name -> the module that defines it (imported on first use: `import bench` stays cheap)
LAZY = {
    "measure": "bench.api",
    "measured": "bench.api",
    "Session": "bench.api",
    "NamedWindow": "bench.api",
    "WindowMeasurement": "bench.api",
    "active_session": "bench.api",
}

__all__ = ["__version__", *LAZY]


def __getattr__(name: str) -> Any:
    module = LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'bench' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *LAZY})
