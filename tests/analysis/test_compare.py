import csv
import io
import json
import math

import numpy as np
import pytest

from bench.analysis.compare import (
    BETTER,
    INCOMPARABLE,
    SAME,
    UNTESTABLE,
    WORSE,
    compare_frame,
    comparison,
    fieller_ratio,
    resolve_baseline,
    welch_test,
)
from bench.analysis.frame import load_results
from bench.errors import UsageError
from tests.factories import write_result_folder

scipy_stats = pytest.importorskip("scipy.stats")

BASE = [1.00, 1.02, 0.98, 1.01, 0.99]


# --- the statistics against scipy and closed forms -------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_welch_difference_and_standard_error_are_the_sample_figures(seed):
    rng = np.random.default_rng(seed)
    a = rng.normal(10, rng.uniform(0.1, 2), size=rng.integers(2, 12)).tolist()
    b = rng.normal(10.5, rng.uniform(0.1, 2), size=rng.integers(2, 12)).tolist()
    ours = welch_test(a, b)
    se = np.sqrt(np.var(a, ddof=1) / len(a) + np.var(b, ddof=1) / len(b))
    assert ours.diff == pytest.approx(np.mean(a) - np.mean(b), rel=1e-12)
    assert ours.se == pytest.approx(se, rel=1e-12)
    assert ours.t == pytest.approx(ours.diff / se, rel=1e-10)
    assert 0 < ours.p_value < 1


def _fieller_reference(num, den, conf=0.95):
    """Independent closed form: the roots of the Fieller quadratic by numpy, t from scipy."""
    x, y = np.mean(num), np.mean(den)
    vx, vy = np.var(num, ddof=1) / len(num), np.var(den, ddof=1) / len(den)
    r = x / y
    dof = (vx + r * r * vy) ** 2 / (vx ** 2 / (len(num) - 1) + (r * r * vy) ** 2 / (len(den) - 1))
    t = scipy_stats.t.ppf((1 + conf) / 2, dof)
    roots = np.sort(np.roots([y * y - t * t * vy, -2 * x * y, x * x - t * t * vx]).real)
    return r, roots[0], roots[1]


@pytest.mark.parametrize("seed", range(8))
def test_fieller_ratio_matches_the_closed_form(seed):
    rng = np.random.default_rng(100 + seed)
    den = rng.normal(2.0, 0.1, size=5).tolist()
    num = rng.normal(rng.uniform(1.0, 3.0), 0.15, size=rng.integers(3, 9)).tolist()
    ci = fieller_ratio(num, den)
    r, lo, hi = _fieller_reference(num, den)
    assert ci.ratio == pytest.approx(r, rel=1e-12)
    assert ci.low == pytest.approx(lo, rel=1e-9)
    assert ci.high == pytest.approx(hi, rel=1e-9)
    assert ci.low < ci.ratio < ci.high


def test_fieller_interval_covers_the_true_ratio_about_95_percent_of_the_time():
    rng = np.random.default_rng(3)
    hits = 0
    trials = 400
    for _ in range(trials):
        num = rng.normal(1.6, 0.08, 5).tolist()
        den = rng.normal(2.0, 0.2, 5).tolist()
        ci = fieller_ratio(num, den)
        hits += ci.low <= 0.8 <= ci.high
    assert 0.91 <= hits / trials <= 0.99


def test_fieller_is_unbounded_when_the_baseline_mean_is_lost_in_its_noise():
    ci = fieller_ratio([1.0, 1.1, 0.9], [0.1, -0.1, 0.15])
    assert ci.low is None and ci.high is None and ci.ratio == pytest.approx(1.0 / (0.15 / 3))


def test_too_few_repeats_give_no_test():
    assert welch_test([1.0], [1.0, 2.0]) is None
    assert fieller_ratio([1.0, 1.1], [2.0]) is None


def test_zero_variance_on_both_sides():
    assert welch_test([1.0, 1.0], [1.0, 1.0]).p_value == 1.0
    assert welch_test([1.0, 1.0], [2.0, 2.0]).p_value == 0.0
    ci = fieller_ratio([1.0, 1.0], [2.0, 2.0])
    assert (ci.low, ci.ratio, ci.high) == (0.5, 0.5, 0.5)


# --- tables on synthetic result folders -------------------------------------------------------


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("cmp")
    return {
        "base": write_result_folder(root / "base", BASE, device="Acme X1", run_id="aaaa1111"),
        "better": write_result_folder(root / "better", [v * 0.8 for v in BASE[::-1]], device="Acme X2", run_id="bbbb2222"),
        "noise": write_result_folder(root / "noise", [1.01, 0.99, 1.03, 0.97, 1.00], device="Acme X3", run_id="cccc3333"),
        "worse": write_result_folder(root / "worse", [1.20, 1.25, 1.22, 1.18, 1.21], device="Acme X4", run_id="dddd4444"),
        "fp16": write_result_folder(root / "fp16", [0.5, 0.51, 0.49], dtype="fp16", run_id="eeee5555"),
        "smoke": write_result_folder(root / "smoke", [0.5, 0.51, 0.49], preset="smoke", run_id="ffff6666"),
        "l1": write_result_folder(root / "l1", [0.7, 0.71, 0.69], quality_level=1, run_id="abab7777"),
        "single": write_result_folder(root / "single", [0.7], run_id="acac8888"),
    }


