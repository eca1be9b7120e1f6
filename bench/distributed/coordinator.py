"""One rank of a distributed run as the runner's coordinator (see ``docs/distributed.md``).

Every rank runs the same :class:`~bench.run.runner.Runner` flow on its own device (``<type>:LOCAL_RANK``,
or ``cpu``), given a :class:`DistributedCoordinator`; what differs is decided at the coordinator's
agreement points:

- one meter per node: the node's local rank 0 (its *leader*) samples every device of the node,
  used by a rank or not, so no device is measured twice; the other ranks hold no sampler;
- windows are aligned: every rank synchronises its device, they agree (a gather that also carries
  any rank's error and stop request), the leaders open, they agree again, run, sync, agree, and
  the leaders close; the leaders' windows are gathered and merged into one whole-run window
  (:mod:`bench.distributed.merge`) that every rank sees, so every rank takes the same decisions;
- steps: after every step the ranks all-reduce (time up, stop asked, failed rank, failed sensor), so
  all stop at the same step (DDP needs it) and the units of work are summed over the ranks;
- training workloads exposing ``model`` are wrapped in ``DistributedDataParallel``; inference runs
  data-parallel with no exchange; rank r seeds its inputs with ``seed + r``;
- global rank 0 writes the one result (whole-run figures on top, ``distributed`` beside them);
  node N's leader leaves ``trace.node-N.parquet`` in the result folder (shared file system) or in a
  folder of the same name under its own ``--out``.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import sys
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from bench.devices import Device, open_device, parse_spec
from bench.distributed.comm import Comm, PeerLost, backend_for
from bench.distributed.env import DistEnv
from bench.distributed.merge import merge_windows
from bench.distributed.node import (
    AgreedStop,
    RankWorkload,
    assign_nodes,
    error_kind,
    open_node_samplers,
)
from bench.errors import (
    BenchError,
    DeviceError,
    SamplerError,
    StorageError,
    UsageError,
    WorkloadError,
)
from bench.guarded import guarded_call
from bench.meter.meter import Meter
from bench.meter.protocol import NullMeter, WindowMeter
from bench.result.model import (
    ChannelInfo,
    Distributed,
    Issue,
    NodeDevice,
    NodeInfo,
    RankInfo,
    Result,
    TraceRef,
    Window,
    WindowBreakdown,
)
from bench.run.coordinator import RunSetup
from bench.run.folder import make_run_folder
from bench.run.workloads import make_workload, workload_label

if TYPE_CHECKING:  # pragma: no cover
    from bench.run.runner import Runner

log = logging.getLogger(__name__)

MARKER = ".bench-shared-check"
T = TypeVar("T")


class DistributedCoordinator:
    """One rank of a distributed run: the agreement points of :class:`~bench.run.runner.Runner` as collectives.
    See the module docstring."""

    def __init__(self, env: DistEnv, timeout_s: float = 600.0) -> None:
        self.env = env
        self.comm = Comm(env, timeout_s)
        self.stop_event = AgreedStop()
        self.comm.on_lost(lambda message: self.stop_event.agree())
        self.run: Runner | None = None
        self.samplers: list[Any] = []
        self.workloads: list[tuple[str, RankWorkload]] = []
        self.is_leader = False
        self.node = 0
        self.views: list[dict[str, Any]] = []
        self.breakdowns: list[WindowBreakdown] = []
        self._steps: dict[str, list[int]] = {}
        self._ups: dict[str, int] = {}
        self._stack: list[str] = []
        self.run_id = uuid.uuid4().hex

    # --- agreement --------------------------------------------------------------------------------

    def agree(self, err: BaseException | None, what: str) -> None:
        """Exchange every rank's error and stop request; raise on every rank if any rank failed."""
        if isinstance(err, (PeerLost, KeyboardInterrupt)):
            raise err
        report = None if err is None else (error_kind(err), f"{type(err).__name__}: {err}".splitlines()[0][:300])
        reports = self.comm.gather_all((report, self.stop_event.pending()), what)
        if any(pending for _, pending in reports):
            self.stop_event.agree()
        if err is not None:
            raise err
        failed = [(r, rep) for r, (rep, _) in enumerate(reports) if rep is not None]
        if not failed:
            return
        text = "; ".join(f"rank {r} ({self._where(r)}): {msg}" for r, (_, msg) in failed[:4])
        kinds = {k for _, (k, _) in failed}
        cls = next(c for k, c in (("sampler", SamplerError), ("storage", StorageError), ("usage", UsageError),
                                  ("workload", WorkloadError)) if k in kinds)
        raise cls(f"{what} failed on {text}")

    def _where(self, rank: int) -> str:
        infos = self.comm.infos or []
        info = infos[rank] if 0 <= rank < len(infos) else {}
        return f"node {info.get('node', '?')}, host {info.get('host', '?')}"

    @staticmethod
    def _attempt(fn: Callable[[], Any]) -> BaseException | None:
        try:
            fn()
        except (PeerLost, KeyboardInterrupt):
            raise
        except Exception as exc:
            return exc
        return None

    # --- set-up -----------------------------------------------------------------------------------

    @property
    def writes_result(self) -> bool:
        """Global rank 0 writes the one result."""
        return self.env.rank == 0

    def open(self, run: "Runner") -> RunSetup:
        """Join the run, check every rank runs the same harness, open devices, workloads and node samplers."""
        self.run = run
        cfg = run.cfg
        type_, _ = parse_spec(cfg.device)
        device, err = None, None
        try:
            device = self._open_rank_device(type_)
        except BenchError as exc:
            err = exc
        self.comm.init(backend_for(type_))
        self._handshake(device, err)
        assert device is not None  # a rank that could not open its device failed the hand-shake on every rank
        self.agree(self._attempt(lambda: self._make_workloads(cfg, device)), "workload set-up")
        self.agree(self._attempt(lambda: self._open_node_samplers(cfg, device)) if self.is_leader else None,
                   "opening the samplers")
        self.views = self.comm.gather_all(self._view() if self.is_leader else None, "sampler exchange")
        self.views = sorted((v for v in self.views if v), key=lambda v: v["node"])
        self.comm.start_heartbeat()
        return RunSetup(device, list(self.workloads), list(self.samplers), self.views[0]["sampler"])

    def _open_rank_device(self, type_: str) -> Device:
        if type_ == "cpu":
            return open_device("cpu")
        spec = f"{type_}:{self.env.local_rank}"
        try:
            dev = open_device(spec)
        except DeviceError as exc:
            raise DeviceError(f"local rank {self.env.local_rank} runs on {spec}: {exc}; start at most one rank "
                              "per device on a node, and let every rank see all of the node's devices") from None
        if dev.torch_device.type == "cuda":
            import torch

            torch.cuda.set_device(dev.torch_device)
        return dev

    def _handshake(self, device: Device | None, err: BaseException | None) -> None:
        import torch

        from bench import version

        mine = {"rank": self.env.rank, "local_rank": self.env.local_rank, "node_rank": self.env.node_rank,
                "host": self.comm.host, "pid": os.getpid(), "version": version.__version__,
                "torch": torch.__version__, "device": device.describe() if device is not None else {},
                "error": None if err is None else f"{type(err).__name__}: {err}".splitlines()[0]}
        infos = self.comm.gather_all(mine, "the hand-shake")
        self.comm.infos = infos
        self.nnodes = assign_nodes(infos)
        self.node = infos[self.env.rank]["node"]
        self.mates = [i for i in infos if i["node"] == self.node]
        self.is_leader = self.env.rank == min(i["rank"] for i in self.mates)

    def _make_workloads(self, cfg: Any, device: Device) -> None:
        self.workloads = []
        for name, params in cfg.workloads:
            wl = make_workload(name, dataclasses.replace(params, seed=params.seed + self.env.rank), device)
            self.workloads.append((workload_label(name), RankWorkload(wl, self)))

    def _open_node_samplers(self, cfg: Any, device: Device) -> None:
        self.node_samplers = open_node_samplers(device, self.mates, cfg, self.node)
        self.samplers = self.node_samplers.samplers

    def _view(self) -> dict[str, Any]:
        infos = [ChannelInfo(channel=s.channel, sampler=s.name, capabilities=s.capabilities.to_dict(),
                             describe=guarded_call(s.describe)).model_dump(mode="json") for s in self.samplers]
        ns = self.node_samplers
        return {"node": self.node, "host": self.comm.host, "leader": self.env.rank, "sampler": ns.sampler_name,
                "ranks": [i["rank"] for i in self.mates], "used": sorted(ns.used), "channels": infos,
                "devices": [d.model_dump(mode="json") for d in ns.devices]}

    @property
    def issues(self) -> list[Issue]:
        """The run's issues (every rank keeps its own list; rank 0's are written)."""
        assert self.run is not None
        return self.run.issues

    # --- the runner's agreement points ------------------------------------------------------------

    def make_folder(self, run: "Runner") -> Path | None:
        """Rank 0 makes the run folder; every leader learns whether it shares that file system."""
        cfg = run.cfg
        made, err = None, None
        if self.env.rank == 0:
            try:
                made = make_run_folder(cfg.out, cfg.name, cfg.device, cfg.label)
                (made / MARKER).write_text(self.run_id)
            except (BenchError, OSError) as exc:
                err = exc
        self.agree(err, "making the result folder")
        path, run_id = self.comm.gather_all((str(made.resolve()) if made else None, self.run_id), "folder")[0]
        self.run_id = run_id
        folder, err = None, None
        if self.is_leader and self.env.rank != 0:
            try:
                folder = self._node_folder(cfg, Path(path))
            except (BenchError, OSError) as exc:
                err = exc
        self.agree(err, "making the node folders")
        if made is not None:
            (made / MARKER).unlink(missing_ok=True)
            return made
        return folder  # None on a rank that keeps no files

    def _node_folder(self, cfg: Any, shared: Path) -> Path:
        marker = shared / MARKER
        self.shared_fs = marker.is_file() and marker.read_text().strip() == self.run_id
        base = shared if self.shared_fs else make_run_folder(cfg.out, shared.name, cfg.device, cfg.label)
        work = base / f"node-{self.node}"
        work.mkdir(parents=True, exist_ok=True)
        return work

    def make_meter(self, run: "Runner", build: Callable[[], Meter]) -> WindowMeter:
        """One meter per node: its leader samples every device of the node; the other ranks sample nothing."""
        return build() if self.is_leader else NullMeter()

    def describe(self, run: "Runner", result: Result) -> None:
        result.run_id = self.run_id
        node0 = self.views[0]
        result.measurement.sampler = node0["sampler"]
        result.measurement.channels = [ChannelInfo.model_validate(c) for c in node0["channels"]
                                       if c["channel"] in node0["used"]]
        ranks = [RankInfo(rank=i["rank"], local_rank=i["local_rank"], node=i["node"], host=i["host"], pid=i["pid"],
                          device=i["device"]) for i in self.comm.infos or []]
        nodes = [NodeInfo(node=v["node"], host=v["host"], leader=v["leader"], ranks=v["ranks"],
                          devices=[NodeDevice.model_validate(d) for d in v["devices"]],
                          channels=[ChannelInfo.model_validate(c) for c in v["channels"]],
                          trace=None) for v in self.views]
        result.distributed = Distributed(launcher=self.env.launcher, backend=self.comm.backend,
                                         world_size=self.env.world_size, nnodes=len(self.views), ranks=ranks,
                                         nodes=nodes)

    def elapsed_s(self, run: "Runner", seconds: float) -> float:
        return self.comm.from_rank0(seconds, "the warm-up clock")

    def window(self, run: "Runner", name: str, body: Callable[[], T]) -> tuple[Window, T]:
        """Every rank synchronises its device, they agree, the leaders open, they agree again, run, sync, agree,
        and the leaders close; the leaders' windows are merged into the one every rank sees."""
        self._stack.append(name)
        try:
            return self._aligned_window(run, name, body)
        finally:
            self._stack.pop()

    def _aligned_window(self, run: "Runner", name: str, body: Callable[[], T]) -> tuple[Window, T]:
        meter = run.meter
        assert meter is not None and run.setup is not None
        device = run.setup.device
        self.agree(self._attempt(lambda: run.edge_ready(name)), f"opening {name}")
        self.agree(self._attempt(lambda: meter.open_window(name)), f"opening {name}")
        out, err = None, None
        try:
            out = body()
            device.synchronize()
        except (PeerLost, KeyboardInterrupt):
            self._close_quietly(run, name)
            raise
        except Exception as exc:
            err = exc
        try:
            self.agree(err, name)
        except BaseException:
            self._close_quietly(run, name)
            raise
        window = None

        def close() -> None:
            nonlocal window
            window = run.close_window(name)
            meter.check()

        err = self._attempt(close)
        return self._merge(name, window, err), out  # type: ignore[return-value]

    def _close_quietly(self, run: "Runner", name: str) -> None:
        if self.is_leader and run.meter is not None:
            try:
                run.meter.close_window(name)
            except Exception:
                pass

    def _merge(self, name: str, window: Window | None, err: BaseException | None) -> Window:
        sent = (self.node, window.model_dump(mode="json")) if window is not None else None
        got = self.comm.gather_all(sent, f"closing {name}")
        self.agree(err, f"closing {name}")
        per_node = {n: Window.model_validate(w) for n, w in (g for g in got if g)}
        merged, breakdown = merge_windows(name, per_node, {v["node"]: set(v["used"]) for v in self.views})
        steps, ups = self._steps.pop(name, None), self._ups.pop(name, 1)
        if steps is not None:
            breakdown.steps_by_rank = steps
            breakdown.units_by_rank = [s * ups for s in steps]
        if self.env.rank == 0:
            self.breakdowns.append(breakdown)
        return merged

    def steps(self, run: "Runner", wl: Any, seconds: float, interruptible: bool = False) -> tuple[int, bool]:
        """Whole steps until ``seconds`` have passed on the first rank; every rank stops at the same step."""
        meter = run.meter
        assert meter is not None
        end = run.clock.now_ns() + int(seconds * 1e9)
        steps = 0
        while True:
            err = self._attempt(wl.step)
            steps += 1
            sensor = self._attempt(meter.check)
            flags = self.comm.max_ints([int(run.clock.now_ns() >= end), int(self.stop_event.pending()),
                                        self.env.rank + 1 if err else 0, self.env.rank + 1 if sensor else 0],
                                       "a step")
            if flags[1]:
                self.stop_event.agree()
            if flags[2]:
                raise err or WorkloadError(f"a step failed on rank {flags[2] - 1} ({self._where(flags[2] - 1)})")
            if flags[3]:
                raise sensor or SamplerError(f"the sensors of node {self.comm.infos[flags[3] - 1]['node']} failed")
            if flags[0] or (interruptible and flags[1]):
                break
        by_rank = self.comm.ints_by_rank(steps, "counting steps")
        if self._stack:
            self._steps[self._stack[-1]] = by_rank
            self._ups[self._stack[-1]] = getattr(wl, "units_per_step", 1)
        return sum(by_rank), self.stop_event.is_set()

    # --- the end ----------------------------------------------------------------------------------

    def conclude(self, run: "Runner", status: str, reason: str | None) -> tuple[str, str | None]:
        """Gather every node's trace summary; rank 0 fills the distributed block (the runner then seals)."""
        if self.comm.lost:
            status, reason = "failed", self.comm.lost
        # a second signal stops at once: no more collectives (the other ranks may be anywhere)
        at_once = isinstance(sys.exc_info()[1], KeyboardInterrupt)
        summary = None
        if self.is_leader and self.env.rank != 0:
            summary = self._finish_node(run)
        elif not self.is_leader and run.meter is not None:
            run.meter.stop()
        summaries: list[Any] = []
        if not self.comm.lost and not at_once:
            try:
                summaries = self.comm.gather_all(summary, "collecting the nodes' traces")
            except PeerLost as exc:
                status, reason = "failed", str(exc)
        if run.result is not None:
            run.result.status, run.result.reason = status, reason
        if self.env.rank == 0:
            self._fill_distributed(run, [s for s in summaries if s], reason if self.comm.lost else None)
        return status, reason

    def _finish_node(self, run: "Runner") -> dict[str, Any]:
        """A non-zero node's leader: stop, seal its trace as trace.node-N.parquet, say where it is."""
        from bench.result import trace as trace_mod
        from bench.result.io import file_sha256
        from bench.run.provenance import host_provenance

        meter, folder = run.meter, run.folder
        assert meter is not None and folder is not None
        run.close_samplers()
        base, name = folder.parent, f"trace.node-{self.node}.parquet"
        ref, issues = TraceRef(path="missing", rows=meter.writer.rows if meter.writer else 0,
                               t0_ns=meter.t0_ns), [i.model_dump(mode="json") for i in self.issues]
        try:
            os.replace(trace_mod.finalize(folder), base / name)
            folder.rmdir()
            ref.path, ref.sha256 = name, file_sha256(base / name)
            where = str((base / name).resolve())
        except Exception as exc:  # the stream file stays, readable as it is
            where = str((folder / trace_mod.STREAM_FILE).resolve())
            issues.append(Issue(code="trace_not_finalized", severity="error",
                                message=f"node {self.node}: trace left as {where}: {exc}").model_dump(mode="json"))
        return {"node": self.node, "trace": ref.model_dump(mode="json"), "path": where,
                "shared": getattr(self, "shared_fs", False), "issues": issues, "provenance": host_provenance()}

    def _fill_distributed(self, run: "Runner", summaries: list[dict[str, Any]], failure: str | None) -> None:
        assert run.result is not None
        d = run.result.distributed
        assert d is not None
        d.windows = list(self.breakdowns)
        d.workloads = [wl.record for _, wl in self.workloads]
        d.failure = failure
        from bench.run.provenance import host_provenance

        nodes = {n.node: n for n in d.nodes}
        nodes[0].provenance = host_provenance()
        known = {(i.code, i.message) for i in self.issues}  # those every rank raised (warm-up, DDP) are here
        for s in summaries:
            node = nodes.get(s["node"])
            if node is None:
                continue
            node.trace = TraceRef.model_validate(s["trace"])
            node.trace_location = ("result_folder" if s["shared"] else "node_local") if node.trace.path != "missing" \
                else "missing"
            node.trace_host_path = None if s["shared"] and node.trace.path != "missing" else s["path"]
            node.provenance = s["provenance"]
            node.issues = [i for i in map(Issue.model_validate, s["issues"]) if (i.code, i.message) not in known]
            self.issues.extend(i.model_copy(update={"message": f"node {s['node']}: {i.message}"}) for i in node.issues)
        for n in d.nodes:
            if n.node != 0 and n.trace is None:
                n.trace_location = "missing"
                self.issues.append(Issue(code="node_trace_not_collected", severity="warning",
                                         message=f"node {n.node}: its trace was not collected; it stays as "
                                         f"trace.node-{n.node}.parquet (or node-{n.node}/trace.arrows) on {n.host}"))
