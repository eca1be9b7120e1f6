"""The workload contract: a model plus synthetic inputs whose ``step()`` does a known amount of work.

Workloads know nothing about power. A backend is a :class:`Workload` subclass registered under the
``bench.workloads`` entry-point group. Heavy imports (torch) happen inside methods, so listing
workloads stays cheap.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from bench import plugins
from bench.errors import UsageError

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from bench.devices import Device

DTYPES = ("fp32", "tf32", "fp16", "bf16", "fp8")


@dataclass(frozen=True)
class WorkloadParams:
    """The knobs of a workload run. ``None`` means "the preset's value"."""

    preset: str = "smoke"
    dtype: str | None = None
    batch_size: int | None = None
    seq_len: int | None = None
    size: int | None = None  # e.g. the GEMM's n
    compile: bool = False
    seed: int = 0
    model: str | None = None  # a model to load (a hub id or a local folder), for workloads that take one
    random_weights: bool = False  # build that model from its configuration alone, with random weights

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class WorkloadInfo:
    """What a set-up workload declares about itself; written into the result.

    ``flops_per_unit`` is counted with ``torch.utils.flop_counter.FlopCounterMode`` (not by hand).
    ``memory_bytes`` is the footprint of weights + inputs + state (activations where known).
    ``settings`` holds the resolved knobs (dtype, batch size, ...) and ``optimizations`` what was
    enabled (inference_mode, channels_last, sdpa, compile, ...).
    """

    unit: str
    units_per_step: int
    flops_per_unit: float | None
    parameters: int
    memory_bytes: int
    settings: dict[str, Any] = field(default_factory=dict)
    optimizations: dict[str, Any] = field(default_factory=dict)


class Workload(ABC):
    """A unit of standard AI work on one torch device.

    Class attributes: ``name`` (entry-point name), ``kind`` ("inference" or "training"),
    ``unit`` (what one unit of work is: "matmul", "image", "token", "sample"), ``presets``
    (preset name -> settings; at least ``smoke`` and ``standard``), ``dtypes`` (supported).

    Lifecycle: ``__init__`` (cheap, validates params) -> :meth:`setup` (builds model and inputs on
    the device, once) -> :meth:`step` many times -> :meth:`teardown`.
    """

    name: ClassVar[str] = ""
    kind: ClassVar[str] = "inference"
    unit: ClassVar[str] = ""
    description: ClassVar[str] = ""
    presets: ClassVar[dict[str, dict[str, Any]]] = {}
    dtypes: ClassVar[tuple[str, ...]] = ("fp32",)
    takes_model: ClassVar[bool] = False  # whether --model / --random-weights apply

    def __init__(self, params: WorkloadParams) -> None:
        if (params.model is not None or params.random_weights) and not self.takes_model:
            raise UsageError(f"workload {self.name!r} takes no model; --model and --random-weights apply to "
                             "the Hugging Face workloads (hf-*)")
        if params.preset not in self.presets:
            raise UsageError(
                f"workload {self.name!r} has no preset {params.preset!r}; choices: {', '.join(sorted(self.presets))}"
            )
        self.params = params
        self.settings: dict[str, Any] = dict(self.presets[params.preset])
        for key in ("dtype", "batch_size", "seq_len", "size"):
            value = getattr(params, key)
            if value is not None:
                self.settings[key] = value
        dtype = self.settings.get("dtype", self.dtypes[0])
        if dtype not in self.dtypes:
            raise UsageError(
                f"workload {self.name!r} does not support dtype {dtype!r}; choices: {', '.join(self.dtypes)}"
            )
        self.settings["dtype"] = dtype
        for key in ("batch_size", "seq_len", "size"):
            if key in self.settings and (not isinstance(self.settings[key], int) or self.settings[key] < 1):
                raise UsageError(f"{key} must be a positive integer, got {self.settings[key]!r}")

    @abstractmethod
    def setup(self, device: "Device") -> WorkloadInfo:
        """Build the model and synthetic inputs on ``device`` (seeded), count FLOPs, return the info."""

    @abstractmethod
    def step(self) -> None:
        """Do one step of ``units_per_step`` units. May be asynchronous on the device; the runner syncs."""

    def teardown(self) -> None:
        """Free what setup built (the runner calls it even after an error)."""


def check_workload_class(obj: Any, name: str) -> list[str]:
    """What is wrong with ``obj`` as the workload registered as ``name`` (empty when it keeps the contract)."""
    return plugins.class_contract(obj, name, Workload, "name")


def check_dtype(device: "Device", dtype: str) -> None:
    """Raise :class:`UsageError` (one line) when ``device`` cannot compute in ``dtype``."""
    if not device.supports_dtype(dtype):
        raise UsageError(f"device {device.spec} does not support dtype {dtype}; try --dtype fp32")


def torch_dtype(name: str) -> "torch.dtype":
    """Map a dtype name to the torch dtype used for storage (tf32 computes in fp32 storage)."""
    import torch

    table = {
        "fp32": torch.float32,
        "tf32": torch.float32,
        "fp16": torch.float16,
        "bf16": torch.bfloat16,
    }
    if name == "fp8":
        return torch.float8_e4m3fn
    if name not in table:
        raise UsageError(f"unknown dtype {name!r}; choices: {', '.join(DTYPES)}")
    return table[name]
