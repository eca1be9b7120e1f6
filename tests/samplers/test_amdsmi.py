"""The amdsmi sampler against the fake amdsmi (bench.conformance.fake_amdsmi), installed as ``amdsmi``."""

from __future__ import annotations

import sys

import pytest

from bench.clock import SimClock
from bench.conformance.fake_amdsmi import (
    NA,
    RESOLUTION_UJ,
    AmdSmiLibraryException,
    AmdSmiParameterException,
    FakeAmdGpu,
    FakeAmdSmi,
    mi250,
)
from bench.conformance.fake_nvml import PowerTimeline
from bench.devices.cuda import CudaBackend
from bench.errors import UsageError
from bench.meter.meter import Meter
from bench.samplers.amdsmi import AmdSmiSampler
from bench.samplers.base import (
    PowerKind,
    SamplerDeviceLost,
    SamplerNoPermission,
    SamplerNotSupported,
    SamplerUnavailable,
)
from bench.samplers.select import select_samplers

MI300X, MI210 = "AMD Instinct MI300X", "AMD Instinct MI210"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for var in ("HIP_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES"):
        monkeypatch.delenv(var, raising=False)


def make(monkeypatch, *gpus: FakeAmdGpu, **kwargs) -> FakeAmdSmi:
    return FakeAmdSmi(list(gpus), kwargs.pop("clock", None) or SimClock(), **kwargs).install(monkeypatch)


def open_one(smi: FakeAmdSmi, device: str = "cuda:0", **kwargs) -> AmdSmiSampler:
    (sampler,) = AmdSmiSampler.open(device, clock=smi.clock, **kwargs)
    return sampler


# --- the fake is amdsmi-faithful ------------------------------------------------------------------


def test_fake_errors_and_return_shapes_follow_amdsmi(monkeypatch):
    smi = make(monkeypatch, FakeAmdGpu(MI300X), FakeAmdGpu(MI210), rocm_version=(6, 0, 2))
    with pytest.raises(AmdSmiLibraryException) as err:
        smi.amdsmi_get_processor_handles()
    assert err.value.get_error_code() == 32 and "AMDSMI_STATUS_NOT_INIT" in str(err.value)
    smi.amdsmi_init()
    mi300x, mi210 = smi.amdsmi_get_processor_handles()
    with pytest.raises(AmdSmiParameterException):
        smi.amdsmi_get_power_info(0)  # an index is not a handle
    assert smi.amdsmi_get_power_info(mi300x)["average_socket_power"] == NA
    assert smi.amdsmi_get_power_info(mi210)["current_socket_power"] == NA
    energy = smi.amdsmi_get_energy_count(mi300x)
    assert set(energy) == {"power", "counter_resolution", "timestamp"}  # the key before ROCm 6.2.1
    assert energy["counter_resolution"] == RESOLUTION_UJ == pytest.approx(15.3)
    assert smi.amdsmi_get_gpu_device_bdf(mi210) == "0000:1c:00.0"


def test_energy_is_accumulator_times_resolution_in_joules(monkeypatch):
    smi = make(monkeypatch, FakeAmdGpu(MI300X, power=PowerTimeline.steps([(0, 120.0), (4.0, 480.0)])))
    sampler = open_one(smi, counter_check_s=0)
    first = sampler.read()
    smi.clock.advance(10.0)
    second = sampler.read()
    exact = smi.exact_energy_j(0, 0.0, 10.0)  # 120 W x 4 s + 480 W x 6 s = 3360 J
    assert exact == pytest.approx(3360.0)
    assert second.energy_j - first.energy_j == pytest.approx(exact, abs=2 * RESOLUTION_UJ / 1e6)
    assert second.power_w == 480.0 and second.power_limit_w == 750.0 and second.temperature_c == 48.0
    assert sampler.capabilities.power is PowerKind.INSTANT and sampler.capabilities.energy_counter


@pytest.mark.parametrize("version,key", [((6, 0, 2), "power"), ((6, 2, 1), "energy_accumulator"),
                                         ((7, 0, 0), "energy_accumulator")])
def test_counter_key_of_every_rocm_version(monkeypatch, version, key):
    smi = make(monkeypatch, FakeAmdGpu(MI300X, power=300.0), rocm_version=version)
    sampler = open_one(smi)
    e0 = sampler.read().energy_j
    smi.clock.advance(2.0)
    assert sampler.read().energy_j - e0 == pytest.approx(600.0, abs=1e-4)
    assert sampler.describe()["counter_key"] == key


def test_mi210_has_only_average_power(monkeypatch):
    smi = make(monkeypatch, FakeAmdGpu(MI210, power=250.0))
    sampler = open_one(smi)
    caps = sampler.capabilities
    assert caps.power is PowerKind.AVERAGED and caps.power_average_window_s == 1.0
    smi.clock.advance(2.0)
    assert sampler.read().power_w == 250.0
    assert sampler.describe()["power_source"] == "average_socket_power"


