"""Power-limit and clock control through NVML and amdsmi, against the faithful fakes: units converted once,
the libraries' own errors (out of range, not root, not supported) as one line of the control error tree."""

import pytest

from bench.conformance.fake_amdsmi import AmdSmiLibraryException, FakeAmdGpu, FakeAmdSmi
from bench.conformance.fake_nvml import FakeGpu, FakeNvml, _real_pynvml
from bench.control import ClockLockCapability, PowerLimitCapability, PowerLimitRange, capabilities
from bench.errors import ControlError, ControlNoPermission, ControlNotSupported
from bench.samplers.amdsmi import AmdSmiSampler
from bench.samplers.nvml import NvmlSampler


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for var in ("HIP_VISIBLE_DEVICES", "CUDA_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER"):
        monkeypatch.delenv(var, raising=False)


# --- NVML ------------------------------------------------------------------------------------------


def test_nvml_power_limit_in_watts_over_nvmls_milliwatts(monkeypatch):
    nv = FakeNvml([FakeGpu("NVIDIA H100 80GB HBM3")], root=True).install(monkeypatch)
    gpu = nv.gpus[0]
    ctl = NvmlSampler.open_control("cuda:0", identity={"uuid": gpu.uuid})
    assert isinstance(ctl, PowerLimitCapability) and isinstance(ctl, ClockLockCapability)
    assert capabilities(ctl) == ["power_limit", "clock_lock"]
    assert ctl.power_limit_range() == PowerLimitRange(min_w=200.0, max_w=700.0, default_w=700.0)
    assert ctl.get_power_limit_w() == 700.0
    ctl.set_power_limit_w(312.5)
    assert gpu.power_limit_mw == 312_500  # what NVML was given, in mW
    assert ctl.get_power_limit_w() == 312.5 and nv.nvmlDeviceGetEnforcedPowerLimit(
        nv.nvmlDeviceGetHandleByIndex(0)) == 312_500
    assert ctl.identity() == {"uuid": gpu.uuid, "pci_bus_id": gpu.pci_bus_id}
    ctl.close()
    ctl.close()
    assert nv.refcount == 0  # open_control's nvmlInit is shut down once


def test_nvml_out_of_range_limit_is_refused_by_nvml_and_by_the_control(monkeypatch):
    nv = FakeNvml([FakeGpu("NVIDIA H100 80GB HBM3")], root=True).install(monkeypatch)
    nv.nvmlInit()
    handle = nv.nvmlDeviceGetHandleByIndex(0)
    with pytest.raises(_real_pynvml().NVMLError_InvalidArgument):  # the fake, as NVML does
        nv.nvmlDeviceSetPowerManagementLimit(handle, 150_000)
    nv.nvmlShutdown()
    ctl = NvmlSampler.open_control("cuda:0")
    with pytest.raises(ControlError, match=r"^cuda:0: a power limit of 150 W is outside the GPU's range 200-700 W$"):
        ctl.set_power_limit_w(150)
    assert nv.gpus[0].power_limit_mw == 700_000


def test_nvml_without_root_is_one_line_naming_root(monkeypatch):
    nv = FakeNvml([FakeGpu("NVIDIA H100 80GB HBM3")]).install(monkeypatch)  # a normal user
    ctl = NvmlSampler.open_control("cuda:0")
    assert ctl.get_power_limit_w() == 700.0  # reading needs no privilege
    for call in (lambda: ctl.set_power_limit_w(300), lambda: ctl.lock_sm_clocks(1410, 1410), ctl.reset_sm_clocks):
        with pytest.raises(ControlNoPermission) as err:
            call()
        text = str(err.value)
        assert "\n" not in text and "needs root" in text and text.startswith("cuda:0: ")
    assert nv.gpus[0].power_limit_mw == 700_000 and nv.gpus[0].locked_clocks is None


