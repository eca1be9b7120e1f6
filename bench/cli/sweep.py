"""``bench sweep``: measure workloads at several power limits and/or locked clocks, print the energy-time frontier
and the recommended settings; ``bench sweep --restore`` puts back what a killed sweep left in force.

The options every point shares with ``bench run`` (device, workload, sizes, sampler, rate, idle, warm-up,
repeats, duration, out, name) are ``bench run``'s own option objects, so they validate alike.
"""

from __future__ import annotations

import copy
import signal
import sys
from typing import Any

import click

from bench.cli.run import run as run_command
from bench.errors import UsageError

SHARED = ("device", "workloads", "preset", "dtype", "batch_size", "seq_len", "size", "compile_", "seed", "sampler",
          "sampler_options", "rate_hz", "idle_s", "warmup_min_s", "warmup_max_s", "repeats", "duration_s",
          "latency_s", "read_timeout_s", "out", "name", "quiet", "model", "random_weights")


class SettingValues(click.ParamType):
    """``START:STOP:STEP`` or ``A,B,C`` in a unit, each value checked against :class:`SweepConfig`'s field."""

    def __init__(self, field: str, unit: str) -> None:
        self.field, self.unit = field, unit
        self.name = f"{unit}-values"

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if isinstance(value, list):
            return value
        from bench.sweep.config import SweepConfig, parse_values

        option = param.opts[0] if param is not None else self.field
        try:
            values = parse_values(str(value), self.unit, option)
        except UsageError as exc:
            self.fail(str(exc).removeprefix(f"{option}: ").removeprefix(f"{option} "), param, ctx)
        problem = SweepConfig.field_problem(self.field, values)
        if problem:
            self.fail(problem, param, ctx)
        return values


class Fraction(click.ParamType):
    """``5%`` or ``0.05``, checked against :class:`SweepConfig`'s ``max_slowdown``."""

    name = "fraction"

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        if isinstance(value, float):
            return value
        from bench.sweep.config import SweepConfig, parse_fraction

        option = param.opts[0] if param is not None else "--max-slowdown"
        try:
            number = parse_fraction(str(value), option)
        except UsageError as exc:
            self.fail(str(exc).removeprefix(f"{option}: "), param, ctx)
        problem = SweepConfig.field_problem("max_slowdown", number)
        if problem:
            self.fail(f"{problem} (got {value})", param, ctx)
        return number


HELP = {"workloads": "Workload to measure at every point (repeatable).",
        "name": "Name of the sweep folder (default: time-device-sweep-workload).",
        "device": "Torch device string (cuda:0, acme:0); with --restore: only this device."}


def _shared(f):
    """``bench run``'s options that every point shares, in its order (a few with a sweep's help text)."""
    for param in reversed([p for p in run_command.params if p.name in SHARED]):
        if param.name in HELP:
            param = copy.copy(param)
            param.help = HELP[param.name]
        f.__click_params__ = [*getattr(f, "__click_params__", []), param]  # type: ignore[attr-defined]
    return f


@click.command()
@click.option("--power-limits", "power_limits_w", type=SettingValues("power_limits_w", "W"), default=None,
              metavar="START:STOP:STEP|LIST", help="Power limits to visit, W (e.g. 300:150:50 or 250,200).")
@click.option("--sm-clocks", "sm_clocks_mhz", type=SettingValues("sm_clocks_mhz", "MHz"), default=None,
              metavar="START:STOP:STEP|LIST", help="SM clocks to lock to, MHz (snapped to supported clocks).")
@click.option("--max-slowdown", type=Fraction(), default="5%", show_default=True,
              help="Slowdown budget of the second recommendation (5% or 0.05).")
@click.option("--metric", type=click.Choice(["gross", "net"]), default="gross", show_default=True,
              help="Energy per unit the frontier uses: gross, or net of the idle baseline.")
@click.option("--restore", "restore", is_flag=True,
              help="Put back the power limit and clocks a killed sweep left in force (all devices, or --device).")
@click.option("--json", "as_json", is_flag=True, help="Print the sweep record and its analysis as JSON.")
@_shared
def sweep(**kw: Any) -> None:
    """Measure workloads at several power limits and/or SM clocks; print the energy-time frontier and the
    recommended settings. Every point is a full run (warm-up, repeats, CIs) in one sweep folder; the idle baseline
    is measured once; the original settings are put back at the end, on an error and on SIGINT/SIGTERM."""
    if kw["restore"]:
        _restore(kw)
        return
    from rich.console import Console

    from bench.cli.console import console as wide_console
    from bench.cli.progress import RunProgress
    from bench.cli.run import build_config
    from bench.cli.sweep_view import print_sweep, sweep_json
    from bench.sweep.config import SweepConfig
    from bench.sweep.sweeper import Sweep

    if not kw["workloads"]:
        raise UsageError("give the --workload to sweep (a sweep runs workloads, not a suite)")
    run_cfg = build_config({**kw, "suite": None, "nproc_per_node": None, "nnodes": None})
    cfg = SweepConfig(run=run_cfg, power_limits_w=kw["power_limits_w"] or [], sm_clocks_mhz=kw["sm_clocks_mhz"] or [],
                      max_slowdown=kw["max_slowdown"], metric=kw["metric"])
    runner = Sweep(cfg)
    plan = runner.prepare()  # user mistakes, missing privileges: here, before anything is measured or changed
    err = Console(stderr=True)
    quiet = kw["quiet"] or kw["as_json"]
    if not quiet:
        err.print(f"sweep of {len(plan)} points on {runner.device.spec}: " + ", ".join(s.text() for s in plan),
                  highlight=False)
    with RunProgress(enabled=not quiet, console=err) as progress:
        runner.progress = progress.update
        undo = _signals(runner, err)
        try:
            folder, record = runner.run()
        finally:
            undo()
    if kw["as_json"]:
        click.echo(sweep_json(folder))
    else:
        print_sweep(folder, wide_console())
    sys.exit({"complete": 0, "interrupted": 130}.get(record.status, 1))


def _signals(runner: Any, console: Any):
    """First SIGINT/SIGTERM: finish the current window, run no further point; second: stop at once. Neither
    interrupts putting the settings back."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    count = {"n": 0}

    def handler(signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if runner.restoring:
            console.print(f"[yellow]{name}: putting the settings back first[/]")
            return
        count["n"] += 1
        if count["n"] == 1:
            console.print(f"[yellow]{name}: finishing the current window, then putting the settings back "
                          "(send again to stop at once)[/]")
            runner.stop_event.set()
        else:
            raise KeyboardInterrupt

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    return lambda: [signal.signal(s, h) for s, h in old.items()]


def _restore(kw: dict[str, Any]) -> None:
    from bench.errors import BenchError
    from bench.sweep.restore import restore_left

    given = [opt for key, opt in (("power_limits_w", "--power-limits"), ("sm_clocks_mhz", "--sm-clocks"))
             if kw[key]] + (["--workload"] if kw["workloads"] else [])
    if given:
        raise UsageError(f"--restore puts settings back; it takes no {', '.join(given)}")
    done = restore_left(kw["device"])
    if not done:
        click.echo("nothing to restore: no sweep left a setting in force" + (f" on {kw['device']}" if kw["device"]
                                                                             else ""))
        return
    for item in done:
        click.echo(f"{item.device}: {item.outcome}: {item.detail} (sweep {item.sweep_id[:12]})")
    failed = [i for i in done if i.outcome == "failed"]
    if failed:
        raise BenchError(f"{len(failed)} setting(s) could not be put back")
