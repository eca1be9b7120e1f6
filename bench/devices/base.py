"""The device contract: a torch device string -> what the runner needs (sync, identity, memory, default
samplers), and how device backends are found.

A device backend is a :class:`Device` subclass registered under ``bench.devices`` by its torch device type
(``cpu``, ``cuda``, or a vendor's ``npu``/``xpu``/``hpu``). Nothing outside the backend modules and the
samplers names a vendor.
"""

from __future__ import annotations

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


def check_device_class(obj: Any, name: str) -> list[str]:
    """What is wrong with ``obj`` as the device backend registered as ``name`` (empty when it conforms)."""
    problems = plugins.class_contract(obj, name, Device, "type", ("probe", "open"))
    if problems and not isinstance(obj, type):
        return problems
    defaults = getattr(obj, "default_samplers", ())
    if not isinstance(defaults, tuple) or not all(isinstance(s, str) for s in defaults):
        problems.append(f"default_samplers must be a tuple of sampler names, got {defaults!r}")
    return problems


def backend(type_: str) -> type[Device]:
    """The device backend class for a torch device type (``cuda``, ``cpu``, a plugin's ``npu``)."""
    try:
        return plugins.load("devices", type_, check_device_class)
    except UsageError:
        choices = ", ".join(plugins.names("devices"))
        held = plugins.blocked("devices", type_)
        if held is not None:
            raise DeviceError(f"device type {type_!r}: {plugins.blocked_message(held)} (allowed now: {choices})") \
                from None
        raise DeviceError(f"unknown device type {type_!r}; choices: {choices}") from None


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
