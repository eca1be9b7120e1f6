"""Where a result came from: host, CPU, memory, software versions, relevant environment."""

from __future__ import annotations

import os
import platform
import socket
import sys
from importlib import metadata
from typing import Any

from bench.devices.cpu import cpu_model_name
from bench.version import __version__

ENV_VARS = ("CUDA_VISIBLE_DEVICES", "CUDA_DEVICE_ORDER", "HIP_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES",
            "OMP_NUM_THREADS", "BENCH_PLUGINS")


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def host_provenance() -> dict[str, Any]:
    """Host, OS, CPU, memory, Python and library versions (JSON-able)."""
    import torch

    try:
        mem = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError):
        mem = None
    return {
        "hostname": socket.gethostname(),
        "os": platform.platform(),
        "kernel": platform.release(),
        "machine": platform.machine(),
        "cpu": {"model": cpu_model_name(), "logical_cores": os.cpu_count()},
        "memory_bytes": mem,
        "python": sys.version.split()[0],
        "versions": {
            "bench": __version__,
            "torch": torch.__version__,
            "torch_cuda": torch.version.cuda,
            "nvidia-ml-py": _version("nvidia-ml-py"),
            "pandas": _version("pandas"),
            "pyarrow": _version("pyarrow"),
            "pydantic": _version("pydantic"),
            "codecarbon": _version("codecarbon"),
        },
        "torch_threads": torch.get_num_threads(),
        "env": {k: os.environ[k] for k in ENV_VARS if k in os.environ},
    }
