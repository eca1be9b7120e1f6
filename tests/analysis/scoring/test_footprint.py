"""Carbon equals codecarbon's own figure, offline; water equals the formula with the shipped factors."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest

from bench.analysis.scoring import footprint as F
from bench.analysis.scoring.footprint import footprint_factors, grid_intensity
from bench.analysis.scoring.profiles import load_profiles
from bench.analysis.scoring.score import score_result
from bench.analysis.scoring.standard import load_standard
from bench.errors import UsageError
from bench.result.io import write_result
from tests.factories import make_result, workload


@pytest.fixture
def offline(monkeypatch):
    """Any attempt to open a network connection fails the test."""
    def refuse(*args, **kwargs):
        raise AssertionError(f"network call attempted: {args!r}")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def codecarbon_g(kwh: float, country: str, region: str | None) -> float:
    """codecarbon's own figure for ``kwh``, computed through its public emissions API."""
    from codecarbon.core.emissions import Emissions
    from codecarbon.core.units import Energy
    from codecarbon.external.geography import GeoMetadata
    from codecarbon.input import DataSource

    kg = Emissions(DataSource()).get_private_infra_emissions(
        Energy.from_energy(kWh=kwh), GeoMetadata(country_iso_code=country, region=region))
    return kg * 1000.0


@pytest.mark.parametrize("country,region", [("FRA", None), ("USA", None), ("USA", "California"),
                                             ("CAN", "Ontario"), ("CHN", "Beijing"), ("SWE", "SE3")])
def test_carbon_equals_codecarbons_figure(offline, country, region):
    factors = footprint_factors(country=country, region=region)
    gross_per_unit_j = 0.1234
    result = make_result(workloads=[workload(gross_per_unit=[gross_per_unit_j] * 3)])
    ws = score_result(result, load_standard(), load_profiles(), factors).workloads[0]
    kwh_facility = gross_per_unit_j * 1000 / 3.6e6 * F.DEFAULT_PUE
    assert ws.carbon_accelerator_g == pytest.approx(codecarbon_g(kwh_facility, country, region), rel=1e-12)
    # the whole server: the H100 profile's 1.82 (DGX H100: 10.2 kW for 8 x 700 W) before PUE
    assert ws.carbon_g == pytest.approx(codecarbon_g(kwh_facility * 1.82, country, region), rel=1e-12)
    assert factors.country == country and "codecarbon 3.3.2" in factors.carbon_source


def test_known_intensities_and_region_sources(offline):
    assert grid_intensity("FRA")[0] == pytest.approx(56.039, abs=1e-3)
    ci, source = grid_intensity("USA", "California")
    assert ci == pytest.approx(179.064, abs=1e-3) and "eGRID" in source and "california" in source
    assert grid_intensity("usa")[0] == pytest.approx(369.473, abs=1e-3)


@pytest.mark.parametrize("kwargs,message", [
    ({"country": "XXX"}, "no grid data for country 'XXX'"),
    ({"country": "France"}, "ISO 3166 alpha-3"),
    ({"country": "USA", "region": "atlantis"}, "no data for region 'atlantis' of USA"),
    ({"country": "FRA", "region": "bretagne"}, "regional data only for USA, CAN, CHN"),
    ({"region": "california"}, "--region needs --country"),
    ({"country": "FRA", "carbon_intensity_g_per_kwh": 50.0}, "not both"),
    ({"carbon_intensity_g_per_kwh": -1.0}, "--carbon-intensity must be a non-negative"),
    ({"carbon_intensity_g_per_kwh": 10.0, "pue": 0.9}, "cannot be below 1"),
    ({"carbon_intensity_g_per_kwh": 10.0, "wue": float("nan")}, "--wue must be"),
    ({"carbon_intensity_g_per_kwh": 10.0, "ewif": "lignite"}, "--ewif must be L/kWh or one of"),
])
def test_bad_footprint_input_is_a_usage_error(offline, kwargs, message):
    with pytest.raises(UsageError, match=message):
        footprint_factors(**kwargs)


def test_water_equals_the_formula_with_the_shipped_factors():
    factors = footprint_factors(carbon_intensity_g_per_kwh=400.0)
    assert (factors.wue_l_per_kwh, factors.pue, factors.ewif_l_per_kwh) == (0.55, 1.17, 3.142)
    assert "Making AI Less Thirsty" in factors.wue_source and "3.142" in factors.ewif_source
    energy_j = 3.6e6 * 2  # 2 kWh
    assert factors.water_l(energy_j) == pytest.approx(2 * 0.55 + 2 * 1.17 * 3.142)
    assert factors.carbon_g(energy_j) == pytest.approx(2 * 1.17 * 400.0)
    result = make_result(workloads=[workload(gross_per_unit=[0.2] * 3)])
    score = score_result(result, load_standard(), load_profiles(), factors)
    ws = score.workloads[0]
    kwh = 0.2 * 1000 / 3.6e6
    assert ws.water_accelerator_ml == pytest.approx(kwh * (0.55 + 1.17 * 3.142) * 1000)
    assert ws.carbon_accelerator_g == pytest.approx(kwh * 1.17 * 400.0)
    assert ws.water_ml == pytest.approx(kwh * 1.82 * (0.55 + 1.17 * 3.142) * 1000)
    assert ws.carbon_g == pytest.approx(kwh * 1.82 * 1.17 * 400.0)
    assert score.footprint.server_overhead == 1.82 and "nvidia-h100-sxm" in score.footprint.server_overhead_source
    assert ws.footprint_units == 1000


