"""NVIDIA GPUs (and AMD GPUs under a ROCm build of torch) through ``torch.cuda``.

Finding devices does not import torch (seconds, hundreds of MB): :meth:`CudaBackend.probe` asks NVML, the
driver's own library, and applies ``CUDA_VISIBLE_DEVICES`` as CUDA would. A device opened for a run is then
verified with torch, which says whether this torch can use it at all (a CPU-only build cannot).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING, Any

from bench.devices.base import Device
from bench.errors import DeviceError

if TYPE_CHECKING:  # pragma: no cover
    import torch

INSTALL_HINT = ("install a CUDA build of torch, e.g. pip install torch --index-url "
                "https://download.pytorch.org/whl/cu126 (pick the command for your driver at "
                "https://pytorch.org/get-started/locally/), or run with --device cpu")
ROCM_DRIVER = "/dev/kfd"  # the AMD compute driver a ROCm build of torch shows as cuda devices


def _cuda():
    """The CUDA runtime module (torch.cuda). One place to import it."""
    import torch

    return torch.cuda


def visible_count(nv: Any) -> int:
    """How many GPUs CUDA exposes, from NVML's GPUs and ``CUDA_VISIBLE_DEVICES`` (indices, ``GPU-``/``MIG-`` UUIDs
    or UUID prefixes); like CUDA it stops at the first entry it cannot resolve, or one named twice."""
    count = int(nv.nvmlDeviceGetCount())
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is None:
        return count
    uuids: list[str] | None = None
    seen: set[Any] = set()
    for raw in visible.split(","):
        entry = raw.strip()
        if entry.isdigit():
            found: Any = int(entry) if int(entry) < count else None
        elif entry.startswith("MIG-"):
            try:
                nv.nvmlDeviceGetHandleByUUID(entry)
                found = entry
            except nv.NVMLError:
                found = None
        elif entry:
            if uuids is None:
                uuids = [str(nv.nvmlDeviceGetUUID(nv.nvmlDeviceGetHandleByIndex(i))).lower() for i in range(count)]
            prefix = (entry if entry.startswith("GPU-") else "GPU-" + entry).lower()
            hits = [i for i, u in enumerate(uuids) if u.startswith(prefix)]
            found = hits[0] if len(hits) == 1 else None
        else:
            found = None
        if found is None or found in seen:
            break
        seen.add(found)
    return len(seen)


def nvml_devices() -> list[str] | None:
    """``cuda:N`` for every GPU CUDA would expose, found through NVML without torch; None where NVML cannot
    answer (no NVIDIA driver, no nvidia-ml-py)."""
    try:
        import pynvml as nv
    except ImportError:
        return None
    try:
        nv.nvmlInit()
    except Exception:  # noqa: BLE001 - NVMLError_LibraryNotFound, DriverNotLoaded, ...: no NVIDIA driver here
        return None
    try:
        return [f"cuda:{i}" for i in range(visible_count(nv))]
    except Exception:  # noqa: BLE001 - a broken driver stack means "no device", never a crash
        return []
    finally:
        try:
            nv.nvmlShutdown()
        except Exception:  # noqa: BLE001
            pass


def cpu_only_message(spec: str, version: str, nvml_found: list[str] | None) -> str:
    """Why ``spec`` cannot be opened by a CPU-only build of torch (``version``), and how to get one that can;
    ``nvml_found``: the GPUs NVML sees (None: no NVIDIA driver answered)."""
    build = f"the installed torch {version} is a CPU-only build (torch.version.cuda is None)"
    if nvml_found:
        return (f"device {spec} cannot be used: {build}, though the NVIDIA driver sees {len(nvml_found)} GPU(s); "
                f"{INSTALL_HINT}")
    driver = "NVML finds no NVIDIA GPU" if nvml_found is not None else "no NVIDIA driver answers here (NVML)"
    return f"device {spec} is not present: {driver}, and {build}; to use an NVIDIA GPU, {INSTALL_HINT}"


class CudaBackend(Device):
    """An NVIDIA GPU through torch.cuda; energy from NVML, matched by UUID (never by index).

    A ROCm build of torch shows AMD GPUs as ``cuda`` too: NVML is absent there and ``amdsmi`` is next.
    """

    type = "cuda"
    default_samplers = ("nvml", "amdsmi")

    @classmethod
    def probe(cls) -> list[str]:
        """The GPUs NVML sees, as CUDA would number them (no torch import); through torch only where NVML cannot
        answer and torch is loaded already or an AMD compute driver is present (a ROCm build of torch)."""
        found = nvml_devices()
        if found is not None:
            return found
        if "torch" in sys.modules or os.path.exists(ROCM_DRIVER):
            return cls.torch_devices()
        return []

    @classmethod
    def torch_devices(cls) -> list[str]:
        """The devices torch itself can use here (imports torch)."""
        try:
            cuda = _cuda()
            if not cuda.is_available():
                return []
            return [f"cuda:{i}" for i in range(cuda.device_count())]
        except Exception:  # a broken driver stack means "no device", never a crash
            return []

    @classmethod
    def open(cls, index: int | None) -> "CudaBackend":
        """Open ``cuda:index`` as torch sees it: a CPU-only build of torch, or a device torch cannot see, is a
        :class:`DeviceError` that says so (and how to install a CUDA build)."""
        import torch

        spec = f"cuda:{index if index is not None else 0}"
        if getattr(torch.version, "cuda", None) is None and getattr(torch.version, "hip", None) is None:
            raise DeviceError(cpu_only_message(spec, str(torch.__version__), nvml_devices()))
        present = cls.torch_devices()
        if spec not in present:
            raise DeviceError(f"device {spec} is not present; choices: {', '.join(present) or 'none'} (as torch "
                              f"{torch.__version__} with CUDA {torch.version.cuda or torch.version.hip} sees them; "
                              "check the driver and CUDA_VISIBLE_DEVICES)")
        return cls(index if index is not None else 0)

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
