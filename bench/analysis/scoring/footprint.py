"""Carbon and water footprint factors, each with its source, and the footprint of an energy figure.

Carbon: ``g = E_kWh x PUE x CI`` with CI the grid's carbon intensity (gCO2e/kWh), from codecarbon's
offline data by country (and region where it has regional data: USA states, Canadian provinces,
Chinese provinces, Nordic bidding zones), or a value the user gives. codecarbon is used as a data
library only, offline: no tracker, no network call, imported only when a country is named.

Water (Li, Yang, Islam, Ren, "Making AI Less Thirsty", arXiv 2304.03271; equal to The Green Grid's
WUE_source x E_IT): ``L = E_kWh x WUE_site + E_kWh x PUE x EWIF`` - on-site cooling water plus the
off-site water evaporated to generate the electricity.

PUE and WUE are defined per unit of IT energy (the whole server), so the device's gross energy ``E`` is first
scaled by a **server overhead** factor (``IT = E x overhead``: host CPUs, memory, fans, network and power
supplies around the accelerators), taken from ``--server-overhead``, else the hardware profile's
``server_overhead`` (from the vendor's system power, e.g. an 8-GPU server's maximum input over its GPUs'
rated power), else 1 (the device's energy only, said so). Every figure is also given for the accelerator
alone (overhead 1): the device's own energy through PUE and WUE.

Each carbon intensity names its basis: **lifecycle** (generation plus upstream: fuel supply, construction)
or **direct** (combustion at the plant), and **CO2e** (all greenhouse gases) or **CO2**. codecarbon's data
mixes them: national figures (Our World in Data) are lifecycle CO2e, US states (EPA eGRID output emission
rates) direct CO2e, Chinese provinces (MEE/NBS factors) direct CO2 only, the world average (IEA) direct CO2,
and Canadian provinces and Nordic zones are energy mixes x per-source factors that are lifecycle for
low-carbon sources and combustion for fossil ones.
"""

from __future__ import annotations

import importlib.util
import json
import math
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from bench.errors import UsageError

J_PER_KWH = 3.6e6
LI_2023 = ('P. Li, J. Yang, M. A. Islam, S. Ren, "Making AI Less Thirsty: Uncovering and Addressing the Secret '
           'Water Footprint of AI Models", arXiv:2304.03271 (2023)')
GREEN_GRID_35 = ('The Green Grid, White Paper #35 "Water Usage Effectiveness (WUE): a Green Grid data center '
                 'sustainability metric" (2011), EWIF by source')
DEFAULT_WUE_L_PER_KWH = 0.55
DEFAULT_PUE = 1.17
DEFAULT_EWIF_L_PER_KWH = 3.142
# EWIF (L/kWh) by generation source and US interconnect, The Green Grid WP#35. Hydro counts as 0 there
# (reservoir evaporation not assigned to electricity); the WRI-based factors Li et al. use do assign it.
EWIF_BY_SOURCE: dict[str, float] = {
    "coal": 2.2, "nuclear": 3.3, "gas": 0.8, "csp": 3.3, "pv": 0.0, "wind": 0.0, "hydro": 0.0,
    "unknown": 1.8, "us-western": 1.4, "us-eastern": 1.9, "us-texas": 1.7, "us": 1.8,
}
CODECARBON_REGION_COUNTRIES = ("USA", "CAN", "CHN", "SWE", "NOR", "FIN")
LIFECYCLE_CO2E = "lifecycle, CO2e"
DIRECT_CO2E = "direct (combustion), CO2e"
DIRECT_CO2 = "direct (combustion), CO2 only"
MIXED_CO2E = "mixed: lifecycle for low-carbon sources, combustion for fossil, CO2e"
UNSTATED = "as given (basis not stated)"


def carbon_basis(country: str | None, region: str | None) -> str:
    """The basis of codecarbon's intensity for ``country`` (ISO alpha-3) and ``region``; None: the world average."""
    iso = (country or "").strip().upper()
    if not iso:
        return DIRECT_CO2  # IEA's world-average CO2 intensity of generation
    if not region:
        return LIFECYCLE_CO2E  # Our World in Data (Ember): life-cycle emissions of generation
    return {"USA": DIRECT_CO2E, "CHN": DIRECT_CO2}.get(iso, MIXED_CO2E)


