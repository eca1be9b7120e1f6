"""Shared machinery of the model workloads: dtype checks, seeding, FLOP and memory counting, compile.

:class:`ModelWorkload` is the template the ResNet, BERT and decoder workloads fill in: ``setup``
resolves the dtype against the device, seeds torch, builds the model and inputs on the device,
counts FLOPs on the ``meta`` device, optionally compiles, and returns the :class:`WorkloadInfo`.

FLOPs are counted with ``torch.utils.flop_counter.FlopCounterMode`` on the ``meta`` device, so
the count is the same on every device, allocates no memory (the 8B decoder included), and covers
attention: on ``meta``, ``scaled_dot_product_attention`` runs its reference (math) decomposition,
whose two batched matmuls the counter sees, whereas the CPU's fused attention kernel is not in
the counter's table and would count as zero. The counter counts matrix multiplications,
convolutions and attention (2 FLOPs per multiply-add), dense (a causal mask is not subtracted);
normalisation, activations, softmax, embedding lookups and optimiser updates are not counted.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Callable, Iterator

from bench.workload import (
    Workload,
    WorkloadInfo,
    WorkloadParams,
    check_dtype,
    torch_dtype,
)

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from bench.devices import Device

log = logging.getLogger(__name__)

INFERENCE_DTYPES = ("fp32", "tf32", "fp16", "bf16")
# fp16 training needs dynamic loss scaling, whose overflow check copies a flag to the host every
# step; bf16 mixed precision needs none, so training offers fp32, tf32 and bf16.
TRAINING_DTYPES = ("fp32", "tf32", "bf16")
CHANNELS_LAST_DEVICE_TYPES = ("cuda",)


def seed_all(seed: int) -> None:
    """Seed torch's generators (CPU and every accelerator torch knows) for weights and inputs."""
    import torch

    torch.manual_seed(seed)


class Fp32Precision:
    """Sets and restores how fp32 matmuls and convolutions compute: IEEE fp32, or TF32 for ``tf32``."""

    def __init__(self, dtype: str) -> None:
        self.tf32 = dtype == "tf32"
        self._saved: tuple[str, bool] | None = None

    def apply(self) -> None:
        import torch

        self._saved = (torch.get_float32_matmul_precision(), torch.backends.cudnn.allow_tf32)
        torch.set_float32_matmul_precision("high" if self.tf32 else "highest")
        torch.backends.cudnn.allow_tf32 = self.tf32

    def restore(self) -> None:
        import torch

        if self._saved is not None:
            torch.set_float32_matmul_precision(self._saved[0])
            torch.backends.cudnn.allow_tf32 = self._saved[1]
            self._saved = None


@contextmanager
def default_dtype(dtype: "torch.dtype") -> Iterator[None]:
    """Build modules directly in ``dtype`` (no fp32 copy first: the 8B model would need 32 GB)."""
    import torch

    saved = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(saved)


def build_module(factory: Callable[[], "torch.nn.Module"], device: Any, dtype: "torch.dtype"):
    """Call ``factory`` with ``device`` (a torch device or ``"meta"``) and ``dtype`` as defaults."""
    import torch

    with torch.device(device), default_dtype(dtype):
        return factory()


def count_flops(fn: Callable[[], Any]) -> int:
    """Total FLOPs (2 per multiply-add) of the aten ops that ``fn`` runs, by ``FlopCounterMode``."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def parameter_count(module: "torch.nn.Module") -> int:
    """Number of parameters (a tied weight counted once)."""
    return sum(p.numel() for p in module.parameters())


def tensor_bytes(*tensors: "torch.Tensor") -> int:
    """Bytes held by ``tensors`` (their own elements; views are counted in full)."""
    return sum(t.numel() * t.element_size() for t in tensors)


def module_bytes(module: "torch.nn.Module") -> int:
    """Bytes of a module's parameters and buffers."""
    return tensor_bytes(*module.parameters(), *module.buffers())


def compile_or_eager(module: Any, trial: Callable[[Any], Any]) -> tuple[Any, dict[str, Any]]:
    """``torch.compile`` ``module`` and run ``trial(compiled)`` once (compilation is lazy).

    On any failure, fall back to the eager module and record why. Returns (module, record).
    """
    import torch

    try:
        compiled = torch.compile(module)
        trial(compiled)
    except Exception as exc:  # a compiler failure must never stop a benchmark: fall back
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        log.warning("torch.compile failed, running eager: %s", reason)
        return module, {"compile": False, "compile_error": f"{type(exc).__name__}: {reason}"}
    return compiled, {"compile": True}


