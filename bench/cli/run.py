"""``bench run``: measure workloads on a device and write a result folder."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Any

import click

from bench.cli.params import Finite
from bench.errors import UsageError


class ConfigValue(click.ParamType):
    """A number checked against the constraints of a :class:`~bench.run.config.RunConfig` field (the one place
    they are written), so a bad value stops at the command line with click's usage error."""

    def __init__(self, field: str, kind: type = float) -> None:
        self.field, self.kind = field, kind
        self.name = "integer" if kind is int else "number"

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        try:
            number = self.kind(value)
        except (TypeError, ValueError, OverflowError):
            self.fail(f"{str(value)[:40]!r} is not {'an integer' if self.kind is int else 'a number'}", param, ctx)
        from bench.run.config import RunConfig

        problem = RunConfig.field_problem(self.field, number)
        if problem:
            self.fail(f"{problem} (got {str(value)[:40]})", param, ctx)
        return number


def _options(pairs: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"--sampler-option must be KEY=VALUE, got {pair!r}")
        out[key.strip()] = value
    return out


@click.command()
@click.option("--device", "-d", default=None, help="Torch device string (cpu, cuda:0, npu:0). Default: the best found.")
@click.option("--workload", "-w", "workloads", multiple=True, help="Workload to run (repeatable). Default: a suite.")
@click.option("--suite", type=click.Choice(["smoke", "standard"]), default=None,
              help="Run every standard workload at this preset (default: smoke on cpu, standard on accelerators).")
@click.option("--preset", default=None, help="Size preset of the workloads (smoke, standard, ...).")
@click.option("--dtype", default=None, help="fp32, tf32, fp16, bf16 or fp8.")
@click.option("--batch-size", type=click.IntRange(1, 1 << 20), default=None)
@click.option("--seq-len", type=click.IntRange(1, 1 << 20), default=None)
@click.option("--size", type=click.IntRange(1, 1 << 20), default=None, help="Matrix size n of gemm.")
@click.option("--compile", "compile_", is_flag=True, help="torch.compile the model.")
@click.option("--seed", type=click.IntRange(0, 2**64 - 1), default=0, show_default=True)
@click.option("--model", default=None, metavar="ID|FOLDER",
              help="Model of the hf-* workloads: a Hugging Face hub id (from the local cache) or a local folder.")
@click.option("--random-weights", "random_weights", is_flag=True,
              help="Build the --model from its configuration alone, with random weights (no weights needed).")
@click.option("--sampler", default=None, help="Power/energy source (default: the device's best available).")
@click.option("--sampler-option", "sampler_options", multiple=True, metavar="KEY=VALUE",
              help="Option passed to the sampler (e.g. trace=PATH for replay, rated_power_w=65 for estimate).")
@click.option("--rate", "rate_hz", type=ConfigValue("rate_hz"), default=10.0,
              show_default=True, help="Sampling rate in Hz (raised to two reads per refresh where averaged power is "
              "a channel's only figure; the result says so).")
@click.option("--idle", "idle_s", type=ConfigValue("idle_s"), default=10.0, show_default=True,
              help="Idle baseline in seconds (0 skips it).")
@click.option("--warmup-min", "warmup_min_s", type=ConfigValue("warmup_min_s"), default=2.0, show_default=True)
@click.option("--warmup-max", "warmup_max_s", type=ConfigValue("warmup_max_s"), default=60.0, show_default=True)
@click.option("--repeats", type=ConfigValue("repeats", int), default=3, show_default=True)
@click.option("--duration", "duration_s", type=ConfigValue("duration_s"), default=10.0,
              show_default=True, help="Minimum seconds of each measured window.")
@click.option("--latency", "latency_s", type=ConfigValue("latency_s"), default=None,
              help="Seconds of the synchronised latency phase after each inference workload's repeats "
              "(default: --duration, at most 5; 0 skips it).")
