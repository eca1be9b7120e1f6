"""Hostile ``result.json`` files: the fixed corpus through every command that reads a result, property tests on
the reader and on everything that uses what it accepts, and a sparse 1 GiB result in a child process."""

from __future__ import annotations

import json
import os
import shutil

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.factories import write_result_folder
from tests.hostile.corpus import (
    SEALED_CASES,
    TEXT_CASES,
    data_of,
    seal,
    sparse_file,
    write_result_case,
)
from tests.hostile.support import deadline, handled, peak_rss, terminal_safe
from tests.support.fuzz import FAST

LOADS = sorted(n for n, (_, ok) in SEALED_CASES.items() if ok)
REFUSED = sorted(TEXT_CASES) + sorted(n for n, (_, ok) in SEALED_CASES.items() if not ok)
ODD_FOLDERS = ["esc-\x1b[31m-name", "math-$\\frac{$", os.fsdecode(b"not-utf8-\xff\xfe")]


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    return write_result_folder(tmp_path_factory.mktemp("base") / "good", [0.5, 0.51, 0.49], duration_s=2.0,
                               idle_s=2.0, warmup_s=1.0)


@pytest.fixture(scope="module")
def cases(tmp_path_factory, base):
    root = tmp_path_factory.mktemp("cases")
    folders = {name: write_result_case(root / name, base, name) for name in [*TEXT_CASES, *SEALED_CASES]}
    for name in ODD_FOLDERS:
        folders[name] = shutil.copytree(base, root / name)
    return root, folders


@pytest.mark.parametrize("name", REFUSED)
def test_a_bad_result_is_one_line_naming_file_and_field(cases, name):
    _, folders = cases
    res = handled("show", str(folders[name]), codes=(1,))
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and str(folders[name] / "result.json") in lines[0], res.err
    if name in TEXT_CASES:
        assert TEXT_CASES[name][1] in lines[0], res.err
    assert res.out == ""


@pytest.mark.parametrize("name", LOADS + ODD_FOLDERS)
def test_strings_from_a_result_are_printed_as_data(cases, name):
    _, folders = cases
    res = handled("show", str(folders[name]), codes=(0,))
    assert "complete" in res.out and "result:" in res.out
    if name == "markup":
        assert "[/]" in res.out and "[bold red]loud" in res.out  # shown, not interpreted
    if name == "ansi":
        assert "\\x1b[31mRED" in res.out  # visible, harmless
    if name == "newline":
        assert not any(line.startswith(("PASS forged", "FAIL nothing")) for line in res.out.splitlines())
    shown = handled("show", str(folders[name]), "--json", codes=(0,))
    terminal_safe(shown.out)
    assert json.loads(shown.out) == data_of(folders[name])


@pytest.mark.parametrize("name", LOADS + REFUSED)
def test_verify_and_score_every_case(cases, name):
    _, folders = cases
    handled("verify", str(folders[name]), codes=(0, 1))
    res = handled("score", "--json", str(folders[name]), codes=(0, 1) if name in LOADS else (1,))
    if res.code == 0:
        scores = json.loads(res.out)
        assert len(scores) == 1
        if name == "tiny-energy":
            gemm = scores[0]["workloads"][0]
            assert gemm["value"] is None and any("out of range" in w for w in gemm["warnings"])
        if name == "recorded-profile-regex":
            assert scores[0]["profile"]["id"] == "custom-chip"


def test_every_command_over_the_whole_corpus(cases, base, tmp_path):
    """The commands that take many results, over every case at once: each bad one is skipped with its reason,
    the others are used, nothing crashes, nothing is written but the requested outputs."""
    root, folders = cases
    paths = [str(base)] + [str(f) for f in folders.values()]
    handled("score", *paths, codes=(1,))
    handled("check", "--validity", *paths, codes=(1,))
    for fmt in ("rich", "markdown", "csv", "json"):
        handled("compare", "--include-edited", "--format", fmt, *paths, codes=(1,))
    handled("report", "-o", str(tmp_path / "r.html"), "--include-edited", *paths, codes=(1,))
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "\x1b" not in page and "[bold red]loud" in page
    handled("verify", str(root), codes=(1,))
    handled("export", "-o", str(tmp_path / "b.tar.gz"), *paths, codes=(1,))
    copies = shutil.copytree(root, tmp_path / "signed")
    key = tmp_path / "k"
    handled("keygen", "-o", str(key), codes=(0,))
    handled("sign", "-k", str(key), str(copies), codes=(1,))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.tar.gz", "k", "k.pub", "r.html", "signed"]


