import json
import shutil

import pandas as pd
import pytest

from bench.analysis.frame import COLUMNS, load_results
from bench.result.store import find_result_folders, load_runs
from tests.factories import write_result_folder

BASE = [1.00, 1.02, 0.98, 1.01, 0.99]


@pytest.fixture(scope="module")
def root(tmp_path_factory):
    root = tmp_path_factory.mktemp("store")
    write_result_folder(root / "lab" / "a", BASE, device="Acme X1", batch=64, run_id="a" * 32,
                extra_workloads=[{"workload": "llm-decode", "unit": "token", "gross_per_unit_j": [0.2, 0.21, 0.19],
                                  "preset": "standard", "dtype": "bf16", "batch": 8}])
    write_result_folder(root / "lab" / "b", [0.5, 0.52, 0.48], device="Acme X2", quality_level=1, run_id="b" * 32)
    write_result_folder(root / "other" / "a", [0.7, 0.7, 0.7], device="Acme X3", run_id="c" * 32)
    return root


def test_one_typed_row_per_workload_result(root):
    df = load_results([root], grades=False)
    assert len(df) == 4
    assert list(df.columns) == list(COLUMNS)
    assert str(df["energy_per_unit_j"].dtype) == "Float64"
    assert str(df["batch"].dtype) == "Int64" and str(df["quality_level"].dtype) == "Int64"
    assert str(df["device"].dtype) == "string" and str(df["conforms"].dtype) == "boolean"
    assert str(df["created_utc"].dtype).startswith("datetime64")
    assert df.attrs["skipped"] == []
    a = df[(df.run_id == "a" * 32)]
    assert sorted(a.workload) == ["gemm", "llm-decode"]
    decode = a[a.workload == "llm-decode"].iloc[0]
    assert decode["unit"] == "token" and decode["batch"] == 8 and decode["repeats"] == 3
    assert decode["gross_energy_per_unit_j"] == pytest.approx(0.2)


def test_figures_match_the_result(root):
    df = load_results([root / "lab" / "a"], grades=False)
    gemm = df[df.workload == "gemm"].iloc[0]
    data = json.loads((root / "lab" / "a" / "result.json").read_text())
    agg = data["workloads"][0]["aggregate"]
    for col, key in (("energy_per_unit_j", "energy_per_unit_j"), ("gross_energy_per_unit_j", "gross_energy_per_unit_j"),
                     ("throughput", "throughput"), ("mean_power_w", "mean_power_w")):
        assert gemm[col] == pytest.approx(agg[key]["mean"])
        assert gemm[f"{col}_ci_low"] == pytest.approx(agg[key]["ci95_low"])
        assert gemm[f"{col}_ci_high"] == pytest.approx(agg[key]["ci95_high"])
    assert gemm["gross_energy_per_unit_j_repeats"] == pytest.approx(BASE)
    assert gemm["idle_power_w"] == 50.0 and gemm["device"] == "Acme X1" and gemm["preset"] == "standard"
    assert gemm["dtype"] == "bf16" and gemm["quality_level"] == 2 and gemm["integrity"] == "unsigned"
    assert gemm["sampler"] == "nvml" and gemm["harness_version"] == "0.1.0" and gemm["schema_version"] == "1.0"
    assert gemm["digest"] == data["integrity"]["digest"]


def test_labels_stay_unique_when_folder_names_collide(root):
    runs = load_runs([root]).runs
    assert [r.label for r in runs] == ["lab/a", "b", "other/a"]