@click.option("--read-timeout", "read_timeout_s", type=ConfigValue("read_timeout_s"), default=10.0, show_default=True,
              help="Seconds a sensor read may take before the run stops as hung.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("results"), show_default=True)
@click.option("--name", default=None, help="Name of the run folder (default: time-device-workload).")
@click.option("--json", "as_json", is_flag=True, help="Print the result JSON instead of a table.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option("--nproc-per-node", "nproc_per_node", type=click.IntRange(1, 1024), default=None,
              help="Run N ranks on this node (one per device) through torch.distributed.run.")
@click.option("--nnodes", type=click.IntRange(1, 65_536), default=None,
              help="Nodes of a multi-node run (with --node-rank and --rdzv-endpoint).")
@click.option("--node-rank", "node_rank", type=click.IntRange(0, 65_535), default=None,
              help="This node's rank in a multi-node run (default: $SLURM_NODEID).")
@click.option("--rdzv-endpoint", "rdzv_endpoint", default=None, metavar="HOST:PORT",
              help="Node 0's address and a free port, where the nodes meet (default: $MASTER_ADDR:$MASTER_PORT).")
@click.option("--master-port", "master_port", type=click.IntRange(1, 65535), default=None,
              help="Fixed port of a one-node distributed run (default: a free one).")
@click.option("--rdzv-timeout", "rdzv_timeout_s", type=click.IntRange(1, 86_400), default=300, show_default=True,
              help="Seconds to wait for every node to join.")
@click.option("--dist-timeout", "dist_timeout_s", type=Finite(1, 86_400), default=600.0, show_default=True,
              help="Seconds a rank waits for the others (start, window edges) before the run stops.")
def run(**kw: Any) -> None:
    """Measure workloads on a device and write a result folder (result.json + trace.parquet)."""
    if kw["nproc_per_node"] is not None or (kw["nnodes"] or 1) > 1:
        from bench.distributed.launch import launch

        sys.exit(launch(click.get_current_context().command, kw))
    from bench.distributed.env import detect_env

    cfg = build_config(kw)
    quiet = kw["quiet"] or kw["as_json"]
    dist_env = detect_env()
    if dist_env is not None:  # a rank of a distributed run (our launcher, the user's torchrun, or srun)
        _execute_rank(cfg, dist_env, kw["dist_timeout_s"], quiet=quiet, as_json=kw["as_json"])
        return
    _execute(cfg, quiet=quiet, as_json=kw["as_json"])


def build_config(kw: dict[str, Any]) -> Any:
    """The run's configuration from the command line (one place validates it: :class:`RunConfig`); ``bench sweep``
    builds each point's run with it too."""
    from bench.devices import best_device
    from bench.run.config import RunConfig
    from bench.run.suites import SUITES, default_suite
    from bench.run.workloads import REFERENCE_FORM, is_reference, workload_names
    from bench.workload import WorkloadParams

    device = kw["device"] if kw["device"] is not None else best_device()
    names = list(kw["workloads"])
    suite = kw["suite"]
    if names and suite:
        raise UsageError("give --workload or --suite, not both")
    if not names:
        suite = suite or default_suite(device)
        names = list(SUITES[suite])
    known = workload_names()
    for n in names:
        if n.endswith(".py"):
            raise UsageError(f"{n} names a file; add the workload class: {n}:ClassName")
        if n not in known and not is_reference(n):
            raise UsageError(f"unknown workload {n!r}; choices: {', '.join(known)}; "
                             f"or give a workload class as {REFERENCE_FORM}")
    preset = kw["preset"] or (suite if suite else ("smoke" if device == "cpu" else "standard"))
    params = WorkloadParams(preset=preset, dtype=kw["dtype"], batch_size=kw["batch_size"], seq_len=kw["seq_len"],
                            size=kw["size"], compile=kw["compile_"], seed=kw["seed"], model=kw["model"],
                            random_weights=kw["random_weights"])
    return RunConfig(device=device, workloads=[(n, params) for n in names], suite=suite, sampler=kw["sampler"],
                     sampler_options=_options(kw["sampler_options"]), rate_hz=kw["rate_hz"], idle_s=kw["idle_s"],
                     warmup_min_s=kw["warmup_min_s"], warmup_max_s=kw["warmup_max_s"], repeats=kw["repeats"],
                     duration_s=kw["duration_s"], out=kw["out"], name=kw["name"],
                     read_timeout_s=kw["read_timeout_s"], latency_s=kw["latency_s"])


def _execute(cfg: Any, quiet: bool, as_json: bool) -> None:
    from rich.console import Console

    from bench.cli.console import console as wide_console
    from bench.cli.progress import RunPlan, RunProgress
    from bench.cli.show import print_summary
    from bench.run.runner import Runner

    err = Console(stderr=True)
    runner = Runner(cfg)
    runner.prepare()  # user mistakes fail here, before any output or file
    with RunProgress(enabled=not quiet, console=err, plan=RunPlan.of(cfg)) as progress:
        runner.progress = progress.update
        restore = install_signals(runner.stop_event, err)
        try:
            folder, result = runner.run()
        finally:
            restore()
    if as_json:
        click.echo((folder / "result.json").read_text())
    else:
        print_summary(result, folder, wide_console())
    if result.status == "interrupted":
        sys.exit(130)
    if result.status != "complete":
        sys.exit(1)


def install_signals(stop_event: Any, console: Any):
    """First SIGINT/SIGTERM: finish the current window and write the result; second: stop at once."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    count = {"n": 0}

    def handler(signum: int, frame: Any) -> None:
        count["n"] += 1
        if count["n"] == 1:
            console.print(f"[yellow]{signal.Signals(signum).name}: finishing the current window "
                          "(send again to stop at once)[/]")
            stop_event.set()
        else:
            raise KeyboardInterrupt

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    return lambda: [signal.signal(s, h) for s, h in old.items()]


# --- one rank of a distributed run -----------------------------------------------------------------


def _leave(code: int) -> None:
    """Exit at once after a lost peer: the result and traces are written; a process group with a
    dead member can take seconds to tear down in the interpreter's finalisation, or hang."""
    import logging
    import os

    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _execute_rank(cfg: Any, env: Any, timeout_s: float, quiet: bool, as_json: bool) -> None:
    """``bench run`` as one rank: rank 0 shows progress and the summary; every node's first rank
    prints why a run failed; the exit code is the run's on every rank."""
    import io
    import time

    from rich.console import Console

    from bench.cli.progress import RunPlan, RunProgress
    from bench.distributed.comm import PeerLost
    from bench.distributed.coordinator import DistributedCoordinator
    from bench.errors import BenchError
    from bench.run.runner import Runner

    coord = DistributedCoordinator(env, timeout_s)
    runner = Runner(cfg, coordinator=coord)
    main, speaks = env.rank == 0, env.rank == 0 or env.local_rank == 0
    lost = None
    try:
        runner.prepare()
        err = Console(stderr=True) if main else Console(file=io.StringIO())
        with RunProgress(enabled=main and not quiet, console=err, plan=RunPlan.of(cfg)) as progress:
            if main:
                runner.progress = progress.update
            restore = install_signals(runner.stop_event, err)
            try:
                runner.run()
            finally:
                restore()
    except PeerLost as exc:
        lost = str(exc)
    except BenchError as exc:
        if speaks:  # say it now, before closing: the launcher may stop this process once a peer has exited
            print(f"bench: error: {exc}", file=sys.stderr, flush=True)
        else:  # every rank raised the same error: let the one that speaks finish first
            time.sleep(1.0)
        coord.comm.close()
        # leave without the interpreter's teardown: with a process group just destroyed, torch's collective
        # threads can abort the process (SIGABRT) while the interpreter unwinds, hiding the exit code
        _leave(exc.exit_code)
    finally:
        coord.comm.close()
    _report_rank(runner, main, env.local_rank, as_json, lost or coord.comm.lost)


def _report_rank(runner: Any, main: bool, local_rank: int, as_json: bool, lost: str | None) -> None:
    """Rank 0 prints the summary (or the JSON); exit with the run's code (a lost peer: at once)."""
    from rich.console import Console

    from bench.cli.show import print_summary

    result, folder = runner.result, runner.folder
    if main and result is not None and folder is not None and (folder / "result.json").is_file():
        if as_json:
            click.echo((folder / "result.json").read_text())
        else:
            print_summary(result, folder, Console())
    if lost:
        if main or local_rank == 0:
            print(f"bench: error: {lost}", file=sys.stderr)
        _leave(1)
    status = result.status if result is not None else "failed"
    sys.exit(0 if status == "complete" else 130 if status == "interrupted" else 1)