def test_nvml_clock_lock_and_reset(monkeypatch):
    nv = FakeNvml([FakeGpu("NVIDIA H100 80GB HBM3")], root=True).install(monkeypatch)
    ctl = NvmlSampler.open_control("cuda:0")
    clocks = ctl.supported_sm_clocks_mhz()
    assert clocks[0] == 1980 and clocks[-1] == 210 and clocks == sorted(clocks, reverse=True)
    assert ctl.get_sm_clock_lock() is None and ctl.clock_lock_readable is False  # NVML cannot read a lock
    ctl.lock_sm_clocks(1410, 1410)
    handle = nv.nvmlDeviceGetHandleByIndex(0)
    assert nv.nvmlDeviceGetClockInfo(handle, nv.NVML_CLOCK_SM) == 1410
    with pytest.raises(ControlError, match="invalid argument"):
        ctl.lock_sm_clocks(2500, 2500)
    ctl.reset_sm_clocks()
    assert nv.gpus[0].locked_clocks is None and nv.nvmlDeviceGetClockInfo(handle, nv.NVML_CLOCK_SM) == 1980


def test_nvml_clock_lock_before_volta_is_not_supported(monkeypatch):
    FakeNvml([FakeGpu("Tesla P100-PCIE-16GB", power_limit_mw=250_000)], root=True).install(monkeypatch)
    ctl = NvmlSampler.open_control("cuda:0")
    with pytest.raises(ControlNotSupported, match=r"^cuda:0 \(Tesla P100-PCIE-16GB\): locking the SM clocks is not "
                                                  r"supported on this GPU"):
        ctl.lock_sm_clocks(1000, 1000)
    assert ctl.power_limit_range().max_w == 250.0


def test_nvml_control_of_an_absent_gpu_is_not_supported(monkeypatch):
    FakeNvml([FakeGpu("NVIDIA H100 80GB HBM3")], root=True).install(monkeypatch)
    with pytest.raises(ControlNotSupported, match="cuda:3"):
        NvmlSampler.open_control("cuda:3")
    with pytest.raises(ControlNotSupported, match="cuda:0"):
        NvmlSampler.open_control("cuda:0", identity={"uuid": "GPU-00000000-0000-0000-0000-000000000000"})


# --- amdsmi ----------------------------------------------------------------------------------------


def test_amdsmi_power_cap_in_watts_over_microwatts_and_clocks_in_mhz_over_hz(monkeypatch):
    smi = FakeAmdSmi([FakeAmdGpu("AMD Instinct MI300X", power_cap_w=750)], root=True).install(monkeypatch)
    gpu = smi.gpus[0]
    ctl = AmdSmiSampler.open_control("cuda:0", identity={"pci_bus_id": gpu.bdf})
    assert ctl.power_limit_range() == PowerLimitRange(min_w=150.0, max_w=750.0, default_w=750.0)
    ctl.set_power_limit_w(500)
    assert gpu.power_cap_w == 500 and ctl.get_power_limit_w() == 500.0
    assert ctl.supported_sm_clocks_mhz() == [2100, 1500, 1000, 500]  # amdsmi lists Hz, lowest first
    ctl.lock_sm_clocks(1500, 1500)
    assert gpu.sclk_range_mhz == (1500, 1500) and gpu.perf_level == "MANUAL"
    ctl.reset_sm_clocks()
    assert gpu.sclk_range_mhz is None and gpu.perf_level == "AUTO"
    ctl.close()
    assert smi.refcount == 0


def test_amdsmi_errors_as_control_errors(monkeypatch):
    smi = FakeAmdSmi([FakeAmdGpu("AMD Instinct MI300X")]).install(monkeypatch)
    ctl = AmdSmiSampler.open_control("cuda:0")
    with pytest.raises(ControlNoPermission, match=r"^cuda:0: setting the power cap needs root"):
        ctl.set_power_limit_w(500)
    smi.root = True
    smi.amdsmi_init()
    with pytest.raises(AmdSmiLibraryException) as err:  # the fake refuses an out-of-range cap as amdsmi does
        smi.amdsmi_set_power_cap(smi.amdsmi_get_processor_handles()[0], 0, 10_000_000)
    assert err.value.err_code == 1
    smi.amdsmi_shut_down()
    with pytest.raises(ControlError, match="outside the GPU's range 150-750 W"):
        ctl.set_power_limit_w(10)
