"""Torch device strings -> what the runner needs: sync, identity, memory, default samplers.

A device backend is a :class:`Device` subclass registered under ``bench.devices`` by its torch
device type (``cpu``, ``cuda``, or a vendor's ``npu``/``xpu``/``hpu``). Nothing outside this module
and the samplers names a vendor.
"""

from __future__ import annotations

import os
import platform
import re
from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, Any, ClassVar

from bench import plugins
from bench.errors import DeviceError, OutOfMemoryError, PluginError, UsageError

if TYPE_CHECKING:  # pragma: no cover
    import torch

_SPEC = re.compile(r"^([a-z][a-z0-9_]*)(?::(\d+))?$")


def parse_spec(spec: str) -> tuple[str, int | None]:
    """Split ``"cuda:1"`` into ``("cuda", 1)``; raise :class:`UsageError` for a malformed string."""
    m = _SPEC.match(spec.strip().lower())
    if not m:
        raise UsageError(f"malformed device {spec!r}; expected TYPE or TYPE:INDEX, e.g. cpu or cuda:0")
    return m.group(1), (int(m.group(2)) if m.group(2) is not None else None)


class Device(ABC):
    """One device of one backend. Subclasses set ``type`` and ``default_samplers`` (in order of preference)."""

    type: ClassVar[str] = ""
    default_samplers: ClassVar[tuple[str, ...]] = ()

    def __init__(self, index: int | None) -> None:
        self.index = index

    @property
    def spec(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    @classmethod
    @abstractmethod
    def probe(cls) -> list[str]:
        """Device strings of this type present here. Never raises (returns [] if the stack is missing)."""

    @classmethod
    def open(cls, index: int | None) -> "Device":
        """Open device ``index``; raise :class:`DeviceError` naming the choices if it is absent."""
        present = cls.probe()
        spec = cls.type if index is None else f"{cls.type}:{index}"
        if spec not in present and not (index is None and present):
            choices = ", ".join(present) or f"none (no {cls.type} device here)"
            raise DeviceError(f"device {spec} is not present; choices: {choices}")
        return cls(index if index is not None else (0 if cls.type != "cpu" else None))

    @property
    @abstractmethod
    def torch_device(self) -> "torch.device":
        """The torch device that workloads allocate on."""

    @abstractmethod
    def synchronize(self) -> None:
        """Wait until all queued work on the device has finished."""

    @abstractmethod
    def name(self) -> str:
        """Marketing name as the driver reports it (matched against hardware profiles)."""

    def identity(self) -> dict[str, Any]:
        """Stable identity (UUID, PCI bus id) used to match the device to its sensor."""
        return {}

    def memory_stats(self) -> dict[str, int]:
        """Memory in bytes: total, allocated, peak allocated (what the backend knows)."""
        return {}

    def reset_peak_memory(self) -> None:
        """Start a new peak-memory interval."""

    def empty_cache(self) -> None:
        """Give cached memory back (after an out-of-memory error)."""

    def supports_dtype(self, dtype: str) -> bool:
        """Whether the device can compute in ``dtype`` (fp32, tf32, fp16, bf16, fp8)."""
        return dtype in ("fp32", "fp16", "bf16")

    def translate_error(self, exc: BaseException) -> BaseException:
        """Map a backend exception to the error tree (out-of-memory -> :class:`OutOfMemoryError`)."""
        import torch

        if isinstance(exc, torch.OutOfMemoryError) or "out of memory" in str(exc).lower():
            return OutOfMemoryError(f"out of memory on {self.spec}: {str(exc).splitlines()[0][:200]}")
        return exc

    def describe(self) -> dict[str, Any]:
        """Provenance of the device for the result file."""
        return {"spec": self.spec, "type": self.type, "name": self.name(), **self.identity()}


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


def backend(type_: str) -> type[Device]:
    """The device backend class for a torch device type (``cuda``, ``cpu``, a plugin's ``npu``)."""
    try:
        return plugins.load("devices", type_)
    except UsageError:
        raise DeviceError(
            f"unknown device type {type_!r}; choices: {', '.join(plugins.names('devices'))}"
        ) from None


def open_device(spec: str) -> Device:
    """Resolve a torch device string to an opened :class:`Device`; absent -> :class:`DeviceError`."""
    type_, index = parse_spec(spec)
    return backend(type_).open(index)


def available_devices() -> list[str]:
    """Every device string present here, over all backends that load."""
    found: list[str] = []
    for name in plugins.names("devices"):
        try:
            found.extend(backend(name).probe())
        except (PluginError, DeviceError):
            continue
    return found


def best_device() -> str:
    """``cuda:0`` if there is a GPU, else the first accelerator found, else ``cpu``."""
    found = available_devices()
    for spec in found:
        if spec.startswith("cuda"):
            return spec
    for spec in found:
        if spec != "cpu":
            return spec
    return "cpu"
