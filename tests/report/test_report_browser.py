"""The HTML report: self-contained and escaped (static checks), then opened in a real headless Chromium.

The browser part needs Debian's ``chromium`` (``apt-get install -y chromium``; scripts/browser-test.sh does
it) and skips with that reason when it is absent. The screenshot lands in test-artifacts/report.png.
"""

import json
import re
import shutil

import pytest

from bench.report.plots import pareto_front
from tests import ROOT
from tests.factories import write_result_folder
from tests.support.cdp import Browser, find_chromium
from tests.support.harness import invoke

ARTIFACTS = ROOT / "test-artifacts"
EVIL = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    root = tmp_path_factory.mktemp("report")
    res = root / "results"
    write_result_folder(res / "acme-x1", [0.50, 0.51, 0.49, 0.50], device="Acme X1", units=4000)
    write_result_folder(res / "acme-x2", [0.30, 0.31, 0.29, 0.30], device="Acme X2", units=6000, duration_s=8.0,
                extra_workloads=[{"workload": "llm-decode", "unit": "token", "gross_per_unit_j": [0.2, 0.21, 0.2]}])
    write_result_folder(res / "evil", [0.80, 0.82, 0.79], device=EVIL, units=3000, quality_level=1)
    write_result_folder(res / "fp16", [0.25, 0.26, 0.25], device="Acme X2", dtype="fp16", units=8000)
    edited = shutil.copytree(res / "acme-x1", root / "edited")
    data = json.loads((edited / "result.json").read_text())
    data["device"]["name"] = "Edited Chip"
    (edited / "result.json").write_text(json.dumps(data, indent=2) + "\n")
    out = root / "report.html"
    result = invoke("report", str(res), str(edited), str(root / "missing"), "-o", str(out),
                                      "--workers", "1")
    return {"path": out, "html": out.read_text(encoding="utf-8"), "result": result}


def test_report_names_skipped_inputs_and_exits_1(report):
    res = report["result"]
    assert res.code == 1, res.output
    assert "skipped" in res.output and "edited" in res.output and "missing" in res.output
    assert "wrote" in res.output and "4 result(s)" in res.output
    assert "Skipped inputs (2)" in report["html"] and "content does not match its digest" in report["html"]


def test_report_is_self_contained(report):
    page = report["html"]
    assert not re.search(r'(src|href)\s*=\s*"(?!data:|#)', page)
    assert "http-equiv=\"Content-Security-Policy\"" in page and "default-src 'none'" in page
    imgs = re.findall(r'<img [^>]*src="([^"]*)"', page)
    assert len(imgs) >= 4 + 4 and all(src.startswith("data:image/png;base64,") for src in imgs)
    assert page.count("<script>") == 1
    assert "<link" not in page and "@import" not in page and "url(" not in page


def test_every_string_from_a_result_is_escaped(report):
    page = report["html"]
    assert "window.__pwned" in page  # it is shown ...
    assert "<script>window.__pwned" not in page and '<img src=x' not in page  # ... as text only
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;" in page


def test_leaderboards_never_mix_dtypes_and_start_best_first(report):
    page = report["html"]
    titles = re.findall(r'<h3 id="group-\d+">([^<]*)</h3>', page)
    assert titles == ["gemm \u00b7 standard \u00b7 bf16", "llm-decode \u00b7 standard \u00b7 bf16",
                      "gemm \u00b7 standard \u00b7 fp16"]
    board = page[page.index('id="board-1"'):page.index("</table>", page.index('id="board-1"'))]
    runs = re.findall(r'<a href="#run-\d+">([^<]*)</a>', board)
    assert runs == ["acme-x2", "acme-x1", "evil"]
    assert "Mixed measurement quality" in page


def test_pareto_front():
    pts = [(100.0, 1.0), (200.0, 2.0), (150.0, 3.0), (50.0, 0.5), (200.0, 2.5)]
    assert pareto_front(pts) == [3, 0, 1]


