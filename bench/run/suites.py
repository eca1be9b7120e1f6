"""Named suites: which workloads at which preset. ``bench run`` with no workload runs one."""

from __future__ import annotations

STANDARD_WORKLOADS = (
    "gemm",
    "resnet50-infer",
    "resnet50-train",
    "bert-infer",
    "llm-prefill",
    "llm-decode",
    "llm-train",
)

SUITES: dict[str, tuple[str, ...]] = {
    "smoke": STANDARD_WORKLOADS,  # every workload at its `smoke` preset: seconds each on a CPU
    "standard": STANDARD_WORKLOADS,  # every workload at its published size, for accelerators
}


def default_suite(device: str) -> str:
    """``smoke`` on the CPU, ``standard`` on an accelerator."""
    return "smoke" if device.split(":")[0] == "cpu" else "standard"
