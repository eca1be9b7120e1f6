"""The rapl sampler on a fake powercap tree: units, channels, wrap-around, permissions, dedupe."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from bench import contracts
from bench.conformance.fake_sysfs import INTEL_PACKAGE_UNIT, FakePowercap
from bench.samplers.base import (
    PowerKind,
    SamplerDeviceLost,
    SamplerNoPermission,
    SamplerUnavailable,
    Scope,
)
from bench.samplers.rapl import RaplSampler, permission_message

ONE_COUNT_J = INTEL_PACKAGE_UNIT / 1e9  # one Intel package energy unit (about 61 uJ)


def _open(fake: FakePowercap) -> dict[str, RaplSampler]:
    return {s.channel: s for s in RaplSampler.open("cpu", root=fake.root, mirror_check_s=0.001)}


def _zone(fake: FakePowercap, name: str, control: str = "intel-rapl"):
    return next(z for z in fake.zones if z.name == name and z.path.parent.name.startswith(control))


def test_registered_under_entry_point() -> None:
    assert contracts.load("samplers", "rapl") is RaplSampler


def test_reads_joules_from_microjoules(tmp_path: Path) -> None:
    fake = FakePowercap.intel_server(tmp_path, sockets=1)
    pkg = _zone(fake, "package-0")
    sampler = _open(fake)["rapl:package-0"]
    before = sampler.read().energy_j
    assert before == pkg.energy_uj / 1e6
    pkg.advance(12.5)
    assert sampler.read().energy_j - before == pytest.approx(12.5, abs=ONE_COUNT_J)
    assert sampler.read().power_w is None  # a counter only: no power reading is invented


def test_server_has_package_and_dram_channels_per_socket(tmp_path: Path) -> None:
    samplers = _open(FakePowercap.intel_server(tmp_path, sockets=2))
    assert sorted(samplers) == ["rapl:dram-0", "rapl:dram-1", "rapl:package-0", "rapl:package-1"]
    caps = samplers["rapl:dram-1"].capabilities
    assert caps.scope is Scope.DRAM and caps.energy_counter and caps.power is PowerKind.NONE
    assert samplers["rapl:package-1"].capabilities.scope is Scope.PACKAGE
    assert samplers["rapl:package-0"].capabilities.update_period_s == pytest.approx(0.001)


def test_core_uncore_psys_and_mmio_twin_are_not_counted(tmp_path: Path) -> None:
    fake = FakePowercap.intel_client(tmp_path)
    samplers = _open(fake)
    assert sorted(samplers) == ["rapl:dram-0", "rapl:package-0"]
    start = sum(s.read().energy_j for s in samplers.values())
    # 10 J in the package, 6 J of which in the cores; 2 J in DRAM; psys sees all 12 J
    _zone(fake, "package-0").advance(10.0)
    _zone(fake, "core").advance(6.0)
    _zone(fake, "dram").advance(2.0)
    _zone(fake, "psys").advance(12.0)
    total = sum(s.read().energy_j for s in samplers.values()) - start
    assert total == pytest.approx(12.0, abs=1e-3)
    notes = " ".join(samplers["rapl:package-0"].describe()["not_added"])
    for left_out in ("core", "uncore", "psys", "intel-rapl-mmio:0"):
        assert left_out in notes


def test_wraps_at_max_energy_range(tmp_path: Path) -> None:
    fake = FakePowercap.intel_server(tmp_path, sockets=1)
    pkg, dram = _zone(fake, "package-0"), _zone(fake, "dram")
    samplers = _open(fake)
    package = samplers["rapl:package-0"]
    wrap_j = package.capabilities.counter_wrap_j
    assert wrap_j == pkg.max_energy_range_uj / 1e6 == 262143.32885
    dram_wrap_j = samplers["rapl:dram-0"].capabilities.counter_wrap_j
    assert dram_wrap_j == dram.max_energy_range_uj / 1e6 == 65532.610987

    pkg.set_energy_j(wrap_j - 1.5)
    before = package.read().energy_j
    pkg.advance(4.0)
    after = package.read().energy_j
    assert after < before  # the raw counter wrapped
    assert (after - before) % wrap_j == pytest.approx(4.0, abs=2 * ONE_COUNT_J)
    # the unwrapped total matches the true energy (true energy in counts; the kernel truncates units)
    assert after + wrap_j == pytest.approx(pkg.counter.true_energy_j, abs=2 * ONE_COUNT_J)


def test_root_only_energy_gives_the_fix(tmp_path: Path) -> None:
    fake = FakePowercap.intel_server(tmp_path, sockets=1)
    already_open = _open(fake)["rapl:package-0"]
    with fake.unprivileged():
        with pytest.raises(SamplerNoPermission) as err:
            RaplSampler.open("cpu", root=fake.root)
        message = str(err.value)
        assert "readable by root only (CVE-2020-8694)" in message
        assert f"sudo chmod o+r {fake.root}/intel-rapl:*/energy_uj" in message
        assert message.endswith("or use --sampler estimate") and "\n" not in message
        assert already_open.read().energy_j is not None  # an fd opened before stays readable
        fake.chmod_energy(0o444)  # what the suggested chmod o+r does
        assert len(RaplSampler.open("cpu", root=fake.root)) == 2


def test_is_available_reports_permission_via_env_root(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = FakePowercap.intel_server(tmp_path, sockets=1)
    monkeypatch.setenv("BENCH_POWERCAP_ROOT", str(fake.root))
    assert RaplSampler.is_available("cpu")
    with fake.unprivileged():
        availability = RaplSampler.is_available("cpu")
    assert not availability
    assert availability.reason == permission_message(fake.root)


def test_missing_or_empty_tree_is_unavailable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(SamplerUnavailable, match="does not exist"):
        RaplSampler.open("cpu", root=tmp_path / "absent")
    monkeypatch.setenv("BENCH_POWERCAP_ROOT", str(tmp_path / "absent"))
    availability = RaplSampler.is_available("cpu")
    assert not availability and "does not exist" in availability.reason
    (tmp_path / "empty").mkdir()
    with pytest.raises(SamplerUnavailable, match="no RAPL package zone"):
        RaplSampler.open("cpu", root=tmp_path / "empty")


def test_non_cpu_device_is_not_available(tmp_path: Path) -> None:
    fake = FakePowercap.intel_server(tmp_path, sockets=1)
    assert not RaplSampler.is_available("cuda:0")
    with pytest.raises(SamplerUnavailable, match="host CPU"):
        RaplSampler.open("cuda:0", root=fake.root)


def test_amd_mirrored_die_counters_count_once(tmp_path: Path) -> None:
    fake = FakePowercap.amd_multi_die(tmp_path, dies=2, sockets=2)
    samplers = _open(fake)
    assert sorted(samplers) == ["rapl:package-0", "rapl:package-1"]
    package = samplers["rapl:package-0"]
    before = package.read().energy_j
    _zone(fake, "package-0-die-0").advance(68.0)  # the die zones are one register
    assert package.read().energy_j - before == pytest.approx(68.0, abs=1e-4)
    assert "package-0-die-1 mirrors package-0-die-0" in " ".join(package.describe()["not_added"])
    assert package.describe()["domain"] == "package-0-die-0"


def test_distinct_die_counters_are_all_kept(tmp_path: Path) -> None:
    fake = FakePowercap(tmp_path)  # an Intel multi-die part: each die has its own meter
    fake.add_zone(0, "package-0-die-0", energy_j=1500.0)
    fake.add_zone(1, "package-0-die-1", energy_j=900.0)
    assert sorted(_open(fake)) == ["rapl:package-0-die-0", "rapl:package-0-die-1"]


def test_describe_names_domains_range_and_path(tmp_path: Path) -> None:
    fake = FakePowercap.intel_server(tmp_path, sockets=1)
    info = _open(fake)["rapl:dram-0"].describe()
    assert info["sampler"] == "rapl" and info["domain"] == "dram"
    assert info["domains"] == ["package-0", "dram"]
    assert info["max_energy_range_uj"] == 65532610987
    assert Path(info["path"]).resolve() == _zone(fake, "dram").path.resolve()


def test_concurrent_reads_and_close(tmp_path: Path) -> None:
    fake = FakePowercap.intel_server(tmp_path, sockets=1)
    pkg = _zone(fake, "package-0")
    sampler = _open(fake)["rapl:package-0"]
    seen: list[list[float]] = [[] for _ in range(4)]
    errors: list[BaseException] = []

    def reader(out: list[float]) -> None:
        try:
            for _ in range(300):
                out.append(sampler.read().energy_j)
        except BaseException as exc:  # noqa: BLE001 - surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=reader, args=(s,)) for s in seen]
    for t in threads:
        t.start()
    for _ in range(200):
        pkg.advance(0.25)
    for t in threads:
        t.join()
    assert not errors
    for values in seen:
        assert values == sorted(values)  # never runs backwards without a wrap
    assert sampler.read().energy_j == pytest.approx(1050.0, abs=1e-3)
    sampler.close()
    sampler.close()
    with pytest.raises(SamplerDeviceLost):
        sampler.read()


def test_env_root_reaches_a_subprocess(tmp_path: Path) -> None:
    fake = FakePowercap.intel_server(tmp_path, sockets=1)
    code = "from bench.samplers.rapl import RaplSampler as R; print([s.channel for s in R.open('cpu')])"
    env = {**os.environ, "BENCH_POWERCAP_ROOT": str(fake.root)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['rapl:package-0', 'rapl:dram-0']"
