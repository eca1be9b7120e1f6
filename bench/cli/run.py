"""``bench run``: measure workloads on a device and write a result folder."""

from __future__ import annotations

import signal
import sys
from pathlib import Path
from typing import Any

import click

from bench.errors import UsageError


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
@click.option("--batch-size", type=click.IntRange(min=1), default=None)
@click.option("--seq-len", type=click.IntRange(min=1), default=None)
@click.option("--size", type=click.IntRange(min=1), default=None, help="Matrix size n of gemm.")
@click.option("--compile", "compile_", is_flag=True, help="torch.compile the model.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--sampler", default=None, help="Power/energy source (default: the device's best available).")
@click.option("--sampler-option", "sampler_options", multiple=True, metavar="KEY=VALUE",
              help="Option passed to the sampler (e.g. trace=PATH for replay, rated_power_w=65 for estimate).")
@click.option("--rate", "rate_hz", type=click.FloatRange(min=0, min_open=True, max=10000), default=10.0,
              show_default=True, help="Sampling rate in Hz.")
@click.option("--idle", "idle_s", type=click.FloatRange(min=0), default=10.0, show_default=True,
              help="Idle baseline in seconds (0 skips it).")
@click.option("--warmup-min", "warmup_min_s", type=click.FloatRange(min=0), default=2.0, show_default=True)
@click.option("--warmup-max", "warmup_max_s", type=click.FloatRange(min=0), default=60.0, show_default=True)
@click.option("--repeats", type=click.IntRange(min=1), default=3, show_default=True)
@click.option("--duration", "duration_s", type=click.FloatRange(min=0, min_open=True), default=10.0,
              show_default=True, help="Minimum seconds of each measured window.")
@click.option("--read-timeout", "read_timeout_s", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
              help="Seconds a sensor read may take before the run stops as hung.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("results"), show_default=True)
@click.option("--name", default=None, help="Name of the run folder (default: time-device-workload).")
@click.option("--json", "as_json", is_flag=True, help="Print the result JSON instead of a table.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option("--nproc-per-node", "nproc_per_node", type=click.IntRange(min=1), default=None,
              help="Run N ranks on this node (one per device) through torch.distributed.run.")
@click.option("--nnodes", type=click.IntRange(min=1), default=None,
              help="Nodes of a multi-node run (with --node-rank and --rdzv-endpoint).")
@click.option("--node-rank", "node_rank", type=click.IntRange(min=0), default=None,
              help="This node's rank in a multi-node run (default: $SLURM_NODEID).")
@click.option("--rdzv-endpoint", "rdzv_endpoint", default=None, metavar="HOST:PORT",
              help="Node 0's address and a free port, where the nodes meet (default: $MASTER_ADDR:$MASTER_PORT).")
@click.option("--master-port", "master_port", type=click.IntRange(1, 65535), default=None,
              help="Fixed port of a one-node distributed run (default: a free one).")
@click.option("--rdzv-timeout", "rdzv_timeout_s", type=click.IntRange(min=1), default=300, show_default=True,
              help="Seconds to wait for every node to join.")
@click.option("--dist-timeout", "dist_timeout_s", type=click.FloatRange(min=1), default=600.0, show_default=True,
              help="Seconds a rank waits for the others (start, window edges) before the run stops.")
def run(**kw: Any) -> None:
    """Measure workloads on a device and write a result folder (result.json + trace.parquet)."""
    if kw["nproc_per_node"] is not None or (kw["nnodes"] or 1) > 1:
        from bench.distributed.launch import launch

        sys.exit(launch(click.get_current_context().command, kw))
    from bench import plugins
    from bench.devices import best_device
    from bench.run.runner import RunConfig, Runner
    from bench.run.suites import SUITES, default_suite
    from bench.workload import WorkloadParams

    device = kw["device"] or best_device()
    names = list(kw["workloads"])
    suite = kw["suite"]
    if names and suite:
        raise UsageError("give --workload or --suite, not both")
    if not names:
        suite = suite or default_suite(device)
        names = list(SUITES[suite])
    known = plugins.names("workloads")
    for n in names:
        if n not in known:
            raise UsageError(f"unknown workload {n!r}; choices: {', '.join(known)}")
    preset = kw["preset"] or (suite if suite else ("smoke" if device == "cpu" else "standard"))
    params = WorkloadParams(preset=preset, dtype=kw["dtype"], batch_size=kw["batch_size"], seq_len=kw["seq_len"],
                            size=kw["size"], compile=kw["compile_"], seed=kw["seed"])
    cfg = RunConfig(device=device, workloads=[(n, params) for n in names], suite=suite, sampler=kw["sampler"],
                    sampler_options=_options(kw["sampler_options"]), rate_hz=kw["rate_hz"], idle_s=kw["idle_s"],
                    warmup_min_s=kw["warmup_min_s"], warmup_max_s=max(kw["warmup_max_s"], kw["warmup_min_s"]),
                    repeats=kw["repeats"], duration_s=kw["duration_s"], out=kw["out"], name=kw["name"],
                    read_timeout_s=kw["read_timeout_s"])
    from bench.distributed.launch import detect_env

    dist_env = detect_env()
    if dist_env is not None:  # a rank of a distributed run (our launcher, the user's torchrun, or srun)
        from bench.distributed.launch import execute

        execute(cfg, dist_env, kw["dist_timeout_s"], quiet=kw["quiet"] or kw["as_json"], as_json=kw["as_json"])
        return
    _execute(cfg, Runner, quiet=kw["quiet"] or kw["as_json"], as_json=kw["as_json"])


def _execute(cfg: Any, runner_cls: Any, quiet: bool, as_json: bool) -> None:
    from rich.console import Console

    from bench.cli.console import console as wide_console
    from bench.cli.show import print_summary
    from bench.cli.progress import RunProgress

    err = Console(stderr=True)
    runner = runner_cls(cfg)
    runner.prepare()  # user mistakes fail here, before any output or file
    with RunProgress(enabled=not quiet, console=err) as progress:
        runner.progress = progress.update
        restore = _install_signals(runner, err)
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


def _install_signals(runner: Any, console: Any):
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
            runner.stop_event.set()
        else:
            raise KeyboardInterrupt

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    return lambda: [signal.signal(s, h) for s, h in old.items()]
