"""Every band rationale of the newest standard matches the workload as bench measures it: the FLOPs its counter
records for the standard preset, the dtypes it can run; the chips docs/standard.md anchors on ship as profiles."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bench import contracts
from bench.analysis.scoring.standard import load_standard
from bench.workload import WorkloadParams
from tests import ROOT

# the share u of GEMM efficiency each compute-bound workload is taken to sustain (stated in its rationale)
SHARE = {"llm-prefill": 1.0, "llm-train": 0.5, "resnet50-infer": 0.5, "resnet50-train": 0.3, "bert-infer": 0.6}


UNITS_PER_STEP = {  # tokens for the decoders' prefill and training, one per sequence for decode, else the batch
    "llm-prefill": lambda s: s["batch_size"] * s["seq_len"], "llm-train": lambda s: s["batch_size"] * s["seq_len"],
    "llm-decode": lambda s: s["batch_size"], "resnet50-infer": lambda s: s["batch_size"],
    "resnet50-train": lambda s: s["batch_size"], "bert-infer": lambda s: s["batch_size"],
}


def counted_flops(name: str) -> float:
    """FLOPs per unit the workload itself counts for its standard preset (on the meta device, no memory)."""
    wl = contracts.load("workloads", name)(WorkloadParams(preset="standard"))
    return wl.meta_counts()["flops_per_step"] / UNITS_PER_STEP[name](wl.settings)


@pytest.fixture(scope="module")
def flops():
    return {name: counted_flops(name) for name in [*SHARE, "llm-decode"]}


def stated(value: float) -> str:
    """A FLOP count as the standard writes it: 1.45e10."""
    mantissa, exponent = f"{value:.2e}".split("e")
    return f"{mantissa}e{int(exponent)}"


@pytest.mark.parametrize("name", sorted(SHARE))
def test_edges_follow_the_counted_flops_within_one_percent(flops, name):
    std = load_standard("clause7-2025.2")
    rule, gemm = std.workloads[name], std.workloads["gemm"]
    assert stated(flops[name]) in rule.rationale, (name, stated(flops[name]))
    for band, gemm_band in zip(rule.bands[:-1], gemm.bands[:-1]):
        derived = flops[name] / (gemm_band.edge * SHARE[name])
        assert band.edge == pytest.approx(derived, rel=0.01), (name, band.grade, derived)
        assert f"u = {SHARE[name]:g}" in " ".join(band.sources) or SHARE[name] == 1.0


def test_the_older_prefill_edges_were_lenient_against_their_own_derivation(flops):
    old = load_standard("clause7-2025.1").workloads["llm-prefill"]
    assert "1.6e10 FLOP" in old.rationale  # what 2025.1 assumed; the workload counts 1.45e10
    assert old.bands[0].edge / (flops["llm-prefill"] / 3.2e12) > 1.09


def test_decode_states_its_counted_flops_and_assumes_no_smaller_weights(flops):
    rule = load_standard("clause7-2025.2").workloads["llm-decode"]
    assert stated(flops["llm-decode"]) in rule.reference
    dtypes = contracts.load("workloads", "llm-decode").dtypes
    assert not {"int8", "int4", "fp8"} & set(dtypes)
    assert "fp32, tf32, fp16 and bf16" in rule.reference and set(dtypes) == {"fp32", "tf32", "fp16", "bf16"}
    for band in rule.bands:
        assert not re.search(r"8-bit or 4-bit weights|with (8|4)-bit", band.rationale), band.grade


def test_no_band_rests_on_8_bit_engines_the_workloads_cannot_run():
    std = load_standard("clause7-2025.2")
    for name, rule in std.workloads.items():
        if name == "gemm":
            continue  # graded in bf16/fp16 only (its dtype rule); AMX's INT8 rate is quoted as a chip figure
        dtypes = contracts.load("workloads", name).dtypes
        assert "int8" not in dtypes
        for band in rule.bands:
            text = band.rationale + " ".join(band.sources)
            if re.search(r"INT8|8-bit", text):
                assert "context" in text, (name, band.grade)  # cited for context, never as the anchor


def test_the_cpu_rationale_counts_two_fma_units_and_amx():
    gemm = load_standard("clause7-2025.2").workloads["gemm"]
    g, f = gemm.bands[-1].rationale, gemm.bands[-2].rationale
    assert "64 fp32 FLOP per cycle (two AVX-512 FMA units x 16 lanes x 2)" in g
    assert 56 * 2.0e9 * 64 / 1e12 == pytest.approx(7.2, rel=0.01) and "7.2 TFLOP/s" in g
    assert 56 * 2.0e9 * 64 / 350 / 1e12 == pytest.approx(0.02, rel=0.03) and "0.02 TFLOP/J" in g
    assert "AMX (1,024 bf16 FLOP per cycle per core)" in f and "115 TFLOP/s" in f
    assert 56 * 2.0e9 * 1024 / 1e12 == pytest.approx(115, rel=0.01)


def test_bert_says_it_is_bert_base_not_mlperfs_bert_large():
    rule = load_standard("clause7-2025.2").workloads["bert-infer"]
    assert "BERT-base" in rule.reference and "BERT-Large" in rule.reference and "do not transfer" in rule.reference


ANCHORS = {"B200": "nvidia-b200", "MI300X": "amd-mi300x", "L4": "nvidia-l4", "H100/H200": "nvidia-h100-sxm",
           "A100": "nvidia-a100-sxm-80gb", "Gaudi 2": "intel-gaudi2", "V100": "nvidia-v100-sxm2"}


def test_every_chip_the_gemm_scale_cites_ships_as_a_profile_with_that_efficiency(profiles):
    text = (ROOT / "docs" / "standard.md").read_text(encoding="utf-8")
    line = re.search(r"profiles: (B200 .*?V100 [0-9]+\.[0-9]+)", text.replace("\n   ", " ")).group(1)
    cited = dict(re.findall(r"([A-Za-z0-9/ ]+?) ([0-9]+\.[0-9]+)(?: TFLOP/J)?(?:, |$)", line))
    by_id = {p.id: p for p in profiles}
    assert set(cited) == set(ANCHORS), cited
    for chip, value in cited.items():
        prof = by_id[ANCHORS[chip]]  # KeyError: docs/standard.md cites a profile that does not ship
        peak = prof.peak_flops.get("bf16") or prof.peak_flops["fp16"]
        assert peak / prof.rated_power_w / 1e12 == pytest.approx(float(value), abs=0.006), chip


def test_the_newest_standard_is_the_default_and_the_older_stays_loadable(std):
    assert std.id == "clause7-2025.2"
    assert Path(load_standard("clause7-2025.1").path).name == "clause7-2025.1.toml"
