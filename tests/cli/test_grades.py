"""A grade letter appears only where the standard grades; every view, JSON included, says "ungraded" and why
elsewhere, and the report has a conforms column. Re-scoring a recorded folder under either standard version."""

from __future__ import annotations

import csv
import io
import json

import pandas as pd
import pytest

from bench.analysis.frame import load_results
from bench.analysis.scoring.score import score_result
from bench.result.io import load_result, write_result
from tests.factories import estimate_channel, make_result, workload, write_result_folder

BERT_B = 0.06  # J/sample: inside B (0.0368 < x <= 0.0736) under clause7-2025.2


def smoke_bert_on_the_estimate():
    """The case a reviewer saw graded B: a smoke-preset BERT measured by the L0 CPU estimate."""
    wl = workload("bert-infer", unit="sample", gross_per_unit=[BERT_B, BERT_B * 1.001, BERT_B * 0.999],
                  preset="smoke", parameters=None)
    return make_result(workloads=[wl], channels=[estimate_channel()], device_name="AMD EPYC 7763",
                       device_type="cpu", device_extra={"cores": 128}, run_id="smoke-bert")


def graded_bert():
    wl = workload("bert-infer", unit="sample", gross_per_unit=[BERT_B, BERT_B * 1.001, BERT_B * 0.999],
                  parameters=110_000_000)
    return make_result(workloads=[wl], run_id="real-bert")


@pytest.fixture(autouse=True)
def _wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "220")  # tables on one line each, as on a wide terminal


@pytest.fixture
def folders(tmp_path):
    out = {}
    for result in (graded_bert(), smoke_bert_on_the_estimate()):
        folder = tmp_path / result.run_id
        folder.mkdir()
        write_result(result, folder)
        out[result.run_id] = folder
    return out


def test_the_score_gives_no_letter_and_says_why(std, profiles):
    ws = score_result(smoke_bert_on_the_estimate(), std, profiles).workloads[0]
    assert ws.value == pytest.approx(BERT_B) and ws.grade is None and not ws.graded
    assert "preset smoke: clause7-2025.2 grades preset standard only" in ws.grade_reason
    assert "quality L0 is below L2" in ws.grade_reason and "estimated, no sensor" in ws.grade_reason
    assert ws.band_better_edge is None and ws.band_worse_edge is None
    good = score_result(graded_bert(), std, profiles).workloads[0]
    assert good.grade == "B" and good.grade_reason is None and good.graded


def test_a_result_that_does_not_conform_is_ungraded_even_on_the_standard_preset(std, profiles):
    result = make_result(workloads=[workload(gross_per_unit=[0.1, 0.1, 0.1])], achieved_rate_hz=2.0)
    score = score_result(result, std, profiles)
    ws = score.workloads[0]
    assert not score.conforms and ws.grade is None
    assert ws.grade_reason == "does not conform: run: sampling_rate: expected >= 5 Hz achieved, got 2 Hz"


def test_score_and_check_views(cli, folders):
    res = cli("score", str(folders["smoke-bert"]), str(folders["real-bert"]))
    assert res.code == 0, res.err
    rows = {line.split("│")[1].strip(): line for line in res.out.splitlines() if line.startswith("│")}
    assert "ungraded" in rows["smoke-bert"] and "│ B " in rows["real-bert"]
    assert "smoke-bert: bert-infer: ungraded: preset smoke" in res.out
    assert "(95% CI, n=3)" in rows["real-bert"]
    (s, _) = json.loads(cli("score", "--json", str(folders["smoke-bert"]), str(folders["real-bert"])).out)
    assert s["workloads"][0]["grade"] is None and "quality L0" in s["workloads"][0]["grade_reason"]
    checked = json.loads(cli("check", "--no-validity", "--json", str(folders["smoke-bert"])).out)
    assert checked["results"][0]["grades"] == {"bert-infer": None}


