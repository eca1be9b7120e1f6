"""Compare results: per workload, each result against a baseline, with statistics done on the repeats.

- Ratio of means (result / baseline) with a 95% confidence interval by **Fieller's theorem** for two
  independent means, with Welch-Satterthwaite degrees of freedom evaluated at the estimated ratio
  (no normal approximation of the ratio; the interval is asymmetric, and unbounded when the baseline
  mean is not clearly away from zero).
- Verdict from **Welch's two-sided t-test** (unequal variances) on the per-repeat values at
  alpha = 0.05: better, worse, or no significant difference.
- Results whose settings differ from the baseline's (preset, dtype, batch, sequence length, other
  workload settings, unit) are "not comparable": shown, never given a verdict, unless the comparison is
  asked for across those settings (``allow``, ``bench compare --allow dtype``): then they get a ratio and a
  verdict and say what differs (``Row.across``). The unit never: a ratio across units means nothing. A
  different quality level or standard keeps its verdict but is flagged.

:func:`comparison` gives the structured :class:`Comparison` (the tables the formatters print);
:func:`compare_frame` the same rows as a pandas DataFrame. Statistics from scipy (through
:mod:`bench.analysis.stats`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from bench.analysis.stats import t_critical
from bench.errors import UsageError

METRICS: dict[str, tuple[str, str, str]] = {
    # name -> (column, label, better direction)
    "net": ("energy_per_unit_j", "net J/unit", "lower"),
    "gross": ("gross_energy_per_unit_j", "gross J/unit", "lower"),
    "throughput": ("throughput", "units/s", "higher"),
}
BETTER, WORSE, SAME = "better", "worse", "no significant difference"
BASELINE, UNTESTABLE, INCOMPARABLE = "baseline", "not testable (fewer than 2 repeats)", "not comparable"
SETTINGS_FIELDS = ("unit", "preset", "dtype", "batch", "seq_len")
ALLOWABLE = ("preset", "dtype", "batch", "seq_len", "settings")  # what a ratio may be asked for across
SETTING_KEYS = {"preset": "preset", "dtype": "dtype", "batch": "batch_size", "seq_len": "seq_len"}  # field -> key


# --- statistics -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Welch:
    """Welch's t-test of mean(a) - mean(b): the difference, its standard error, t, dof and two-sided p."""

    diff: float
    se: float
    t: float
    dof: float
    p_value: float


def _mean_var(xs: Sequence[float]) -> tuple[float, float, int]:
    n = len(xs)
    mean = math.fsum(xs) / n
    return mean, math.fsum((x - mean) ** 2 for x in xs) / (n - 1), n


def welch_test(a: Sequence[float], b: Sequence[float]) -> Welch | None:
    """Welch's unequal-variance t-test (scipy) of the means of ``a`` and ``b``; None with fewer than 2 values
    in either. Two samples without spread give t = +/-inf and p = 0 when their means differ, else p = 1."""
    if len(a) < 2 or len(b) < 2:
        return None
    ma, va, na = _mean_var(a)
    mb, vb, nb = _mean_var(b)
    diff, se = ma - mb, math.sqrt(va / na + vb / nb)
    if se == 0:
        return Welch(diff, 0.0, math.copysign(math.inf, diff) if diff else 0.0, math.inf, 0.0 if diff else 1.0)
    from scipy import stats

    res = stats.ttest_ind(a, b, equal_var=False)
    return Welch(diff, se, float(res.statistic), float(res.df), float(res.pvalue))


@dataclass(frozen=True)
class RatioCI:
    """mean(num) / mean(den) and its Fieller interval; ``low``/``high`` None when the interval is unbounded."""

    ratio: float
    low: float | None
    high: float | None
    dof: float
    confidence: float


