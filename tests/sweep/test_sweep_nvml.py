"""`bench sweep --device cuda:0` through NVML, on the faithful fake NVML and a fake CUDA device, in this process:
each point a full run recording its setting, the idle baseline measured once, the originals always put back."""

import json
import time

import pytest

from bench import plugins
from bench.conformance.fake_cuda import fake_gpus
from bench.conformance.fake_nvml import FakeGpu, FakeNvml, active
from bench.control import state as st
from bench.result.io import load_result
from bench.result.sweep import load_sweep
from bench.result.trace import read_trace
from bench.workload import Workload, WorkloadInfo

H100 = "NVIDIA H100 80GB HBM3"
QUICK = ["--workload", "gemm", "--preset", "smoke", "--idle", "0.5", "--duration", "0.2", "--repeats", "2",
         "--warmup-min", "0", "--warmup-max", "0.2", "--quiet"]


def sweep_args(tmp_path, name, *extra, workload="gemm"):
    args = ["sweep", "--device", "cuda:0", *QUICK, "--out", str(tmp_path), "--name", name, *extra]
    return [workload if a == "gemm" else a for a in args]


def window_values(folder, result, column, prefix):
    """The trace's ``column`` inside the windows whose name starts with ``prefix``."""
    table = read_trace(folder)
    t, col = table.column("t_ns").to_pylist(), table.column(column).to_pylist()
    spans = [(w.t_start_ns, w.t_end_ns) for w in result.windows if w.name.startswith(prefix)]
    return [v for x, v in zip(t, col) if v is not None and any(a <= x <= b for a, b in spans)]


def test_sweep_measures_each_point_at_its_setting_and_puts_the_originals_back(cli, tmp_path, state_dir):
    nvml = FakeNvml([FakeGpu(H100, power=250.0)], root=True)
    with fake_gpus(nvml):
        res = cli(*sweep_args(tmp_path, "s", "--power-limits", "500,300", "--sm-clocks", "1400"))
    assert res.code == 0, res.output
    folder, record = load_sweep(tmp_path / "s")
    assert record.status == "complete" and record.restored.ok
    assert record.original["power_limit_w"] == 700.0
    assert [(p.label, p.status, p.power_limit_w, p.sm_clock_mhz) for p in record.points] == [
        ("00-as-found", "complete", None, None), ("01-500W-1395MHz", "complete", 500.0, 1395),
        ("02-300W-1395MHz", "complete", 300.0, 1395)]
    assert "1400 MHz is not a supported clock: 1395 MHz is used" in record.notes
    base = load_result(folder / "00-as-found")
    assert base.setting.baseline and base.setting.original_power_limit_w == 700.0
    assert any(w.name == "idle" for w in base.windows) and base.idle.measured_in is None
    assert set(window_values(folder / "00-as-found", base, "power_limit_w", "gemm/repeat.")) == {700.0}
    for label, watts in (("01-500W-1395MHz", 500.0), ("02-300W-1395MHz", 300.0)):
        r = load_result(folder / label)
        assert (r.setting.power_limit_w, r.setting.sm_clock_mhz) == (watts, 1395)
        assert r.setting.sweep_id == record.sweep_id and r.setting.point == label
        assert not any(w.name.startswith("idle") for w in r.windows)  # the idle baseline is measured once
        assert r.idle.measured_in == "00-as-found" and r.idle.power_w == base.idle.power_w
        # what NVML reported in force during the measured windows
        assert set(window_values(folder / label, r, "power_limit_w", "gemm/repeat.")) == {watts}
        assert set(window_values(folder / label, r, "clock_mhz", "gemm/repeat.")) == {1395.0}
        assert r.workload("gemm").warmup["blocks"] >= 1 and len(r.workload("gemm").repeats) == 2
    gpu = nvml.gpus[0]
    assert gpu.power_limit_mw == 700_000 and gpu.locked_clocks is None and nvml.refcount == 0
    assert record.restored.detail == "put back power limit 700 W, SM clocks reset to the driver's default"
    assert st.entries() == ([], [])  # the state file went with the restore
    assert "recommended (lowest energy)" in res.out and "original settings put back" in res.out
    # every point is an ordinary result folder: show, compare and score read them
    show = cli("show", str(folder / "01-500W-1395MHz"))
    assert show.code == 0 and "setting: power limit 500 W, SM clocks 1395 MHz" in show.out
    assert "measured once for the sweep in 00-as-found" in show.out
    compare = cli("compare", str(folder))
    assert compare.code == 0 and "00-as-found" in compare.out and "02-300W-1395MHz" in compare.out
    data = json.loads(cli("show", str(folder), "--json").out)
    assert [p["label"] for p in data["analysis"]["workloads"][0]["points"]] == [p.label for p in record.points]
    score = cli("score", str(folder), "--sweep-point", "baseline")
    assert "sweep s: graded at 00-as-found, as found (power limit 700 W)" in score.out


@pytest.mark.parametrize("option,value,what", [("--power-limits", "300", "setting the power limit"),
                                               ("--sm-clocks", "1410", "resetting the SM clocks")])