def test_traces_drawn_in_worker_processes_equal_the_serial_ones(tmp_path):
    from bench.report.build import render_traces, trace_spec
    from bench.result.store import load_runs

    for i in range(8):
        write_result_folder(tmp_path / f"r{i}", [0.5 + i / 100, 0.5, 0.49], units=4000, duration_s=2.0, idle_s=1.0,
                    warmup_s=1.0)
    runs = load_runs([tmp_path]).runs
    specs = [trace_spec(run, 200, "png") for run in runs]
    serial = render_traces(specs, workers=1)
    assert all(uri and uri.startswith("data:image/png;base64,") for uri in serial)
    assert render_traces(specs, workers=2) == serial
    assert len(set(serial)) == 8


def test_window_spans_shade_idle_warmup_and_each_repeat(tmp_path):
    from bench.report.build import window_spans
    from bench.result.store import load_runs
    from tests.factories import T0_NS

    write_result_folder(tmp_path / "r", [0.5, 0.5, 0.5], idle_s=5.0, warmup_s=4.0, duration_s=10.0)
    spans = window_spans(load_runs([tmp_path / "r"]).runs[0])
    rel = [(kind, round((a - T0_NS) / 1e9, 3), round((b - T0_NS) / 1e9, 3)) for kind, a, b in spans]
    assert rel == [("idle", 0.0, 5.0), ("warmup", 5.5, 9.5), ("measured", 9.5, 19.5), ("measured", 19.5, 29.5),
                   ("measured", 29.5, 39.5)]


@pytest.mark.slow
def test_report_in_headless_chromium(report):
    binary = find_chromium()
    if binary is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium; see scripts/browser-test.sh)")
    with Browser(binary, width=1280, height=1000) as browser:
        browser.navigate(report["path"].resolve().as_uri())
        assert browser.evaluate("document.title") == "bench report"
        assert browser.evaluate("typeof window.__pwned") == "undefined"
        figures = browser.evaluate(
            "Array.from(document.querySelectorAll('#group-1 ~ .figs img')).slice(0, 2).map(function(i){"
            "var r = i.getBoundingClientRect(); return [i.complete, i.naturalWidth, r.width, r.height];})")
        assert len(figures) == 2 and all(c and nw > 100 and w > 100 and h > 100 for c, nw, w, h in figures)

        def column(table, idx):
            return browser.evaluate(
                f"Array.from(document.querySelectorAll('#{table} tbody tr')).map(function(r){{"
                f"return r.cells[{idx}].getAttribute('data-v') || r.cells[{idx}].textContent.trim();}})")

        heads = browser.evaluate("Array.from(document.querySelectorAll('#board-1 th')).map(h => h.textContent)")
        dev, thr = heads.index("device"), heads.index("matmul/s")
        browser.click_selector("#board-1 th:nth-child(%d)" % (thr + 1))
        values = [float(v) for v in column("board-1", thr)]
        assert values == sorted(values) and len(values) == 3
        browser.click_selector("#board-1 th:nth-child(%d)" % (thr + 1))
        assert [float(v) for v in column("board-1", thr)] == sorted(values, reverse=True)
        browser.click_selector("#board-1 th:nth-child(%d)" % (dev + 1))
        names = column("board-1", dev)
        assert names == sorted(names, key=str.lower) and names[0] == EVIL
        assert browser.evaluate("document.querySelector('#board-1 th[aria-sort]').textContent") == "device"

        trace = browser.evaluate(
            "(function(){var i = document.querySelector('#run-1 img'); i.scrollIntoView(); return !!i;})()")
        assert trace
        loaded = browser.evaluate(
            "new Promise(function(ok){var i = document.querySelector('#run-1 img');"
            "if (i.complete) ok([i.naturalWidth, i.getBoundingClientRect().height]);"
            "else i.onload = function(){ ok([i.naturalWidth, i.getBoundingClientRect().height]); };})")
        assert loaded[0] > 300 and loaded[1] > 80
        browser.evaluate("window.scrollTo(0, 0)")
        assert browser.console_errors() == []
        shot = browser.screenshot(ARTIFACTS / "report.png")
    assert shot.stat().st_size > 20_000