def fieller_ratio(num: Sequence[float], den: Sequence[float], confidence: float = 0.95) -> RatioCI | None:
    """Fieller's interval for the ratio of the means of two independent samples (None: < 2 values or mean 0).

    Solves (x - R y)^2 = t^2 (vx + R^2 vy) for R, where x, y are the sample means and vx, vy the
    variances of those means; t is the two-sided ``confidence`` critical value of Student's t with
    the Welch-Satterthwaite degrees of freedom of x - R y at R = x / y.
    """
    if len(num) < 2 or len(den) < 2:
        return None
    x, sx2, nx = _mean_var(num)
    y, sy2, ny = _mean_var(den)
    if y == 0:
        return None
    vx, vy = sx2 / nx, sy2 / ny
    r = x / y
    a, b = vx, r * r * vy
    if a + b == 0:
        return RatioCI(r, r, r, math.inf, confidence)
    dof = (a + b) ** 2 / ((a * a / (nx - 1) if a else 0.0) + (b * b / (ny - 1) if b else 0.0))
    t = t_critical(confidence, dof)
    t2 = t * t
    denom = y * y - t2 * vy
    if denom <= 0:  # the baseline mean is not significantly away from 0: the interval is unbounded
        return RatioCI(r, None, None, dof, confidence)
    half = t * math.sqrt(x * x * vy + y * y * vx - t2 * vx * vy)
    return RatioCI(r, (x * y - half) / denom, (x * y + half) / denom, dof, confidence)


# --- tables -----------------------------------------------------------------------------------


@dataclass
class Row:
    """One result in a workload's table; figures in the metric's unit."""

    run: str
    device: str | None
    preset: str | None
    dtype: str | None
    batch: int | None
    n: int
    mean: float | None
    ci_low: float | None
    ci_high: float | None
    throughput: float | None
    grade: str | None
    quality_level: int | None
    standard: str | None
    integrity: str | None
    grade_reason: str | None = None  # why ``grade`` is None (ungraded)
    conforms: bool | None = None
    across: list[str] = field(default_factory=list)  # settings it differs in from the baseline, compared as asked
    ratio: float | None = None
    ratio_low: float | None = None
    ratio_high: float | None = None
    p_value: float | None = None
    verdict: str = ""
    flags: list[str] = field(default_factory=list)


@dataclass
class Table:
    workload: str
    unit: str | None
    metric: str
    baseline: str
    rows: list[Row]
    notes: list[str] = field(default_factory=list)


@dataclass
class Comparison:
    metric: str
    label: str
    direction: str
    method: str
    tables: list[Table]
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_frame(self) -> Any:
        """One row per result and workload: the table's workload, unit, metric and baseline, then the
        :class:`Row`'s fields (``ratio_low``/``ratio_high`` as ``ratio_ci_low``/``ratio_ci_high``), typed like
        :func:`bench.analysis.frame.load_results`' columns. ``attrs`` hold the metric, its label and
        direction, the method and the skipped inputs."""
        import pandas as pd

        records = [{"workload": t.workload, "unit": t.unit, "metric": t.metric, "baseline": t.baseline,
                    **{FRAME_NAMES.get(k, k): v for k, v in asdict(r).items()}, "notes": list(t.notes)}
                   for t in self.tables for r in t.rows]
        frame = pd.DataFrame(records, columns=list(FRAME_COLUMNS))
        for col, dtype in FRAME_COLUMNS.items():
            if dtype != "object":
                frame[col] = frame[col].astype(dtype)
        frame.attrs.update(metric=self.metric, label=self.label, direction=self.direction, method=self.method,
                           skipped=list(self.skipped))
        return frame


FRAME_NAMES = {"ratio_low": "ratio_ci_low", "ratio_high": "ratio_ci_high"}
FRAME_COLUMNS: dict[str, str] = {
    "workload": "string", "unit": "string", "metric": "string", "baseline": "string", "run": "string",
    "device": "string", "preset": "string", "dtype": "string", "batch": "Int64", "n": "Int64", "mean": "Float64",
    "ci_low": "Float64", "ci_high": "Float64", "throughput": "Float64", "ratio": "Float64",
    "ratio_ci_low": "Float64", "ratio_ci_high": "Float64", "p_value": "Float64", "verdict": "string",
    "across": "object", "flags": "object", "grade": "string", "grade_reason": "string", "quality_level": "Int64",
    "standard": "string", "integrity": "string", "conforms": "boolean", "notes": "object",
}