def _rows(folders, names, **kw):
    frame = load_results([folders[n] for n in names], grades=False)
    comp = comparison(frame, **kw)
    return comp, {r.run: r for r in comp.tables[0].rows}


def test_ratio_ci_and_verdicts_on_known_repeats(folders):
    comp, rows = _rows(folders, ["base", "better", "noise", "worse"])
    assert comp.tables[0].baseline == "base"
    assert rows["base"].verdict == "baseline" and rows["base"].ratio == 1.0
    r, lo, hi = _fieller_reference([v * 0.8 for v in BASE], BASE)
    assert rows["better"].ratio == pytest.approx(r) and r == pytest.approx(0.8)
    assert (rows["better"].ratio_low, rows["better"].ratio_high) == (pytest.approx(lo), pytest.approx(hi))
    assert rows["better"].verdict == BETTER
    assert rows["better"].p_value == pytest.approx(scipy_stats.ttest_ind([v * 0.8 for v in BASE], BASE,
                                                                         equal_var=False).pvalue)
    assert rows["noise"].verdict == SAME
    assert rows["noise"].ratio_low < 1.0 < rows["noise"].ratio_high
    assert rows["worse"].verdict == WORSE
    assert "Welch" in comp.method and "Fieller" in comp.method


def test_throughput_metric_prefers_higher(folders):
    # same units and duration for all: throughput identical, so no difference
    comp, rows = _rows(folders, ["base", "better"], metric="throughput")
    assert rows["better"].verdict == SAME
    assert comp.direction == "higher"


def test_net_metric_uses_net_repeats(folders):
    _, rows = _rows(folders, ["base", "better"], metric="net")
    # net = gross - 50 W x 10 s / 1000 units = gross - 0.5 J/unit
    assert rows["base"].mean == pytest.approx(np.mean(BASE) - 0.5)
    assert rows["better"].ratio == pytest.approx((0.8 * np.mean(BASE) - 0.5) / (np.mean(BASE) - 0.5))


def test_incomparable_settings_get_no_verdict_and_say_why(folders):
    _, rows = _rows(folders, ["base", "fp16", "smoke"])
    assert rows["fp16"].verdict == INCOMPARABLE and rows["fp16"].p_value is None
    assert any("dtype fp16 vs bf16" in f for f in rows["fp16"].flags)
    assert rows["smoke"].verdict == INCOMPARABLE
    assert any("preset smoke vs standard" in f for f in rows["smoke"].flags)


def test_ratios_across_dtype_when_asked_for_and_flagged_as_such(folders):
    comp, rows = _rows(folders, ["base", "fp16", "smoke"], allow=("dtype",))
    fp16 = rows["fp16"]
    assert fp16.verdict == BETTER and fp16.p_value is not None
    r, lo, hi = _fieller_reference([0.5, 0.51, 0.49], BASE)
    assert fp16.ratio == pytest.approx(r)
    assert (fp16.ratio_low, fp16.ratio_high) == (pytest.approx(lo), pytest.approx(hi))
    assert fp16.across == ["dtype fp16 vs bf16"] and "across dtype fp16 vs bf16 (asked for)" in fp16.flags
    assert rows["smoke"].verdict == INCOMPARABLE and rows["smoke"].across == []  # the preset was not asked for
    assert "Ratios across dtype were asked for" in comp.method
    assert rows["base"].across == [] and rows["base"].verdict == "baseline"
    with pytest.raises(UsageError, match="never the unit"):
        _rows(folders, ["base", "fp16"], allow=("unit",))


def test_compare_frame_is_a_typed_dataframe_of_the_same_rows(folders):
    pd = pytest.importorskip("pandas")
    frame = load_results([folders[n] for n in ("base", "better", "fp16")], grades=False)
    comp = comparison(frame, allow=("dtype",))
    df = compare_frame(frame, allow=("dtype",))
    assert isinstance(df, pd.DataFrame) and len(df) == 3
    assert list(df["run"]) == [r.run for r in comp.tables[0].rows] == ["base", "better", "fp16"]
    assert list(df["verdict"]) == ["baseline", BETTER, BETTER]
    assert df["ratio"].dtype == "Float64" and df["n"].dtype == "Int64" and df["verdict"].dtype == "string"
    assert df.loc[1, "ratio"] == pytest.approx(comp.tables[0].rows[1].ratio)
    assert df.loc[1, "ratio_ci_low"] == pytest.approx(comp.tables[0].rows[1].ratio_low)
    assert df.loc[2, "across"] == ["dtype fp16 vs bf16"] and df.loc[0, "baseline"] == "base"
    assert df.attrs["metric"] == "gross" and "Fieller" in df.attrs["method"]
    assert df["p_value"].isna().tolist() == [True, False, False]