class FootprintFactors(BaseModel):
    """The factors used for carbon and water, each with its source. Units in the names."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    carbon_intensity_g_per_kwh: float
    carbon_source: str
    country: str | None = None
    region: str | None = None
    wue_l_per_kwh: float
    wue_source: str
    pue: float
    pue_source: str
    ewif_l_per_kwh: float
    ewif_source: str
    carbon_basis: str = UNSTATED
    server_overhead: float | None = None  # None: each result's hardware profile decides
    server_overhead_source: str = ""

    @property
    def overhead(self) -> float:
        """IT (whole-server) energy per unit of device energy (1 when unknown)."""
        return self.server_overhead if self.server_overhead is not None else 1.0

    @property
    def carbon_unit(self) -> str:
        """``gCO2e`` or ``gCO2``, as the intensity's basis says."""
        return "gCO2" if "CO2 only" in self.carbon_basis else "gCO2e"

    def with_overhead(self, factor: float, source: str) -> "FootprintFactors":
        """These factors with the server overhead of one result's device."""
        return self.model_copy(update={"server_overhead": factor, "server_overhead_source": source})

    def carbon_g(self, energy_j: float, overhead: float | None = None) -> float:
        """Grams of carbon (basis: :attr:`carbon_basis`) of ``energy_j`` joules drawn by the device: IT energy
        (x server overhead, or ``overhead``) x PUE x intensity."""
        it = overhead if overhead is not None else self.overhead
        return energy_j * it / J_PER_KWH * self.pue * self.carbon_intensity_g_per_kwh

    def water_l(self, energy_j: float, overhead: float | None = None) -> float:
        """Litres of water of ``energy_j`` joules drawn by the device: IT energy x (WUE + PUE x EWIF)."""
        kwh = energy_j * (overhead if overhead is not None else self.overhead) / J_PER_KWH
        return kwh * self.wue_l_per_kwh + kwh * self.pue * self.ewif_l_per_kwh

    def per_units(self, energy_per_unit_j: float, units: int = 1000,
                  overhead: float | None = None) -> tuple[float, float]:
        """(g of carbon, mL of water) per ``units`` units of work at ``energy_per_unit_j`` J of device energy;
        ``overhead=1`` gives the accelerator-only figures."""
        energy_j = energy_per_unit_j * units
        return self.carbon_g(energy_j, overhead), self.water_l(energy_j, overhead) * 1000.0


def _positive(name: str, value: float, allow_zero: bool = False) -> float:
    value = float(value)
    if not math.isfinite(value) or value < 0 or value > 1e6 or (value == 0 and not allow_zero):
        kind = "non-negative" if allow_zero else "positive"
        raise UsageError(f"{name} must be a {kind} number up to 1e6, got {value!r}")
    return value


def _pue(value: float) -> float:
    value = _positive("--pue", value)
    if value < 1:
        raise UsageError(f"--pue is facility energy / IT energy and cannot be below 1, got {value!r}")
    return value


def _codecarbon_version() -> str:
    try:
        from importlib.metadata import version

        return version("codecarbon")
    except Exception:  # noqa: BLE001 - a version string is informative only
        return "unknown"


def world_average() -> tuple[float, str]:
    """codecarbon's world-average grid intensity (gCO2e/kWh), read from its data file without importing it."""
    spec = importlib.util.find_spec("codecarbon")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        path = Path(folder) / "data" / "private_infra" / "carbon_intensity_per_source.json"
        if path.is_file():
            data = json.loads(path.read_text(encoding="utf-8"))
            return float(data["world_average"]), (
                f"world average (no country given), codecarbon {_codecarbon_version()} "
                f"carbon_intensity_per_source.json, from {data.get('world_average_source', 'IEA')}")
    raise UsageError("codecarbon's data is not installed; give --carbon-intensity G_PER_KWH or install codecarbon")


def _region_known(emissions: Any, source: Any, geo: Any, energy: Any) -> tuple[bool, str]:
    """Whether codecarbon has regional data for ``geo.region``, and the data set's name."""
    iso = geo.country_iso_code
    if iso in ("SWE", "NOR", "FIN"):
        meta = source.get_nordic_country_energy_mix_data().get("metadata", {})
        return type(emissions)._is_supported_nordic_region(geo), str(meta.get("source", "nordic_emissions.json"))
    if iso == "CHN":
        meta = source.get_china_provincial_emissions_data().get("metadata", {})
        known = emissions._try_get_china_province_emissions(energy, geo) is not None
        return known, str(meta.get("source", "china_provincial_emissions.json"))
    if iso == "USA":
        data = source.get_country_emissions_data("usa")
        meta = data.get("_source", {})
        return geo.region in data and not geo.region.startswith("_"), str(meta.get("name", "usa_emissions.json"))
    if iso == "CAN":
        data = source.get_country_energy_mix_data("can")
        return geo.region in data, "2023/canada_energy_mix.json, provincial energy mix x carbon_intensity_per_source.json"
    return False, ""


