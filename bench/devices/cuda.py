"""NVIDIA GPUs (and AMD GPUs under a ROCm build of torch) through ``torch.cuda``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bench.devices.base import Device

if TYPE_CHECKING:  # pragma: no cover
    import torch


def _cuda():
    """The CUDA runtime module (torch.cuda). One place to import it."""
    import torch

    return torch.cuda


class CudaBackend(Device):
    """An NVIDIA GPU through torch.cuda; energy from NVML, matched by UUID (never by index).

    A ROCm build of torch shows AMD GPUs as ``cuda`` too: NVML is absent there and ``amdsmi`` is next.
    """

    type = "cuda"
    default_samplers = ("nvml", "amdsmi")

    @classmethod
    def probe(cls) -> list[str]:
        try:
            cuda = _cuda()
            if not cuda.is_available():
                return []
            return [f"cuda:{i}" for i in range(cuda.device_count())]
        except Exception:  # a broken driver stack means "no device", never a crash
            return []

    @property
    def torch_device(self) -> "torch.device":
        import torch

        return torch.device("cuda", self.index)

    def synchronize(self) -> None:
        _cuda().synchronize(self.index)

    def _props(self):
        return _cuda().get_device_properties(self.index)

    def name(self) -> str:
        return str(self._props().name)

    def identity(self) -> dict[str, Any]:
        props = self._props()
        out: dict[str, Any] = {}
        uuid = getattr(props, "uuid", None)
        if uuid is not None:
            text = str(uuid)
            out["uuid"] = text if text.startswith(("GPU-", "MIG-")) else f"GPU-{text}"
        bus = getattr(props, "pci_bus_id", None)
        if bus is not None:
            domain = getattr(props, "pci_domain_id", 0)
            dev = getattr(props, "pci_device_id", 0)
            out["pci_bus_id"] = f"{domain:08X}:{bus:02X}:{dev:02X}.0"
        out["compute_capability"] = f"{props.major}.{props.minor}"
        return out

    def memory_stats(self) -> dict[str, int]:
        cuda = _cuda()
        return {
            "total_bytes": int(self._props().total_memory),
            "allocated_bytes": int(cuda.memory_allocated(self.index)),
            "peak_bytes": int(cuda.max_memory_allocated(self.index)),
        }

    def reset_peak_memory(self) -> None:
        _cuda().reset_peak_memory_stats(self.index)

    def empty_cache(self) -> None:
        _cuda().empty_cache()

    def supports_dtype(self, dtype: str) -> bool:
        props = self._props()
        cc = (props.major, props.minor)
        if dtype in ("fp32", "fp16"):
            return True
        if dtype in ("tf32", "bf16"):
            return cc >= (8, 0)
        if dtype == "fp8":
            return cc >= (8, 9)
        return False