def method_text(metric: str, confidence: float = 0.95, alpha: float = 0.05, allow: Sequence[str] = ()) -> str:
    col, label, direction = METRICS[metric]
    text = (f"Metric: mean {label} over clean repeats ({direction} is better). Ratio = result / baseline with a "
            f"{confidence:.0%} CI by Fieller's theorem (independent means, Welch-Satterthwaite dof). Verdict: Welch's "
            f"two-sided t-test on the per-repeat values, alpha = {alpha:g}. Rows with other settings than the baseline "
            "are not comparable (no verdict); other quality levels or standards are flagged.")
    if allow:
        text += (f" Ratios across {', '.join(allow)} were asked for (--allow): rows that differ from the baseline "
                 "only there get a ratio and a verdict, flagged 'across'; they compare different settings, not like "
                 "for like.")
    return text


def _val(value: Any) -> Any:
    """A frame cell as a plain Python value (pandas NA -> None)."""
    try:
        import pandas as pd

        if value is pd.NA or (not isinstance(value, (list, str)) and pd.isna(value)):
            return None
    except (TypeError, ValueError):
        pass
    return value.item() if hasattr(value, "item") else value


def _differences(row: dict[str, Any], base: dict[str, Any],
                 allow: Sequence[str] = ()) -> tuple[list[str], list[str], list[str]]:
    """(settings that make the row not comparable, settings it differs in that ``allow`` permits, qualifiers that
    only flag it)."""
    diffs = [(f, f"{f} {row[f]} vs {base[f]}") for f in SETTINGS_FIELDS if row[f] != base[f]]
    if row["settings"] != base["settings"]:  # the workload's other settings; a field said above is not said again
        said = {SETTING_KEYS[f] for f, _ in diffs if f in SETTING_KEYS} | \
            {SETTING_KEYS[f] for f in allow if f in SETTING_KEYS}
        mine, theirs = json.loads(row["settings"] or "{}"), json.loads(base["settings"] or "{}")
        keys = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k) and k not in said)
        if keys:
            diffs.append(("settings", "settings " + ", ".join(f"{k} {mine.get(k)} vs {theirs.get(k)}" for k in keys)))
    hard = [text for f, text in diffs if f not in allow]
    across = [text for f, text in diffs if f in allow]
    soft = []
    if row["quality_level"] != base["quality_level"]:
        soft.append(f"quality L{row['quality_level']} vs L{base['quality_level']}")
    if row["standard"] != base["standard"]:
        soft.append(f"standard {row['standard']} vs {base['standard']}")
    if row["integrity"] not in ("signed", "unsigned"):
        soft.append(f"integrity: {row['integrity']}")
    if row["status"] != "complete":
        soft.append(f"status {row['status']}")
    return hard, across, soft


def _verdict(row: Row, values: list[float], base_values: list[float], direction: str, alpha: float,
             confidence: float) -> None:
    ci = fieller_ratio(values, base_values, confidence)
    if ci is not None:
        row.ratio, row.ratio_low, row.ratio_high = ci.ratio, ci.low, ci.high
    elif row.mean is not None and values and base_values and math.fsum(base_values):
        row.ratio = row.mean / (math.fsum(base_values) / len(base_values))
    test = welch_test(values, base_values)
    if test is None:
        row.verdict = UNTESTABLE
        return
    row.p_value = test.p_value
    if test.p_value >= alpha:
        row.verdict = SAME
    else:
        lower = test.diff < 0
        row.verdict = BETTER if lower == (direction == "lower") else WORSE


def resolve_baseline(runs: list[str], baseline: str | int | None,
                     info: dict[str, tuple[str, str]] | None = None) -> str:
    """The run label picked by ``--baseline``: a 1-based position, a label, a folder path or name, or a
    run id prefix. ``info`` maps label -> (folder path, run id)."""
    if not runs:
        raise UsageError("nothing to compare")
    if baseline is None or baseline == "":
        return runs[0]
    text = str(baseline).rstrip("/")
    if text.isdigit() and len(text) < 4:
        k = int(text)
        if not 1 <= k <= len(runs):
            raise UsageError(f"--baseline {k}: there are {len(runs)} results")
        return runs[k - 1]
    info = info or {}
    for how in (lambda lb: text == lb,
                lambda lb: text in (info.get(lb, ("", ""))[0], info.get(lb, ("", ""))[0].split("/")[-1]),
                lambda lb: info.get(lb, ("", ""))[1].startswith(text)):
        hits = [lb for lb in runs if how(lb)]
        if len(hits) == 1:
            return hits[0]
        if len(hits) > 1:
            raise UsageError(f"--baseline {text!r} is ambiguous: {', '.join(hits)}")
    raise UsageError(f"--baseline {text!r} matches no result; give a position (1-{len(runs)}), a folder, a label "
                     "or a run id")


