"""bench: a Green-AI energy benchmarking harness.

Importing this package has no side effects and imports neither torch nor pandas.
"""

__version__ = "0.1.0"
