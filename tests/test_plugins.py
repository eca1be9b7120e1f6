"""Plugin discovery, contract validation, the allowlist, ``bench plugins`` and the plugin guide."""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys

import pytest

from bench import contracts, plugins
from bench.devices import Device
from bench.devices.cpu import CpuBackend
from bench.errors import PluginError, UsageError
from bench.samplers.base import (
    Availability,
    Capabilities,
    PowerKind,
    Reading,
    Sampler,
    Scope,
)
from tests import ROOT
from tests.support.acme import ensure_acme_installed
from tests.support.broken_plugins import samplers as broken


@pytest.fixture(scope="module")
def acme():
    return ensure_acme_installed()


@pytest.fixture
def vendor(tmp_path, monkeypatch):
    """A third-party distribution 'broken-vendor 1.0' on sys.path, with entry points of our choosing."""

    def make(entry_points: str) -> None:
        info = tmp_path / "broken_vendor-1.0.dist-info"
        info.mkdir(exist_ok=True)
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-vendor\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(entry_points)
        monkeypatch.syspath_prepend(str(tmp_path))
        plugins.clear_cache()

    yield make
    plugins.clear_cache()


# --- discovery ------------------------------------------------------------------------------------


def test_builtins_register_through_the_entry_point_groups_and_keep_the_contract():
    expected = {"samplers": {"nvml", "rapl", "estimate", "replay", "amdsmi"}, "devices": {"cpu", "cuda"},
                "fakes": {"nvml", "rapl", "estimate", "replay"}}
    for group, names in expected.items():
        refs = {r.name: r for r in plugins.discover(group) if r.builtin}
        assert names <= set(refs), group
        for name in names:
            obj = contracts.load(group, name)
            assert contracts.check(group, obj, name) == []
    assert contracts.load("devices", "cuda").default_samplers == ("nvml", "amdsmi")


def test_example_plugin_is_discovered_through_its_real_entry_point(acme):
    assert acme.version == "0.1.0"
    ref = next(r for r in plugins.discover("samplers") if r.name == "acme")
    assert (ref.package, ref.version, ref.value) == ("bench-plugin-acme", "0.1.0", "bench_plugin_acme.sampler:AcmeSampler")
    cls = contracts.load("samplers", "acme")
    assert cls.__module__ == "bench_plugin_acme.sampler" and issubclass(cls, Sampler)
    device = contracts.load("devices", "acme")
    assert issubclass(device, Device) and device.default_samplers == ("acme",)


