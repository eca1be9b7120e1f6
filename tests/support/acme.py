"""Install the example plugin (examples/bench-plugin-acme) into this test environment for real.

Tests that need it call :func:`ensure_acme_installed` from a fixture: when ``importlib.metadata``
does not find the distribution, it is pip-installed (editable, no dependencies, no build
isolation: offline) with this interpreter, and the new ``.pth`` file is applied to the running
process, so bench then discovers the plugin through its real entry points.
"""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from importlib import metadata
from pathlib import Path

DIST = "bench-plugin-acme"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "bench-plugin-acme"
PIP_ARGS = ["-m", "pip", "install", "--no-deps", "--no-build-isolation", "-q", "-e", str(EXAMPLE)]


def _apply_pth() -> None:
    """Do for the new .pth file what ``site`` does at start-up (paths and import lines)."""
    site_packages = Path(sysconfig.get_paths()["purelib"])
    for pth in site_packages.glob("__editable__*bench_plugin_acme*.pth"):
        for line in pth.read_text().splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            if line.startswith(("import ", "import\t")):
                exec(line)  # noqa: S102 - what site.addpackage does
            elif line not in sys.path:
                sys.path.append(line)


def ensure_acme_installed() -> metadata.Distribution:
    try:
        dist = metadata.distribution(DIST)
    except metadata.PackageNotFoundError:
        subprocess.run([sys.executable, *PIP_ARGS], check=True, timeout=300)
        _apply_pth()
        dist = metadata.distribution(DIST)
        from bench import plugins

        plugins.clear_cache()
    return dist