def test_user_factors_and_ewif_by_source_are_recorded():
    f = footprint_factors(carbon_intensity_g_per_kwh=0.0, wue=0.0, pue=1.0, ewif="coal")
    assert f.ewif_l_per_kwh == 2.2 and "Green Grid" in f.ewif_source
    assert f.carbon_source == "given by the user (--carbon-intensity)"
    assert f.wue_source == "given by the user (--wue)" and f.pue_source == "given by the user (--pue)"
    assert f.water_l(3.6e6) == pytest.approx(2.2)
    assert footprint_factors(carbon_intensity_g_per_kwh=1.0, ewif="0.7").ewif_l_per_kwh == 0.7


def test_default_is_codecarbons_world_average():
    f = footprint_factors()
    assert f.carbon_intensity_g_per_kwh == 475.0 and "world average" in f.carbon_source


def test_codecarbon_is_imported_only_for_a_country():
    code = (
        "import sys\n"
        "from bench.analysis.scoring.footprint import footprint_factors\n"
        "import bench.analysis.scoring.score, bench.cli.score\n"
        "footprint_factors(); footprint_factors(carbon_intensity_g_per_kwh=5.0)\n"
        "assert 'codecarbon' not in sys.modules, 'imported too early'\n"
        "footprint_factors(country='FRA')\n"
        "assert 'codecarbon' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# --- whole-server scope and the basis of each carbon factor ------------------------------------------


@pytest.mark.parametrize("country,region,basis,unit", [
    ("FRA", None, "lifecycle, CO2e", "gCO2e"),  # Our World in Data
    ("USA", "California", "direct (combustion), CO2e", "gCO2e"),  # EPA eGRID output emission rate
    ("CHN", "Beijing", "direct (combustion), CO2 only", "gCO2"),  # MEE/NBS provincial factors
    ("CAN", "Ontario", "mixed: lifecycle for low-carbon sources, combustion for fossil, CO2e", "gCO2e"),
    (None, None, "direct (combustion), CO2 only", "gCO2"),  # IEA world average
])
def test_each_carbon_factor_names_its_basis(offline, country, region, basis, unit):
    f = footprint_factors(country=country, region=region)
    assert f.carbon_basis == basis and f.carbon_unit == unit


def test_a_user_intensity_states_its_basis_or_says_it_does_not(cli, tmp_path):
    assert footprint_factors(carbon_intensity_g_per_kwh=300.0).carbon_basis == "as given (basis not stated)"
    f = footprint_factors(carbon_intensity_g_per_kwh=300.0, carbon_basis_text="lifecycle, CO2e")
    assert f.carbon_basis == "lifecycle, CO2e"
    folder = tmp_path / "a"
    folder.mkdir()
    write_result(make_result(), folder)
    out = cli("score", "--carbon-intensity", "300", "--carbon-basis", "lifecycle, CO2e", str(folder)).out
    assert "carbon intensity 300 gCO2e/kWh (lifecycle, CO2e): given by the user" in out
    res = cli("score", "--carbon-basis", "lifecycle, CO2e", str(folder))
    assert res.code == 2 and "--carbon-basis states the basis of --carbon-intensity" in res.err


def test_server_overhead_comes_before_pue_and_wue_with_its_source(cli, tmp_path):
    folder = tmp_path / "h100"
    folder.mkdir()
    write_result(make_result(workloads=[workload(gross_per_unit=[0.2] * 3)]), folder)
    kwh = 0.2 * 1000 / 3.6e6
    args = ["score", "--json", "--carbon-intensity", "400", str(folder)]
    (s,) = json.loads(cli(*args).out)
    ws = s["workloads"][0]
    assert s["footprint"]["server_overhead"] == 1.82 and "DGX H100" in s["footprint"]["server_overhead_source"]
    assert ws["carbon_g"] == pytest.approx(kwh * 1.82 * 1.17 * 400) and ws["carbon_accelerator_g"] == pytest.approx(
        kwh * 1.17 * 400)
    (s,) = json.loads(cli(*args[:-1], "--server-overhead", "1.5", str(folder)).out)
    assert s["footprint"]["server_overhead"] == 1.5
    assert s["footprint"]["server_overhead_source"] == "given by the user (--server-overhead)"
    assert s["workloads"][0]["water_ml"] == pytest.approx(kwh * 1.5 * (0.55 + 1.17 * 3.142) * 1000)
    text = cli("score", "--carbon-intensity", "400", str(folder)).out
    assert "server overhead 1.82 (IT / device energy): hardware profile nvidia-h100-sxm: NVIDIA DGX H100" in text
    res = cli("score", "--server-overhead", "0.8", str(folder))
    assert res.code == 2 and "cannot be below 1" in res.err


def test_without_a_profile_figure_the_overhead_is_one_and_says_so(profiles):
    result = make_result(device_name="Acme NPU 1", device_type="npu")
    score = score_result(result, load_standard(), profiles, footprint_factors(carbon_intensity_g_per_kwh=1.0))
    assert score.footprint.server_overhead == 1.0
    assert "none known for this device" in score.footprint.server_overhead_source
    ws = score.workloads[0]
    assert ws.carbon_g == pytest.approx(ws.carbon_accelerator_g)
