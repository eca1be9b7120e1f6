"""`bench run` with no workload runs the smoke suite on the CPU, every workload end to end, in one folder."""

import pytest

from bench.result.io import load_result
from bench.run.suites import STANDARD_WORKLOADS
from tests.support.harness import run_bench


@pytest.fixture(scope="module")
def suite(tmp_path_factory):
    out = tmp_path_factory.mktemp("suite")
    proc = run_bench("run", "--device", "cpu", "--idle", "0.5", "--duration", "0.3", "--repeats", "2",
                     "--warmup-min", "0.1", "--warmup-max", "0.5", "--quiet", "--out", str(out), "--name", "smoke",
                     timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return load_result(out / "smoke"), proc


def test_default_is_the_smoke_suite_in_one_folder(suite):
    r, proc = suite
    assert r.config["suite"] == "smoke"
    assert [w.workload for w in r.workloads] == list(STANDARD_WORKLOADS)
    assert all(w.status == "complete" for w in r.workloads)
    assert all(w.params["preset"] == "smoke" for w in r.workloads)
    for name in STANDARD_WORKLOADS:
        assert name in proc.stdout


def test_every_workload_declares_its_work(suite):
    r, _ = suite
    units = {"gemm": "matmul", "resnet50-infer": "image", "resnet50-train": "image", "bert-infer": "sample",
             "llm-prefill": "token", "llm-decode": "token", "llm-train": "token"}
    for w in r.workloads:
        assert w.unit == units[w.workload]
        assert w.flops_per_unit and w.flops_per_unit > 0
        assert w.parameters is not None and w.memory_bytes and w.memory_bytes > 0
        assert w.settings["dtype"] in ("fp32", "bf16", "fp16", "tf32")
        assert w.optimizations  # what was enabled is recorded
        for rep in w.repeats:
            assert rep.units == rep.steps * w.units_per_step > 0
            assert rep.duration_s >= 0.3


def test_inference_and_training_are_marked(suite):
    r, _ = suite
    kinds = {w.workload: w.kind for w in r.workloads}
    assert kinds["resnet50-train"] == kinds["llm-train"] == "training"
    assert kinds["bert-infer"] == kinds["llm-decode"] == "inference"
    assert r.workload("resnet50-infer").optimizations.get("inference_mode") is True
