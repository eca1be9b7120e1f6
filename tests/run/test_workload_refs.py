"""Workloads given as FILE.py:Class or package.module:Class: run without packaging, their source recorded."""

import hashlib
import textwrap

import pytest

from bench.result.io import load_result
from tests import ROOT
from tests.support.harness import run_bench

QUICK = ["--idle", "0.3", "--duration", "0.4", "--repeats", "2", "--warmup-min", "0.1", "--warmup-max", "0.5",
         "--quiet"]
EXAMPLE = ROOT / "examples" / "my_workload.py"


def test_the_example_workload_file_runs_through_bench_run(tmp_path):
    proc = run_bench("run", "--device", "cpu", "--workload", "examples/my_workload.py:TinyMlpTraining", *QUICK,
                     "--out", str(tmp_path), "--name", "mine")
    assert proc.returncode == 0, proc.stderr
    r = load_result(tmp_path / "mine")
    wl = r.workload("tiny-mlp-train")
    assert wl.status == "complete" and wl.kind == "training" and wl.unit == "sample"
    assert wl.source["kind"] == "file" and wl.source["path"] == str(EXAMPLE)
    assert wl.source["sha256"] == hashlib.sha256(EXAMPLE.read_bytes()).hexdigest()
    assert wl.source["reference"] == "examples/my_workload.py:TinyMlpTraining"
    # forward 2*(128*64 + 64*10) per sample; backward: the first layer's weight gradient, the second's weight
    # and input gradients
    assert wl.flops_per_unit == 2 * (128 * 64 + 64 * 10) + 2 * 128 * 64 + 2 * 2 * 64 * 10
    assert r.config["workloads"][0]["name"] == "examples/my_workload.py:TinyMlpTraining"
    assert wl.latency is None  # training
    assert f"source of tiny-mlp-train: file {EXAMPLE} class TinyMlpTraining, sha256 {wl.source['sha256'][:16]}" \
        in " ".join(proc.stdout.split())


def test_a_module_reference_and_its_source(cli, tmp_path, monkeypatch):
    pkg = tmp_path / "mypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "work.py").write_text(textwrap.dedent('''
        from bench.workload import Workload, WorkloadInfo

        class Sleepy(Workload):
            unit = "nap"
            presets = {"smoke": {}, "standard": {}}

            def setup(self, device):
                return WorkloadInfo(unit="nap", units_per_step=1, flops_per_unit=None, parameters=0,
                                    memory_bytes=0)

            def step(self):
                sum(range(1000))
        '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    res = cli("run", "--device", "cpu", "--workload", "mypkg.work:Sleepy", *QUICK, "--latency", "0.1",
              "--out", str(tmp_path / "out"), "--name", "mod")
    assert res.code == 0, res.output
    wl = load_result(tmp_path / "out" / "mod").workload("Sleepy")  # no name declared: the class name
    assert wl.source["kind"] == "module" and wl.source["module"] == "mypkg.work"
    assert wl.source["sha256"] == hashlib.sha256((pkg / "work.py").read_bytes()).hexdigest()
    assert wl.latency is not None and wl.latency.steps >= 1


@pytest.mark.parametrize("ref, message", [
    ("nope", "or give a workload class as path/to/file.py:ClassName or package.module:ClassName"),
    ("examples/missing.py:X", "workload file"),
    ("examples/my_workload.py:Missing", "has no class Missing; workload classes there: TinyMlpTraining"),
    ("no_such_module_here:X", "no module 'no_such_module_here'"),
    ("json:JSONDecoder", "must be a subclass of bench.workload.Workload"),
    ("examples/my_workload.py:", "malformed workload"),
    ("./examples/my_workload.py", "names a file; add the workload class: ./examples/my_workload.py:ClassName"),
])
def test_bad_references_are_one_line_errors(cli, tmp_path, ref, message):
    res = cli("run", "--device", "cpu", "--workload", ref, "--out", str(tmp_path))
    assert res.code != 0
    assert message in res.err and len(res.err.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())  # nothing written


def test_a_file_workload_may_not_take_a_registered_name(cli, tmp_path):
    f = tmp_path / "fake_gemm.py"
    f.write_text(textwrap.dedent('''
        from bench.workload import Workload, WorkloadInfo

        class NotGemm(Workload):
            name = "gemm"
            unit = "matmul"
            presets = {"smoke": {}}

            def setup(self, device):
                raise NotImplementedError

            def step(self):
                pass
        '''))
    res = cli("run", "--device", "cpu", "--workload", f"{f}:NotGemm", "--out", str(tmp_path / "out"))
    assert res.code != 0 and "'gemm', which is a registered workload" in res.err
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('no GPU here')\n")
    res = cli("run", "--device", "cpu", "--workload", f"{broken}:X", "--out", str(tmp_path / "out"))
    assert res.code != 0 and "failed to import: RuntimeError: no GPU here" in res.err
