"""The wheel holds what an installed bench needs: the shipped data, the built-in workloads under bench's own
name, and the dependencies it declares. (``scripts/check-wheel.sh``, run by CI, installs that wheel into a
fresh environment and uses it from another folder.)"""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile

import pytest

from tests import ROOT


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    """The wheel built from a copy of the files git knows (building in place would leave a build/ folder whose
    stale files later builds would pick up)."""
    src, out = tmp_path_factory.mktemp("src"), tmp_path_factory.mktemp("dist")
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                            text=True, check=True).stdout.splitlines()
    for name in listed:
        if (ROOT / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, src / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out),
                    str(src)], check=True, capture_output=True, timeout=300)
    return zipfile.ZipFile(next(out.glob("bench-*.whl")))


def test_profiles_and_standards_are_package_data(wheel):
    names = wheel.namelist()
    shipped = sorted(p.name for p in (ROOT / "bench" / "data" / "profiles").glob("*.toml"))
    assert sorted(n.rsplit("/", 1)[1] for n in names if n.startswith("bench/data/profiles/")) == shipped
    assert "bench/data/standards/clause7-2025.1.toml" in names


def test_workloads_ship_under_bench_workloads_and_nothing_generic(wheel):
    names = wheel.namelist()
    assert {"bench_workloads/gemm.py", "bench_workloads/llm.py", "bench_workloads/common.py"} <= set(names)
    tops = {n.split("/", 1)[0] for n in names if "/" in n and not n.split("/", 1)[0].endswith(".dist-info")}
    assert tops == {"bench", "bench_workloads"}


def test_every_package_of_the_source_tree_is_in_the_wheel(wheel):
    names = set(wheel.namelist())
    for init in (ROOT / "bench").rglob("__init__.py"):
        assert str(init.relative_to(ROOT)) in names


def test_entry_points_and_dependencies(wheel):
    info = next(n for n in wheel.namelist() if n.endswith(".dist-info/entry_points.txt"))
    entry_points = wheel.read(info).decode()
    assert "gemm = bench_workloads.gemm:Gemm" in entry_points
    assert "bench_conformance = bench.conformance.pytest_plugin" in entry_points
    assert "workloads." not in entry_points.replace("bench_workloads.", "")
    meta = wheel.read(next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    requires = [ln for ln in meta.splitlines() if ln.startswith("Requires-Dist:")]
    assert any(r.startswith("Requires-Dist: scipy") for r in requires)
    assert any("tomli" in r and 'python_version < "3.11"' in r for r in requires)
