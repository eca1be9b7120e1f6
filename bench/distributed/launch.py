"""The launcher of multi-device and multi-node runs on ``torch.distributed``.

Two ways in, one engine (``torch.distributed``):

- ``bench run --nproc-per-node N [--nnodes M --node-rank R --rdzv-endpoint HOST:PORT]`` re-launches
  itself through torchrun's own module (``torch.distributed.run``, called in-process so its failures
  come back as data): ``N`` worker processes per node, each ``python -m bench run`` with the same
  options minus the launcher ones. One node: torchrun's local rendezvous on a free port. Several
  nodes: torchrun's ``static`` rendezvous at ``--rdzv-endpoint`` (node 0 hosts it), so node ranks
  are the ones given and a node that does not join is named.
- ``bench run`` started by a user's own ``torchrun`` (``RANK``/``WORLD_SIZE``/``LOCAL_RANK``/
  ``GROUP_RANK``) or by ``srun`` (``SLURM_PROCID``/``SLURM_STEP_NUM_TASKS``/``SLURM_LOCALID``/
  ``SLURM_NODEID``, with ``MASTER_ADDR`` and ``MASTER_PORT`` set by the user) joins as one rank
  (:mod:`bench.distributed.env` says which).

This module imports no torch at import time; :mod:`bench.distributed.coordinator` is what each rank's
runner is given.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import socket
import sys
from typing import Any

from bench.distributed.env import env_int
from bench.errors import UsageError

log = logging.getLogger(__name__)

# click parameter names of `bench run` that drive the launcher and are not passed to the workers
LAUNCH_PARAMS = ("nproc_per_node", "nnodes", "node_rank", "rdzv_endpoint", "master_port", "rdzv_timeout_s")
DEFAULT_RDZV_TIMEOUT_S = 300
DEFAULT_TIMEOUT_S = 600.0  # collectives (barriers at window edges included) and the process group


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
        node_rank = env_int(os.environ, "SLURM_NODEID")
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
