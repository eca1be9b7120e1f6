"""bench: a Green-AI energy benchmarking harness.

Importing this package has no side effects and imports neither torch nor pandas.
"""

from bench.version import __version__

__all__ = ["__version__"]