def test_mi250_odd_die_is_refused_and_even_die_covers_both(monkeypatch):
    smi = make(monkeypatch, *mi250(power=420.0))
    with pytest.raises(SamplerNotSupported, match="second die .* amdsmi GPU 0"):
        open_one(smi, "cuda:1")
    even = open_one(smi, "cuda:0")
    assert [h["code"] for h in even.health()] == ["dual_die", "mapping_assumed"]
    assert even.describe()["covers_both_dies"] is True
    smi.clock.advance(1.0)
    assert even.read().power_w == 420.0


def test_stuck_counter_is_dropped_for_integrated_power(monkeypatch):
    smi = make(monkeypatch, FakeAmdGpu("AMD Instinct MI100", power=200.0, stale_counter=True))
    sampler = open_one(smi)
    assert not sampler.capabilities.energy_counter and sampler.capabilities.power is PowerKind.AVERAGED
    assert sampler.read().energy_j is None
    assert "counter_disabled" in [h["code"] for h in sampler.health()]
    assert sampler.describe()["energy_source"] == "integrated_power"


def test_cuda_index_maps_by_pci_address_then_uuid_then_position(monkeypatch):
    smi = make(monkeypatch, FakeAmdGpu(MI300X), FakeAmdGpu(MI300X))
    by_pci = open_one(smi, identity={"pci_bus_id": "00000000:1C:00.0"})  # torch's spelling of 0000:1c:00.0
    assert by_pci.describe()["amdsmi_index"] == 1 and by_pci.describe()["mapping"] == "pci_bus_id"
    by_uuid = open_one(smi, identity={"uuid": "GPU-" + smi.gpus[1].uuid.upper()})
    assert by_uuid.describe()["amdsmi_index"] == 1 and by_uuid.describe()["mapping"] == "uuid"
    monkeypatch.setenv("HIP_VISIBLE_DEVICES", "1")
    by_position = open_one(smi)
    assert by_position.describe()["amdsmi_index"] == 1 and by_position.describe()["mapping_assumed"] is True
    with pytest.raises(SamplerUnavailable, match="not among the GPUs amdsmi sees"):
        open_one(smi, identity={"pci_bus_id": "0000:99:00.0"})
    with pytest.raises(SamplerUnavailable, match="not a GPU HIP can see"):
        open_one(smi, "cuda:1")


def test_library_errors_map_to_the_contract(monkeypatch):
    smi = make(monkeypatch, FakeAmdGpu(MI300X))
    sampler = open_one(smi)
    smi.inject(0, "no_permission")
    with pytest.raises(SamplerNoPermission):
        sampler.read()
    smi.gpus[0].faults.clear()
    smi.inject(0, "device_lost")
    with pytest.raises(SamplerDeviceLost):
        sampler.read()
    sampler.close()
    sampler.close()
    assert smi.refcount == 0  # every init paired with one shut-down


def test_is_available_never_raises_and_says_why(monkeypatch):
    smi = make(monkeypatch, FakeAmdGpu(MI300X), init_error="init_error")
    for device in ("cuda:0", "cpu", "", "cuda:x", "npu:0"):
        answer = AmdSmiSampler.is_available(device)
        assert not answer and answer.reason
    assert "amdgpu driver" in AmdSmiSampler.is_available("cuda:0").reason
    with pytest.raises(SamplerUnavailable):
        AmdSmiSampler.open("cuda:0")
    monkeypatch.setitem(sys.modules, "amdsmi", None)  # not installed
    assert "not installed" in AmdSmiSampler.is_available("cuda:0").reason
    assert smi.refcount == 0


def test_window_through_the_meter_matches_the_exact_energy(monkeypatch):
    power = PowerTimeline.from_function(lambda t: 300.0 + 150.0 * (int(t) % 2), 20.0)
    smi = make(monkeypatch, FakeAmdGpu(MI300X, power=power))
    samplers = AmdSmiSampler.open("cuda:0", clock=smi.clock, counter_check_s=0)
    meter = Meter(samplers, rate_hz=50, clock=smi.clock, threaded=False).start()
    meter.run_for(1.0)
    meter.open_window("w")
    meter.run_for(8.0)
    window = meter.close_window("w")
    meter.stop()
    assert window.channels[0].method == "counter"
    t0, t1 = ((t - smi._t0_ns) / 1e9 for t in (window.t_start_ns, window.t_end_ns))
    assert window.energy_j == pytest.approx(smi.exact_energy_j(0, t0, t1), rel=1e-4)


def test_rocm_torch_cuda_device_picks_amdsmi_by_default(monkeypatch):
    smi = make(monkeypatch, FakeAmdGpu(MI300X), FakeAmdGpu(MI300X))

    class RocmGpu(CudaBackend):  # a ROCm torch's cuda:0, here the second GPU by PCI address
        def identity(self):
            return {"pci_bus_id": "00000000:1C:00.0"}

    monkeypatch.setitem(sys.modules, "pynvml", None)  # no NVML on an AMD machine
    name, samplers = select_samplers(RocmGpu(0), None, {"clock": smi.clock})
    assert name == "amdsmi" and samplers[0].describe()["amdsmi_index"] == 1
    with pytest.raises(UsageError, match="sampler nvml cannot measure cuda:0"):
        select_samplers(RocmGpu(0), "nvml", {})
