"""Distributed runs on this machine: real torchrun, real gloo process groups, several processes.

GPUs are the faithful fake NVML + fake CUDA backend, installed in every rank by a ``sitecustomize``
module the test puts on ``PYTHONPATH`` (test-only; the harness has no hook for it). Node ``n``'s
fake GPU ``i`` draws a constant ``POWER[n][i]`` W, so every device's energy is known exactly. The
same ``sitecustomize`` kills a rank at a given step, or makes one rank report another harness
version. Two "nodes" are two launchers on this host, meeting at a local rendezvous endpoint.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import types
from pathlib import Path

import pytest

from bench.distributed.env import detect_env
from bench.distributed.launch import (
    describe_failures,
    rendezvous_message,
    torchrun_args,
    worker_argv,
)
from bench.distributed.merge import merge_windows, version_mismatch
from bench.errors import UsageError
from bench.result.io import load_result
from bench.result.model import ChannelEnergy, Window
from bench.result.trace import read_trace
from tests import BENCH, ROOT
from tests.support.harness import run_bench

POWER = {"0": [100.0, 200.0, 300.0, 400.0], "1": [1100.0, 1200.0, 1300.0, 1400.0]}

SITECUSTOMIZE = '''
import json, os, sys
_cfg = json.loads(os.environ.get("BENCH_TEST_DIST") or "{}")
_rank = os.environ.get("RANK")
if _cfg and _rank is not None:
    if "gpus" in _cfg:
        from bench import plugins
        from bench.conformance.fake_cuda import FakeCudaDevice
        from bench.conformance.fake_nvml import FakeGpu, FakeNvml
        _powers = _cfg["gpus"][os.environ.get("GROUP_RANK", "0")]
        sys.modules["pynvml"] = FakeNvml([FakeGpu("NVIDIA H100 80GB HBM3", power=p) for p in _powers])
        plugins.register("devices", "cuda", FakeCudaDevice)
    if _rank in _cfg.get("versions", {}):
        from bench import version
        version.__version__ = _cfg["versions"][_rank]
    if str(_cfg.get("kill_rank")) == _rank:
        import signal
        from bench_workloads.gemm import Gemm
        _step, _count = Gemm.step, [0]
        def _dying_step(self):
            _count[0] += 1
            if _count[0] == _cfg["kill_step"]:
                os.kill(os.getpid(), signal.SIGKILL)
            _step(self)
        Gemm.step = _dying_step
'''

FAST = ["--preset", "smoke", "--idle", "1", "--warmup-min", "0.3", "--warmup-max", "0.5", "--repeats", "2", "--duration", "0.6",
        "--rate", "20", "--quiet", "--dist-timeout", "60"]


def _env(site: Path, **cfg) -> dict[str, str]:
    return {"PYTHONPATH": os.pathsep.join([str(site), str(ROOT)]), "BENCH_TEST_DIST": json.dumps(cfg),
            "OMP_NUM_THREADS": "1"}


def _spawn(*args: str, env: dict[str, str]) -> subprocess.Popen:
    """``bench ARGS`` in a session of its own, so a timeout can end the launcher and its workers."""
    return subprocess.Popen([*BENCH, *args], cwd=ROOT, env={**os.environ, "COLUMNS": "200", **env},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Runs:
    """Every multi-process scenario, started at once (their timed windows overlap), awaited by name."""

    def __init__(self, base: Path, site: Path) -> None:
        self.base, self.procs, self.done = base, {}, {}
        gpus = _env(site, gpus=POWER)
        self.port = _free_port()
        self.lonely_port = _free_port()
        cuda = ["--device", "cuda", *FAST]
        self._start("one", "--nproc-per-node", "2", "-w", "llm-train", *cuda, "--name", "one", env=gpus)
        for n in (0, 1):
            self._start(f"two.{n}", "--nproc-per-node", "2", "--nnodes", "2", "--node-rank", str(n),
                        "--rdzv-endpoint", f"127.0.0.1:{self.port}", "--rdzv-timeout", "120", "-w", "gemm", *cuda,
                        "--idle", "0", "--name", "two", env=gpus)
        self._start("kill", "--nproc-per-node", "2", "-w", "gemm", *cuda, "--idle", "0", "--warmup-max", "5",
                    "--name", "kill", env=_env(site, gpus=POWER, kill_rank=1, kill_step=25))
        self._start("version", "--nproc-per-node", "2", "-w", "gemm", *cuda, "--name", "version",
                    env=_env(site, gpus=POWER, versions={"1": "0.0.9"}))
        self._start("lonely", "--nproc-per-node", "1", "--nnodes", "2", "--node-rank", "0", "--rdzv-endpoint",
                    f"127.0.0.1:{self.lonely_port}", "--rdzv-timeout", "2", "--device", "cpu", "-w", "gemm",
                    "--name", "lonely", env={})

    def _start(self, key: str, *args: str, env: dict[str, str]) -> None:
        self.procs[key] = _spawn("run", *args, "--out", str(self.base), env=env)

    def wait(self, key: str, timeout: float = 300) -> subprocess.CompletedProcess:
        if key not in self.done:
            proc = self.procs[key]
            try:
                out, err = proc.communicate(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                out, err = proc.communicate()
                pytest.fail(f"bench run ({key}) did not finish within {timeout} s: {err[-2000:]}")
            self.done[key] = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
        return self.done[key]

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.communicate()


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("site")
    (folder / "sitecustomize.py").write_text(SITECUSTOMIZE)
    return folder


@pytest.fixture(scope="module")
def runs(site, tmp_path_factory):
    started = Runs(tmp_path_factory.mktemp("runs"), site)
    yield started
    started.stop()


def _repeat_windows(r):
    return [w for w in r.windows if "/repeat." in w.name]


# --- two ranks on one node with four fake GPUs: DDP, units, each device once -----------------------


@pytest.fixture(scope="module")
def one_node(runs):
    proc = runs.wait("one")
    assert proc.returncode == 0, proc.stderr[-3000:]
    return runs.base / "one", proc


def test_each_gpu_of_the_node_is_measured_once(one_node):
    folder, _ = one_node
    r = load_result(folder)
    d = r.distributed
    assert (d.world_size, d.nnodes, d.backend, d.launcher) == (2, 1, "gloo", "torchrun")
    devices = {x.spec: x for x in d.nodes[0].devices}
    assert sorted(devices) == ["cuda:0", "cuda:1", "cuda:2", "cuda:3"]
    assert [devices[f"cuda:{i}"].used_by for i in range(4)] == [[0], [1], [], []]
    # one trace for the node, every GPU in it once per poll: nobody else sampled
    table = read_trace(folder)
    counts = {c: table.column("channel").to_pylist().count(c) for c in set(table.column("channel").to_pylist())}
    assert sorted(counts) == ["cuda:0", "cuda:1", "cuda:2", "cuda:3"]
    assert max(counts.values()) - min(counts.values()) <= 1
    assert sorted(p.name for p in folder.iterdir()) == ["result.json", "trace.parquet"]
    assert [c.channel for c in r.measurement.channels] == ["cuda:0", "cuda:1"]


def test_whole_run_energy_is_the_sum_over_used_devices(one_node):
    folder, _ = one_node
    r = load_result(folder)
    breakdown = {b.window: b for b in r.distributed.windows}
    for w in _repeat_windows(r) + [next(x for x in r.windows if x.name == "idle")]:
        assert sorted(c.channel for c in w.channels) == ["cuda:0", "cuda:1"]
        assert w.energy_j == pytest.approx(sum(c.energy_j for c in w.channels), rel=1e-12)
        assert w.energy_j == pytest.approx((100 + 200) * w.duration_s, rel=0.05)
        node = breakdown[w.name].nodes[0]
        assert node.energy_j == pytest.approx(w.energy_j, rel=1e-12)
        unused = {c.channel: c for c in node.unused_channels}
        assert sorted(unused) == ["cuda:2", "cuda:3"]
        assert unused["cuda:3"].mean_power_w == pytest.approx(400.0, rel=0.05)
        assert node.unused_energy_j == pytest.approx((300 + 400) * node.duration_s, rel=0.05)
    assert r.idle.power_w == pytest.approx(300.0, rel=0.05)


def test_units_are_summed_over_ranks(one_node):
    folder, _ = one_node
    r = load_result(folder)
    breakdown = {b.window: b for b in r.distributed.windows}
    for wl in r.workloads:
        assert wl.status == "complete"
        for rep in wl.repeats:
            b = breakdown[rep.window]
            assert len(b.steps_by_rank) == 2 and b.steps_by_rank[0] == b.steps_by_rank[1] > 0  # lock-step
            assert b.units_by_rank == [s * wl.units_per_step for s in b.steps_by_rank]
            assert rep.units == sum(b.units_by_rank) and rep.steps == sum(b.steps_by_rank)
            assert rep.throughput == pytest.approx(rep.units / rep.duration_s)


def test_training_runs_ddp_and_weights_stay_in_sync(one_node):
    folder, _ = one_node
    modes = {w.workload: w for w in load_result(folder).distributed.workloads}
    assert modes["llm-train"].mode == "ddp" and modes["llm-train"].params_in_sync is True


def test_result_scores_like_a_single_device_result(one_node):
    folder, proc = one_node
    assert "llm-train" in proc.stdout and "complete" in proc.stdout
    shown = run_bench("show", str(folder), "--json")
    assert shown.returncode == 0 and json.loads(shown.stdout)["distributed"]["world_size"] == 2
    r = load_result(folder)
    assert r.quality is not None and r.workload("llm-train").aggregate.energy_per_unit_j.n == 2


# --- four ranks on two (emulated) nodes ------------------------------------------------------------


def test_two_nodes_four_ranks(runs):
    done = [runs.wait("two.0"), runs.wait("two.1")]
    assert [p.returncode for p in done] == [0, 0], done[0].stderr[-2000:] + done[1].stderr[-2000:]
    folder = runs.base / "two"
    r = load_result(folder)
    d = r.distributed
    assert (d.world_size, d.nnodes) == (4, 2)
    assert [n.ranks for n in d.nodes] == [[0, 1], [2, 3]]
    assert d.nodes[1].trace.path == "trace.node-1.parquet" and d.nodes[1].trace_location == "result_folder"
    assert sorted(p.name for p in folder.iterdir()) == ["result.json", "trace.node-1.parquet", "trace.parquet"]
    node1 = read_trace(folder / "trace.node-1.parquet")
    assert node1.num_rows == d.nodes[1].trace.rows > 0
    assert sorted(set(node1.column("channel").to_pylist())) == ["cuda:0", "cuda:1", "cuda:2", "cuda:3"]
    for w in _repeat_windows(r):
        assert sorted(c.channel for c in w.channels) == ["cuda:0", "cuda:1", "node1/cuda:0", "node1/cuda:1"]
        per = {c.channel: c.mean_power_w for c in w.channels}
        assert per["node1/cuda:1"] == pytest.approx(1200.0, rel=0.05) and per["cuda:0"] == pytest.approx(100, rel=0.05)
        b = next(x for x in d.windows if x.window == w.name)
        assert w.energy_j == pytest.approx(sum(n.energy_j for n in b.nodes), rel=1e-12)
        assert b.nodes[1].energy_j == pytest.approx(2300.0 * b.nodes[1].duration_s, rel=0.05)
        assert len(b.units_by_rank) == 4
    rep = r.workload("gemm").repeats[0]
    assert rep.units == sum(next(x for x in d.windows if x.window == rep.window).units_by_rank)


# --- failures --------------------------------------------------------------------------------------


def test_a_killed_rank_is_named_and_the_trace_kept(runs):
    proc = runs.wait("kill")
    assert proc.returncode == 1
    assert "rank 1 (node 0, local rank 1" in proc.stderr and "pid" in proc.stderr
    assert "killed by SIGKILL" in proc.stderr  # the launcher's word on it
    r = load_result(runs.base / "kill")
    assert r.status == "failed" and "rank 1" in r.reason and "stopped" in r.reason
    assert r.distributed.failure == r.reason
    assert r.workload("gemm").status == "failed"
    table = read_trace(runs.base / "kill")
    assert table.num_rows == r.trace.rows > 10


def test_version_mismatch_names_the_rank(runs):
    proc = runs.wait("version")
    assert proc.returncode == 2
    line = next(ln for ln in proc.stderr.splitlines() if "versions differ" in ln)
    assert "bench 0.0.9 on rank 1 (node 0" in line and "rank 0" in line
    assert proc.stderr.count("versions differ") == 1  # said once, by rank 0
    assert not (runs.base / "version").exists()


def test_a_node_that_does_not_join_is_named(runs):
    proc, port = runs.wait("lonely"), runs.lonely_port
    assert proc.returncode == 2
    assert f"rendezvous at 127.0.0.1:{port} timed out after 2 s: node 1 did not join" in proc.stderr
    assert "Traceback" not in proc.stderr


# --- pieces, in-process ----------------------------------------------------------------------------


def test_detect_env():
    assert detect_env({}) is None
    e = detect_env({"RANK": "3", "WORLD_SIZE": "8", "LOCAL_RANK": "1", "GROUP_RANK": "1",
                    "TORCHELASTIC_RUN_ID": "x", "MASTER_ADDR": "h", "MASTER_PORT": "29500"})
    assert (e.rank, e.world_size, e.local_rank, e.node_rank, e.launcher) == (3, 8, 1, 1, "torchrun")
    slurm = {"SLURM_PROCID": "5", "SLURM_STEP_NUM_TASKS": "16", "SLURM_LOCALID": "5", "SLURM_NODEID": "0"}
    with pytest.raises(UsageError, match="MASTER_ADDR"):
        detect_env(slurm)
    e = detect_env({**slurm, "MASTER_ADDR": "n1", "MASTER_PORT": "29500"})
    assert (e.rank, e.world_size, e.node_rank, e.launcher, e.master_addr) == (5, 16, 0, "slurm", "n1")
    # a batch script carries SLURM_PROCID too but is no step of several tasks: a plain run
    assert detect_env({"SLURM_PROCID": "0", "SLURM_NTASKS": "16", "SLURM_LOCALID": "0"}) is None
    with pytest.raises(UsageError, match="not an integer"):
        detect_env({"RANK": "x", "WORLD_SIZE": "2"})
    with pytest.raises(UsageError, match="inconsistent"):
        detect_env({"RANK": "2", "WORLD_SIZE": "2"})


def test_worker_argv_drops_launcher_options():
    from bench.cli.run import run

    ctx = run.make_context("run", ["--nproc-per-node", "4", "--device", "cuda", "-w", "gemm", "-w", "bert-infer",
                                   "--compile", "--rate", "20", "--sampler-option", "a=b", "--rdzv-timeout", "9"])
    argv = worker_argv(run, ctx.params)
    assert "--nproc-per-node" not in argv and "--rdzv-timeout" not in argv
    assert argv[argv.index("--device") + 1] == "cuda" and argv.count("--workload") == 2
    assert "--compile" in argv and argv[argv.index("--rate") + 1] == "20.0" and "--json" not in argv
    again = run.make_context("run", argv).params
    assert {k: v for k, v in again.items() if k not in ("nproc_per_node", "rdzv_timeout_s")} == \
        {k: v for k, v in ctx.params.items() if k not in ("nproc_per_node", "rdzv_timeout_s")}
    args = torchrun_args(8, 2, 1, "node0:29500", None, 60, ["--device", "cuda"])
    assert args[:3] == ["--nproc-per-node=8", "--nnodes=2", "--max-restarts=0"]
    assert {"--rdzv-backend=static", "--rdzv-endpoint=node0:29500", "--node-rank=1", "--rdzv-conf=timeout=60"} <= set(args)
    assert args[-5:] == ["-m", "bench", "run", "--device", "cuda"]
    with pytest.raises(UsageError, match="--node-rank"):
        torchrun_args(8, 2, None, "node0:29500", None, 60, [])
    with pytest.raises(UsageError, match="HOST:PORT"):
        torchrun_args(8, 2, 0, "node0", None, 60, [])


def test_failure_and_rendezvous_messages():
    fail = lambda code, local: types.SimpleNamespace(exitcode=code, local_rank=local, pid=100 + local)  # noqa: E731
    code, lines = describe_failures({1: fail(-signal.SIGKILL, 1), 0: fail(1, 0), 2: fail(1, 2)}, 0)
    assert code == 1
    assert lines[0].startswith("distributed run failed: rank 1 (node 0, local rank 1") and "SIGKILL" in lines[0]
    assert lines[1].startswith("ranks 0, 2 (node 0") and lines[1].endswith("exited with code 1")
    assert describe_failures({0: fail(130, 0), 1: fail(130, 1)}, None)[0] == 130
    import torch.distributed as dist

    msg = rendezvous_message(dist.DistStoreError("Timed out after 4 seconds waiting for clients. 2/4 clients joined."),
                             4, 0, "h:1", 3)
    assert "2 of 4 nodes did not join" in msg
    msg = rendezvous_message(dist.DistNetworkError("The client socket has timed out"), 2, 1, "h:1", 3)
    assert msg.startswith("node 1 could not reach the rendezvous at h:1")
    assert rendezvous_message(ValueError("x"), 2, 0, "h:1", 3) is None


def _window(name: str, duration: float, channels: dict[str, float], clean: bool = True) -> Window:
    chans = [ChannelEnergy(channel=c, energy_j=e, method="counter", samples=5) for c, e in channels.items()]
    total = sum(channels.values())
    return Window(name=name, t_start_ns=0, t_end_ns=int(duration * 1e9), duration_s=duration, energy_j=total,
                  mean_power_w=total / duration, peak_power_w=None, samples=5 * len(chans), channels=chans, clean=clean)


def test_merge_sums_used_devices_and_keeps_the_rest_beside():
    nodes = {0: _window("w", 2.0, {"cuda:0": 200.0, "cuda:1": 400.0, "cuda:2": 60.0}),
             1: _window("w", 2.1, {"cuda:0": 1000.0, "cuda:1": 70.0}, clean=False)}
    merged, b = merge_windows("w", nodes, {0: {"cuda:0", "cuda:1"}, 1: {"cuda:0"}})
    assert [c.channel for c in merged.channels] == ["cuda:0", "cuda:1", "node1/cuda:0"]
    assert merged.energy_j == 1600.0 and merged.duration_s == 2.0 and merged.mean_power_w == 800.0
    assert [(n.node, n.energy_j, n.unused_energy_j) for n in b.nodes] == [(0, 600.0, 60.0), (1, 1000.0, 70.0)]
    assert [c.channel for c in b.nodes[1].unused_channels] == ["node1/cuda:1"]
    assert merged.clean is False and merged.samples == 15


def test_version_mismatch_message():
    infos = [{"rank": r, "node": r // 2, "host": f"h{r // 2}", "version": "0.1.0"} for r in range(4)]
    assert version_mismatch(infos) is None
    infos[3]["version"] = "0.2.0"
    msg = version_mismatch(infos)
    assert "bench 0.2.0 on rank 3 (node 1, host h1)" in msg and "bench 0.1.0 on 3 rank(s)" in msg


def test_nested_launch_is_refused(cli, monkeypatch):
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "2")
    res = cli("run", "--nproc-per-node", "2", "--device", "cpu", "-w", "gemm")
    assert res.code == 2 and "already a rank" in res.err


def test_sitecustomize_helper_is_importable(site):
    # the helper must be harmless where its variable is absent (the launcher, other tests)
    proc = subprocess.run([sys.executable, "-c", "import sitecustomize"], env={**os.environ, **_env(site)},
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr


# --- agreement between ranks, with a scripted second rank --------------------------------------------


class _OtherRank:
    """Stands in for the collectives: rank 1's side of each exchange comes from a script."""

    def __init__(self, gathers=(), flags=()) -> None:
        self.gathers, self.flags, self.lost = list(gathers), list(flags), None
        self.infos = [{"rank": 0, "node": 0, "host": "a"}, {"rank": 1, "node": 1, "host": "b"}]

    def gather_all(self, obj, what=""):
        return [obj, self.gathers.pop(0)]

    def max_ints(self, values, what=""):
        other = self.flags.pop(0) if self.flags else [0, 0, 0, 0]
        return [max(a, b) for a, b in zip(values, other)]

    def ints_by_rank(self, value, what=""):
        return [value, value]


