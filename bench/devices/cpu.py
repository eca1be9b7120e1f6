"""The host CPU as a device: energy from RAPL where readable, else an estimate (quality L0)."""

from __future__ import annotations

import os
import platform
from typing import TYPE_CHECKING, Any

from bench.devices.base import Device

if TYPE_CHECKING:  # pragma: no cover
    import torch


def cpu_model_name() -> str:
    """The CPU's model name from /proc/cpuinfo (or the platform module)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


class CpuBackend(Device):
    """The host CPU. Energy from RAPL where readable, else an estimate (labelled L0)."""

    type = "cpu"
    default_samplers = ("rapl", "estimate")

    @classmethod
    def probe(cls) -> list[str]:
        return ["cpu"]

    @property
    def torch_device(self) -> "torch.device":
        import torch

        return torch.device("cpu")

    def synchronize(self) -> None:
        return None

    def name(self) -> str:
        return cpu_model_name()

    def identity(self) -> dict[str, Any]:
        return {"cores": os.cpu_count() or 1}

    def memory_stats(self) -> dict[str, int]:
        try:
            pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
            return {"total_bytes": int(pages * size)}
        except (ValueError, OSError):
            return {}

    def supports_dtype(self, dtype: str) -> bool:
        return dtype in ("fp32", "bf16", "fp16")