def test_bad_inputs_are_named_and_the_rest_loaded(root, tmp_path):
    shutil.copytree(root / "lab", tmp_path / "lab")
    bad = tmp_path / "bad"
    (bad / "empty").mkdir(parents=True)
    trunc = bad / "truncated"
    trunc.mkdir()
    (trunc / "result.json").write_text((root / "lab" / "b" / "result.json").read_text()[:500])
    newer = bad / "newer"
    shutil.copytree(root / "lab" / "b", newer)
    data = json.loads((newer / "result.json").read_text())
    data["schema_version"] = "7.0"
    (newer / "result.json").write_text(json.dumps(data))
    edited_trace = bad / "trace"
    shutil.copytree(root / "lab" / "b", edited_trace)
    blob = bytearray((edited_trace / "trace.parquet").read_bytes())
    blob[len(blob) // 2] ^= 0x01
    (edited_trace / "trace.parquet").write_bytes(bytes(blob))
    (bad / "orphan").mkdir()
    (bad / "orphan" / "trace.parquet").write_bytes(b"x")

    df = load_results([tmp_path / "lab", bad, tmp_path / "missing"], grades=False)
    assert sorted(df.run) == ["a", "a", "b"]
    reasons = dict(df.attrs["skipped"])
    assert "does not exist" in reasons[str(tmp_path / "missing")]
    assert "truncated" in reasons[str(trunc)]
    assert "newer than this harness" in reasons[str(newer)]
    assert "trace.parquet does not match its digest" in reasons[str(edited_trace)]
    assert "no result.json" in reasons[str(bad / "orphan")]
    assert str(bad / "empty") not in reasons  # a plain empty subfolder of a results folder is not an input


def test_a_folder_without_any_result_is_named(tmp_path):
    (tmp_path / "nothing").mkdir()
    found, skipped = find_result_folders([tmp_path / "nothing"])
    assert found == [] and "not a result folder" in skipped[0][1]


def test_include_edited_keeps_the_row_with_its_state(root, tmp_path):
    folder = shutil.copytree(root / "lab" / "b", tmp_path / "b")
    data = json.loads((folder / "result.json").read_text())
    data["device"]["name"] = "Faster Chip"
    (folder / "result.json").write_text(json.dumps(data, indent=2) + "\n")
    assert load_results([folder], grades=False).empty
    df = load_results([folder], grades=False, include_edited=True)
    assert df.iloc[0]["integrity"] == "edited" and df.iloc[0]["device"] == "Faster Chip"


def test_grades_from_the_scoring_package(root):
    pytest.importorskip("bench.analysis.scoring.score")
    from bench.analysis.scoring.standard import load_standard

    old = load_results([root / "other" / "a"], standard="clause7-2025.1").iloc[0]
    assert old["grade"] == "C" and old["conforms"] and old["grade_reason"] is pd.NA  # 2 x 8192^3 / 0.7 J
    mixed = load_results([root / "lab" / "a"], standard="clause7-2025.1")
    # one workload's wide CI holds the run's quality at L1: no workload of it is graded, and each says why
    assert mixed["grade"].isna().all() and mixed["grade_reason"].str.contains("llm-decode: 95% CI").all()
    df = load_results([root / "lab" / "a"])
    gemm = df[df.workload == "gemm"].iloc[0]
    std = load_standard()
    assert gemm["standard"] == std.id and gemm["standard_version"] == std.version
    assert gemm["grade"] is pd.NA and "quality L1" in gemm["grade_reason"]
    # the folder recorded no validity checks, which clause7-2025.2 requires: no letter, and the reason
    new = load_results([root / "other" / "a"]).iloc[0]
    assert new["grade"] is pd.NA and "validity checks not recorded" in new["grade_reason"]
    assert gemm["carbon_g"] > 0 and gemm["water_ml"] > 0 and gemm["footprint_units"] == std.reported.per_units


def test_without_scoring_the_grade_columns_stay_empty(root, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_scoring(name, *args, **kwargs):
        if name.startswith("bench.analysis.scoring"):
            raise ImportError("scoring not installed")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_scoring)
    df = load_results([root / "lab" / "b"])
    assert df["grade"].isna().all() and df["standard"].isna().all()
    assert df.iloc[0]["quality_level"] == 1  # the level recorded in the result
