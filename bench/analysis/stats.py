"""Statistics over repeats: mean, sample standard deviation, Student-t 95% confidence intervals.

Pure Python (no scipy at run time). The t quantile is exact for integer degrees of freedom: the
two-sided t distribution function has a closed form (Abramowitz & Stegun 26.7.3-4), inverted here
by bisection.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def _t_central(t: float, dof: int) -> float:
    """P(|T| <= t) for Student's t with integer ``dof`` degrees of freedom."""
    theta = math.atan(t / math.sqrt(dof))
    s, c = math.sin(theta), math.cos(theta)
    if dof % 2 == 1:
        total, term = 0.0, c
        for k in range(1, (dof - 1) // 2 + 1):
            if k == 1:
                term = c
            else:
                term *= c * c * (2 * k - 2) / (2 * k - 1)
            total += term
        return (2 / math.pi) * (theta + s * total) if dof > 1 else 2 * theta / math.pi
    total, term = 1.0, 1.0
    for k in range(1, dof // 2):
        term *= c * c * (2 * k - 1) / (2 * k)
        total += term
    return s * total


def t_quantile(confidence: float, dof: int) -> float:
    """Two-sided critical value: P(|T| <= q) = ``confidence`` (0.95 -> 12.706 at 1 dof)."""
    if dof < 1:
        raise ValueError("dof must be >= 1")
    if not 0 < confidence < 1:
        raise ValueError("confidence must be in (0, 1)")
    lo, hi = 0.0, 1.0
    while _t_central(hi, dof) < confidence:
        hi *= 2
    for _ in range(200):
        mid = (lo + hi) / 2
        if _t_central(mid, dof) < confidence:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, hi):
            break
    return (lo + hi) / 2


def summarize(values: Sequence[float | None], confidence: float = 0.95) -> dict[str, float | int | None]:
    """Mean, sample std and the ``confidence`` CI of the mean over the non-None values.

    With one value the std and CI are None: a single sample is never presented as a bounded result.
    """
    xs = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    n = len(xs)
    if n == 0:
        return {"mean": None, "std": None, "ci95_low": None, "ci95_high": None, "n": 0}
    mean = math.fsum(xs) / n
    if n == 1:
        return {"mean": mean, "std": None, "ci95_low": None, "ci95_high": None, "n": 1}
    var = math.fsum((x - mean) ** 2 for x in xs) / (n - 1)
    std = math.sqrt(var)
    half = t_quantile(confidence, n - 1) * std / math.sqrt(n)
    return {"mean": mean, "std": std, "ci95_low": mean - half, "ci95_high": mean + half, "n": n}


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Linear-interpolated percentile ``q`` in [0, 100] of already sorted values."""
    if not sorted_values:
        return None
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = int(math.floor(pos))
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


# --- real (non-integer) degrees of freedom: Welch-Satterthwaite -------------------------------


def regularized_beta(x: float, a: float, b: float) -> float:
    """Regularized incomplete beta function I_x(a, b) for a, b > 0 and 0 <= x <= 1.

    Evaluated by its continued fraction (Abramowitz & Stegun 26.5.8) with the modified Lentz
    method, on the side of the symmetry I_x(a, b) = 1 - I_{1-x}(b, a) where it converges fast.
    """
    if a <= 0 or b <= 0:
        raise ValueError("a and b must be > 0")
    if not 0.0 <= x <= 1.0:
        raise ValueError("x must be in [0, 1]")
    if x == 0.0 or x == 1.0:
        return x
    if x > (a + 1) / (a + b + 2):
        return 1.0 - regularized_beta(1.0 - x, b, a)
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    return math.exp(log_front) * _beta_fraction(x, a, b) / a


def _beta_fraction(x: float, a: float, b: float) -> float:
    """The continued fraction of I_x(a, b) (A&S 26.5.8), by the modified Lentz method."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        for coef in (m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
                     -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1))):
            d = 1.0 + coef * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + coef / c
            c = c if abs(c) > tiny else tiny
            h *= c * d
        if abs(c * d - 1.0) < 1e-15:
            break
    return h


def t_two_sided_p(t: float, dof: float) -> float:
    """P(|T| >= |t|) for Student's t with ``dof`` > 0 degrees of freedom (need not be an integer)."""
    if not dof > 0:
        raise ValueError("dof must be > 0")
    if math.isinf(t):
        return 0.0
    return regularized_beta(dof / (dof + t * t), dof / 2.0, 0.5)


def t_critical(confidence: float, dof: float) -> float:
    """Two-sided critical value for real ``dof`` > 0: P(|T| <= q) = ``confidence``.

    Equals :func:`t_quantile` at integer ``dof``; used with Welch-Satterthwaite degrees of freedom.
    """
    if not dof > 0:
        raise ValueError("dof must be > 0")
    if not 0 < confidence < 1:
        raise ValueError("confidence must be in (0, 1)")
    alpha = 1.0 - confidence
    lo, hi = 0.0, 1.0
    while t_two_sided_p(hi, dof) > alpha:
        hi *= 2
    for _ in range(200):
        mid = (lo + hi) / 2
        if t_two_sided_p(mid, dof) > alpha:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12 * max(1.0, hi):
            break
    return (lo + hi) / 2
