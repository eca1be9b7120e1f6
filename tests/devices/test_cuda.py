"""The CUDA backend finds GPUs through NVML (no torch import), as CUDA numbers them, and a device opened for a run
is verified with torch: a CPU-only build of torch is named as such, with how to install a CUDA one."""

import subprocess
import sys

import pytest

from bench.conformance.fake_cuda import cuda_order
from bench.conformance.fake_nvml import FakeGpu, FakeNvml
from bench.devices.cuda import CudaBackend
from bench.errors import DeviceError
from tests import ROOT

UUIDS = ["GPU-aaaa1111-0000-0000-0000-000000000000", "GPU-bbbb2222-0000-0000-0000-000000000000",
         "GPU-aaaa3333-0000-0000-0000-000000000000"]
MIG = "MIG-0c9c3a8e-1111-2222-3333-444444444444"


def three_gpus() -> FakeNvml:
    gpus = [FakeGpu(uuid=u) for u in UUIDS]
    gpus[1].mig, gpus[1].mig_uuids = True, [MIG]
    return FakeNvml(gpus)


@pytest.mark.parametrize("visible,count", [
    (None, 3), ("", 0), ("0,2", 2), ("2", 1), ("0,7,1", 1), ("1,1", 1), ("-1", 0),
    ("GPU-bbbb", 1), ("bbbb2222,0", 2), ("GPU-aaaa", 0),  # "GPU-aaaa" names two GPUs: CUDA resolves neither
    (MIG, 1), (MIG + ",0", 2), ("MIG-ffff0000-0000-0000-0000-000000000000", 0),
])
def test_probe_counts_the_gpus_cuda_would_expose_through_nvml(monkeypatch, visible, count):
    nvml = three_gpus()
    if visible is None:
        monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    else:
        monkeypatch.setenv("CUDA_VISIBLE_DEVICES", visible)
    with nvml.installed():
        found = CudaBackend.probe()
    assert found == [f"cuda:{i}" for i in range(count)]
    if not visible or not visible.startswith("MIG-"):  # the fake's own CUDA ordering agrees on the count
        assert len(found) == len(cuda_order(nvml))
    assert nvml.refcount == 0  # NVML shut down again


def test_probe_without_an_nvidia_driver_finds_nothing_and_says_nothing(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    with FakeNvml([FakeGpu()], init_error="NVMLError_LibraryNotFound").installed():
        assert CudaBackend.probe() == []


def test_a_cpu_only_torch_says_so_and_how_to_install_a_cuda_build(monkeypatch):
    import torch

    monkeypatch.setattr(torch.version, "cuda", None)
    monkeypatch.setattr(torch.version, "hip", None)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    with three_gpus().installed(), pytest.raises(DeviceError) as seen:
        CudaBackend.open(0)
    text = str(seen.value)
    assert "cuda:0" in text and "CPU-only build" in text and "driver sees 3 GPU(s)" in text
    assert "pip install torch --index-url https://download.pytorch.org/whl/cu" in text and "\n" not in text
    with FakeNvml([], init_error="NVMLError_DriverNotLoaded").installed(), pytest.raises(DeviceError) as seen:
        CudaBackend.open(1)
    assert "device cuda:1 is not present" in str(seen.value) and "CPU-only build" in str(seen.value)
    assert "no NVIDIA driver answers" in str(seen.value)


def test_run_on_cuda_with_a_cpu_only_torch_is_one_line_naming_the_build(tmp_path):
    import torch

    if torch.version.cuda is not None:
        pytest.skip("this torch is a CUDA build")
    proc = subprocess.run([sys.executable, "-m", "bench", "run", "--device", "cuda:0", "--workload", "gemm",
                           "--out", str(tmp_path)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2
    lines = [x for x in proc.stderr.splitlines() if x.strip()]
    assert len(lines) == 1 and "CPU-only build" in lines[0] and "https://pytorch.org/get-started/locally/" in lines[0]
