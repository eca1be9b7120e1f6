"""GEMM: square matrix multiplication, the simplest standard workload. Unit: one n x n matmul.

FLOPs per unit (2 n^3) are counted with ``FlopCounterMode`` on the meta device. fp8 uses
``torch._scaled_mm`` (e4m3 inputs, per-tensor scales, bf16 output) where the device supports it.
"""

from __future__ import annotations

from bench_workloads.common import Fp32Precision, seed_all

from bench.workload import Workload, WorkloadInfo, check_dtype, torch_dtype


class Gemm(Workload):
    name = "gemm"
    kind = "inference"
    unit = "matmul"
    description = "C = A @ B, square n x n, inputs built on the device once; also reports FLOP/J"
    dtypes = ("fp32", "tf32", "fp16", "bf16", "fp8")
    presets = {
        "smoke": {"size": 512, "dtype": "fp32", "matmuls_per_step": 2},
        "standard": {"size": 8192, "dtype": "bf16", "matmuls_per_step": 4},
    }

    def setup(self, device) -> WorkloadInfo:
        import torch

        dtype = self.settings["dtype"]
        check_dtype(device, dtype)
        n = int(self.settings["size"])
        self.repeat = int(self.settings.get("matmuls_per_step", 1))
        self.precision = Fp32Precision(dtype)
        self.precision.apply()
        seed_all(self.params.seed)
        dev = device.torch_device
        gen = torch.Generator(device="cpu").manual_seed(self.params.seed)
        store = torch.bfloat16 if dtype == "fp8" else torch_dtype(dtype)
        a = torch.randn(n, n, generator=gen, dtype=torch.float32).to(device=dev, dtype=store)
        b = torch.randn(n, n, generator=gen, dtype=torch.float32).to(device=dev, dtype=store)
        if dtype == "fp8":
            self.a = a.to(torch.float8_e4m3fn)
            self.b = b.to(torch.float8_e4m3fn).t().contiguous().t()  # column-major, as _scaled_mm wants
            self.scale = torch.ones((), device=dev, dtype=torch.float32)
            self.out = None
        else:
            self.a, self.b = a, b
            self.out = torch.empty(n, n, device=dev, dtype=store)
        self.fp8 = dtype == "fp8"
        self._step_once()  # fail now (unsupported kernel) rather than inside a measured window
        elem = self.a.element_size()
        return WorkloadInfo(
            unit=self.unit,
            units_per_step=self.repeat,
            flops_per_unit=count_flops(n),
            parameters=0,
            memory_bytes=2 * n * n * elem + n * n * (2 if self.fp8 else elem),
            settings=dict(self.settings),
            optimizations={"tf32": dtype == "tf32", "out_buffer": not self.fp8, "scaled_mm": self.fp8},
        )

    def _step_once(self) -> None:
        import torch

        if self.fp8:
            torch._scaled_mm(self.a, self.b, scale_a=self.scale, scale_b=self.scale, out_dtype=torch.bfloat16)
        else:
            torch.matmul(self.a, self.b, out=self.out)

    def step(self) -> None:
        for _ in range(self.repeat):
            self._step_once()

    def teardown(self) -> None:
        self.a = self.b = self.out = None
        if hasattr(self, "precision"):
            self.precision.restore()


def count_flops(n: int) -> float:
    """FLOPs of one n x n x n matmul as torch's FlopCounterMode counts them (on the meta device)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    a = torch.empty(n, n, device="meta")
    with FlopCounterMode(display=False) as counter:
        torch.matmul(a, a)
    return float(counter.get_total_flops())

