"""``bench plugins``: what is installed (and usable here), and the conformance kit on one plugin."""

from __future__ import annotations

import json
from typing import Any

import click

from bench.cli.params import Finite


def _console() -> Any:
    from rich.console import Console

    return Console(soft_wrap=True, emoji=False, highlight=False)


def _availability(group: str, obj: Any, device: str | None) -> str:
    """One line: is this plugin usable on this machine, and if not, why."""
    if group == "devices":
        found = obj.probe()
        return "present: " + ", ".join(found) if found else f"no {obj.type} device here"
    if group != "samplers":
        return "loads"
    from bench.conformance.core import safe_available
    from bench.conformance.kit import hardware_device

    if device:
        ok, reason = safe_available(obj, device)
        return f"available for {device}" if ok else f"not for {device}: {reason}"
    spec, reason = hardware_device(obj, obj.name, None)
    return f"available for {spec}" if spec else f"not here: {reason}"


def plugin_rows(groups: list[str], device: str | None) -> list[dict[str, str]]:
    """One row per entry point: name, group, package, version, status. Never raises for a bad plugin."""
    from bench import contracts, plugins
    from bench.errors import BenchError

    rows = []
    for group in groups:
        for ref in plugins.inventory(group):
            row = {"name": ref.name, "group": group, "package": ref.package, "version": ref.version}
            if ref.note:
                row["status"] = f"not loaded: {ref.note}"
            else:
                try:
                    row["status"] = _availability(group, contracts.load(group, ref.name), device)
                except BenchError as exc:
                    row["status"] = f"broken: {exc}"
                except Exception as exc:  # noqa: BLE001 - a plugin's probe broke its contract
                    row["status"] = f"broken: {type(exc).__name__}: {exc}"
            rows.append(row)
    return rows


@click.group(name="plugins")
def plugins_group() -> None:
    """Installed plugins (samplers, devices, workloads, conformance fakes) and the conformance kit."""


@plugins_group.command(name="list")
@click.option("--group", "-g", "groups", multiple=True,
              type=click.Choice(["samplers", "devices", "workloads", "fakes"]), help="Only these groups.")
@click.option("--device", "-d", default=None, help="Check samplers against this device (default: devices found here).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
def list_plugins(groups: tuple[str, ...], device: str | None, as_json: bool) -> None:
    """Name, group, package and version of every plugin, and whether it can be used here (or why not)."""
    from bench import plugins

    rows = plugin_rows(list(groups) or list(plugins.GROUPS), device)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    from bench.cli.console import plain

    table = Table(title="plugins")
    for col in ("name", "group", "package", "version", "status"):
        table.add_column(col, overflow="fold")
    for r in rows:
        table.add_row(*(plain(r[k]) for k in ("name", "group", "package", "version", "status")))
    _console().print(table)


def _options(pairs: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--option")
        key, value = pair.split("=", 1)
        out[key.strip()] = value
    return out


@plugins_group.command(name="check")
@click.argument("name")
@click.option("--device", "-d", default=None, help="Device to check on (default: one found here, else the fake).")
@click.option("--option", "-o", "pairs", multiple=True, metavar="KEY=VALUE", help="Passed to the sampler's open().")
@click.option("--fake/--no-fake", default=None, help="Force the plugin's fake, or never use it (default: auto).")
@click.option("--timeout", "timeout_s", type=Finite(0.1, 3600), default=10.0, show_default=True,
              help="Seconds before a check is cut off (a hung read).")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None,
              help="Also write the report(s) as JSON here (attach it to a submission).")
def check(name: str, device: str | None, pairs: tuple[str, ...], fake: bool | None, timeout_s: float,
          json_path: str | None) -> None:
    """Run the conformance kit on the sampler (and device backend) NAME.

    Exit 0 only on PASS: every check passed or does not apply ("n/a"). A failed check is FAIL, and checks that
    could not run (no device and no fake, a hung call) make the verdict INCOMPLETE: both exit 1. A --device that
    is not here fails; the kit checks the plugin's fake instead only with --fake."""
    from bench import plugins
    from bench.conformance.device import run_device_conformance
    from bench.conformance.kit import run_conformance
    from bench.errors import UsageError
    from bench.result.io import check_output, write_output

    if json_path:
        check_output(json_path, "--json")
    is_sampler = any(r.name == name for r in plugins.inventory("samplers"))
    is_device = any(r.name == name for r in plugins.inventory("devices"))
    if not (is_sampler or is_device):
        known = sorted({r.name for g in ("samplers", "devices") for r in plugins.inventory(g)})
        raise UsageError(f"no sampler or device plugin {name!r}; installed: {', '.join(known) or 'none'}")
    reports = []
    if is_sampler:
        reports.append(run_conformance(name, device=device, options=_options(pairs), fake=fake, timeout_s=timeout_s))
    if is_device:
        reports.append(run_device_conformance(name, device=device, fake=fake, timeout_s=timeout_s))
    console = _console()
    for report in reports:
        _print_report(console, report)
    if json_path:
        write_output(json_path, json.dumps([r.to_dict() for r in reports], indent=2, default=str).encode(), "--json")
    if not all(r.ok for r in reports):
        raise click.exceptions.Exit(1)


def _print_report(console: Any, report: Any) -> None:
    from rich.table import Table
    from rich.text import Text

    from bench.cli.console import plain
    from bench.conformance.core import short_figure
    from bench.safetext import clean

    title = f"{report.group[:-1]} {report.target} ({report.package}) on {report.device or '-'}: {report.mode}"
    table = Table(title=plain(title), caption=plain(report.mode_note) if report.mode_note else None)
    for col in ("check", "result", "figures", "note"):
        table.add_column(col, overflow="fold")
    style = {"pass": "green", "fail": "bold red", "skip": "yellow", "n/a": "dim"}
    for c in report.checks:
        figs = "\n".join(clean(f"{k}: {short_figure(v)}") for k, v in c.figures.items())
        table.add_row(plain(c.name), Text(c.status.upper(), style=style[c.status]), Text(figs), plain(c.message))
    console.print(table)
    colour = {"PASS": "green", "FAIL": "bold red", "INCOMPLETE": "bold yellow"}[report.verdict]
    summary = report.summary()  # starts with the verdict word
    line = plain(f"{report.target}: ")
    line.append_text(Text(report.verdict, style=colour))
    line.append_text(plain(summary[len(report.verdict):]))
    console.print(line)