def compare_frame(frame: Any, baseline: str | int | None = None, metric: str = "gross", confidence: float = 0.95,
                  alpha: float = 0.05, allow: Sequence[str] = ()) -> Any:
    """The comparison of ``frame`` (from :func:`bench.analysis.frame.load_results`) against the baseline run as a
    pandas DataFrame, one row per result and workload (see :meth:`Comparison.to_frame`); :func:`comparison` gives
    the same as the structured tables."""
    return comparison(frame, baseline, metric, confidence, alpha, allow).to_frame()


def comparison(frame: Any, baseline: str | int | None = None, metric: str = "gross", confidence: float = 0.95,
               alpha: float = 0.05, allow: Sequence[str] = ()) -> Comparison:
    """Per-workload tables of ``frame`` (from :func:`bench.analysis.frame.load_results`) against the baseline run.
    ``allow``: settings (of :data:`ALLOWABLE`) a ratio may be taken across; rows that differ there are flagged."""
    if metric not in METRICS:
        raise UsageError(f"unknown metric {metric!r}; choose from {', '.join(METRICS)}")
    wrong = [a for a in allow if a not in ALLOWABLE]
    if wrong:
        raise UsageError(f"cannot compare across {', '.join(wrong)}; allowed: {', '.join(ALLOWABLE)} "
                         "(never the unit: a ratio across units means nothing)")
    allow = tuple(dict.fromkeys(allow))
    col, label, direction = METRICS[metric]
    records = [{k: _val(v) for k, v in rec.items()} for rec in frame.to_dict("records")]
    order = list(dict.fromkeys(r["run"] for r in records))
    base_run = resolve_baseline(order, baseline, {r["run"]: (r["path"] or "", r["run_id"] or "") for r in records})
    tables = []
    for workload in dict.fromkeys(r["workload"] for r in records):
        rows = [r for r in records if r["workload"] == workload]
        tables.append(_table(workload, rows, base_run, col, metric, direction, alpha, confidence, allow))
    return Comparison(metric=metric, label=label, direction=direction,
                      method=method_text(metric, confidence, alpha, allow), tables=tables,
                      skipped=list(frame.attrs.get("skipped", [])))


def _table(workload: str, rows: list[dict[str, Any]], base_run: str, col: str, metric: str, direction: str,
           alpha: float, confidence: float, allow: Sequence[str] = ()) -> Table:
    base = next((r for r in rows if r["run"] == base_run), rows[0])
    notes = [] if base["run"] == base_run else [f"{base_run} has no {workload} result; baseline is {base['run']}"]
    out = []
    for rec in rows:
        row = Row(run=rec["run"], device=rec["device"], preset=rec["preset"], dtype=rec["dtype"], batch=rec["batch"],
                  n=len(rec[f"{col}_repeats"]), mean=rec[col], ci_low=rec[f"{col}_ci_low"],
                  ci_high=rec[f"{col}_ci_high"], throughput=rec["throughput"], grade=rec["grade"],
                  quality_level=rec["quality_level"], standard=rec["standard"], integrity=rec["integrity"],
                  grade_reason=rec.get("grade_reason"), conforms=rec.get("conforms"))
        if rec is base:
            row.verdict, row.ratio = BASELINE, 1.0 if row.mean is not None else None
            row.flags = _differences(rec, rec)[2]
        else:
            hard, across, soft = _differences(rec, base, allow)
            row.across = across
            row.flags = hard + [f"across {a} (asked for)" for a in across] + soft
            if hard:
                row.verdict = INCOMPARABLE
            else:
                _verdict(row, list(rec[f"{col}_repeats"]), list(base[f"{col}_repeats"]), direction, alpha, confidence)
        out.append(row)
    return Table(workload=workload, unit=base["unit"], metric=metric, baseline=base["run"], rows=out, notes=notes)
