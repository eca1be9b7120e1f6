"""A sweep folder as `bench show`, `bench score` and `bench report` present it (synthetic points, exact figures)."""

import json
import re

import pytest

from bench.report.page import write_report
from tests.factories import write_sweep_folder

POINTS = [
    (None, [10.0, 10.2, 9.8], [10.0, 10.1, 9.9]),
    (250.0, [8.0, 8.1, 7.9], [10.3, 10.4, 10.2]),  # -20% energy at +3% time
    (200.0, [7.0, 7.1, 6.9], [12.0, 12.1, 11.9]),  # -30% energy at +20% time
]


@pytest.fixture
def swept(tmp_path):
    return write_sweep_folder(tmp_path / "sweep", POINTS)


def test_show_prints_the_points_frontier_and_recommendations(cli, swept):
    res = cli("show", str(swept))
    assert res.code == 0, res.output
    out = res.out
    assert "sweep sweep: NVIDIA H100 80GB HBM3 (cuda:0), complete" in out
    assert re.search(r"recommended \(lowest energy\): 02-200W \(power limit 200 W\): saves 30\.0% \(\d+\.\d% to "
                     r"\d+\.\d%\) of gross energy per matmul at 20\.0% \(\d+\.\d% to \d+\.\d%\) slowdown", out)
    assert re.search(r"recommended \(lowest energy within 5\.0% slowdown\): 01-250W \(power limit 250 W\): saves "
                     r"20\.0%", out)
    assert "original settings put back: put back power limit 700 W" in out
    data = json.loads(cli("show", str(swept), "--json").out)
    recs = {r["kind"]: r for r in data["analysis"]["workloads"][0]["recommendations"]}
    assert recs["within_budget"]["point"] == "01-250W" and recs["lowest_energy"]["saving"] == pytest.approx(0.3)


def test_score_grades_the_recommended_point_and_says_which(cli, swept):
    res = cli("score", str(swept), "--json")
    (row,) = json.loads(res.out)
    assert row["run_id"] == "point-0001" and row["setting"]["text"] == "power limit 250 W"
    text = cli("score", str(swept)).out
    assert ("sweep sweep: graded at 01-250W, power limit 250 W: the sweep's recommendation: lowest energy within "
            "5.0% slowdown") in text
    (row,) = json.loads(cli("score", str(swept), "--sweep-point", "lowest-energy", "--json").out)
    assert row["run_id"] == "point-0002" and row["run"] == "02-200W"
    assert "graded at 02-200W, power limit 200 W" in cli("score", str(swept), "--sweep-point", "lowest-energy").out


def test_report_draws_the_frontier_and_links_the_points(tmp_path, swept):
    out = tmp_path / "report.html"
    summary = write_report([swept], out, traces=False)
    assert summary.runs == 3 and summary.skipped == []
    page = out.read_text()
    section = page[page.index('<h2 id="sweeps">'):page.index('<h2 id="runs">')]
    assert section.count('<img class="plot"') == 1 and "energy per unit against time per unit" in section
    assert "power limit 200 W (02-200W) saves 30.0%" in section
    assert "lowest energy within 5.0% slowdown</b>: power limit 250 W (01-250W) saves 20.0%" in section
    anchors = re.findall(r'<a href="#(run-\d+)">(\d\d-[\w-]+)</a>', section)
    assert [label for _, label in anchors] == ["00-as-found", "01-250W", "02-200W"]
    for anchor, _ in anchors:
        assert f'id="{anchor}"' in page  # each point links to its own run section
