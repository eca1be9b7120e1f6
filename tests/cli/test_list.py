"""`bench list` shows what is installed and what can measure here, and `bench schema` is valid JSON."""

import json
import os
import subprocess
import sys

import pytest

from tests import ROOT


def test_list_everything(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    res = cli("list")
    assert res.code == 0
    for needle in ("gemm", "llm-decode", "resnet50-train", "estimate", "nvml", "rapl", "replay", "cuda",
                   "H200 SXM 141GB", "Instinct MI300X", "Ascend 910B", "clause7-2025.1"):
        assert needle in res.out, needle


def test_samplers_say_why_not(cli, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.setenv("BENCH_POWERCAP_ROOT", "/nonexistent/powercap")
    res = cli("list", "samplers", "--device", "cpu")
    assert res.code == 0
    lines = {line.split("│")[1].strip(): line for line in res.out.splitlines() if line.count("│") >= 3}
    assert "available" in lines["estimate"]
    assert "no:" in lines["rapl"] and "does not exist" in lines["rapl"]
    assert "no:" in lines["nvml"]


def test_schema_is_a_json_schema_of_the_result(cli):
    res = cli("schema")
    schema = json.loads(res.out)
    assert schema["title"] == "bench result"
    assert {"measurement", "workloads", "windows", "quality", "integrity"} <= set(schema["properties"])


@pytest.mark.parametrize("args", [["list"], ["list", "devices"], ["plugins", "list"]])
def test_listing_imports_no_torch(args):
    """Finding CUDA devices goes through NVML, never torch: a listing must not pay torch's seconds of import."""
    code = ("import sys\nfrom bench.cli import main\ntry:\n    main(%r)\nexcept SystemExit as exc:\n"
            "    assert not exc.code, exc.code\n"
            "print('HEAVY', [m for m in ('torch', 'pandas', 'scipy', 'matplotlib', 'codecarbon')\n"
            "                if m in sys.modules])\n"
            % args)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120,
                          env={**os.environ, "COLUMNS": "200"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "cuda" in proc.stdout  # the CUDA backend was asked for its devices
    assert "HEAVY []" in proc.stdout, proc.stdout[-500:]
