"""The nvml sampler against the fake NVML (bench.conformance.fake_nvml), installed over the real pynvml."""

from __future__ import annotations

import os
import sys
import threading
import time

import pytest

from bench import devices
from bench.clock import MonotonicClock, SimClock
from bench.conformance.fake_cuda import FakeCudaDevice, cuda_order, fake_gpus
from bench.conformance.fake_nvml import FakeGpu, FakeNvml, Fault, PowerTimeline
from bench.devices import cuda as cuda_devices
from bench.samplers.base import (
    PowerKind,
    SamplerDeviceLost,
    SamplerError,
    SamplerNoPermission,
    SamplerUnavailable,
    Scope,
)
from bench.samplers.nvml import NvmlSampler

H100 = "NVIDIA H100 80GB HBM3"
A10 = "NVIDIA A10"
A100 = "NVIDIA A100-SXM4-80GB"
P100 = "Tesla P100-PCIE-16GB"


@pytest.fixture(autouse=True)
def _clean_cuda_env(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    monkeypatch.delenv("CUDA_DEVICE_ORDER", raising=False)


def make(monkeypatch, *gpus: FakeGpu, **kwargs) -> FakeNvml:
    """A fake NVML on a SimClock, installed as ``pynvml`` for the test."""
    return FakeNvml(list(gpus), kwargs.pop("clock", None) or SimClock(), **kwargs).install(monkeypatch)


def open_one(device: str = "cuda:0", **kwargs) -> NvmlSampler:
    (sampler,) = NvmlSampler.open(device, **kwargs)
    return sampler


# --- the fake is NVML-faithful ------------------------------------------------------------------


def test_fake_uses_real_error_classes_and_refcounted_init(monkeypatch):
    import pynvml as fake

    real = fake._real if isinstance(fake, FakeNvml) else fake
    nvml = make(monkeypatch, FakeGpu(P100))
    with pytest.raises(real.NVMLError_Uninitialized):
        nvml.nvmlDeviceGetCount()
    with pytest.raises(real.NVMLError_Uninitialized):
        nvml.nvmlShutdown()
    nvml.nvmlInit()
    nvml.nvmlInit()
    handle = nvml.nvmlDeviceGetHandleByIndex(0)
    with pytest.raises(real.NVMLError_NotSupported) as err:  # no energy counter before Volta
        nvml.nvmlDeviceGetTotalEnergyConsumption(handle)
    assert err.value.value == real.NVML_ERROR_NOT_SUPPORTED
    nvml.nvmlShutdown()
    assert nvml.nvmlDeviceGetCount() == 1  # still initialised once
    nvml.nvmlShutdown()
    with pytest.raises(real.NVMLError_Uninitialized):
        nvml.nvmlDeviceGetName(handle)


def test_fake_field_values_report_per_field_status(monkeypatch):
    nvml = make(monkeypatch, FakeGpu(A10, power=123.4567))
    nvml.nvmlInit()
    h = nvml.nvmlDeviceGetHandleByIndex(0)
    instant, average = nvml.nvmlDeviceGetFieldValues(
        h, [(nvml.NVML_FI_DEV_POWER_INSTANT, nvml.NVML_POWER_SCOPE_GPU), nvml.NVML_FI_DEV_POWER_AVERAGE])
    assert instant.nvmlReturn == nvml.NVML_ERROR_NOT_SUPPORTED  # the A10 here lacks the instant field
    assert average.nvmlReturn == nvml.NVML_ERROR_NOT_SUPPORTED
    assert nvml.nvmlDeviceGetPowerUsage(h) == 123457  # mW, whole
    assert nvml.nvmlDeviceGetPciInfo(h).busId == nvml.gpus[0].pci_bus_id
    nvml.nvmlShutdown()


def test_power_timeline_integral_is_exact():
    tl = PowerTimeline([(0, 100), (2, 100), (2, 300), (4, 500)])  # step at 2 s, then a ramp
    assert tl(1.0) == 100 and tl(2.0) == 300 and tl(3.0) == pytest.approx(400)
    assert tl.energy_j(0, 2) == pytest.approx(200)
    assert tl.energy_j(1, 3) == pytest.approx(100 + 350)
    assert tl.energy_j(4, 6) == pytest.approx(1000)  # constant after the last point
    steps = PowerTimeline.steps([(0, 50), (1, 150)])
    assert steps.energy_j(0, 3) == pytest.approx(50 + 300)


# --- units and the energy counter --------------------------------------------------------------


def test_units_are_joules_watts_celsius_mhz(monkeypatch):
    clock = SimClock()
    nvml = make(monkeypatch, FakeGpu(H100, power=250.0, power_limit_mw=700_000, temperature_c=52,
                                     sm_clock_mhz=1755, energy_offset_mj=5_000_000), clock=clock)
    sampler = open_one(clock=clock)
    first = sampler.read()
    assert first.energy_j == pytest.approx(5000.0)  # 5,000,000 mJ
    assert first.power_w == pytest.approx(250.0)  # 250,000 mW
    assert (first.temperature_c, first.clock_mhz, first.power_limit_w) == (52, 1755, 700.0)
    clock.advance(2.0)
    second = sampler.read()
    assert second.energy_j - first.energy_j == pytest.approx(500.0, abs=1e-3)
    assert sampler.capabilities.scope is Scope.GPU and sampler.capabilities.energy_counter
    assert sampler.capabilities.update_period_s == pytest.approx(0.01)
    sampler.close()
    assert nvml.refcount == 0


def test_energy_counter_matches_exact_integral_within_quantisation(monkeypatch):
    clock = SimClock()
    timeline = PowerTimeline([(0, 80), (1.5, 80), (1.5, 420), (3.0, 420), (5.0, 120), (5.0, 700), (5.03, 700),
                              (5.03, 90)])  # idle, step, ramp down, a 30 ms spike, idle
    nvml = make(monkeypatch, FakeGpu(H100, power=timeline), clock=clock)
    sampler = open_one(clock=clock)
    t0, e0 = nvml.now_s(), sampler.read().energy_j
    for dt in [0.0137] * 300 + [0.0031] * 200 + [0.25] * 10:  # irregular polling, ~7.2 s
        clock.advance(dt)
        t1, e1 = nvml.now_s(), sampler.read().energy_j
        exact = timeline.energy_j(t0, t1)
        # the counter refreshes every 10 ms in whole mJ: at most 10 ms of the peak power plus 2 mJ apart
        assert abs((e1 - e0) - exact) <= 0.010 * 700 + 0.002
    assert e1 - e0 == pytest.approx(timeline.energy_j(0, t1), abs=0.002)  # t1 on the 10 ms grid here
    sampler.close()


def test_counter_repeats_when_polled_faster_than_its_update(monkeypatch):
    clock = SimClock()
    make(monkeypatch, FakeGpu(H100, power=300.0), clock=clock)
    sampler = open_one(clock=clock)
    values = []
    for _ in range(10):
        values.append(sampler.read().energy_j)
        clock.advance(0.002)
    assert len(set(values)) == 2  # 20 ms of polling at 500 Hz: the counter moved once
    sampler.close()


def test_pre_volta_has_no_counter_and_falls_back_to_power(monkeypatch):
    clock = SimClock()
    make(monkeypatch, FakeGpu(P100, power=PowerTimeline.steps([(0, 60), (3, 240)])), clock=clock)
    sampler = open_one(clock=clock)
    caps = sampler.capabilities
    assert not caps.energy_counter and caps.power is PowerKind.INSTANT
    assert caps.update_period_s == pytest.approx(0.1) and caps.power_average_window_s == 0.0
    clock.advance(3.05)
    reading = sampler.read()
    assert reading.energy_j is None and reading.power_w == pytest.approx(240.0)
    info = sampler.describe()
    assert (info["energy_source"], info["power_source"], info["architecture"]) == (
        "integrated_power", "power_usage_instant", "pascal")
    sampler.close()


# --- power sources: instant field preferred, averaged fallback marked --------------------------


@pytest.mark.parametrize(
    ("gpu", "kind", "source", "watts_at_5_5"),
    [
        (FakeGpu(H100), PowerKind.INSTANT, "instant_field", 300.0),
        (FakeGpu(H100, instant_field=False), PowerKind.AVERAGED, "power_usage_averaged", 200.0),
        (FakeGpu(A10), PowerKind.AVERAGED, "power_usage_averaged", 200.0),
        (FakeGpu(A100), PowerKind.INSTANT, "power_usage_instant", 300.0),  # GA100 is not averaged
        (FakeGpu("Tesla V100-SXM2-16GB"), PowerKind.INSTANT, "power_usage_instant", 300.0),
    ],
)
def test_power_source_and_averaging(monkeypatch, gpu, kind, source, watts_at_5_5):
    clock = SimClock()
    gpu.power = PowerTimeline.steps([(0, 100), (5, 300)])
    make(monkeypatch, gpu, clock=clock)
    sampler = open_one(clock=clock)
    assert sampler.capabilities.power is kind
    assert sampler.capabilities.power_average_window_s == (1.0 if kind is PowerKind.AVERAGED else 0.0)
    assert sampler.describe()["power_source"] == source
    clock.advance(5.5)  # half a second after a 100 -> 300 W step: a 1 s average reads 200 W
    assert sampler.read().power_w == pytest.approx(watts_at_5_5)
    sampler.close()


@pytest.mark.parametrize(
    ("gpu", "checked"),
    [
        (FakeGpu(H100), True),  # the instant field, and the 1 s average beside it in the same call
        (FakeGpu(H100, energy_counter=False), False),  # no counter: nothing to check
        (FakeGpu(H100, instant_field=False), False),  # the average is the power figure itself
        (FakeGpu(A100), False),  # GA100: no 1 s average
    ],
    ids=["h100", "h100-no-counter", "h100-usage", "a100"],
)
def test_averaged_check_figure_beside_the_instant_field(monkeypatch, gpu, checked):
    clock = SimClock()
    gpu.power = PowerTimeline.steps([(0, 100), (5, 300)])
    make(monkeypatch, gpu, clock=clock)
    sampler = open_one(clock=clock)
    caps = sampler.capabilities
    assert caps.check_power is checked
    assert (caps.check_power_average_window_s, caps.check_power_update_period_s) == ((1.0, 0.1) if checked else (0, 0))
    assert sampler.describe().get("check_power_source") == ("average_field" if checked else None)
    clock.advance(5.5)  # half a second after a 100 -> 300 W step: the instant field 300 W, a 1 s average 200 W
    r = sampler.read()
    assert r.check_power_w == (pytest.approx(200.0) if checked else None)
    assert r.power_w == pytest.approx(300.0 if caps.power is PowerKind.INSTANT else 200.0)
    sampler.close()


def test_a_failing_average_field_leaves_the_channel_open_without_a_check_figure(monkeypatch):
    nvml = make(monkeypatch, FakeGpu(H100), clock=SimClock())
    real = nvml.nvmlDeviceGetFieldValues

    def fields(handle, ids):  # the instant field alone answers; asked with the average beside it, NVML errs
        if len(ids) > 1:
            raise nvml._error("NVML_ERROR_UNKNOWN")
        return real(handle, ids)

    nvml.nvmlDeviceGetFieldValues = fields
    sampler = open_one()
    assert sampler.capabilities.check_power is False and sampler.describe()["power_source"] == "instant_field"
    assert sampler.read().check_power_w is None and sampler.read().power_w > 0
    sampler.close()


# --- cuda:N -> NVML handle -------------------------------------------------------------------------


def two_gpus(monkeypatch, **kwargs) -> FakeNvml:
    """NVML GPU 0 draws 100 W, GPU 1 draws 300 W; CUDA enumerates GPU 1 first by default."""
    return make(monkeypatch, FakeGpu(H100, power=100.0), FakeGpu(H100, power=300.0),
                cuda_fastest_first=[1, 0], **kwargs)


def test_uuid_mapping_when_cuda_and_nvml_orders_differ(monkeypatch):
    nvml = two_gpus(monkeypatch)
    with fake_gpus(nvml):
        device = devices.open_device("cuda:0")
        assert isinstance(device, FakeCudaDevice) and device.identity()["uuid"] == nvml.gpus[1].uuid
        sampler = open_one("cuda:0", identity=device.identity(), clock=nvml.clock)
        assert sampler.read().power_w == pytest.approx(300.0)
        info = sampler.describe()
        assert (info["uuid"], info["mapping"], info["mapping_assumed"]) == (nvml.gpus[1].uuid, "uuid", False)
        assert sampler.health() == []
        sampler.close()
    by_pci = open_one("cuda:0", identity={"pci_bus_id": nvml.gpus[1].pci_bus_id.lower()}, clock=nvml.clock)
    assert by_pci.describe()["mapping"] == "pci_bus_id" and by_pci.read().power_w == pytest.approx(300.0)
    by_pci.close()
    with pytest.raises(SamplerUnavailable, match="matches no GPU"):
        NvmlSampler.open("cuda:0", identity={"uuid": "GPU-00000000-dead-beef-0000-000000000000"})
    assert nvml.refcount == 0


@pytest.mark.parametrize("visible", ["1,0", "uuid1,uuid0", "prefix1,prefix0"])
def test_cuda_visible_devices_with_indices_and_uuids(monkeypatch, visible):
    nvml = two_gpus(monkeypatch)
    u0, u1 = nvml.gpus[0].uuid, nvml.gpus[1].uuid
    for word, text in (("uuid1", u1), ("uuid0", u0), ("prefix1", u1[:20]), ("prefix0", u0[:20])):
        visible = visible.replace(word, text)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    monkeypatch.setenv("CUDA_DEVICE_ORDER", "PCI_BUS_ID")
    assert cuda_order(nvml) == [1, 0]  # what CUDA itself would expose
    with fake_gpus(nvml):
        for n, nvml_index in enumerate([1, 0]):
            device = devices.open_device(f"cuda:{n}")
            with_id = open_one(f"cuda:{n}", identity=device.identity(), clock=nvml.clock)
            without_id = open_one(f"cuda:{n}", clock=nvml.clock)  # from the environment alone
            for sampler in (with_id, without_id):
                assert sampler.describe()["uuid"] == nvml.gpus[nvml_index].uuid
                assert not sampler.describe()["mapping_assumed"]
                sampler.close()


def test_mapping_without_identity_in_fastest_first_order_is_flagged(monkeypatch):
    nvml = two_gpus(monkeypatch)
    sampler = open_one("cuda:1", clock=nvml.clock)
    info = sampler.describe()
    assert info["mapping"] == "index_assumed" and info["mapping_assumed"] is True
    assert "FASTEST_FIRST" in info["mapping_warning"]
    assert [h["code"] for h in sampler.health()] == ["mapping_assumed"]
    sampler.close()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,7,1")  # CUDA stops at the invalid entry 7
    assert cuda_order(nvml) == [1]
    assert not NvmlSampler.is_available("cuda:1")
    with pytest.raises(SamplerUnavailable, match="CUDA_VISIBLE_DEVICES=0,7,1"):
        NvmlSampler.open("cuda:1")


def test_mig_uuid_identity_maps_to_the_physical_gpu(monkeypatch):
    mig_uuid = "MIG-0badc0de-1111-2222-3333-444455556666"
    nvml = make(monkeypatch, FakeGpu(A100, power=400.0, mig=True, mig_uuids=[mig_uuid]))
    sampler = open_one("cuda:0", identity={"uuid": mig_uuid}, clock=nvml.clock)
    info = sampler.describe()
    assert info["mapping"] == "uuid_mig_parent" and info["uuid"] == nvml.gpus[0].uuid
    assert sampler.capabilities.energy_counter
    assert "mig_enabled" in [h["code"] for h in sampler.health()]
    sampler.close()


# --- errors --------------------------------------------------------------------------------------


def test_gpu_lost_mid_run_raises_device_lost(monkeypatch):
    clock = SimClock()
    make(monkeypatch, FakeGpu(H100, faults=[Fault("gpu_lost", after_s=1.0)]), clock=clock)
    sampler = open_one(clock=clock)
    assert sampler.read().power_w == pytest.approx(100.0)
    clock.advance(1.0)
    with pytest.raises(SamplerDeviceLost, match="GPU is lost"):
        sampler.read()
    sampler.close()


def test_no_permission_maps_and_releases_nvml(monkeypatch):
    nvml = make(monkeypatch, FakeGpu(H100, faults=[Fault("no_permission",
                                                         calls={"nvmlDeviceGetTotalEnergyConsumption"})]))
    with pytest.raises(SamplerNoPermission, match="Insufficient Permissions"):
        NvmlSampler.open("cuda:0")
    assert nvml.refcount == 0  # a failed open shuts NVML down again


def test_permission_revoked_mid_run(monkeypatch):
    clock = SimClock()
    make(monkeypatch, FakeGpu(H100, faults=[Fault("no_permission", after_s=2.0)]), clock=clock)
    sampler = open_one(clock=clock)
    sampler.read()
    clock.advance(2.5)
    with pytest.raises(SamplerNoPermission):
        sampler.read()
    sampler.close()


def test_driver_not_loaded_is_unavailable(monkeypatch):
    make(monkeypatch, FakeGpu(H100), init_error="driver_not_loaded")
    with pytest.raises(SamplerUnavailable, match="Driver Not Loaded"):
        NvmlSampler.open("cuda:0")
    avail = NvmlSampler.is_available("cuda:0")
    assert not avail and "Driver Not Loaded" in avail.reason


def test_hanging_read_blocks_on_the_clock(monkeypatch):
    clock = SimClock()
    make(monkeypatch, FakeGpu(H100, faults=[Fault("hang", after_s=1.0, hang_s=3.0)]), clock=clock)
    sampler = open_one(clock=clock)
    clock.advance(1.0)
    before = clock.now_ns()
    sampler.read()
    assert clock.now_ns() - before == 3_000_000_000  # the hanging call took 3 s
    before = clock.now_ns()
    sampler.read()
    assert clock.now_ns() == before  # it hangs once
    sampler.close()


# --- is_available, health, close, threads ----------------------------------------------------------


def test_is_available_never_raises(monkeypatch):
    nvml = make(monkeypatch, FakeGpu(H100))
    assert NvmlSampler.is_available("cuda:0")
    assert nvml.refcount == 0
    for device, words in [("cpu", "cuda:N"), ("cuda:3", "not a GPU CUDA can see"), ("npu:0", "cuda:N")]:
        avail = NvmlSampler.is_available(device)
        assert not avail and words in avail.reason and "\n" not in avail.reason

    def broken():
        raise RuntimeError("segfault avoided")

    monkeypatch.setattr(nvml, "nvmlInit", broken)
    avail = NvmlSampler.is_available("cuda:0")
    assert not avail and "RuntimeError" in avail.reason
    monkeypatch.setitem(sys.modules, "pynvml", None)  # nvidia-ml-py not installed
    avail = NvmlSampler.is_available("cuda:0")
    assert not avail and "nvidia-ml-py" in avail.reason


def test_health_reports_mig_other_processes_and_throttling(monkeypatch):
    throttle = 0x20 | 0x80  # software thermal slowdown + power brake
    nvml = make(monkeypatch, FakeGpu(H100, mig=True, processes=[os.getpid(), 4242, 4343],
                                     clocks_event_reasons=throttle), FakeGpu(P100))
    sampler = open_one(identity={"uuid": nvml.gpus[0].uuid}, clock=nvml.clock)
    items = {h["code"]: h["message"] for h in sampler.health()}
    assert set(items) == {"mig_enabled", "other_processes", "throttled"}
    assert "4242, 4343" in items["other_processes"] and str(os.getpid()) not in items["other_processes"]
    assert "SwThermalSlowdown" in items["throttled"] and "HwPowerBrakeSlowdown" in items["throttled"]
    nvml.gpus[0].processes = [os.getpid()]  # only this process: nothing to report
    assert "other_processes" not in {h["code"] for h in sampler.health()}
    sampler.close()
    quiet = open_one(identity={"uuid": nvml.gpus[1].uuid}, clock=nvml.clock)  # MIG unsupported: skipped
    assert quiet.health() == []
    quiet.close()


def test_close_is_idempotent(monkeypatch):
    nvml = make(monkeypatch, FakeGpu(H100), FakeGpu(H100))
    first, second = open_one("cuda:0", clock=nvml.clock), open_one("cuda:1", clock=nvml.clock)
    assert nvml.refcount == 2
    first.close()
    first.close()
    assert nvml.refcount == 1  # the other sampler's NVML stays initialised
    assert second.read().power_w == pytest.approx(100.0)
    with pytest.raises(SamplerUnavailable, match="closed"):
        first.read()
    assert first.describe()["name"] == H100 and first.health() == []
    second.close()
    assert nvml.refcount == 0


def test_slow_extras_are_read_at_a_lower_rate(monkeypatch):
    clock = SimClock()
    nvml = make(monkeypatch, FakeGpu(H100), clock=clock)
    sampler = open_one(clock=clock)
    for _ in range(100):  # 1 s at 100 Hz
        sampler.read()
        clock.advance(0.01)
    assert nvml.calls["nvmlDeviceGetTotalEnergyConsumption"] >= 100
    assert nvml.calls["nvmlDeviceGetTemperature"] <= 3
    sampler.close()


def test_reads_from_several_threads(monkeypatch):
    sawtooth = PowerTimeline.from_function(lambda t: 200 + 50 * (t % 1), 60)
    nvml = make(monkeypatch, FakeGpu(H100, power=sawtooth), clock=MonotonicClock())
    sampler = open_one(clock=nvml.clock)
    errors: list[BaseException] = []

    def worker() -> None:
        last = -1.0
        try:
            for _ in range(300):
                r = sampler.read()
                assert r.energy_j is not None and r.energy_j >= last and r.power_w > 0
                last = r.energy_j
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors and not any(t.is_alive() for t in threads)
    sampler.close()
    assert nvml.refcount == 0


def test_read_raises_only_sampler_errors(monkeypatch):
    nvml = make(monkeypatch, FakeGpu(H100))
    sampler = open_one(clock=nvml.clock)

    def weird(handle):
        raise ValueError("ctypes went wrong")

    monkeypatch.setattr(nvml, "nvmlDeviceGetTotalEnergyConsumption", weird)
    with pytest.raises(SamplerError, match="ValueError"):
        sampler.read()
    sampler.close()


# --- the real library ------------------------------------------------------------------------------


def test_real_pynvml_without_a_driver_is_unavailable_not_a_crash():
    real = sys.modules.get("pynvml")
    assert not isinstance(real, FakeNvml)
    avail = NvmlSampler.is_available("cuda:0")
    if avail:
        pytest.skip("this machine has a working NVIDIA driver")
    assert avail.reason.startswith("NVML ")
    with pytest.raises(SamplerUnavailable):
        NvmlSampler.open("cuda:0")


@pytest.mark.gpu
def test_real_gpu_counter_agrees_with_integrated_power():
    import time

    avail = NvmlSampler.is_available("cuda:0")
    if not avail:
        pytest.skip(avail.reason)
    identity = {}
    try:
        identity = cuda_devices.CudaBackend(0).identity()
    except Exception:  # noqa: BLE001 - torch without CUDA: map from the environment
        pass
    sampler = open_one("cuda:0", identity=identity)
    try:
        if identity.get("uuid"):
            assert sampler.describe()["mapping"].startswith("uuid")
        readings, times = [], []
        for _ in range(41):  # 2 s at 20 Hz
            times.append(time.monotonic())
            readings.append(sampler.read())
            time.sleep(0.05)
        assert all(r.power_w is None or 5 < r.power_w < 2000 for r in readings)
        assert readings[0].temperature_c is not None and readings[0].power_limit_w > 0
        if sampler.capabilities.energy_counter and readings[0].power_w is not None:
            counter_j = readings[-1].energy_j - readings[0].energy_j
            integral_j = sum((t1 - t0) * (a.power_w + b.power_w) / 2 for t0, t1, a, b in
                             zip(times, times[1:], readings, readings[1:]))
            assert counter_j == pytest.approx(integral_j, rel=0.25)
    finally:
        sampler.close()


@pytest.mark.gpu
def test_real_gpu_counter_refreshes_are_located_and_windows_bounded():
    from bench.meter.meter import Meter

    avail = NvmlSampler.is_available("cuda:0")
    if not avail:
        pytest.skip(avail.reason)
    meter = Meter([open_one("cuda:0")], rate_hz=100).start()
    try:
        meter.open_window("idle")
        time.sleep(3.0)
        w = meter.close_window("idle")
        period = meter.channels[0].stairs.period_ns()
    finally:
        meter.stop()
        meter.channels[0].sampler.close()
    # NVML's counter refreshes every 10-100 ms; read at 100 Hz, the reads locate it
    assert period is not None and 5e6 < period < 150e6
    ch = w.channels[0]
    assert ch.method == "counter" and ch.edges in ("located", "bracketed")
    assert w.energy_uncertainty_j is not None and w.energy_uncertainty_j < 0.02 * w.energy_j
