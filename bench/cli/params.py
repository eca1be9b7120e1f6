"""Click types for numbers on the command line: finite and in range, checked before anything runs.

click's ``FloatRange`` lets ``nan`` through (every comparison with it is false) and ``inf`` through an open upper
bound; :class:`Finite` refuses both, and every option that takes a number names its range.
"""

from __future__ import annotations

import math
from typing import Any

import click


class Finite(click.FloatRange):
    """A finite float within [min, max] (``min_open``/``max_open`` as click's ``FloatRange``)."""

    name = "finite number"

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                self.fail(f"{value!r} is not a number", param, ctx)
            if not math.isfinite(number):
                self.fail(f"must be a finite number (got {value})", param, ctx)
        elif isinstance(value, float) and not math.isfinite(value):
            self.fail(f"must be a finite number (got {value})", param, ctx)
        return super().convert(value, param, ctx)


__all__ = ["Finite"]