def test_without_root_one_line_and_nothing_measured_or_changed(cli, tmp_path, state_dir, option, value, what):
    nvml = FakeNvml([FakeGpu(H100, power=250.0)])  # a normal user
    with fake_gpus(nvml):
        res = cli(*sweep_args(tmp_path, "s", option, value))
    assert res.code == 1
    assert res.err.strip() == (f"bench: error: cuda:0: {what} needs root: NVML lets only root change "
                               "a GPU's power limit or clocks (run it with sudo, or ask an administrator)")
    assert not (tmp_path / "s").exists() and st.entries() == ([], []) and nvml.refcount == 0


def test_a_limit_outside_the_gpus_range_is_refused_before_anything_runs(cli, tmp_path, state_dir):
    nvml = FakeNvml([FakeGpu(H100, power=250.0)], root=True)
    with fake_gpus(nvml):
        res = cli(*sweep_args(tmp_path, "s", "--power-limits", "300,150"))
    assert res.code == 2
    assert res.err.strip() == "bench: error: --power-limits 150 W is outside cuda:0's power limit range 200-700 W"
    assert not (tmp_path / "s").exists() and nvml.gpus[0].power_limit_mw == 700_000 and nvml.refcount == 0


def test_a_device_without_control_says_so(cli, tmp_path, state_dir):
    res = cli("sweep", "--device", "cpu", *QUICK, "--power-limits", "100", "--out", str(tmp_path))
    assert res.code == 1 and res.err.startswith("bench: error: cpu: nothing here can change its power limit or clocks")


class CapSensitive(Workload):
    """A tiny workload that fails (or is interrupted at once) when it finds the fake GPU's limit lowered."""

    name = "capsensitive"
    unit = "thing"
    presets = {"smoke": {}, "standard": {}}
    raise_on_cap: type[BaseException] = RuntimeError

    def setup(self, device):
        return WorkloadInfo(unit="thing", units_per_step=1, flops_per_unit=None, parameters=0, memory_bytes=0)

    def step(self):
        if active().gpus[0].power_limit_mw < 700_000:
            raise self.raise_on_cap("the kernel faulted at the lower limit")
        time.sleep(0.002)


@pytest.fixture
def capsensitive():
    plugins.register("workloads", "capsensitive", CapSensitive)
    yield CapSensitive
    plugins.unregister("workloads", "capsensitive")
    CapSensitive.raise_on_cap = RuntimeError


def test_a_failing_point_stops_the_sweep_and_the_original_is_put_back(cli, tmp_path, state_dir, capsensitive):
    nvml = FakeNvml([FakeGpu(H100, power=250.0)], root=True)
    with fake_gpus(nvml):
        res = cli(*sweep_args(tmp_path, "f", "--power-limits", "400,300", workload="capsensitive"))
    assert res.code == 1
    folder, record = load_sweep(tmp_path / "f")
    assert record.status == "incomplete" and record.reason.startswith("01-400W: capsensitive: RuntimeError")
    assert [p.status for p in record.points] == ["complete", "failed", "skipped"]
    assert record.restored.ok and nvml.gpus[0].power_limit_mw == 700_000 and st.entries() == ([], [])


def test_an_interrupt_inside_a_point_still_puts_the_original_back(cli, tmp_path, state_dir, capsensitive):
    capsensitive.raise_on_cap = KeyboardInterrupt  # what a second SIGINT raises
    nvml = FakeNvml([FakeGpu(H100, power=250.0)], root=True)
    with fake_gpus(nvml):
        res = cli(*sweep_args(tmp_path, "i", "--power-limits", "400", workload="capsensitive"))
    assert res.code == 130
    folder, record = load_sweep(tmp_path / "i")
    assert record.status == "interrupted" and record.restored.ok
    assert load_result(folder / "01-400W").status == "interrupted"
    assert nvml.gpus[0].power_limit_mw == 700_000 and st.entries() == ([], []) and nvml.refcount == 0


def test_a_setting_left_by_a_killed_sweep_blocks_a_new_one(cli, tmp_path, state_dir):
    nvml = FakeNvml([FakeGpu(H100, power=250.0)], root=True)
    gpu = nvml.gpus[0]
    gpu.power_limit_mw = 300_000  # what the killed sweep set
    st.write(st.SettingState(sweep_id="killed", device="cuda:0", identity={"uuid": gpu.uuid}, backend="nvml",
                             source="sampler", original={"power_limit_w": 700.0, "sm_clock_lock": None},
                             applied={"power_limit_w": 300.0}, changed=["power_limit"], pid=2**22 + 7,
                             pid_start="0"))
    with fake_gpus(nvml):
        res = cli(*sweep_args(tmp_path, "s", "--power-limits", "400"))
        assert res.code == 2 and "run `bench sweep --restore` to put it back" in res.err
        assert not (tmp_path / "s").exists()
        restored = cli("sweep", "--restore")
        assert restored.code == 0 and "cuda:0: restored: put back power limit 700 W" in restored.out
    assert gpu.power_limit_mw == 700_000 and st.entries() == ([], [])
