"""Bad input gets one clear line and exit code 2, never a traceback or a silent fallback."""

import subprocess
import sys

import pytest

from bench import plugins
from bench.workload import Workload, WorkloadInfo
from tests import ROOT
from tests.support.harness import run_bench


def test_help_imports_neither_torch_nor_pandas():
    code = ("import sys\nfrom bench.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('torch', 'pandas', 'pyarrow', 'pynvml', 'numpy', 'codecarbon') if m in sys.modules]\n"
            "print('HEAVY', heavy)\n")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert "Commands" in proc.stdout and "run" in proc.stdout
    assert "HEAVY []" in proc.stdout


@pytest.mark.parametrize("args,needle", [
    (["run", "--device", "cuda:0", "--workload", "gemm"], "device cuda:0 is not present"),
    (["run", "--device", "tpu:0", "--workload", "gemm"], "unknown device type 'tpu'"),
    (["run", "--device", "cpu", "--workload", "gemm", "--sampler", "nope"], "unknown sampler 'nope'"),
    (["run", "--device", "cpu", "--workload", "gemm", "--duration", "five"], "'--duration'"),
    (["run", "--device", "cpu", "--workload", "gemm", "--duration", "-1"], "'--duration'"),
    (["run", "--device", "cpu", "--workload", "nope"], "unknown workload 'nope'"),
    (["run", "--device", "cpu", "--workload", "gemm", "--sampler", "nvml"], "sampler nvml cannot measure cpu"),
    (["run", "--device", "c p u"], "malformed device"),
])
def test_bad_input_is_one_line_and_exit_2(args, needle, tmp_path):
    proc = run_bench(*args, "--out", str(tmp_path))
    assert proc.returncode == 2, proc.stderr
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and needle in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []  # nothing written for a user mistake


def test_choices_are_named(cli, tmp_path):
    res = cli("run", "--device", "cpu", "--workload", "gemm", "--sampler", "nope", "--out", str(tmp_path))
    assert res.code == 2
    assert "choices:" in res.err and "estimate" in res.err and "replay" in res.err


def test_rapl_without_permission_is_a_clear_error(cli, tmp_path, monkeypatch):
    from bench.conformance.fake_sysfs import FakePowercap

    tree = FakePowercap.intel_server(tmp_path / "sys")
    monkeypatch.setenv("BENCH_POWERCAP_ROOT", str(tree.root))
    with tree.unprivileged():
        res = cli("run", "--device", "cpu", "--workload", "gemm", "--sampler", "rapl", "--out", str(tmp_path / "o"))
    assert res.code == 2
    assert "root only" in res.err and "CVE-2020-8694" in res.err
    assert not (tmp_path / "o").exists()


def test_bad_preset_and_dtype(cli, tmp_path):
    res = cli("run", "--device", "cpu", "--workload", "gemm", "--preset", "huge", "--out", str(tmp_path))
    assert res.code == 2 and "no preset 'huge'" in res.err and "smoke" in res.err
    res = cli("run", "--device", "cpu", "--workload", "gemm", "--dtype", "fp8", "--out", str(tmp_path))
    assert res.code == 2 and "fp8" in res.err


class Boom(Workload):
    name = "boom"
    unit = "thing"
    presets = {"smoke": {}, "standard": {}}

    def setup(self, device):
        self.n = 0
        return WorkloadInfo(unit="thing", units_per_step=1, flops_per_unit=None, parameters=0, memory_bytes=0)

    def step(self):
        self.n += 1
        if self.n > 3:
            raise RuntimeError("kernel exploded")


def test_workload_error_is_recorded_and_exit_1(cli, tmp_path):
    plugins.register("workloads", "boom", Boom)
    try:
        res = cli("run", "--device", "cpu", "--workload", "boom", "--workload", "gemm", "--idle", "0.5",
                  "--duration", "0.3", "--repeats", "2", "--warmup-min", "0.2", "--warmup-max", "1.5",
                  "--out", str(tmp_path), "--name", "boom", "--quiet")
    finally:
        plugins.unregister("workloads", "boom")
    assert res.code == 1
    from bench.result.io import load_result

    r = load_result(tmp_path / "boom")
    assert r.status == "incomplete"
    boom, gemm = r.workload("boom"), r.workload("gemm")
    assert boom.status == "failed" and "kernel exploded" in boom.reason
    assert gemm.status == "complete" and len(gemm.repeats) == 2  # the next workload still ran
    assert (tmp_path / "boom" / "trace.parquet").is_file()


def test_show_on_a_non_result_is_exit_1(cli, tmp_path):
    (tmp_path / "x").mkdir()
    res = cli("show", str(tmp_path / "x"))
    assert res.code == 1 and "not a result" in res.err
    (tmp_path / "x" / "result.json").write_text('{"schema_version": "9.0"}')
    res = cli("show", str(tmp_path / "x"))
    assert res.code == 1 and "newer" in res.err
