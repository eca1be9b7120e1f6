"""Collectives of a distributed run, and what a lost peer looks like.

Every exchange of the harness itself (agreements at window edges, the per-step stop flags, the
hand-shake) goes over a ``gloo`` group on the CPU, whatever the workload's backend (``nccl`` on
GPUs), so control never waits on a device queue and every wait has the process group's timeout.
A collective that fails because a peer went away raises :class:`PeerLost`, whose message names
the rank: a process on this host that is gone, or a rank whose heartbeat in the rendezvous store
stopped.
"""

from __future__ import annotations

import datetime as _dt
import logging
import os
import socket
import threading
import time
from typing import Any

from bench.distributed.env import DistEnv
from bench.errors import BenchError, UsageError

log = logging.getLogger(__name__)

HEARTBEAT_S = 1.0
HEARTBEAT_JUDGE_S = 3.5  # a rank whose heartbeat did not move over this long is taken as gone
PID_GRACE_S = 1.5


class PeerLost(BenchError):
    """Another rank of the run died or cannot be reached; the run stops."""


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` on this host still runs (a zombie counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] not in ("Z", "X")
    except (OSError, IndexError):
        return True


def backend_for(device_type: str) -> str:
    """The torch.distributed backend for a device type: nccl on CUDA GPUs, gloo on CPU (and as fallback)."""
    import torch
    import torch.distributed as dist

    if device_type == "cuda":
        return "nccl" if torch.cuda.is_available() and dist.is_nccl_available() else "gloo"
    if device_type == "cpu":
        return "gloo"
    table = getattr(dist.Backend, "default_device_backend_map", {}) or {}
    return str(table.get(device_type, "gloo"))


class Comm:
    """This rank's collectives: a default process group (the workload's backend) and a gloo group."""

    def __init__(self, env: DistEnv, timeout_s: float) -> None:
        self.env = env
        self.rank, self.world = env.rank, env.world_size
        self.timeout_s = timeout_s
        self.host = socket.gethostname()
        self.infos: list[dict[str, Any]] | None = None  # the hand-shake, once known
        self.lost: str | None = None
        self.backend = "gloo"
        self.ctl: Any = None
        self._hb_stop = threading.Event()
        self._hb_thread: threading.Thread | None = None
        self._on_lost: list[Any] = []

    # --- set-up -----------------------------------------------------------------------------------

    def init(self, backend: str) -> None:
        """Join the process group (timeout: ``timeout_s``); a peer that never comes is a :class:`PeerLost`."""
        import torch.distributed as dist

        self.backend = backend
        if self.env.master_addr and self.env.launcher == "slurm":
            os.environ.setdefault("MASTER_ADDR", self.env.master_addr)
            os.environ.setdefault("MASTER_PORT", str(self.env.master_port))
        timeout = _dt.timedelta(seconds=self.timeout_s)
        try:
            dist.init_process_group(backend=backend, init_method="env://", rank=self.rank,
                                    world_size=self.world, timeout=timeout)
            self.ctl = dist.new_group(backend="gloo", timeout=timeout) if backend != "gloo" else dist.group.WORLD
        except ValueError as exc:  # env:// without MASTER_ADDR / MASTER_PORT
            raise UsageError(f"cannot join the distributed run: {exc}") from None
        except Exception as exc:
            where = f"{os.environ.get('MASTER_ADDR', '?')}:{os.environ.get('MASTER_PORT', '?')}"
            raise PeerLost(f"rank {self.rank}: the {self.world} ranks did not all meet at {where} within "
                           f"{self.timeout_s:g} s ({_first_line(exc)}); did every rank start?") from None

    def start_heartbeat(self) -> None:
        """Count up ``bench/hb/<rank>`` in the rendezvous store every second (for naming a lost rank)."""
        store = self._store()
        if store is None or self.world == 1:
            return

        def beat() -> None:
            key = f"bench/hb/{self.rank}"
            while not self._hb_stop.wait(HEARTBEAT_S):
                try:
                    store.add(key, 1)
                except Exception:  # the store is gone: nothing left to tell
                    return

        try:
            store.add(f"bench/hb/{self.rank}", 1)
        except Exception:
            return
        self._hb_thread = threading.Thread(target=beat, name="bench-heartbeat", daemon=True)
        self._hb_thread.start()

    def close(self) -> None:
        """Stop the heartbeat and leave the process group (abandoned, not waited on, after a loss)."""
        import torch.distributed as dist

        self._hb_stop.set()
        if not dist.is_initialized():
            return
        if self.lost:
            abort = getattr(dist.distributed_c10d, "_abort_process_group", None)
            if abort is not None and self.backend != "gloo":
                try:
                    abort()
                except Exception:
                    pass
            return
        try:
            dist.destroy_process_group()
        except Exception as exc:
            log.debug("destroy_process_group: %s", exc)

    # --- collectives ------------------------------------------------------------------------------

    def _guard(self, what: str, fn: Any) -> Any:
        if self.lost:
            raise PeerLost(self.lost)
        try:
            return fn()
        except Exception as exc:
            self.lost = self.diagnose(what, exc)
            for callback in self._on_lost:
                callback(self.lost)
            raise PeerLost(self.lost) from None

    def on_lost(self, callback: Any) -> None:
        self._on_lost.append(callback)

    def gather_all(self, obj: Any, what: str = "an exchange") -> list[Any]:
        """Every rank's ``obj`` (picklable), in rank order."""
        import torch.distributed as dist

        out: list[Any] = [None] * self.world

        def call() -> None:
            dist.all_gather_object(out, obj, group=self.ctl)

        self._guard(what, call)
        return out

    def max_ints(self, values: list[int], what: str) -> list[int]:
        """Element-wise maximum over the ranks."""
        import torch
        import torch.distributed as dist

        t = torch.tensor(values, dtype=torch.int64)
        self._guard(what, lambda: dist.all_reduce(t, op=dist.ReduceOp.MAX, group=self.ctl))
        return [int(v) for v in t.tolist()]

    def ints_by_rank(self, value: int, what: str) -> list[int]:
        """Every rank's integer, in rank order."""
        import torch
        import torch.distributed as dist

        outs = [torch.zeros(1, dtype=torch.int64) for _ in range(self.world)]
        mine = torch.tensor([value], dtype=torch.int64)
        self._guard(what, lambda: dist.all_gather(outs, mine, group=self.ctl))
        return [int(t.item()) for t in outs]

    def from_rank0(self, value: float, what: str) -> float:
        """Rank 0's ``value`` on every rank."""
        import torch
        import torch.distributed as dist

        t = torch.tensor([value], dtype=torch.float64)
        self._guard(what, lambda: dist.broadcast(t, src=0, group=self.ctl))
        return float(t.item())

    # --- naming a lost peer -----------------------------------------------------------------------

    def diagnose(self, what: str, exc: BaseException) -> str:
        """Which rank is gone, from this host's process table, else from the store's heartbeats."""
        infos = [i for i in (self.infos or []) if i["rank"] != self.rank]
        here = [i for i in infos if i["host"] == self.host]
        gone: list[dict[str, Any]] = []
        deadline = time.monotonic() + PID_GRACE_S  # a process closes its sockets a moment before it is gone
        while here and not gone:
            gone = [i for i in here if not pid_alive(int(i["pid"]))]
            if gone or time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        how = "its process is gone"
        if not gone and infos:
            gone, how = self._silent_ranks(infos), "its heartbeat stopped"
        if gone:
            names = ", ".join(f"rank {i['rank']} (node {i.get('node', '?')}, local rank {i.get('local_rank', '?')}, "
                              f"host {i['host']}, pid {i['pid']})" for i in gone[:6])
            return f"{names} stopped during {what} ({how}); the run is stopped"
        return f"lost contact with the other ranks during {what}: {_first_line(exc)}"

    def _silent_ranks(self, infos: list[dict[str, Any]]) -> list[dict[str, Any]]:
        store = self._store()
        if store is None or self._hb_thread is None:
            return []
        try:
            before = {i["rank"]: store.add(f"bench/hb/{i['rank']}", 0) for i in infos}
            time.sleep(HEARTBEAT_JUDGE_S)
            after = {i["rank"]: store.add(f"bench/hb/{i['rank']}", 0) for i in infos}
        except Exception:  # the store itself (node 0's launcher) is unreachable
            return [i for i in infos if i.get("node") == 0] or []
        return [i for i in infos if after[i["rank"]] == before[i["rank"]]]

    @staticmethod
    def _store() -> Any:
        try:
            from torch.distributed.distributed_c10d import _get_default_store

            return _get_default_store()
        except Exception:
            return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]