def test_show_says_ungraded_and_why(cli, folders):
    out = cli("show", str(folders["smoke-bert"])).out
    assert "ungraded" in out and " B " not in out
    assert "bert-infer: complete, ungraded" in out and "\nungraded under clause7-2025.2: preset smoke" in out
    assert "(95% CI, n=3)" in out


def test_load_results_has_no_letter_and_a_reason(folders):
    df = load_results(list(folders.values())).set_index("run_id")
    assert df.loc["real-bert", "grade"] == "B" and df.loc["real-bert", "conforms"]
    assert df.loc["smoke-bert", "grade"] is pd.NA and not df.loc["smoke-bert", "conforms"]
    assert "quality L0" in df.loc["smoke-bert", "grade_reason"]


def test_compare_views_say_ungraded(cli, folders):
    res = cli("compare", str(folders["real-bert"]), str(folders["smoke-bert"]))
    assert "ungraded" in res.out and "smoke-bert: ungraded: preset smoke" in res.out.replace("\n", " ")
    assert "(95% CI, n=3)" in res.out
    text = cli("compare", "--format", "csv", str(folders["real-bert"]), str(folders["smoke-bert"])).out
    rows = {r["run"]: r for r in csv.DictReader(io.StringIO(text))}
    assert rows["real-bert"]["grade"] == "B" and rows["real-bert"]["conforms"] == "True"
    assert rows["smoke-bert"]["grade"] == "" and "quality L0" in rows["smoke-bert"]["grade_reason"]
    data = json.loads(cli("compare", "--format", "json", str(folders["real-bert"]), str(folders["smoke-bert"])).out)
    smoke = next(r for r in data["tables"][0]["rows"] if r["run"] == "smoke-bert")
    assert smoke["grade"] is None and smoke["conforms"] is False and "preset smoke" in smoke["grade_reason"]
    md = cli("compare", "--format", "markdown", str(folders["real-bert"]), str(folders["smoke-bert"])).out
    assert "ungraded (preset smoke" in md


def test_the_report_has_a_conforms_column_and_no_letter_without_a_grade(cli, folders, tmp_path):
    out = tmp_path / "report.html"
    res = cli("report", *map(str, folders.values()), "-o", str(out), "--no-traces")
    assert res.code == 0, res.err
    page = out.read_text()
    assert ">conforms<" in page
    assert '<span class="badge none" title="preset smoke' in page and ">ungraded<" in page
    assert '<span class="state bad">no</span>' in page and '<span class="state ok">yes</span>' in page
    assert page.count('class="badge" style=') == 1  # one letter: the conforming, standard-preset result


# --- re-scoring a recorded folder under a newer standard --------------------------------------------


def test_an_old_folder_scores_under_either_standard_from_the_folder(cli, tmp_path):
    folder = write_result_folder(tmp_path / "old", [0.0047, 0.0047, 0.0047], workload="llm-prefill", unit="token",
                                 units=10_000, quality_level=None, run_id="old-prefill")
    data = json.loads((folder / "result.json").read_text())
    assert "validity" not in data or data["validity"] is None  # written before validity was recorded
    old = json.loads(cli("score", "--json", "--standard", "clause7-2025.1", str(folder)).out)[0]
    assert old["standard"]["id"] == "clause7-2025.1" and old["workloads"][0]["grade"] == "A"
    new = json.loads(cli("score", "--json", str(folder)).out)[0]
    assert new["standard"]["id"] == "clause7-2025.2" and new["workloads"][0]["grade"] is None
    assert "validity checks not recorded (run `bench check` on the folder)" in new["workloads"][0]["grade_reason"]
    checked = json.loads(cli("check", "--json", str(folder)).out)["results"][0]  # re-runs them from the trace
    assert checked["conforms"] and checked["grades"] == {"llm-prefill": "B"}  # 2025.2's edges follow the FLOPs
    assert checked["validity"] == "re-run from the trace"
    assert load_result(folder).run_id == "old-prefill"  # nothing was written into the folder