def test_other_quality_level_is_flagged_but_still_tested(folders):
    _, rows = _rows(folders, ["base", "l1"])
    assert rows["l1"].verdict == BETTER
    assert "quality L1 vs L2" in rows["l1"].flags


def test_single_repeat_is_not_testable(folders):
    _, rows = _rows(folders, ["base", "single"])
    assert rows["single"].verdict == UNTESTABLE
    assert rows["single"].ratio == pytest.approx(0.7 / np.mean(BASE))


def test_baseline_by_position_label_folder_and_run_id(folders):
    names = ["base", "better", "worse"]
    for ref in (2, "better", str(folders["better"]), "bbbb22"):
        comp, _ = _rows(folders, names, baseline=ref)
        assert comp.tables[0].baseline == "better"
    with pytest.raises(UsageError, match="matches no result"):
        _rows(folders, names, baseline="nope")
    with pytest.raises(UsageError, match="there are 3 results"):
        resolve_baseline(["a", "b", "c"], 4)


# --- the command ------------------------------------------------------------------------------


def test_cli_json_csv_markdown(cli, folders):
    args = ["compare", str(folders["base"]), str(folders["better"]), "--format"]
    res = cli(*args, "json")
    assert res.code == 0, res.output
    data = json.loads(res.output)
    row = data["tables"][0]["rows"][1]
    assert row["verdict"] == BETTER and row["ratio"] == pytest.approx(0.8)
    assert "Welch" in data["test"] and "Fieller" in data["ratio_ci_method"]
    res = cli(*args, "csv")
    rows = list(csv.DictReader(io.StringIO(res.output)))
    assert [r["verdict"] for r in rows] == ["baseline", BETTER]
    assert float(rows[1]["ratio_ci_low"]) < 0.8 < float(rows[1]["ratio_ci_high"])
    res = cli(*args, "markdown")
    assert "| better |" in res.output and "Welch's two-sided t-test" in res.output


def test_cli_allow_dtype(cli, folders, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    args = ["compare", str(folders["base"]), str(folders["fp16"])]
    plain = cli(*args, "--format", "json")
    assert json.loads(plain.out)["tables"][0]["rows"][1]["verdict"] == INCOMPARABLE
    res = cli(*args, "--allow", "dtype", "--format", "json")
    assert res.code == 0, res.output
    row = json.loads(res.out)["tables"][0]["rows"][1]
    assert row["verdict"] == BETTER and row["across"] == ["dtype fp16 vs bf16"] and row["ratio"] == pytest.approx(0.5)
    rich = cli(*args, "--allow", "dtype")
    assert "across dtype" in rich.out and "better" in rich.out
    csv_rows = list(csv.DictReader(io.StringIO(cli(*args, "--allow", "dtype", "--format", "csv").out)))
    assert csv_rows[1]["across"] == "dtype fp16 vs bf16"
    assert cli(*args, "--allow", "unit").code == 2


def test_cli_rich_names_skipped_inputs_and_exits_1(cli, folders, tmp_path, monkeypatch):
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "notes.txt").write_text("hi")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "result.json").write_text((folders["base"] / "result.json").read_text()[:300])
    monkeypatch.setenv("COLUMNS", "200")
    res = cli("compare", str(folders["base"]), str(folders["worse"]), str(tmp_path / "junk"), str(broken))
    assert res.code == 1
    assert "skipped" in res.output and "junk" in res.output and "truncated" in res.output
    assert "worse" in res.output and "base" in res.output


def test_cli_html_escapes_device_names(cli, tmp_path):
    a = write_result_folder(tmp_path / "a", BASE, device="<script>alert(1)</script>")
    b = write_result_folder(tmp_path / "b", BASE, device="Acme & Sons")
    res = cli("compare", str(a), str(b), "--format", "html")
    assert res.code == 0
    assert "<script>alert(1)" not in res.output
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in res.output and "Acme &amp; Sons" in res.output


def test_cli_rich_does_not_read_markup_from_results(cli, tmp_path, monkeypatch):
    a = write_result_folder(tmp_path / "a", BASE, device="[bold red]Shiny[/bold red]")
    monkeypatch.setenv("COLUMNS", "250")
    res = cli("compare", str(a), str(a))
    assert "[bold red]Shiny[/bold red]" in res.output


def test_ratio_is_nan_free_in_json(folders):
    frame = load_results([folders["base"], folders["single"]], grades=False)
    comp = comparison(frame)
    for table in comp.tables:
        for row in table.rows:
            for value in (row.ratio, row.ratio_low, row.ratio_high, row.p_value):
                assert value is None or math.isfinite(value)
