"""Host facts that every benchmark's figures depend on (imported by the scripts beside it)."""

from __future__ import annotations

import os
import platform
from typing import Any


def machine_info() -> dict[str, Any]:
    """Cores, CPU model, Python and torch versions, torch's default threads, platform, load average."""
    import torch

    from bench.devices.cpu import cpu_model_name

    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model_name(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_default_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
    }
