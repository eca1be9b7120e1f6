"""Statistics over repeats: mean, sample standard deviation and Student-t confidence intervals (scipy).

scipy is imported on first use, so importing this module stays cheap.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def t_critical(confidence: float, dof: float) -> float:
    """Two-sided critical value of Student's t: P(|T| <= q) = ``confidence`` (0.95 -> 12.706 at 1 dof).

    ``dof`` may be real (Welch-Satterthwaite degrees of freedom).
    """
    if not dof > 0:
        raise ValueError("dof must be > 0")
    if not 0 < confidence < 1:
        raise ValueError("confidence must be in (0, 1)")
    from scipy import stats

    return float(stats.t.ppf((1 + confidence) / 2, dof))




def summarize(values: Sequence[float | None], confidence: float = 0.95) -> dict[str, float | int | None]:
    """Mean, sample std and the ``confidence`` CI of the mean over the finite, non-None values.

    With one value the std and CI are None: a single sample is never presented as a bounded result.
    """
    xs = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    n = len(xs)
    if n == 0:
        return {"mean": None, "std": None, "ci95_low": None, "ci95_high": None, "n": 0}
    mean = math.fsum(xs) / n
    if n == 1:
        return {"mean": mean, "std": None, "ci95_low": None, "ci95_high": None, "n": 1}
    std = math.sqrt(math.fsum((x - mean) ** 2 for x in xs) / (n - 1))
    half = t_critical(confidence, n - 1) * std / math.sqrt(n)
    return {"mean": mean, "std": std, "ci95_low": mean - half, "ci95_high": mean + half, "n": n}


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linearly interpolated percentile ``q`` in [0, 100] of ``values`` (None when empty)."""
    if len(values) == 0:
        return None
    import numpy as np

    return float(np.percentile(np.asarray(values, dtype=float), q))
