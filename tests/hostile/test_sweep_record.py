"""A sweep folder is read like any result: its sweep.json is bounded, and a point's folder can never lead out of
the sweep folder (a crafted record naming ``../elsewhere`` would have show, score and report read a result the
reviewer was not given as if it were a point of the sweep)."""

from __future__ import annotations

import json

import pytest

from tests.factories import write_result_folder, write_sweep_folder
from tests.hostile.support import handled


def _sweep(tmp_path):
    folder = write_sweep_folder(tmp_path / "sweep", [(None, [1.0, 1.0, 1.0], [2.0, 2.0, 2.0]),
                                                     (500.0, [0.8, 0.8, 0.8], [2.1, 2.1, 2.1])])
    return folder, json.loads((folder / "sweep.json").read_text())


def _rewrite(folder, record):
    (folder / "sweep.json").write_text(json.dumps(record))


@pytest.mark.parametrize("escape", ["../outside", "..", "/tmp", "a/../../outside", "."])
def test_a_point_folder_outside_the_sweep_is_refused(tmp_path, escape):
    folder, record = _sweep(tmp_path)
    write_result_folder(tmp_path / "outside", [0.01, 0.01, 0.01], duration_s=2.0)  # a tempting target
    record["points"][1]["folder"] = escape
    _rewrite(folder, record)
    for command in (["show", str(folder)], ["score", str(folder)]):
        res = handled(*command, codes=(1, 2))
        assert "sweep.json" in res.err and "not a folder name inside the sweep" in res.err, res.err


@pytest.mark.parametrize("field, value, message", [
    ("max_slowdown", "five percent", "max_slowdown must be a number"),
    ("max_slowdown", 1e300, "max_slowdown must be a number"),
    ("metric", "joules", "metric must be gross or net"),
])
def test_a_sweep_config_analysis_cannot_read_is_one_line(tmp_path, field, value, message):
    folder, record = _sweep(tmp_path)
    record["config"][field] = value
    _rewrite(folder, record)
    res = handled("show", str(folder), codes=(1, 2))
    assert message in res.err and len(res.err.strip().splitlines()) == 1, res.err


def test_an_oversized_sweep_record_is_refused_before_it_is_parsed(tmp_path):
    folder, record = _sweep(tmp_path)
    record["notes"] = ["x" * 1000] * 5000  # 5 MB, over the sweep record's limit
    _rewrite(folder, record)
    res = handled("show", str(folder), codes=(1, 2))
    assert "sweep.json" in res.err and "sweep record" in res.err, res.err


def test_an_intact_sweep_still_reads(tmp_path):
    folder, _ = _sweep(tmp_path)
    res = handled("show", str(folder), codes=(0,))
    assert "500" in res.output
