"""The Python API: a measuring session, its windows (with, begin/end, nested, overlapping), the decorator, and
the result folder it leaves, which the commands read like a run's."""

import json
import math
import subprocess
import sys
import threading
import time

import pytest

import bench
from bench.api import Session, measured
from bench.conformance.fake_cuda import FakeCudaDevice, fake_gpus
from bench.conformance.fake_nvml import FakeGpu, FakeNvml, PowerTimeline
from bench.errors import UsageError
from bench.result.io import load_result
from tests import ROOT

FAST = {"idle_s": 0.6, "rate_hz": 50.0}


def busy(seconds):
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def wavy_gpu():
    """A GPU whose power varies over time (so energy is not a constant times duration)."""
    return FakeNvml([FakeGpu("NVIDIA H100 80GB HBM3",
                             power=PowerTimeline.from_function(lambda t: 250 + 120 * math.sin(3 * t), 600, 0.01))])


def exact(nvml, window):
    return nvml.exact_energy_j(0, (window.t_start_ns - nvml._t0_ns) / 1e9, (window.t_end_ns - nvml._t0_ns) / 1e9)


EDGE_J = 2 * 0.010 * 400.0  # the fake counter refreshes every 10 ms: each edge may be that late


def test_import_bench_is_cheap_and_the_api_is_lazy():
    code = ("import sys, bench; assert 'bench.api' not in sys.modules; "
            "assert {'measure', 'measured', 'Session'} <= set(dir(bench)); "
            "m = bench.measure; assert m.__module__.startswith('bench.api'); "
            "print(sorted(x for x in ('torch', 'pandas', 'scipy', 'transformers') if x in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
    with pytest.raises(AttributeError):
        bench.no_such_thing  # noqa: B018


def test_session_on_a_gpu_measures_windows_like_a_run(tmp_path):
    nvml = wavy_gpu()
    with fake_gpus(nvml):
        with bench.measure("cuda:0", out=tmp_path, name="s", **FAST) as session:
            for _ in range(3):
                with session.window("train", units=64, unit="sample") as w:
                    busy(0.25)
            assert w.measurement.index == 3
            m = session.windows["train"]
            assert m.count == 3 and m.units == 192 and m.unit == "sample"
    res = load_result(tmp_path / "s")
    assert res.status == "complete" and res.config["session"] is True and res.measurement.sampler == "nvml"
    wr = res.workload("train")
    assert [r.window for r in wr.repeats] == ["train/repeat.1", "train/repeat.2", "train/repeat.3"]
    idle_w = res.idle.power_w
    assert idle_w is not None
    for occ, rep in zip(m.occurrences, wr.repeats):
        win = next(x for x in res.windows if x.name == rep.window)
        # gross from the energy counter, within the counter's edge resolution of the true energy
        assert occ.gross_energy_j == pytest.approx(exact(nvml, win), abs=EDGE_J)
        assert occ.idle_energy_j == pytest.approx(idle_w * occ.time_s, rel=1e-9)
        assert occ.net_energy_j == pytest.approx(occ.gross_energy_j - idle_w * occ.time_s, rel=1e-9)
        assert occ.energy_per_unit_j == pytest.approx(occ.net_energy_j / 64, rel=1e-9)
        assert occ.channels["cuda:0"].method == "counter"
        assert occ.time_s >= 0.25
        assert rep.gross_energy_j == occ.gross_energy_j  # the folder holds what the session returned
    assert m.energy_j == pytest.approx(sum(o.energy_j for o in m.occurrences))
    assert m.time_s == pytest.approx(sum(o.time_s for o in m.occurrences))
    assert m.channels["cuda:0"] == pytest.approx(m.energy_j)
    assert wr.aggregate.energy_per_unit_j.n == 3
    assert wr.latency.method == "window" and wr.latency.steps == 3
    assert wr.latency.p50_s == pytest.approx(sorted(o.time_s for o in m.occurrences)[1])
    # quality and validity as a run's: every occurrence a measured window
    assert res.quality is not None and res.quality.level == m.quality.level
    one = m.last.quality  # a single occurrence: too few repeats for a confidence interval
    assert any(a.aspect == "repeats" and a.level == 1 and "1 repeat(s)" in a.reason for a in one.aspects)
    assert one.level <= m.quality.level
    coverage = [c for c in res.validity if c.check == "trace_coverage"]
    assert {c.window for c in coverage} == {"idle", "train/repeat.1", "train/repeat.2", "train/repeat.3"}


def test_nested_and_overlapping_windows(tmp_path):
    nvml = wavy_gpu()
    with fake_gpus(nvml):
        with Session("cuda:0", out=tmp_path, name="n", **FAST) as s:
            s.begin_window("epoch")
            for _ in range(2):
                with s.window("step"):
                    busy(0.15)
            s.begin_window("a")
            busy(0.15)
            s.begin_window("b")  # overlaps a
            busy(0.15)
            a = s.end_window("a")
            busy(0.15)
            b = s.end_window("b")
            epoch = s.end_window("epoch")
    res = load_result(tmp_path / "n")
    by = {w.name: w for w in res.windows}
    for name in ("epoch/repeat.1", "step/repeat.1", "step/repeat.2", "a/repeat.1", "b/repeat.1"):
        assert by[name].energy_j == pytest.approx(exact(nvml, by[name]), abs=EDGE_J)
    assert by["a/repeat.1"].t_start_ns < by["b/repeat.1"].t_start_ns < by["a/repeat.1"].t_end_ns \
        < by["b/repeat.1"].t_end_ns
    steps = s.windows["step"]
    assert epoch.energy_j > steps.energy_j + a.energy_j - EDGE_J  # the outer window holds the inner ones
    assert epoch.time_s > steps.time_s + a.time_s
    assert a.time_s == pytest.approx(0.3, abs=0.1) and b.time_s == pytest.approx(0.3, abs=0.1)
    assert {w.workload for w in res.workloads} == {"epoch", "step", "a", "b"}


class CountingDevice(FakeCudaDevice):
    """A fake GPU whose work runs asynchronously: launched work is pending until synchronize() waits for it."""

    syncs = 0
    pending_s = 0.0

    def synchronize(self) -> None:
        type(self).syncs += 1
        busy(type(self).pending_s)
        type(self).pending_s = 0.0


def launch(seconds):
    CountingDevice.pending_s += seconds


def test_device_is_synchronised_at_both_edges_unless_sync_false(tmp_path):
    with fake_gpus(FakeNvml([FakeGpu(power=200.0)]), device_class=CountingDevice):
        with Session("cuda:0", out=tmp_path, name="sync", idle_s=0) as s:
            launch(0.3)  # queued before the window: sync at its start keeps it out
            CountingDevice.syncs = 0
            with s.window("kernel"):
                launch(0.2)  # finishes inside the window because the end edge synchronises
            assert CountingDevice.syncs == 2
            with s.window("async", sync=False):
                launch(0.2)
            assert CountingDevice.syncs == 2
            s.sync = False
            s.begin_window("unsynced")
            s.end_window("unsynced")
            assert CountingDevice.syncs == 2
    assert s.windows["kernel"].time_s == pytest.approx(0.2, abs=0.08)
    assert s.windows["async"].time_s < 0.1  # without sync the window closes before the work is done


def test_decorator_own_session_and_inside_a_session(tmp_path):
    @measured("cpu", unit="sample", units=lambda batch: len(batch), out=tmp_path / "own", idle_s=0)
    def train(batch):
        busy(0.05)
        return sum(batch)

    assert train([1, 2, 3]) == 6
    assert train.last.units == 3 and train.last.unit == "sample" and train.last.name == "train"
    folders = list((tmp_path / "own").iterdir())
    assert len(folders) == 1 and load_result(folders[0]).workload("train").repeats[0].units == 3

    with bench.measure("cpu", out=tmp_path / "shared", idle_s=0) as s:
        train([1])
        train([1, 2])
        assert train.last_session is s
    assert s.windows["train"].count == 2 and s.windows["train"].units == 3
    assert len(list((tmp_path / "own").iterdir())) == 1  # no session of its own inside one


def test_bad_use_is_a_one_line_usage_error_and_measured_windows_are_kept(tmp_path):
    with Session("cpu", out=tmp_path, name="bad", idle_s=0) as s:
        for bad in ("", "a/b", "idle", "idle.1"):
            with pytest.raises(UsageError):
                s.begin_window(bad)
        with pytest.raises(UsageError, match="not open"):
            s.end_window("never")
        s.begin_window("x")
        with pytest.raises(UsageError, match="already open"):
            s.begin_window("x")
        with pytest.raises(UsageError, match="units"):
            s.end_window("x", units=-1)
        s.end_window("x", units=2, unit="sample")
        with pytest.raises(UsageError, match="samples, not tokens"):
            with s.window("x", unit="token"):
                pass
        with pytest.raises(ZeroDivisionError):
            with s.window("broken"):
                1 / 0
        s.begin_window("dangling")
    res = load_result(tmp_path / "bad")
    codes = {i.code for i in res.issues}
    assert {"window_failed", "window_left_open", "no_idle_baseline"} <= codes
    assert res.workload("x").repeats[0].units == 2 and res.workload("x").repeats[0].net_energy_j is None
    assert res.workload("dangling").repeats  # closed at the end, kept
    assert all(w.workload != "broken" for w in res.workloads)
    with pytest.raises(UsageError, match="--rate"):
        Session("cpu", rate_hz=0)
    with pytest.raises(UsageError, match="not open"):
        s.begin_window("late")


def test_an_exception_in_the_session_seals_it_as_failed(tmp_path):
    with pytest.raises(RuntimeError, match="boom"):
        with Session("cpu", out=tmp_path, name="f", idle_s=0) as s:
            with s.window("ok"):
                busy(0.02)
            s.begin_window("open")
            raise RuntimeError("boom")
    res = load_result(tmp_path / "f")
    assert res.status == "failed" and "RuntimeError: boom" in res.reason
    assert res.integrity is not None and res.workload("ok").repeats
    assert res.workload("open").repeats and any(i.code == "window_left_open" for i in res.issues)


def test_sessions_in_threads_do_not_share_windows(tmp_path):
    """The decorator finds the session of its own thread (a context variable), not another thread's."""
    seen = {}

    @measured("cpu", idle_s=0, out=tmp_path / "t")
    def work():
        busy(0.01)

    def worker(k):
        with Session("cpu", out=tmp_path / f"w{k}", idle_s=0) as s:
            work()
            seen[k] = s

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(seen[k].windows["work"].count == 1 for k in range(2))


def test_the_commands_read_a_session_folder(tmp_path, cli):
    with fake_gpus(wavy_gpu()):
        with Session("cuda:0", out=tmp_path, name="cmd", **FAST) as s:
            for _ in range(3):
                with s.window("infer", units=8, unit="sample"):
                    busy(0.12)
    folder = str(tmp_path / "cmd")
    r = cli("show", folder)
    assert r.code == 0 and "infer" in r.out and "sample" in r.out
    for args in (("score", folder), ("compare", folder, folder), ("verify", folder)):
        r = cli(*args)
        assert r.code == 0, (args, r.output)
    assert cli("report", folder, "-o", str(tmp_path / "r.html")).code == 0
    assert "infer" in (tmp_path / "r.html").read_text()
    key = tmp_path / "key"
    assert cli("keygen", "-o", str(key)).code == 0
    r = cli("sign", folder, "--key", str(key))
    assert r.code == 0, r.output
    assert json.loads((tmp_path / "cmd" / "result.json").read_text())["integrity"]["signature"]


def test_the_provisional_result_keeps_windows_while_the_session_runs(tmp_path):
    with Session("cpu", out=tmp_path, name="live", idle_s=0) as s:
        with s.window("first", units=3):
            busy(0.02)  # the first window to end writes the provisional result at once
        data = json.loads((tmp_path / "live" / "result.json").read_text())
        assert data["status"] == "running" and [w["workload"] for w in data["workloads"]] == ["first"]
        assert data["workloads"][0]["repeats"][0]["units"] == 3
        with s.window("second"):
            pass
        s.save()
        data = json.loads((tmp_path / "live" / "result.json").read_text())
        assert {w["workload"] for w in data["workloads"]} == {"first", "second"}
    assert load_result(tmp_path / "live").status == "complete"
