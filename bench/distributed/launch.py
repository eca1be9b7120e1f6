"""Multi-device and multi-node runs on ``torch.distributed``: who this process is, and the launcher.

Two ways in, one engine (``torch.distributed``):

- ``bench run --nproc-per-node N [--nnodes M --node-rank R --rdzv-endpoint HOST:PORT]`` re-launches
  itself through torchrun's own module (``torch.distributed.run``, called in-process so its failures
  come back as data): ``N`` worker processes per node, each ``python -m bench run`` with the same
  options minus the launcher ones. One node: torchrun's local rendezvous on a free port. Several
  nodes: torchrun's ``static`` rendezvous at ``--rdzv-endpoint`` (node 0 hosts it), so node ranks
  are the ones given and a node that does not join is named.
- ``bench run`` started by a user's own ``torchrun`` (``RANK``/``WORLD_SIZE``/``LOCAL_RANK``/
  ``GROUP_RANK``) or by ``srun`` (``SLURM_PROCID``/``SLURM_STEP_NUM_TASKS``/``SLURM_LOCALID``/
  ``SLURM_NODEID``, with ``MASTER_ADDR`` and ``MASTER_PORT`` set by the user) joins as one rank.

This module imports no torch at import time; :mod:`bench.distributed.runner` holds the runner.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import sys
import time
from dataclasses import dataclass
from typing import Any, Mapping

from bench.errors import UsageError

log = logging.getLogger(__name__)

# click parameter names of `bench run` that drive the launcher and are not passed to the workers
LAUNCH_PARAMS = ("nproc_per_node", "nnodes", "node_rank", "rdzv_endpoint", "master_port", "rdzv_timeout_s")
DEFAULT_RDZV_TIMEOUT_S = 300
DEFAULT_TIMEOUT_S = 600.0  # collectives (barriers at window edges included) and the process group


@dataclass(frozen=True)
class DistEnv:
    """This process's place in a distributed run, as its launcher described it."""

    rank: int
    world_size: int
    local_rank: int
    node_rank: int | None  # None: unknown from the environment (grouped by host name instead)
    launcher: str  # "torchrun", "slurm" or "env"
    master_addr: str | None = None
    master_port: int | None = None


def _int(env: Mapping[str, str], name: str, default: int | None = None) -> int | None:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise UsageError(f"environment variable {name}={raw!r} is not an integer") from None


def detect_env(environ: Mapping[str, str] | None = None) -> DistEnv | None:
    """The distributed environment this process was started in, or None for a plain run.

    torchrun's variables win over Slurm's. Under Slurm only an ``srun`` step of more than one task
    counts (``SLURM_STEP_NUM_TASKS``): a batch script also carries ``SLURM_PROCID`` and must run plainly.
    """
    env = os.environ if environ is None else environ
    if "RANK" in env and "WORLD_SIZE" in env:
        rank, world = _int(env, "RANK"), _int(env, "WORLD_SIZE")
        local = _int(env, "LOCAL_RANK", 0)
        node = _int(env, "GROUP_RANK")
        launcher = "torchrun" if env.get("TORCHELASTIC_RUN_ID") else "env"
        addr, port = env.get("MASTER_ADDR"), _int(env, "MASTER_PORT")
    elif (_int(env, "SLURM_STEP_NUM_TASKS", 1) or 1) > 1 and "SLURM_PROCID" in env:
        rank, world = _int(env, "SLURM_PROCID"), _int(env, "SLURM_STEP_NUM_TASKS")
        local, node, launcher = _int(env, "SLURM_LOCALID", 0), _int(env, "SLURM_NODEID"), "slurm"
        addr, port = env.get("MASTER_ADDR"), _int(env, "MASTER_PORT")
        if not addr or port is None:
            raise UsageError("under srun, set MASTER_ADDR (the first node's host name) and MASTER_PORT (a free "
                             "port) for the ranks to meet, e.g. MASTER_ADDR=$(scontrol show hostnames "
                             "\"$SLURM_JOB_NODELIST\" | head -n1) MASTER_PORT=29500; or run torchrun under srun")
    else:
        return None
    assert rank is not None and world is not None and local is not None
    if world < 1 or not 0 <= rank < world or local < 0:
        raise UsageError(f"inconsistent distributed environment: rank {rank} of world size {world}, "
                         f"local rank {local}")
    return DistEnv(rank, world, local, node, launcher, addr, port)


# --- the launcher ---------------------------------------------------------------------------------


def worker_argv(command: Any, params: dict[str, Any]) -> list[str]:
    """``bench run`` arguments that reproduce ``params`` (click's parsed values) minus the launcher's."""
    import click

    out: list[str] = []
    for p in command.params:
        if not isinstance(p, click.Option) or p.name in LAUNCH_PARAMS or p.name not in params:
            continue
        value = params[p.name]
        if value is None:
            continue
        if p.is_flag:
            if value:
                out.append(p.opts[0])
            elif p.secondary_opts:
                out.append(p.secondary_opts[0])
            continue
        for item in (value if p.multiple else [value]):
            out += [p.opts[0], str(item)]
    return out


