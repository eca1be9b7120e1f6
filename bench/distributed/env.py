"""Who this process is in a distributed run, as its launcher (torchrun, srun, or the environment) described it."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from bench.errors import UsageError


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


def env_int(env: Mapping[str, str], name: str, default: int | None = None) -> int | None:
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
        rank, world = env_int(env, "RANK"), env_int(env, "WORLD_SIZE")
        local = env_int(env, "LOCAL_RANK", 0)
        node = env_int(env, "GROUP_RANK")
        launcher = "torchrun" if env.get("TORCHELASTIC_RUN_ID") else "env"
        addr, port = env.get("MASTER_ADDR"), env_int(env, "MASTER_PORT")
    elif (env_int(env, "SLURM_STEP_NUM_TASKS", 1) or 1) > 1 and "SLURM_PROCID" in env:
        rank, world = env_int(env, "SLURM_PROCID"), env_int(env, "SLURM_STEP_NUM_TASKS")
        local, node, launcher = env_int(env, "SLURM_LOCALID", 0), env_int(env, "SLURM_NODEID"), "slurm"
        addr, port = env.get("MASTER_ADDR"), env_int(env, "MASTER_PORT")
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
