"""Hardware profiles: every shipped file validates, broken copies are refused with one clear line, matching."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench.analysis.scoring import profiles as P
from bench.analysis.scoring.profiles import (
    list_profiles,
    load_profile_file,
    load_profiles,
    match_profile,
)
from bench.errors import ConfigError
from tests.analysis.scoring import assert_refused

SHIPPED = sorted(P.SHIPPED_DIR.glob("*.toml"))
REQUIRED_CHIPS = {"nvidia-h200-sxm", "nvidia-h100-sxm", "nvidia-a100-sxm-80gb", "nvidia-l4", "nvidia-b200",
                  "amd-mi300x", "huawei-ascend-910b", "biren-br100", "intel-gaudi2", "cpu-generic"}


@pytest.fixture(autouse=True)
def _no_env_dirs(monkeypatch):
    monkeypatch.delenv(P.ENV_VAR, raising=False)


def test_every_required_chip_is_shipped():
    assert {p.stem for p in SHIPPED} >= REQUIRED_CHIPS


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_profile_loads_with_a_source_for_every_figure(path):
    prof = load_profile_file(path)
    assert prof.id == path.stem and prof.sha256 and len(prof.sha256) == 64
    figures = [k for k in ("rated_power_w", "rated_power_w_per_core", "memory_bytes",
                           "memory_bandwidth_bytes_per_s") if getattr(prof, k) is not None]
    figures += [f"peak_flops.{d}" for d in prof.peak_flops]
    assert figures, "a profile states at least its rated power"
    for fig in figures:
        assert len(prof.source(fig) or "") > 15, f"{path.name}: {fig} has no real source"
    # peak FLOP/s are dense and plausible for 2020s chips (1e12 .. 1e16 FLOP/s)
    assert all(1e12 <= v <= 1e16 for v in prof.peak_flops.values())


def test_uncertain_figures_say_so():
    for stem in ("huawei-ascend-910b", "biren-br100"):
        text = " ".join(load_profile_file(P.SHIPPED_DIR / f"{stem}.toml").sources.values()).lower()
        assert "uncertain" in text or "claim" in text


def _broken(src: Path, tmp_path: Path, edit) -> Path:
    out = tmp_path / src.name
    out.write_text(edit(src.read_text(encoding="utf-8")), encoding="utf-8")
    return out


def _drop_rated_source(text: str) -> str:
    lines = [ln for ln in text.splitlines() if not re.match(r"^rated_power_w(_per_core)?\s*=\s*\"", ln)]
    return "\n".join(lines) + "\n"


BREAKAGES = {
    # name: (edit, expected field, expected problem)
    "missing source": (_drop_rated_source, "sources.rated_power_w", "every figure needs its source"),
    "negative power": (lambda t: re.sub(r"(?m)^rated_power_w(_per_core)? = .*$", r"rated_power_w\1 = -5.0", t),
                       "rated_power_w", "greater than 0"),
    "unknown field": (lambda t: "ratedpower = 3\n" + t, "ratedpower", "unknown field"),
    "bad toml": (lambda t: t.replace("vendor = ", "vendor == ", 1), "(toml)", "line"),
    "regex": (lambda t: "match = ['(unclosed']\n" + re.sub(r"(?m)^match = .*$", "", t), "match",
              "not regular expressions"),
    "empty pattern": (lambda t: "match = ['  ']\n" + re.sub(r"(?m)^match = .*$", "", t), "match",
                      "would match every device"),
    "no name": (lambda t: re.sub(r'(?m)^name = ".*"$', "", t), "name", "Field required"),
}


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
@pytest.mark.parametrize("breakage", sorted(BREAKAGES))
def test_broken_copy_is_refused_with_file_field_problem(path, breakage, tmp_path):
    edit, field, problem = BREAKAGES[breakage]
    assert_refused(load_profile_file, _broken(path, tmp_path, edit), field, problem)


def test_not_utf8_and_missing_file(tmp_path):
    bad = tmp_path / "x.toml"
    bad.write_bytes(b"vendor = \"\xff\"\n")
    with pytest.raises(ConfigError, match=r"x\.toml: \(file\): not UTF-8"):
        load_profile_file(bad)
    with pytest.raises(ConfigError, match=r"nope\.toml: \(file\): cannot read"):
        load_profile_file(tmp_path / "nope.toml")


def test_peak_of_unknown_dtype_is_refused(tmp_path):
    src = (P.SHIPPED_DIR / "nvidia-l4.toml").read_text()
    bad = tmp_path / "l4.toml"
    bad.write_text(src.replace("[peak_flops]\n", "[peak_flops]\nfp4 = 1e15\n"))
    with pytest.raises(ConfigError, match=r"l4\.toml: peak_flops: .*unknown dtype 'fp4'"):
        load_profile_file(bad)


@pytest.mark.parametrize("name,expected", [
    ("NVIDIA H200", "nvidia-h200-sxm"),
    ("NVIDIA H200 NVL", None),
    ("NVIDIA H100 80GB HBM3", "nvidia-h100-sxm"),
    ("NVIDIA H100 PCIe", None),
    ("NVIDIA H100 NVL", None),
    ("NVIDIA GH200 480GB", None),
    ("NVIDIA A100-SXM4-80GB", "nvidia-a100-sxm-80gb"),
    ("NVIDIA A100-SXM4-40GB", None),
    ("NVIDIA A100 80GB PCIe", None),
    ("NVIDIA L4", "nvidia-l4"),
    ("NVIDIA L40S", None),
    ("NVIDIA B200", "nvidia-b200"),
    ("NVIDIA GB200", None),
    ("AMD Instinct MI300X", "amd-mi300x"),
    ("AMD Instinct MI300A", None),
    ("Ascend910B3", "huawei-ascend-910b"),
    ("Ascend 910B4", "huawei-ascend-910b"),
    ("Biren BR100", "biren-br100"),
    ("GAUDI2", "intel-gaudi2"),
    ("Intel(R) Xeon(R) Platinum 8480+", None),
])
def test_match_by_device_name(name, expected):
    found = match_profile(name, load_profiles())
    assert (found.id if found else None) == expected


def test_cpu_matches_generic_profile_by_type_only():
    profiles = load_profiles()
    name = "AMD EPYC 7763 64-Core Processor"
    assert match_profile(name, profiles) is None
    assert match_profile(name, profiles, device_type="cpu").id == "cpu-generic"


def test_generic_cpu_rated_power_from_estimate_or_per_core():
    cpu = load_profile_file(P.SHIPPED_DIR / "cpu-generic.toml")
    watts, source = cpu.rated_power({"cores": 16})
    assert watts == pytest.approx(64.0) and "16 logical CPUs" in source
    watts, source = cpu.rated_power({"cores": 16}, estimate_rated_w=185.0)
    assert watts == 185.0 and "estimate" in source
    assert cpu.rated_power({})[0] is None
    h100 = load_profile_file(P.SHIPPED_DIR / "nvidia-h100-sxm.toml")
    assert h100.rated_power({"cores": 16}, estimate_rated_w=10.0)[0] == 700.0


def test_user_folder_adds_and_overrides(tmp_path, monkeypatch):
    user = tmp_path / "mine"
    user.mkdir()
    (user / "acme-npu.toml").write_text(
        'vendor = "Acme"\nname = "NPU 1"\nform_factor = "PCIe"\nmatch = ["Acme NPU"]\n'
        'rated_power_w = 150.0\n[peak_flops]\nbf16 = 300e12\n[sources]\n'
        'rated_power_w = "Acme NPU 1 datasheet rev 3"\npeak_flops = "Acme NPU 1 datasheet rev 3"\n')
    (user / "nvidia-l4.toml").write_text((P.SHIPPED_DIR / "nvidia-l4.toml").read_text().replace("72.0", "75.0"))
    profiles = load_profiles([user])
    assert match_profile("Acme NPU rev B", profiles).rated_power_w == 150.0
    assert match_profile("NVIDIA L4", profiles).rated_power_w == 75.0
    monkeypatch.setenv(P.ENV_VAR, str(user))
    assert match_profile("Acme NPU", load_profiles()).id == "acme-npu"
    ids = [row["id"] for row in list_profiles()]
    assert "acme-npu" in ids and ids == sorted(ids)


def test_missing_user_folder_and_bad_user_file_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_profiles([tmp_path / "absent"])
    (tmp_path / "bad.toml").write_text("vendor = 1\n")
    with pytest.raises(ConfigError, match=r"bad\.toml: vendor: "):
        load_profiles([tmp_path])


def test_list_profiles_rows():
    rows = {r["id"]: r for r in list_profiles()}
    assert rows["nvidia-h100-sxm"]["rated_power_w"] == 700.0
    assert rows["nvidia-h100-sxm"]["peak_flops"]["bf16"] == pytest.approx(989.5e12)
    assert rows["cpu-generic"]["match"] == ["type:cpu"]