def torchrun_args(nproc: int, nnodes: int, node_rank: int | None, endpoint: str | None,
                  master_port: int | None, rdzv_timeout_s: int, worker: list[str], verbosity: int = 0) -> list[str]:
    """torchrun's command line for ``bench [-v] run <worker>`` on this node."""
    args = [f"--nproc-per-node={nproc}", f"--nnodes={nnodes}", "--max-restarts=0"]
    if nnodes > 1:
        if node_rank is None:
            raise UsageError("--nnodes > 1 needs --node-rank (this node's rank, 0 on the node at --rdzv-endpoint)")
        if not endpoint:
            raise UsageError("--nnodes > 1 needs --rdzv-endpoint HOST:PORT (node 0's address and a free port)")
        if not 0 <= node_rank < nnodes:
            raise UsageError(f"--node-rank must be in 0..{nnodes - 1}, got {node_rank}")
    if endpoint:
        if not re.fullmatch(r"\[?[A-Za-z0-9_.:-]+\]?:\d+", endpoint):
            raise UsageError(f"--rdzv-endpoint must be HOST:PORT, got {endpoint!r}")
        args += ["--rdzv-backend=static", f"--rdzv-endpoint={endpoint}", f"--node-rank={node_rank or 0}",
                 f"--rdzv-conf=timeout={rdzv_timeout_s}"]
    elif master_port is not None:
        args += ["--master-addr=127.0.0.1", f"--master-port={master_port}", f"--rdzv-conf=timeout={rdzv_timeout_s}"]
    return args + ["-m", "bench", *(["-v"] * verbosity), "run", *worker]


