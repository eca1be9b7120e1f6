"""``bench list``: workloads, samplers (with availability here), devices, profiles, standards.

Each listing is a list of plain rows (:func:`rows_of`), printed as a table or, with ``--json``, as JSON:
``bench list --json`` gives every listing in one object keyed by its name.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import click

LISTINGS = ("workloads", "samplers", "devices", "profiles", "standards")


def _table(title: str, columns: list[str], rows: list[list[str]]) -> None:
    from rich.table import Table

    from bench.cli.console import console as wide_console
    from bench.cli.console import plain

    table = Table(title=title)
    for c in columns:
        table.add_column(c)
    for r in rows:  # names and notes come from plugins and data files: shown as they are, never as markup
        table.add_row(*(plain(cell) for cell in r))
    wide_console().print(table)


def _plugin_rows(group: str, describe: Callable[[Any], dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per usable plugin of ``group``: its name, package and version, what ``describe`` says of it, or
    ``broken`` with the reason it does not load."""
    from bench import contracts, plugins
    from bench.errors import PluginError

    rows = []
    for ref in plugins.discover(group):
        row: dict[str, Any] = {"name": ref.name, "package": ref.package, "version": ref.version}
        try:
            row.update(describe(contracts.load(group, ref.name)))
        except PluginError as exc:
            row["broken"] = str(exc)
        rows.append(row)
    return rows


def _workload(cls: Any) -> dict[str, Any]:
    return {"kind": cls.kind, "unit": cls.unit, "presets": list(cls.presets), "dtypes": list(cls.dtypes)}


def _sampler(device: str) -> Callable[[Any], dict[str, Any]]:
    def describe(cls: Any) -> dict[str, Any]:
        try:
            avail = cls.is_available(device)
            return {"available": bool(avail), "reason": None if avail else avail.reason}
        except Exception as exc:  # the contract says never raise: say so
            return {"available": False, "broken": f"is_available raised {type(exc).__name__}: {exc}"}

    return describe


def _device(cls: Any) -> dict[str, Any]:
    return {"present": list(cls.probe())}


def rows_of(listing: str, device: str = "cpu", profiles_dirs: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """The rows of one listing as plain data (what ``--json`` prints)."""
    if listing == "workloads":
        return _plugin_rows("workloads", _workload)
    if listing == "samplers":
        return [{**row, "device": device} for row in _plugin_rows("samplers", _sampler(device))]
    if listing == "devices":
        return [{"type": row.pop("name"), **row} for row in _plugin_rows("devices", _device)]
    if listing == "profiles":
        from bench.analysis.scoring.profiles import list_profiles

        return list_profiles(list(profiles_dirs))
    if listing == "standards":
        from bench.analysis.scoring.standard import list_standards

        return list_standards()
    raise ValueError(f"unknown listing {listing!r}")


def _package(row: dict[str, Any]) -> str:
    return f"{row['package']} {row['version']}".strip()


def _num(value: Any, scale: float, digits: int = 4) -> str:
    return "-" if value is None else f"{value / scale:.{digits}g}"


def _print(listing: str, rows: list[dict[str, Any]]) -> None:
    """One listing as a table."""
    if listing == "workloads":
        _table("workloads", ["name", "what", "package"], [
            [r["name"], f"broken: {r['broken']}" if "broken" in r else
             f"{r['kind']}, unit={r['unit']}, presets={','.join(r['presets'])}, dtypes={','.join(r['dtypes'])}",
             _package(r)] for r in rows])
    elif listing == "samplers":
        device = rows[0]["device"] if rows else "cpu"
        _table(f"samplers (for {device})", ["name", "available here", "package"], [
            [r["name"], f"broken: {r['broken']}" if "broken" in r else
             "available" if r["available"] else f"no: {r['reason']}", _package(r)] for r in rows])
    elif listing == "devices":
        _table("devices", ["type", "present", "package"], [
            [r["type"], f"broken: {r['broken']}" if "broken" in r else ", ".join(r["present"]) or "none here",
             _package(r)] for r in rows])
    elif listing == "profiles":
        table = []
        for p in rows:
            peak = p.get("peak_flops") or {}
            power = (f"{p['rated_power_w']:g}" if p.get("rated_power_w") is not None
                     else f"{p.get('rated_power_w_per_core') or 0:g}/core")
            table.append([p["id"], p["vendor"], p["name"], power, _num(peak.get("bf16"), 1e12),
                          _num(peak.get("fp32"), 1e12), _num(p.get("memory_bytes"), 1e9),
                          _num(p.get("memory_bandwidth_bytes_per_s"), 1e12)])
        _table("hardware profiles", ["id", "vendor", "name", "rated W", "bf16 TFLOP/s", "fp32 TFLOP/s", "memory GB",
                                     "TB/s"], table)
    else:
        _table("standards", ["id", "date", "status", "default", "workloads", "sha256"], [
            [s["id"], s["date"], s["status"], "yes" if s.get("default") else "", ", ".join(s["workloads"]),
             s["sha256"][:12]] for s in rows])


def _show(listing: str, as_json: bool, **kw: Any) -> None:
    rows = rows_of(listing, **kw)
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
    else:
        _print(listing, rows)


def _json_option(f: Any) -> Any:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(f)


@click.group(name="list", invoke_without_command=True)
@_json_option
@click.pass_context
def list_group(ctx: click.Context, as_json: bool) -> None:
    """List workloads, samplers, devices, profiles and standards (all of them with no sub-command)."""
    ctx.obj = {"json": as_json}
    if ctx.invoked_subcommand is not None:
        return
    if as_json:
        click.echo(json.dumps({name: rows_of(name) for name in LISTINGS}, indent=2, default=str))
        return
    for name in LISTINGS:
        _print(name, rows_of(name))


def _wants_json(as_json: bool) -> bool:
    """``--json`` on the sub-command or on ``bench list`` itself."""
    ctx = click.get_current_context()
    return as_json or bool((ctx.obj or {}).get("json"))


@list_group.command()
@_json_option
def workloads(as_json: bool) -> None:
    """Standard and plugin workloads, their unit and presets."""
    _show("workloads", _wants_json(as_json))


@list_group.command()
@click.option("--device", "-d", default="cpu", show_default=True, help="Device to check availability for.")
@_json_option
def samplers(device: str, as_json: bool) -> None:
    """Power/energy sources and whether each can measure DEVICE here (and why not)."""
    _show("samplers", _wants_json(as_json), device=device)


@list_group.command()
@_json_option
def devices(as_json: bool) -> None:
    """Device types and the devices present here."""
    _show("devices", _wants_json(as_json))


@list_group.command()
@click.option("--profiles-dir", type=click.Path(exists=True, file_okay=False), multiple=True,
              help="Another folder of profile TOML files (also BENCH_PROFILES_DIR).")
@_json_option
def profiles(profiles_dir: tuple[str, ...], as_json: bool) -> None:
    """Hardware profiles: rated power, dense peak FLOP/s, memory (sources are in each file)."""
    _show("profiles", _wants_json(as_json), profiles_dirs=profiles_dir)


@list_group.command()
@_json_option
def standards(as_json: bool) -> None:
    """Shipped efficiency standards (the default is the newest)."""
    _show("standards", _wants_json(as_json))
