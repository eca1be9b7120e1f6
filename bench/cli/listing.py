"""``bench list``: workloads, samplers (with availability here), devices, profiles, standards."""

from __future__ import annotations

from typing import Any

import click


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


def _load_rows(group: str, describe: Any) -> list[list[str]]:
    from bench import contracts, plugins
    from bench.errors import PluginError

    rows = []
    for ref in plugins.discover(group):
        try:
            obj = contracts.load(group, ref.name)
            rows.append([ref.name, *describe(obj), f"{ref.package} {ref.version}".strip()])
        except PluginError as exc:
            rows.append([ref.name, f"broken: {exc}", "", f"{ref.package} {ref.version}"])
    return rows


@click.group(name="list", invoke_without_command=True)
@click.pass_context
def list_group(ctx: click.Context) -> None:
    """List workloads, samplers, devices, profiles and standards (all of them with no sub-command)."""
    if ctx.invoked_subcommand is None:
        for cmd in ("workloads", "samplers", "devices", "profiles", "standards"):
            if cmd in list_group.commands:
                ctx.invoke(list_group.commands[cmd])


@list_group.command()
def workloads() -> None:
    """Standard and plugin workloads, their unit and presets."""
    rows = _load_rows("workloads", lambda c: [f"{c.kind}, unit={c.unit}, presets={','.join(c.presets)}, "
                                                f"dtypes={','.join(c.dtypes)}"])
    _table("workloads", ["name", "what", "package"], rows)


@list_group.command()
@click.option("--device", "-d", default="cpu", show_default=True, help="Device to check availability for.")
def samplers(device: str) -> None:
    """Power/energy sources and whether each can measure DEVICE here (and why not)."""

    def describe(cls: Any) -> list[str]:
        try:
            avail = cls.is_available(device)
            return ["available" if avail else f"no: {avail.reason}"]
        except Exception as exc:  # the contract says never raise: say so
            return [f"broken: is_available raised {type(exc).__name__}: {exc}"]

    _table(f"samplers (for {device})", ["name", "available here", "package"], _load_rows("samplers", describe))


@list_group.command()
def devices() -> None:
    """Device types and the devices present here."""

    def describe(cls: Any) -> list[str]:
        found = cls.probe()
        return [", ".join(found) if found else "none here"]

    _table("devices", ["type", "present", "package"], _load_rows("devices", describe))


def _num(value: Any, scale: float, digits: int = 4) -> str:
    return "-" if value is None else f"{value / scale:.{digits}g}"


@list_group.command()
@click.option("--profiles-dir", type=click.Path(exists=True, file_okay=False), multiple=True,
              help="Another folder of profile TOML files (also BENCH_PROFILES_DIR).")
def profiles(profiles_dir: tuple[str, ...]) -> None:
    """Hardware profiles: rated power, dense peak FLOP/s, memory (sources are in each file)."""
    from bench.analysis.scoring.profiles import list_profiles

    rows = []
    for p in list_profiles(list(profiles_dir)):
        peak = p.get("peak_flops") or {}
        power = (f"{p['rated_power_w']:g}" if p.get("rated_power_w") is not None
                 else f"{p.get('rated_power_w_per_core') or 0:g}/core")
        rows.append([p["id"], p["vendor"], p["name"], power, _num(peak.get("bf16"), 1e12), _num(peak.get("fp32"), 1e12),
                     _num(p.get("memory_bytes"), 1e9), _num(p.get("memory_bandwidth_bytes_per_s"), 1e12)])
    _table("hardware profiles", ["id", "vendor", "name", "rated W", "bf16 TFLOP/s", "fp32 TFLOP/s", "memory GB",
                                 "TB/s"], rows)


@list_group.command()
def standards() -> None:
    """Shipped efficiency standards (the default is the newest)."""
    from bench.analysis.scoring.standard import list_standards

    rows = [[s["id"], s["date"], s["status"], "yes" if s.get("default") else "", ", ".join(s["workloads"]),
             s["sha256"][:12]] for s in list_standards()]
    _table("standards", ["id", "date", "status", "default", "workloads", "sha256"], rows)