def launch(command: Any, params: dict[str, Any]) -> int:
    """Run ``bench run`` as ``--nproc-per-node`` workers on this node through torchrun; the exit code.

    A worker that fails is named (global and local rank, pid, signal or exit code); a node that
    does not join within ``--rdzv-timeout`` is reported with the rendezvous address.
    """
    if "RANK" in os.environ and "WORLD_SIZE" in os.environ:
        raise UsageError("this process is already a rank of a distributed run (RANK is set); "
                         "drop --nproc-per-node/--nnodes when starting bench under torchrun")
    nproc, nnodes = int(params.get("nproc_per_node") or 1), int(params.get("nnodes") or 1)
    level = logging.getLogger().getEffectiveLevel()
    verbosity = 2 if level <= logging.DEBUG else 1 if level <= logging.INFO else 0
    node_rank = params.get("node_rank")
    if node_rank is None and nnodes > 1:
        node_rank = _int(os.environ, "SLURM_NODEID")
    endpoint = params.get("rdzv_endpoint")
    if not endpoint and nnodes > 1 and os.environ.get("MASTER_ADDR") and os.environ.get("MASTER_PORT"):
        endpoint = f"{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}"
    timeout = int(params.get("rdzv_timeout_s") or DEFAULT_RDZV_TIMEOUT_S)
    args = torchrun_args(nproc, nnodes, node_rank, endpoint, params.get("master_port"), timeout,
                         worker_argv(command, params), verbosity)
    if "OMP_NUM_THREADS" not in os.environ:  # torchrun would pin every worker to 1 thread
        os.environ["OMP_NUM_THREADS"] = str(max(1, (os.cpu_count() or 1) // nproc))
    if not verbosity:
        logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)
        logging.getLogger("torch.distributed.run").setLevel(logging.ERROR)
    from torch.distributed import run as torchrun
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError

    log.info("torchrun %s", " ".join(args))
    try:
        torchrun.run(torchrun.parse_args(args))
    except ChildFailedError as exc:
        code, lines = describe_failures(exc.failures, node_rank if nnodes > 1 else 0)
        for line in lines:
            print(f"bench: {line}", file=sys.stderr)
        return code
    except Exception as exc:  # rendezvous and store errors: the node(s) did not meet
        message = rendezvous_message(exc, nnodes, node_rank, endpoint, timeout)
        if message is None:
            raise
        raise UsageError(message) from None
    return 0


def describe_failures(failures: dict[int, Any], node: int | None) -> tuple[int, list[str]]:
    """Lines naming the failed workers of this node, and the exit code for the launcher.

    ``failures`` maps global rank -> torchrun's ``ProcessFailure`` (local_rank, pid, exitcode:
    negative for a signal). A worker killed by a signal gets a line of its own (it could not say
    why itself); the others, which printed their reason, are summarised by exit code. Exit code:
    130 if every worker was interrupted, 2 if every one stopped on a usage error, else 1.
    """
    where = f"node {node}, " if node is not None else ""
    host = socket.gethostname()
    lines: list[str] = []
    by_code: dict[int, list[int]] = {}
    for rank in sorted(failures):
        f = failures[rank]
        if f.exitcode < 0:
            try:
                sig = signal.Signals(-f.exitcode).name
            except ValueError:
                sig = f"signal {-f.exitcode}"
            lines.append(f"distributed run failed: rank {rank} ({where}local rank {f.local_rank}, host {host}, "
                         f"pid {f.pid}) was killed by {sig}")
        else:
            by_code.setdefault(f.exitcode, []).append(rank)
    for code, ranks in sorted(by_code.items()):
        what = {130: "stopped after an interrupt", 2: "stopped on a usage error"}.get(code, f"exited with code {code}")
        label = "rank" if len(ranks) == 1 else "ranks"
        lines.append(f"{label} {', '.join(map(str, ranks))} ({where}host {host}) {what}")
    # the launcher stops the remaining workers with SIGTERM once one has exited: those are collateral,
    # and the code is what the workers that exited by themselves agree on
    own = [f.exitcode for f in failures.values() if f.exitcode >= 0]
    collateral = all(f.exitcode >= 0 or f.exitcode == -signal.SIGTERM for f in failures.values())
    code = 1
    if own and collateral and len(set(own)) == 1 and own[0] in (2, 130):
        code = own[0]
    return code, lines


def rendezvous_message(exc: BaseException, nnodes: int, node_rank: int | None, endpoint: str | None,
                       timeout_s: int) -> str | None:
    """A one-line explanation of a rendezvous failure (None: not a rendezvous failure)."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    names = {c.__name__ for c in type(exc).__mro__}
    if not names & {"DistStoreError", "DistNetworkError", "RendezvousError", "RendezvousTimeoutError",
                    "RendezvousConnectionError", "TimeoutError"}:
        return None
    m = re.search(r"(\d+)/(\d+) clients joined", text)
    if m:
        joined, total = int(m.group(1)), int(m.group(2))
        missing = [n for n in range(total) if n != (node_rank or 0)] if joined == 1 else None
        who = (f"node{'s' if len(missing) > 1 else ''} {', '.join(map(str, missing))} did not join"
               if missing else f"{total - joined} of {total} nodes did not join")
        return (f"rendezvous at {endpoint} timed out after {timeout_s} s: {who} (only {joined} of {total} "
                "nodes arrived); start bench run on every node with the same --nnodes and --rdzv-endpoint, "
                "or raise --rdzv-timeout")
    if node_rank:
        return (f"node {node_rank} could not reach the rendezvous at {endpoint} (node 0) within {timeout_s} s: "
                f"{text}; is node 0 up, and is {endpoint} its address?")
    return f"rendezvous at {endpoint or 'localhost'} failed ({nnodes} node(s), timeout {timeout_s} s): {text}"


# --- one rank, from the command line -----------------------------------------------------------


def _leave(code: int) -> None:
    """Exit at once after a lost peer: the result and traces are written; a process group with a
    dead member can take seconds to tear down in the interpreter's finalisation, or hang."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def execute(cfg: Any, env: DistEnv, timeout_s: float, quiet: bool, as_json: bool) -> None:
    """``bench run`` as one rank: rank 0 shows progress and the summary; every node's first rank
    prints why a run failed; the exit code is the run's on every rank."""
    import io

    from rich.console import Console

    from bench.cli.progress import RunProgress
    from bench.cli.run import _install_signals
    from bench.distributed.comm import PeerLost
    from bench.distributed.runner import DistributedRunner
    from bench.errors import BenchError

    runner = DistributedRunner(cfg, env, timeout_s)
    main, speaks = env.rank == 0, env.rank == 0 or env.local_rank == 0
    lost = None
    try:
        runner.prepare()
        err = Console(stderr=True) if main else Console(file=io.StringIO())
        with RunProgress(enabled=main and not quiet, console=err) as progress:
            if main:
                runner.progress = progress.update
            restore = _install_signals(runner, err)
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
        sys.exit(exc.exit_code)
    finally:
        runner.comm.close()
    _report(runner, main, as_json, lost or runner.comm.lost)


def _report(runner: Any, main: bool, as_json: bool, lost: str | None) -> None:
    """Rank 0 prints the summary (or the JSON); exit with the run's code (a lost peer: at once)."""
    import click
    from rich.console import Console

    from bench.cli.show import print_summary

    result, folder = getattr(runner, "result", None), getattr(runner, "folder", None)
    if main and result is not None and folder is not None and (folder / "result.json").is_file():
        if as_json:
            click.echo((folder / "result.json").read_text())
        else:
            print_summary(result, folder, Console())
    if lost:
        if main or runner.env.local_rank == 0:
            print(f"bench: error: {lost}", file=sys.stderr)
        _leave(1)
    status = result.status if result is not None else "failed"
    sys.exit(0 if status == "complete" else 130 if status == "interrupted" else 1)