def test_check_validity_on_a_result_without_channels(cases):
    _, folders = cases
    res = handled("check", "--validity", str(folders["no-channels"]), codes=(1,))
    assert "validity.channels_recorded" in res.out


def test_a_sparse_gigabyte_result_is_refused_before_it_is_read(tmp_path):
    folder = tmp_path / "big"
    folder.mkdir()
    sparse_file(folder / "result.json", 1 << 30, head=b'{"schema_version": "1.0", "x": "', tail=b'"}')
    rows = peak_rss([["show", str(folder)], ["verify", str(folder)], ["score", str(folder)]])
    for row in rows:
        assert row["code"] == 1 and "bytes" in row["err"] and "refused" in row["err"], row
        assert row["growth_mib"] < 100 and row["seconds"] < 10, row


# --- property tests ------------------------------------------------------------------------------------------

hostile_text = st.lists(st.text(max_size=8) | st.sampled_from(["\x1b[31m", "[/]", "$\\frac{", "\u202e", "\n", "\ud800"]),
                        max_size=5).map("".join)
hostile_value = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                          st.floats(allow_nan=False, allow_infinity=False), hostile_text,
                          st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=5), st.integers(),
                                                                                 max_size=3))
PATHS = ["device.name", "device.type", "device.cores", "measurement.rate_hz", "measurement.gap_factor",
         "measurement.channels.0.channel", "measurement.channels.0.capabilities.power",
         "measurement.channels.0.capabilities.energy_tolerance", "measurement.channels.0.capabilities.scope",
         "measurement.channels.0.describe.rated_power_w", "workloads.0.workload", "workloads.0.unit",
         "workloads.0.settings.dtype", "workloads.0.settings.batch_size", "workloads.0.params.preset",
         "workloads.0.aggregate.gross_energy_per_unit_j.mean", "workloads.0.aggregate.gross_energy_per_unit_j.ci95_low",
         "workloads.0.repeats.0.throughput", "workloads.0.warmup.duration_s", "windows.0.t_start_ns",
         "windows.1.name", "idle.power_w", "idle.power_std_w", "quality.level", "profile", "trace.t0_ns",
         "created_utc", "harness.version", "status", "issues"]


@pytest.fixture(scope="module")
def grader():
    """One grader for every example (loading the standard and the profiles is not what is tested)."""
    from bench.analysis.frame import Grader

    return Grader(None)


def _put(data, path, value):
    node = data
    parts = [int(p) if p.isdigit() else p for p in path.split(".")]
    for part in parts[:-1]:
        node = node[part]
    node[parts[-1]] = value


@settings(FAST, max_examples=25)  # each example draws a report page: the fixed corpus covers the known cases
@given(edits=st.lists(st.tuples(st.sampled_from(PATHS), hostile_value), min_size=1, max_size=3))
def test_whatever_a_sealed_result_holds_every_reader_copes(tmp_path_factory, base, grader, edits):
    """Change up to three fields to anything and seal it again: the reader refuses it in one line, or every
    consumer of a loaded result (summary, score, frame, comparison, report page) copes with it."""
    from rich.console import Console

    from bench.analysis.compare import compare_frame
    from bench.analysis.frame import runs_frame
    from bench.cli.show import print_summary
    from bench.errors import ResultError
    from bench.report.page import render_html
    from bench.result.store import load_runs

    folder = tmp_path_factory.mktemp("prop") / "r"
    shutil.copytree(base, folder)
    data = data_of(folder)
    for path, value in edits:
        _put(data, path, value)
    seal(folder, data)
    with deadline():
        loaded = load_runs([folder])
        if not loaded.runs:
            assert len(loaded.skipped) == 1 and "\n" not in loaded.skipped[0][1]
            return
        run = loaded.runs[0]
        buf = Console(file=__import__("io").StringIO(), width=120)
        print_summary(run.result, folder, buf)
        terminal_safe(buf.file.getvalue())
        frame = runs_frame(loaded.runs, grader)
        if len(frame):
            compare_frame(frame)
        page, _ = render_html(loaded, grader, traces=False)
        page.encode("utf-8")
        try:
            from bench.analysis.validity import check_validity

            check_validity(run.result, folder)
        except ResultError as exc:
            assert "\n" not in str(exc)
