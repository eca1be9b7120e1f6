"""Faults injected into `bench run`: each keeps every sample taken, says why, and exits non-zero."""

import errno
import json
import os
import signal
import subprocess
import time

import pyarrow  # noqa: F401 - set-up cost paid before the fake GPU's timeline starts
import pytest
import torch

from bench import plugins
from bench.conformance.fake_cuda import fake_gpus
from bench.conformance.fake_nvml import FakeGpu, FakeNvml, Fault
from bench.result.io import load_result
from bench.result.trace import STREAM_FILE, iter_batches, read_trace
from bench.workload import Workload, WorkloadInfo
from tests import BENCH, ROOT

QUICK = ["--idle", "0.5", "--repeats", "3", "--warmup-min", "0.2", "--warmup-max", "1", "--quiet"]


def start(out, name, duration="2"):
    args = [*BENCH, "run", "--device", "cpu", "--workload", "gemm", "--duration", duration, *QUICK,
            "--out", str(out), "--name", name]
    return subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_repeats(folder, timeout=120):
    """Wait until the provisional result shows the warm-up done: the first repeat window is running."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            data = json.loads((folder / "result.json").read_text())
            if any(w.get("warmup") for w in data.get("workloads", [])):
                return data
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    raise AssertionError("the run never reached its first repeat")


def test_first_sigint_finishes_the_window_and_marks_interrupted(tmp_path):
    proc = start(tmp_path, "sigint")
    wait_for_repeats(tmp_path / "sigint")
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    r = load_result(tmp_path / "sigint")
    assert r.status == "interrupted" and "signal" in r.reason
    w = r.workload("gemm")
    assert len(w.repeats) == 1  # the window running at the signal was finished, no new one began
    assert w.repeats[0].duration_s >= 2.0 and w.repeats[0].clean
    assert (tmp_path / "sigint" / "trace.parquet").is_file()
    assert read_trace(tmp_path / "sigint").num_rows == r.measurement.samples


def test_sigterm_is_handled_like_sigint(tmp_path):
    proc = start(tmp_path, "sigterm")
    wait_for_repeats(tmp_path / "sigterm")
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert load_result(tmp_path / "sigterm").status == "interrupted"


def test_second_signal_stops_at_once_and_keeps_the_trace(tmp_path):
    proc = start(tmp_path, "twice", duration="30")
    wait_for_repeats(tmp_path / "twice")
    t0 = time.monotonic()
    proc.send_signal(signal.SIGINT)
    time.sleep(0.3)
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=60)
    assert time.monotonic() - t0 < 20  # did not wait for the 30 s window
    assert proc.returncode == 130
    r = load_result(tmp_path / "twice")
    assert r.status == "interrupted" and "at once" in r.reason
    assert read_trace(tmp_path / "twice").num_rows == r.measurement.samples > 0


def test_sigkill_leaves_a_readable_trace_and_show_says_unfinished(tmp_path):
    proc = start(tmp_path, "killed", duration="30")
    wait_for_repeats(tmp_path / "killed")
    time.sleep(1.5)  # at least one more flush of the stream
    proc.kill()
    proc.communicate(timeout=30)
    folder = tmp_path / "killed"
    assert (folder / STREAM_FILE).is_file() and not (folder / "trace.parquet").exists()
    rows = sum(b.num_rows for b in iter_batches(folder / STREAM_FILE))
    assert rows > 10
    r = load_result(folder)
    assert r.status == "running" and r.workload("gemm").warmup  # the provisional result as of the kill
    assert r.idle is not None
    show = subprocess.run([*BENCH, "show", str(folder)], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert show.returncode == 1
    assert "did not finish" in show.stdout and f"{rows} samples kept" in show.stdout


GPU_RUN = ["run", "--device", "cuda:0", "--workload", "gemm", "--preset", "smoke", "--idle", "1", "--duration", "1",
           "--repeats", "3", "--warmup-min", "0.2", "--warmup-max", "1", "--quiet"]


@pytest.mark.parametrize("fault,needle", [
    (Fault("gpu_lost", after_s=3.5), "lost"),  # the run needs >= 5 s after a set-up of well under 1 s
    (Fault("no_permission", after_s=3.5), "permission"),
])
def test_sensor_error_mid_run(cli, tmp_path, fault, needle):
    gpu = FakeGpu("NVIDIA H100 80GB HBM3", power=250.0, faults=[fault])
    with fake_gpus(FakeNvml([gpu])):
        res = cli(*GPU_RUN, "--out", str(tmp_path), "--name", "f")
    assert res.code == 1
    r = load_result(tmp_path / "f")
    assert r.status == "incomplete" and needle in r.reason.lower()
    assert read_trace(tmp_path / "f").num_rows == r.measurement.samples >= 20
    for w in r.windows:  # no figure computed across the failure as if clean
        if any(i.code == "sampler_error" for i in w.issues):
            assert not w.clean


def test_hanging_read_is_cut_off(cli, tmp_path):
    gpu = FakeGpu("NVIDIA H100 80GB HBM3", power=250.0, faults=[Fault("hang", after_s=3.5, hang_s=20)])
    t0 = time.monotonic()
    with fake_gpus(FakeNvml([gpu])):
        res = cli(*GPU_RUN, "--read-timeout", "1", "--out", str(tmp_path), "--name", "hang")
    assert time.monotonic() - t0 < 15
    assert res.code == 1
    r = load_result(tmp_path / "hang")
    assert r.status == "incomplete" and ("hung" in r.reason or "hanging" in r.reason)


class OomOnce(Workload):
    name = "oom"
    unit = "thing"
    presets = {"smoke": {}, "standard": {}}

    def setup(self, device):
        return WorkloadInfo(unit="thing", units_per_step=1, flops_per_unit=None, parameters=0, memory_bytes=0)

    def step(self):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 80.00 GiB")


def test_out_of_memory_fails_that_workload_and_the_suite_goes_on(cli, tmp_path):
    plugins.register("workloads", "oom", OomOnce)
    try:
        res = cli("run", "--device", "cpu", "--workload", "oom", "--workload", "gemm", "--idle", "0.3",
                  "--duration", "0.3", "--repeats", "2", "--warmup-min", "0.1", "--warmup-max", "1", "--quiet",
                  "--out", str(tmp_path), "--name", "oom")
    finally:
        plugins.unregister("workloads", "oom")
    assert res.code == 1
    r = load_result(tmp_path / "oom")
    assert r.workload("oom").status == "failed" and "OutOfMemoryError" in r.workload("oom").reason
    assert r.workload("gemm").status == "complete"


def test_disk_full_while_writing_the_trace(cli, tmp_path, monkeypatch):
    from bench.result import trace

    real_flush = trace.TraceWriter.flush
    calls = {"n": 0}

    def flaky(self):
        calls["n"] += 1
        if calls["n"] > 3 and self.pending:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_flush(self)

    monkeypatch.setattr(trace.TraceWriter, "flush", flaky)
    res = cli("run", "--device", "cpu", "--workload", "gemm", "--idle", "1.5", "--duration", "1", "--repeats", "3",
              "--warmup-min", "0.2", "--warmup-max", "1", "--quiet", "--out", str(tmp_path), "--name", "full")
    assert res.code == 1
    r = load_result(tmp_path / "full")
    assert r.status == "incomplete" and "No space left" in r.reason
    assert 0 < r.trace.rows == read_trace(tmp_path / "full").num_rows  # what reached the disk is readable


def test_unwritable_output_saves_the_result_elsewhere(cli, tmp_path, monkeypatch):
    from bench.result import io as results

    real = results.atomic_write_bytes
    state = {"blocked": False}

    def guarded(path, data):
        if state["blocked"] and str(path).startswith(str(tmp_path)):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real(path, data)

    def block_after_trace(folder):
        out = real_finalize(folder)
        state["blocked"] = True
        return out

    from bench.result import trace

    real_finalize = trace.finalize
    monkeypatch.setattr(results, "atomic_write_bytes", guarded)
    monkeypatch.setattr(trace, "finalize", block_after_trace)
    res = cli("run", "--device", "cpu", "--workload", "gemm", "--idle", "0.3", "--duration", "0.3", "--repeats", "2",
              "--warmup-min", "0.1", "--warmup-max", "1", "--quiet", "--out", str(tmp_path), "--name", "ro")
    assert res.code == 1
    assert "saved it to" in res.err
    rescue = res.err.split("saved it to ")[1].strip()
    r = load_result(rescue)
    assert r.workload("gemm").status == "complete" and len(r.workload("gemm").repeats) == 2
    assert any(i.code == "storage_error" for i in r.issues)


def test_wall_clock_jumps_do_not_change_durations(cli, tmp_path, monkeypatch):
    real_time = time.time
    start_wall = real_time()
    monkeypatch.setattr(time, "time", lambda: real_time() - 3600 if real_time() - start_wall > 1 else real_time())
    res = cli("run", "--device", "cpu", "--workload", "gemm", "--idle", "0.5", "--duration", "0.5", "--repeats", "2",
              "--warmup-min", "0.1", "--warmup-max", "1", "--quiet", "--out", str(tmp_path), "--name", "jump")
    assert res.code == 0, res.err
    for rep in load_result(tmp_path / "jump").workload("gemm").repeats:
        assert 0.5 <= rep.duration_s < 1.5