def test_discovery_is_lazy():
    code = ("import sys; from bench import plugins; plugins.inventory('samplers'); plugins.names('devices'); "
            "print(sorted(m for m in sys.modules if m.startswith(('bench.samplers.', 'bench_plugin_acme', 'torch', "
            "'pynvml', 'amdsmi'))))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"


def test_a_plugin_raising_on_import_is_reported_with_package_and_reason(vendor):
    vendor("[bench.samplers]\nexploding = tests.support.broken_plugins.raising_import:Sampler\n")
    with pytest.raises(PluginError) as err:
        contracts.load("samplers", "exploding")
    text = str(err.value)
    assert "'exploding'" in text and "broken-vendor 1.0" in text and "RuntimeError: libacme_smi.so.3" in text
    assert contracts.load("samplers", "rapl").name == "rapl"  # the others are unaffected


def test_plugins_list_and_list_samplers_survive_a_broken_plugin(cli, vendor):
    vendor("[bench.samplers]\nexploding = tests.support.broken_plugins.raising_import:Sampler\n")
    result = cli("plugins", "list", "--group", "samplers", "--device", "cpu", "--json")
    assert result.code == 0
    rows = {r["name"]: r for r in json.loads(result.output)}
    assert rows["exploding"]["package"] == "broken-vendor" and rows["exploding"]["version"] == "1.0"
    assert rows["exploding"]["status"].startswith("broken: ") and "RuntimeError" in rows["exploding"]["status"]
    assert rows["estimate"]["status"] == "available for cpu"
    assert rows["nvml"]["status"].startswith("not for cpu: ")
    listed = cli("list", "samplers", "--device", "cpu")
    assert listed.code == 0
    assert "exploding" in listed.output and "broken" in listed.output and "estimate" in listed.output


def test_contract_violations_are_refused_at_load(vendor):
    vendor("[bench.samplers]\nnotasampler = tests.support.broken_plugins.samplers:NotASampler\n"
           "misnamed = tests.support.broken_plugins.samplers:GoodSim\n"
           "[bench.devices]\ncpu2 = bench.devices.cpu:CpuBackend\n")
    with pytest.raises(PluginError, match="must be a subclass of bench.samplers.base.Sampler"):
        contracts.load("samplers", "notasampler")
    with pytest.raises(PluginError, match="declares name = 'goodsim' but is registered as 'misnamed'"):
        contracts.load("samplers", "misnamed")
    with pytest.raises(PluginError, match="declares type = 'cpu' but is registered as 'cpu2'"):
        contracts.load("devices", "cpu2")


def test_check_contract_names_what_is_missing():
    class Half(Sampler):
        name = "half"

        @classmethod
        def is_available(cls, device):
            return Availability(True)

        @classmethod
        def open(cls, device, **options):
            return []

    class PlainMethods(broken.GoodSim):
        name = "plain"

        def is_available(self, device):  # not a classmethod
            return Availability(True)

    assert contracts.check("samplers", Half, "half") == ["does not implement read"]
    assert contracts.check("samplers", PlainMethods, "plain") == ["is_available must be a classmethod"]
    assert contracts.check("devices", CpuBackend, "cpu") == []


def test_allowlist_admits_named_third_party_plugins_only(vendor, monkeypatch):
    vendor("[bench.samplers]\nexploding = tests.support.broken_plugins.raising_import:Sampler\n"
           "goodsim = tests.support.broken_plugins.samplers:GoodSim\n")
    monkeypatch.setenv("BENCH_PLUGINS", "goodsim, acme")
    names = plugins.names("samplers")
    assert "goodsim" in names and "exploding" not in names
    assert {"nvml", "rapl", "estimate"} <= set(names)  # the harness's own backends are always allowed
    blocked = next(r for r in plugins.inventory("samplers") if r.name == "exploding")
    assert blocked.note == "not in BENCH_PLUGINS"
    with pytest.raises(UsageError, match=r"sampler 'exploding' is installed \(broken-vendor 1.0\) but "
                                         r"BENCH_PLUGINS='goodsim, acme' blocks it; add 'exploding' or 'broken-vendor'"):
        contracts.load("samplers", "exploding")
    monkeypatch.setenv("BENCH_PLUGINS", "broken-vendor")  # a distribution name admits all its plugins
    assert {"exploding", "goodsim"} <= set(plugins.names("samplers"))


@pytest.mark.parametrize("spelling", ["broken_vendor", "Broken.Vendor", "broken--vendor"])
def test_allowlist_matches_distribution_names_as_package_indexes_do(vendor, monkeypatch, spelling):
    vendor("[bench.samplers]\ngoodsim = tests.support.broken_plugins.samplers:GoodSim\n")
    monkeypatch.setenv("BENCH_PLUGINS", spelling)  # the distribution is 'broken-vendor'
    assert "goodsim" in plugins.names("samplers")


def test_a_blocked_device_type_says_bench_plugins_blocked_it(vendor, monkeypatch, cli):
    from bench.devices import open_device
    from bench.errors import DeviceError

    vendor("[bench.devices]\nsimdev = tests.support.broken_plugins.samplers:GoodSim\n")
    monkeypatch.setenv("BENCH_PLUGINS", "someone-else")
    with pytest.raises(DeviceError, match=r"device type 'simdev': device 'simdev' is installed \(broken-vendor 1.0\) "
                                          r"but BENCH_PLUGINS='someone-else' blocks it"):
        open_device("simdev:0")
    res = cli("run", "--device", "simdev:0", "--workload", "gemm", "--quiet")
    assert res.code == 2 and "BENCH_PLUGINS='someone-else' blocks it" in res.err and "unknown" not in res.err
    monkeypatch.delenv("BENCH_PLUGINS")
    with pytest.raises(DeviceError, match="unknown device type 'nosuch'"):
        open_device("nosuch:0")


def test_a_third_party_plugin_cannot_take_a_builtin_name(vendor):
    vendor("[bench.samplers]\nnvml = tests.support.broken_plugins.samplers:GoodSim\n")
    from bench.samplers.nvml import NvmlSampler

    assert contracts.load("samplers", "nvml") is NvmlSampler
    shadowed = [r for r in plugins.inventory("samplers") if r.name == "nvml" and r.note]
    assert [(r.package, r.note) for r in shadowed] == [("broken-vendor", "name taken by the built-in 'nvml'")]


# --- bench plugins check ----------------------------------------------------------------------------


def test_plugins_check_prints_the_table_and_writes_json(cli, acme, tmp_path):
    out = tmp_path / "report.json"
    result = cli("plugins", "check", "acme", "--json", str(out))
    assert result.code == 0, result.output
    assert "energy_consistency" in result.output and "acme: PASS" in result.output
    reports = json.loads(out.read_text())
    assert [(r["group"], r["target"], r["ok"]) for r in reports] == [("samplers", "acme", True), ("devices", "acme", True)]


def test_plugins_check_exits_1_naming_the_failed_check(cli, vendor):
    vendor("[bench.samplers]\nmilliwatts = tests.support.broken_plugins.samplers:MilliwattPower\n")
    result = cli("plugins", "check", "milliwatts")
    assert result.code == 1
    assert re.search(r"milliwatts: FAIL: .*units", result.output)
    assert "1000x too large" in result.output


def test_plugins_check_reports_a_broken_import_as_a_contract_failure(cli, vendor):
    vendor("[bench.samplers]\nexploding = tests.support.broken_plugins.raising_import:Sampler\n")
    result = cli("plugins", "check", "exploding")
    assert result.code == 1 and "contract" in result.output and "RuntimeError" in result.output


def test_plugins_check_unknown_name_is_a_usage_error(cli):
    result = cli("plugins", "check", "nope")
    assert result.code == 2 and "no sampler or device plugin 'nope'" in result.err


# --- the guide documents the whole contract ------------------------------------------------------------


def _public(cls: type) -> set[str]:
    names = {n for n, _ in inspect.getmembers(cls) if not n.startswith("_")}
    names |= {n for n in getattr(cls, "__annotations__", {}) if not n.startswith("_")}
    return names - {"register", "mro"}


def test_plugin_guide_documents_every_public_member_of_the_contracts():
    guide = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)", guide))
    wanted = {
        "Sampler": _public(Sampler), "Device": _public(Device), "Capabilities": _public(Capabilities),
        "Reading": _public(Reading), "Availability": _public(Availability),
        "PowerKind": {m.name for m in PowerKind}, "Scope": {m.name for m in Scope},
    }
    missing = {k: sorted(v - documented) for k, v in wanted.items() if v - documented}
    assert not missing, f"docs/plugins.md does not document: {missing}"
    for group in ("bench.samplers", "bench.devices", "bench.workloads", "bench.fakes", "pytest11"):
        assert group in guide
    for err in ("SamplerUnavailable", "SamplerNoPermission", "SamplerNotSupported", "SamplerDeviceLost",
                "SamplerTimeout", "DeviceError", "BENCH_PLUGINS", "conformance_fake", "run_conformance"):
        assert err in guide