def _rank0(comm: _OtherRank):
    from bench.distributed.coordinator import DistributedCoordinator
    from bench.distributed.env import DistEnv
    from bench.meter.protocol import NullMeter
    from bench.run.config import RunConfig
    from bench.run.runner import Runner
    from bench.workload import WorkloadParams

    coord = DistributedCoordinator(DistEnv(0, 2, 0, 0, "torchrun"))
    runner = Runner(RunConfig(workloads=[("gemm", WorkloadParams())]), coordinator=coord)
    coord.comm, coord.run, runner.meter = comm, runner, NullMeter()
    return coord


def test_an_error_on_one_rank_is_raised_on_every_rank():
    from bench.errors import SamplerError, WorkloadError

    r = _rank0(_OtherRank([(("sampler", "SamplerDeviceLost: GPU fell off the bus"), False)]))
    with pytest.raises(SamplerError, match=r"closing w failed on rank 1 \(node 1, host b\): SamplerDeviceLost"):
        r.agree(None, "closing w")
    r = _rank0(_OtherRank([(("workload", "OutOfMemoryError: out of memory on cuda:1"), True)]))
    with pytest.raises(WorkloadError, match="rank 1 .*out of memory"):
        r.agree(None, "gemm set-up")
    assert r.stop_event.is_set()  # rank 1's pending stop request is now every rank's
    r = _rank0(_OtherRank([(None, False)]))
    with pytest.raises(KeyError):
        r.agree(KeyError("mine"), "x")  # a rank's own error keeps its type
    r = _rank0(_OtherRank([(None, False)]))
    r.stop_event.set()  # a signal here: pending until exchanged
    assert not r.stop_event.is_set()
    r.agree(None, "x")
    assert r.stop_event.is_set()


def test_steps_stop_together():
    from bench.errors import WorkloadError

    class Work:
        units_per_step, n = 3, 0

        def step(self):
            self.n += 1

    wl = Work()
    r = _rank0(_OtherRank(flags=[[0, 0, 0, 0]] * 4 + [[1, 0, 0, 0]]))  # rank 1's time is up at step 5
    assert r.steps(r.run, wl, 600.0) == (10, False) and wl.n == 5
    r = _rank0(_OtherRank(flags=[[0, 1, 0, 0]]))  # a stop on rank 1: warm-up ends, a measured window goes on
    assert r.steps(r.run, Work(), 600.0, interruptible=True) == (2, True)
    r = _rank0(_OtherRank(flags=[[0, 1, 0, 0], [0, 0, 0, 0], [1, 0, 0, 0]]))
    assert r.steps(r.run, Work(), 600.0) == (6, True)
    r = _rank0(_OtherRank(flags=[[0, 0, 0, 0], [0, 0, 2, 0]]))  # rank 1's step failed at step 2
    with pytest.raises(WorkloadError, match=r"a step failed on rank 1 \(node 1, host b\)"):
        r.steps(r.run, Work(), 600.0)