class ModelWorkload(Workload):
    """Template for a model workload. Subclasses fill in the hooks below.

    Hooks: :meth:`_build` (model, inputs, optimiser and ``self._step_fn`` on the device),
    :meth:`_units` (units per step), :meth:`_meta_flops_per_step` (FLOPs of one step on ``meta``),
    :meth:`_state_bytes` (footprint beyond weights), :meth:`_compile` (wrap the model).
    """

    def __init__(self, params: WorkloadParams) -> None:
        super().__init__(params)
        preset = self.presets[params.preset]
        for key in ("batch_size", "seq_len", "size"):
            if key in self.settings and key not in preset:
                log.info("workload %s has no %s setting; ignoring it", self.name, key)
                del self.settings[key]
        self.model: Any = None
        self.inputs: dict[str, Any] = {}
        self._step_fn: Callable[[], None] | None = None
        self._precision = Fp32Precision(self.settings["dtype"])
        self._optimizations: dict[str, Any] = {}

    @property
    def dtype(self) -> "torch.dtype":
        """The dtype the weights are stored in (training overrides: fp32 master weights)."""
        return torch_dtype(self.settings["dtype"])

    def setup(self, device: "Device") -> WorkloadInfo:
        """Build on ``device`` (seeded), count FLOPs on ``meta``, compile if asked; return the info."""
        check_dtype(device, self.settings["dtype"])
        self._precision.apply()
        self._optimizations = {"tf32": self._precision.tf32}
        seed_all(self.params.seed)
        self._build(device.torch_device)
        units = self._units()
        flops_per_unit = self.meta_counts()["flops_per_step"] / units
        if self.params.compile:
            self._optimizations.update(self._compile())
        else:
            self._optimizations["compile"] = False
        memory = module_bytes(self.model) + tensor_bytes(*self.inputs.values()) + self._state_bytes()
        return WorkloadInfo(
            unit=self.unit,
            units_per_step=units,
            flops_per_unit=flops_per_unit,
            parameters=parameter_count(self.model),
            memory_bytes=memory,
            settings=dict(self.settings),
            optimizations=dict(self._optimizations),
        )

    def meta_counts(self) -> dict[str, int]:
        """Parameters and FLOPs of one step, from the model built on ``meta`` (no memory used)."""
        model = build_module(self._factory, "meta", self.dtype)
        return {"parameters": parameter_count(model), "flops_per_step": self._meta_flops_per_step(model)}

    def step(self) -> None:
        """One step of ``units_per_step`` units (asynchronous on the device)."""
        assert self._step_fn is not None, "setup() first"
        self._step_fn()

    def teardown(self) -> None:
        """Drop the model, inputs and state, and restore the fp32 matmul precision."""
        self.model = None
        self.inputs = {}
        self._step_fn = None
        self._teardown_extra()
        self._precision.restore()

    # --- hooks -----------------------------------------------------------------------------
    def _factory(self) -> "torch.nn.Module":
        """Build the model (on the current default device and dtype)."""
        raise NotImplementedError

    def _build(self, device: "torch.device") -> None:
        raise NotImplementedError

    def _units(self) -> int:
        raise NotImplementedError

    def _meta_flops_per_step(self, model: "torch.nn.Module") -> int:
        raise NotImplementedError

    def _state_bytes(self) -> int:
        return 0

    def _compile(self) -> dict[str, Any]:
        return {"compile": False, "compile_error": "not supported by this workload"}

    def _teardown_extra(self) -> None:
        return None


def make_optimizer(kind: str, params: Any, device: "torch.device", **kwargs: Any):
    """SGD or AdamW, fused where the device's torch supports it; returns (optimizer, fused)."""
    import torch

    cls = {"sgd": torch.optim.SGD, "adamw": torch.optim.AdamW}[kind]
    params = list(params)
    if device.type != "cpu":
        try:
            return cls(params, fused=True, **kwargs), True
        except (RuntimeError, ValueError, TypeError):
            pass
    return cls(params, **kwargs), False


def autocast_for(device: "torch.device", dtype: str):
    """Mixed-precision context for training: bf16 autocast with fp32 master weights, else a no-op."""
    import contextlib

    import torch

    if dtype == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()
