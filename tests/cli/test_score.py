"""The score and its checks (each rule fails on its own), and the ``bench score`` / ``bench check`` commands."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.analysis.scoring.profiles import ENV_VAR
from bench.analysis.scoring.score import grade_summary, score_result
from bench.analysis.scoring.standard import list_standards, load_standard
from bench.cli import main
from bench.result.io import write_result
from tests.factories import estimate_channel, make_result, workload


@pytest.fixture(autouse=True)
def _no_env_dirs(monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)


def failed(result, std, profiles) -> set[str]:
    return {c.rule for c in score_result(result, std, profiles).failed}


# each case breaks one rule; "quality" also fails where L2 itself needs what the rule checks
CASES = {
    "conforming": ({}, set()),
    "too short": ({"workloads": [workload(duration_s=6.0)]}, {"window"}),
    "too few repeats": ({"workloads": [workload(gross_per_unit=[0.1, 0.1])]}, {"repeats", "quality"}),
    "CI too wide": ({"workloads": [workload(gross_per_unit=[0.08, 0.10, 0.12])]}, {"ci95", "quality"}),
    "L0 estimate": ({"channels": [estimate_channel()]}, {"quality"}),
    "no idle": ({"idle": False}, {"idle_baseline", "quality"}),
    "sampling too slow": ({"achieved_rate_hz": 2.0}, {"sampling_rate"}),
    "interrupted": ({"status": "interrupted"}, {"status"}),
    "smoke preset": ({"workloads": [workload(preset="smoke")]}, {"preset"}),
    "wrong unit": ({"workloads": [workload(unit="sample")]}, {"unit"}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_rule_fails_on_its_own(std, profiles, case):
    kwargs, expected = CASES[case]
    assert failed(make_result(**kwargs), std, profiles) == expected


def test_gemm_dtype_rule_and_uncovered_workload(std, profiles):
    fp32 = workload("gemm", unit="matmul", gross_per_unit=[11.0] * 3, flops_per_unit=2 * 8192**3,
                    dtype="fp32", parameters=None)
    assert failed(make_result(workloads=[fp32]), std, profiles) == {"dtype"}
    other = workload("whisper-infer", unit="second")
    score = score_result(make_result(workloads=[other]), std, profiles)
    assert {c.rule for c in score.failed} == {"graded"}
    assert "has no rule for whisper-infer" in score.workloads[0].warnings[0]


def test_failed_workload_is_not_graded_and_fails_status(std, profiles):
    score = score_result(make_result(workloads=[workload(), workload("bert-infer", unit="sample", status="failed",
                                                                     gross_per_unit=[])]), std, profiles)
    bert = score.workloads[1]
    assert not bert.graded and bert.grade is None
    assert {(c.workload, c.rule) for c in score.failed} >= {("bert-infer", "status"), ("bert-infer", "repeats")}


def test_failure_says_expected_and_actual(std, profiles):
    score = score_result(make_result(workloads=[workload(duration_s=6.0)]), std, profiles)
    (check,) = score.failed
    assert check.line() == "llm-decode: window: expected >= 10 s per repeat, got 6 s (repeat 0)"


def test_rated_efficiency_with_a_profile_and_without(std, profiles):
    gemm = workload("gemm", unit="matmul", gross_per_unit=[1.1] * 3, flops_per_unit=1.1e12, parameters=None)
    ws = score_result(make_result(workloads=[gemm]), std, profiles).workloads[0]
    assert ws.value == pytest.approx(1.0e12) and ws.grade == "C"
    assert ws.rated_flops_per_joule == pytest.approx(989.5e12 / 700)
    assert ws.fraction_of_rated == pytest.approx(1.0e12 / (989.5e12 / 700))
    score = score_result(make_result(workloads=[gemm], device_name="Acme NPU 1", device_type="npu"), std, profiles)
    ws = score.workloads[0]
    assert ws.grade == "C" and ws.flops_per_joule == pytest.approx(1.0e12)
    assert ws.rated_flops_per_joule is None and ws.fraction_of_rated is None
    assert score.profile is None and "no hardware profile matches device 'Acme NPU 1'" in score.warnings[0]


def test_recorded_profile_is_used_when_no_file_matches(std, profiles):
    recorded = next(p for p in profiles if p.id == "nvidia-l4").record()
    recorded["id"] = "lab-l4-variant"
    score = score_result(make_result(device_name="Lab sample 7", profile=recorded), std, profiles)
    assert score.profile.id == "lab-l4-variant" and score.profile.rated_power_w == 72.0
    assert score.profile.matched_by == "profile recorded in the result"


def test_cpu_rated_power_comes_from_the_estimate(std, profiles):
    result = make_result(channels=[estimate_channel(rated_power_w=185.0)], device_name="AMD EPYC 7763",
                         device_type="cpu", device_extra={"cores": 128})
    score = score_result(result, std, profiles)
    assert score.profile.id == "cpu-generic" and score.profile.rated_power_w == 185.0


def test_model_size_warning(std, profiles):
    ws = score_result(make_result(workloads=[workload(parameters=1_200_000_000)]), std, profiles).workloads[0]
    assert any("bands assume about 8e+09 parameters" in w for w in ws.warnings)


def test_grade_summary_and_listing_data():
    rows = grade_summary(make_result())
    assert rows[0]["workload"] == "llm-decode" and rows[0]["grade"] == "C" and rows[0]["conforms"] is True
    assert rows[0]["standard"] == "clause7-2025.2" and rows[0]["grade_reason"] is None
    old, new = list_standards()
    assert (old["id"], old["default"]) == ("clause7-2025.1", False)
    assert new["default"] and new["id"] == "clause7-2025.2" and len(new["sha256"]) == 64


# --- CLI ---------------------------------------------------------------------------------------


def _folder(tmp_path: Path, name: str, **kwargs) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    write_result(make_result(run_id=name, **kwargs), folder)
    return folder


def _main(argv, capsys) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as info:
        main(argv)
        raise SystemExit(0)
    out = capsys.readouterr()
    return info.value.code, out.out, out.err


def test_check_exit_0_when_all_conform(tmp_path, capsys):
    a, b = _folder(tmp_path, "a"), _folder(tmp_path, "b")  # no trace: judged by the checks recorded at run time
    code, out, err = _main(["check", "--no-validity", str(a), str(b)], capsys)
    assert code == 0 and "2 of 2 result(s) conform to clause7-2025.2" in out and err == ""


def test_check_exit_1_listing_each_failed_rule(tmp_path, capsys):
    good = _folder(tmp_path, "good")
    bad = _folder(tmp_path, "bad", workloads=[workload(duration_s=6.0, gross_per_unit=[0.1, 0.1])],
                  achieved_rate_hz=2.0)
    code, out, err = _main(["check", "--standard", "clause7-2025.1", str(good), str(bad)], capsys)
    assert code == 1
    assert f"PASS good ({good})" in out and f"FAIL bad ({bad})" in out
    for line in ("  - run: sampling_rate: expected >= 5 Hz achieved, got 2 Hz",
                 "  - llm-decode: repeats: expected >= 3, got 2",
                 "  - llm-decode: window: expected >= 10 s per repeat, got 6 s (repeat 0)"):
        assert line in out
    assert err.strip() == "bench: error: 1 of 2 result(s) do not conform to clause7-2025.1"


def test_check_json(tmp_path, capsys):
    bad = _folder(tmp_path, "l0", channels=[estimate_channel()])
    code, out, _ = _main(["check", "--no-validity", "--json", str(bad)], capsys)
    data = json.loads(out)
    assert code == 1 and data["standard"]["id"] == "clause7-2025.2"
    (row,) = data["results"]
    assert row["conforms"] is False and row["quality_level"] == 0
    assert [c["rule"] for c in row["failed"]] == ["quality"]
    assert row["grades"] == {"llm-decode": None} and "quality L0" in row["grade_reasons"]["llm-decode"]


def test_score_table_and_json(tmp_path, capsys):
    a = _folder(tmp_path, "a")
    code, out, err = _main(["score", str(a)], capsys)
    assert code == 0 and err == ""
    assert "0.1 J/token ±2.5% (95% CI, n=3) (gross)" in out and "│ C " in out and "L2" in out
    code, out, _ = _main(["score", "--json", "--carbon-intensity", "100", "--pue", "1.0", "--wue", "0",
                          "--ewif", "1.8", str(a)], capsys)
    (s,) = json.loads(out)
    ws = s["workloads"][0]
    kwh = 0.1 * 1000 / 3.6e6
    assert ws["grade"] == "C" and ws["carbon_accelerator_g"] == pytest.approx(kwh * 100)
    assert ws["water_accelerator_ml"] == pytest.approx(kwh * 1.8 * 1000)
    assert ws["carbon_g"] == pytest.approx(kwh * 1.82 * 100) and ws["water_ml"] == pytest.approx(kwh * 1.82 * 1.8 * 1000)
    assert s["footprint"]["carbon_source"] == "given by the user (--carbon-intensity)"
    assert s["footprint"]["carbon_basis"] == "as given (basis not stated)"
    assert s["standard"]["version"] == "2025.2" and len(s["standard"]["sha256"]) == 64
    assert s["conforms"] is True and s["quality"]["level"] == 2


def test_score_goes_on_past_an_unreadable_result(tmp_path, capsys):
    a = _folder(tmp_path, "a")
    code, out, err = _main(["score", "--json", str(tmp_path / "missing"), str(a)], capsys)
    assert code == 1 and [s["run_id"] for s in json.loads(out)] == ["a"]
    assert "not a result" in err and err.count("\n") == 1


def test_malformed_standard_is_one_line_exit_2(tmp_path, capsys):
    a = _folder(tmp_path, "a")
    bad = tmp_path / "broken.toml"
    bad.write_text(Path(load_standard().path).read_text().replace("min_repeats = 3", "min_repeats = 1"))
    for cmd in ("score", "check"):
        code, out, err = _main([cmd, "--standard", str(bad), str(a)], capsys)
        assert code == 2 and out == ""
        assert err == f"bench: error: {bad}: rules.min_repeats: Input should be greater than or equal to 2\n"


def test_unknown_standard_and_bad_profile_dir_exit_2(tmp_path, capsys):
    a = _folder(tmp_path, "a")
    code, _, err = _main(["check", "--standard", "2099.9", str(a)], capsys)
    assert code == 2 and "unknown standard '2099.9'" in err
    mine = tmp_path / "profiles"
    mine.mkdir()
    (mine / "acme.toml").write_text('vendor = "Acme"\nname = "X"\nform_factor = "PCIe"\nmatch = ["X"]\n'
                                    'rated_power_w = "lots"\n')
    code, _, err = _main(["score", "--profiles-dir", str(mine), str(a)], capsys)
    assert code == 2 and err.startswith(f"bench: error: {mine / 'acme.toml'}: rated_power_w: ")
    assert err.count("\n") == 1


def test_bad_country_is_exit_2(tmp_path, capsys):
    a = _folder(tmp_path, "a")
    code, _, err = _main(["score", "--country", "XXX", str(a)], capsys)
    assert code == 2 and "no grid data for country 'XXX'" in err


def test_click_runner_on_the_group(cli, tmp_path):
    a = _folder(tmp_path, "a")
    res = cli("check", "--no-validity", str(a))
    assert res.code == 0 and "PASS a" in res.output
    bad = _folder(tmp_path, "bad", status="interrupted")
    res = cli("check", "--no-validity", str(bad))
    assert res.code == 1 and "bench: error: 1 of 1 result(s) do not conform" in res.err
    assert "  - run: status: expected complete, got interrupted" in res.output
    assert cli("score", "--help").code == 0


def test_score_names_runs_by_their_folder_and_keeps_run_ids_in_json(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "250")
    ids = {"lab-a": "0123456789abcdef0123456789abcdef", "lab-b": "fedcba9876543210fedcba9876543210"}
    folders = []
    for lab, run_id in ids.items():  # two folders of one name: the parent tells them apart
        folder = tmp_path / lab / "h100-bf16"
        folder.mkdir(parents=True)
        write_result(make_result(run_id=run_id, achieved_rate_hz=2.0), folder)
        folders.append(folder)
    code, out, _ = _main(["score", *map(str, folders)], capsys)
    assert code == 0
    rows = [line.split("│")[1].strip() for line in out.splitlines() if line.startswith("│")]
    assert rows == ["lab-a/h100-bf16", "lab-b/h100-bf16"]
    assert not any(run_id in out for run_id in ids.values())
    assert "lab-a/h100-bf16: llm-decode: ungraded: does not conform" in out
    code, out, _ = _main(["score", "--json", *map(str, folders)], capsys)
    data = json.loads(out)
    assert [s["run_id"] for s in data] == list(ids.values())
    assert [s["run"] for s in data] == rows and [s["path"] for s in data] == [str(f) for f in folders]