@pytest.fixture(scope="module")
def charts(tmp_path_factory):
    """A report of a group of three results in microjoules per unit, one a long name, and a group of one."""
    root = tmp_path_factory.mktemp("charts")
    res = root / "results"
    write_result_folder(res / "acme-x1-a-long-name-of-the-run", [0.00050, 0.00051, 0.00049], device="Acme X1",
                        units=4000)
    write_result_folder(res / "acme-x2", [0.00030, 0.00031, 0.00029], device="Acme X2", units=6000)
    write_result_folder(res / "acme-x3-fastest-board", [0.00110, 0.00112, 0.00108], device="Acme X3", units=16000)
    write_result_folder(res / "solo-fp16", [0.25, 0.26, 0.25], device="Acme X2", dtype="fp16", units=8000)
    out = root / "charts.html"
    assert invoke("report", str(res), "-o", str(out), "--workers", "1", "--no-traces").code == 0
    return out


def test_report_columns_say_per_unit(charts):
    page = charts.read_text(encoding="utf-8")
    heads = re.findall(r"<th[^>]*>([^<]*)</th>", page[page.index('id="board-1"'):])
    assert "gross J/matmul (95% CI)" in heads and "net J/matmul" in heads and "net J" not in heads


@pytest.mark.slow
def test_report_charts_on_a_screenshot(charts):
    """Each chart as the browser draws it: its edges are blank (no label cut off), it fits its column, and a group
    of one result shows a line instead of a frontier."""
    from PIL import Image

    binary = find_chromium()
    if binary is None:
        pytest.skip("chromium is not installed (apt-get install -y chromium; see scripts/browser-test.sh)")
    with Browser(binary, width=1280, height=1000) as browser:
        browser.navigate(charts.resolve().as_uri())
        groups = browser.evaluate(
            "Array.from(document.querySelectorAll('.figs')).map(function(f){return {imgs: f.querySelectorAll('img')"
            ".length, none: f.querySelectorAll('.frontier-none').length, text: f.textContent.trim()};})")
        assert [(g["imgs"], g["none"]) for g in groups] == [(2, 0), (1, 1)]
        assert "one result in this group" in groups[1]["text"]
        boxes = browser.evaluate(
            "Array.from(document.querySelectorAll('.figs img')).map(function(i){i.scrollIntoView();"
            "var r = i.getBoundingClientRect(), p = i.parentElement.getBoundingClientRect();"
            "return {x: r.left + window.scrollX, y: r.top + window.scrollY, w: r.width, h: r.height,"
            " natural: i.naturalWidth, fits: r.left >= p.left - 0.5 && r.right <= p.right + 0.5};})")
        assert len(boxes) == 3
        for k, box in enumerate(boxes):
            assert box["natural"] > 300 and box["w"] > 250 and box["fits"], box
            shot = browser.screenshot(ARTIFACTS / f"report-chart-{k + 1}.png",
                                      clip={"x": box["x"], "y": box["y"], "width": box["w"], "height": box["h"]})
            with Image.open(shot) as img:
                grey = img.convert("L")
                w, h = grey.size
                edges = [grey.getpixel((x, y)) for x in range(w) for y in (0, 1, h - 2, h - 1)]
                edges += [grey.getpixel((x, y)) for y in range(h) for x in (0, 1, w - 2, w - 1)]
            assert min(edges) > 200, f"chart {k + 1}: ink at its edge (a label cut off): {shot}"
        browser.evaluate("window.scrollTo(0, document.querySelector('#group-1').offsetTop)")
        browser.screenshot(ARTIFACTS / "report-charts.png")
        assert browser.console_errors() == []
