"""A fake CUDA device backend over the fake NVML's GPUs, for machines without an NVIDIA GPU.

:class:`FakeCudaDevice` plays the CUDA runtime's part: it lists the installed
:class:`~bench.conformance.fake_nvml.FakeNvml`'s GPUs as ``cuda:N`` in CUDA's order (FASTEST_FIRST by
default, the fake's ``cuda_fastest_first``; PCI order with ``CUDA_DEVICE_ORDER=PCI_BUS_ID``), filtered
and reordered by ``CUDA_VISIBLE_DEVICES`` (indices, ``GPU-`` UUIDs or UUID prefixes; CUDA stops at the
first entry it cannot resolve), exactly as torch.cuda would. Its identity is the GPU's UUID and PCI bus
id, so the nvml sampler must match by them. The compute runs on the CPU.

Use in a test::

    nvml = FakeNvml.of("NVIDIA H100 80GB HBM3", "NVIDIA H100 80GB HBM3", cuda_fastest_first=[1, 0])
    with fake_gpus(nvml):   # pynvml -> nvml, and plugins "devices"/"cuda" -> FakeCudaDevice
        dev = bench.devices.open_device("cuda:0")     # NVML's GPU 1
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from bench import plugins
from bench.conformance.fake_nvml import FakeGpu, FakeNvml, active
from bench.devices import Device

if TYPE_CHECKING:  # pragma: no cover
    import torch


def cuda_order(nvml: FakeNvml, env: dict[str, str] | None = None) -> list[int]:
    """NVML indices of the GPUs CUDA exposes, in CUDA ordinal order, from the environment."""
    env = os.environ if env is None else env
    n = len(nvml.gpus)
    if env.get("CUDA_DEVICE_ORDER", "FASTEST_FIRST").strip().upper() == "PCI_BUS_ID":
        base = list(range(n))
    else:
        base = list(nvml.cuda_fastest_first) if nvml.cuda_fastest_first is not None else list(range(n))
    visible = env.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return base
    order: list[int] = []
    for raw in visible.split(","):
        entry = raw.strip()
        found = _resolve_entry(nvml, base, entry)
        if found is None or found in order:
            break  # CUDA ignores this entry and every one after it
        order.append(found)
    return order


def _resolve_entry(nvml: FakeNvml, base: list[int], entry: str) -> int | None:
    if entry.isdigit():
        i = int(entry)
        return base[i] if i < len(base) else None
    if not entry:
        return None
    prefix = entry if entry.startswith(("GPU-", "MIG-")) else "GPU-" + entry
    hits = [i for i in base if nvml.gpus[i].uuid.lower().startswith(prefix.lower())]
    return hits[0] if len(hits) == 1 else None


class FakeCudaDevice(Device):
    """A ``cuda:N`` device backed by a fake NVML GPU; torch work runs on the CPU."""

    type = "cuda"
    default_samplers = ("nvml",)
    expose_identity: ClassVar[bool] = True  # False: like a torch that reports no UUID/PCI id

    @classmethod
    def _nvml(cls) -> FakeNvml | None:
        return active()

    @classmethod
    def probe(cls) -> list[str]:
        nvml = cls._nvml()
        return [] if nvml is None else [f"cuda:{i}" for i in range(len(cuda_order(nvml)))]

    @property
    def gpu(self) -> FakeGpu:
        nvml = self._nvml()
        if nvml is None:
            raise RuntimeError("no fake NVML installed")
        return nvml.gpus[cuda_order(nvml)[self.index or 0]]

    @property
    def torch_device(self) -> torch.device:
        import torch

        return torch.device("cpu")

    def synchronize(self) -> None:
        return None

    def name(self) -> str:
        return self.gpu.name

    def identity(self) -> dict[str, Any]:
        if not self.expose_identity:
            return {}
        gpu = self.gpu
        return {"uuid": gpu.uuid, "pci_bus_id": gpu.pci_bus_id, "compute_capability": gpu.compute_capability}

    def memory_stats(self) -> dict[str, int]:
        return {"total_bytes": 80 * 2**30, "allocated_bytes": 0, "peak_bytes": 0}

    def supports_dtype(self, dtype: str) -> bool:
        return dtype in ("fp32", "tf32", "fp16", "bf16", "fp8")  # like an H100


@contextlib.contextmanager
def fake_gpus(nvml: FakeNvml, device_class: type[Device] = FakeCudaDevice) -> Iterator[FakeNvml]:
    """Install ``nvml`` as ``pynvml`` and ``device_class`` as the ``cuda`` backend inside the block."""
    with nvml.installed():
        plugins.register("devices", "cuda", device_class)
        try:
            yield nvml
        finally:
            plugins.unregister("devices", "cuda")
