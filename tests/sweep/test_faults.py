"""Faults injected into a real `bench sweep` process on the example plugin's simulated Acme board: the original
power limit comes back on SIGINT and SIGTERM; after SIGKILL the state file lets `bench sweep --restore` put it back,
and `bench run` warns until then."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from bench.control import state as st
from bench.result.io import load_result
from bench.result.sweep import load_sweep
from tests import BENCH, ROOT
from tests.support.acme import ensure_acme_installed

ORIGINAL_UW = 300_000_000  # the simulated board's power limit as found


@pytest.fixture(scope="module")
def acme():
    return ensure_acme_installed()


@pytest.fixture
def board(acme, tmp_path, state_dir, monkeypatch):
    """Start a simulated Acme board (its driver a process of its own) under ``name``, drawing 250 W whatever its
    settings (the DVFS board is benchmarks/sweep_accuracy.py's). Returns the board's folder; ACME_SYSFS points at
    the last one."""
    started = []

    def start(name: str = "acme"):
        root = tmp_path / name
        args = [sys.executable, "-m", "bench_plugin_acme.fake", str(root), "250"]
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        started.append(proc)
        assert "simulating an Acme A1" in proc.stdout.readline()
        monkeypatch.setenv("ACME_SYSFS", str(root))
        return root / "acme0"

    yield start
    for proc in started:
        proc.terminate()
        proc.wait(timeout=30)


def sweep(out, name, limits="200,150", duration="0.5", repeats="2", board=None):
    args = [*BENCH, "sweep", "--device", "acme:0", "--workload", "gemm", "--preset", "smoke", "--power-limits", limits,
            "--idle", "0.3", "--duration", duration, "--repeats", repeats, "--warmup-min", "0", "--warmup-max", "0",
            "--quiet", "--out", str(out), "--name", name]
    env = {**os.environ, **({"ACME_SYSFS": str(board.parent)} if board is not None else {})}
    return subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def cap_uw(board) -> int:
    return int((board / "power_cap_uw").read_text())


def wait_for_capped_window(proc, board, folder, label, timeout=120):
    """Until the sweep has set the cap of ``label`` and that point's first measured window is running."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError(f"the sweep ended early ({proc.returncode}): {proc.communicate()[1]}")
        try:
            data = json.loads((folder / label / "result.json").read_text())
            if cap_uw(board) != ORIGINAL_UW and any(w.get("warmup") for w in data.get("workloads", [])):
                return
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    raise AssertionError(f"the sweep never reached {label}'s measured windows")


@pytest.mark.slow  # a real process, signalled in its second point: about 10 s each
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_finishes_the_window_and_puts_the_original_limit_back(board, tmp_path, signum):
    acme0 = board()
    proc = sweep(tmp_path, "sig", duration="0.6", repeats="4")
    wait_for_capped_window(proc, acme0, tmp_path / "sig", "01-200W")
    assert cap_uw(acme0) == 200_000_000 and len(st.entries()[0]) == 1
    proc.send_signal(signum)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert cap_uw(acme0) == ORIGINAL_UW and st.entries() == ([], [])
    folder, record = load_sweep(tmp_path / "sig")
    assert record.status == "interrupted" and record.restored.ok
    assert [p.status for p in record.points] == ["complete", "interrupted", "skipped"]
    point = load_result(folder / "01-200W")
    repeats = point.workload("gemm").repeats
    assert point.status == "interrupted" and 1 <= len(repeats) < 4  # it stopped after the window it was in...
    assert all(r.duration_s >= 0.6 and r.clean for r in repeats)  # ... which it finished
    assert "original settings put back: put back power limit 300 W" in out


@pytest.mark.slow  # a real process, killed, then `bench run` and `bench sweep --restore`
def test_after_sigkill_run_warns_and_restore_puts_the_limit_back(board, tmp_path, cli):
    acme0 = board()
    proc = sweep(tmp_path, "killed", duration="2", repeats="1")
    wait_for_capped_window(proc, acme0, tmp_path / "killed", "01-200W")
    proc.kill()
    proc.communicate(timeout=60)
    assert cap_uw(acme0) == 200_000_000  # nothing could put it back
    (left,), _ = st.entries()
    assert left.applied["power_limit_w"] == 200.0 and left.original["power_limit_w"] == 300.0
    assert not left.owner_alive()
    quick = ["run", "--device", "acme:0", "--workload", "gemm", "--preset", "smoke", "--idle", "0", "--duration",
             "0.1", "--repeats", "1", "--warmup-min", "0", "--warmup-max", "0", "--quiet", "--out", str(tmp_path)]
    run = cli(*quick, "--name", "while-capped")
    assert run.code == 0, run.output
    assert "warning: setting_in_force: acme:0 still has the setting an interrupted sweep left: power limit 200 W" \
        in run.out
    issues = [i for i in load_result(tmp_path / "while-capped").issues if i.code == "setting_in_force"]
    assert len(issues) == 1 and "bench sweep --restore" in issues[0].message
    again = cli("sweep", "--device", "acme:0", "--workload", "gemm", "--power-limits", "150", "--out", str(tmp_path))
    assert again.code == 2 and "interrupted sweep left" in again.err  # a new sweep would take 200 W for the original
    restored = cli("sweep", "--restore")
    assert restored.code == 0 and restored.out.startswith("acme:0: restored: put back power limit 300 W")
    assert cap_uw(acme0) == ORIGINAL_UW and st.entries() == ([], [])
    assert st.left_in_force("acme:0") == []  # what the next run checks: nothing to warn about
    assert load_sweep(tmp_path / "killed")[1].status == "running"  # the record says it never finished