def grid_intensity(country: str, region: str | None = None) -> tuple[float, str]:
    """Grid carbon intensity (gCO2e/kWh) of a country (ISO 3166 alpha-3) and optional region, offline.

    Raises :class:`UsageError` for a country or region codecarbon has no data for (codecarbon itself
    would silently fall back to the world average or the national figure).
    """
    from codecarbon.core.emissions import Emissions
    from codecarbon.core.units import Energy
    from codecarbon.external.geography import GeoMetadata
    from codecarbon.input import DataSource

    iso = (country or "").strip().upper()
    if len(iso) != 3 or not iso.isalpha():
        raise UsageError(f"--country must be an ISO 3166 alpha-3 code such as FRA or USA, got {country!r}")
    source = DataSource()
    mix = source.get_global_energy_mix_data()
    if iso not in mix:
        raise UsageError(f"codecarbon has no grid data for country {iso!r}; give --carbon-intensity G_PER_KWH")
    emissions = Emissions(source)  # no API token: offline data only
    one_kwh = Energy.from_energy(kWh=1.0)
    geo = GeoMetadata(country_iso_code=iso, region=region.strip() if region else None)
    version = _codecarbon_version()
    if region:
        if iso not in CODECARBON_REGION_COUNTRIES:
            raise UsageError(f"codecarbon has regional data only for {', '.join(CODECARBON_REGION_COUNTRIES)}; "
                             f"omit --region for {iso}")
        known, data_name = _region_known(emissions, source, geo, one_kwh)
        if not known:
            raise UsageError(f"codecarbon has no data for region {region!r} of {iso}")
        basis = f"region {geo.region} of {iso}, codecarbon {version} offline data: {data_name}"
    else:
        entry = mix[iso]
        basis = (f"{entry.get('country_name', iso)} ({iso}) {entry.get('year', '')}, codecarbon {version} offline "
                 f"data: global_energy_mix.json (Our World in Data)").replace("  ", " ")
    kg = emissions.get_private_infra_emissions(one_kwh, geo)
    return float(kg) * 1000.0, basis


def resolve_ewif(ewif: float | str | None) -> tuple[float, str]:
    """EWIF (L/kWh) from a number, a name of :data:`EWIF_BY_SOURCE`, or None (the default)."""
    if ewif is None:
        return DEFAULT_EWIF_L_PER_KWH, f"{LI_2023}: US average EWIF 3.142 L/kWh (default)"
    if isinstance(ewif, str):
        key = ewif.strip().lower()
        if key in EWIF_BY_SOURCE:
            return EWIF_BY_SOURCE[key], f"{GREEN_GRID_35}: {key} {EWIF_BY_SOURCE[key]:g} L/kWh"
        try:
            ewif = float(key)
        except ValueError:
            raise UsageError(f"--ewif must be L/kWh or one of {', '.join(EWIF_BY_SOURCE)}, got {ewif!r}") from None
    return _positive("--ewif", ewif, allow_zero=True), "given by the user (--ewif)"


def _overhead(value: float | None) -> float | None:
    if value is None:
        return None
    value = _positive("--server-overhead", value)
    if value < 1:
        raise UsageError(f"--server-overhead is IT (whole-server) energy / device energy and cannot be below 1, "
                         f"got {value!r}")
    return value


def footprint_factors(country: str | None = None, region: str | None = None,
                      carbon_intensity_g_per_kwh: float | None = None, wue: float | None = None,
                      pue: float | None = None, ewif: float | str | None = None,
                      server_overhead: float | None = None, carbon_basis_text: str | None = None) -> FootprintFactors:
    """The factors to use: user values win, else codecarbon by country, else the shipped defaults.

    ``server_overhead`` None leaves it to each result's hardware profile; ``carbon_basis_text`` states the basis
    of a user-given intensity (e.g. "lifecycle, CO2e")."""
    if region and not country:
        raise UsageError("--region needs --country")
    if carbon_intensity_g_per_kwh is not None:
        if country:
            raise UsageError("give either --carbon-intensity or --country, not both")
        ci = _positive("--carbon-intensity", carbon_intensity_g_per_kwh, allow_zero=True)
        ci_source = "given by the user (--carbon-intensity)"
        basis = carbon_basis_text.strip() if carbon_basis_text and carbon_basis_text.strip() else UNSTATED
    elif country:
        ci, ci_source = grid_intensity(country, region)
        basis = carbon_basis(country, region)
    else:
        ci, ci_source = world_average()
        basis = carbon_basis(None, None)
    overhead = _overhead(server_overhead)
    ewif_value, ewif_source = resolve_ewif(ewif)
    return FootprintFactors(
        carbon_intensity_g_per_kwh=ci,
        carbon_source=ci_source,
        country=country.strip().upper() if country else None,
        region=region.strip().lower() if region else None,
        wue_l_per_kwh=_positive("--wue", wue, allow_zero=True) if wue is not None else DEFAULT_WUE_L_PER_KWH,
        wue_source="given by the user (--wue)" if wue is not None
        else f"{LI_2023}: US average on-site WUE 0.55 L/kWh (default)",
        pue=_pue(pue) if pue is not None else DEFAULT_PUE,
        pue_source="given by the user (--pue)" if pue is not None else f"{LI_2023}: US average PUE 1.17 (default)",
        ewif_l_per_kwh=ewif_value,
        ewif_source=ewif_source,
        carbon_basis=basis,
        server_overhead=overhead,
        server_overhead_source="given by the user (--server-overhead)" if overhead is not None else "",
    )
