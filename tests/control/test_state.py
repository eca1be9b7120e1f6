"""The state file of settings a sweep changed: written before a change, found by `bench run`, judged alive or not."""

import json
import os
import subprocess
import sys

from bench.control import state as st


def entry(**kw):
    base = dict(sweep_id="abc123", device="cuda:0", identity={"uuid": "GPU-1234"}, backend="nvml", source="sampler",
                original={"power_limit_w": 700.0, "sm_clock_lock": None, "clock_lock_readable": False},
                applied={"power_limit_w": 300.0, "sm_clock_lock": None}, changed=["power_limit"])
    base.update(kw)
    return st.SettingState(**base)


def dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_written_atomically_and_read_back(state_dir):
    s = entry()
    path = st.write(s)
    assert path.parent == state_dir and path.name == "sweep-abc123.json"
    assert json.loads(path.read_text())["applied"] == {"power_limit_w": 300.0, "sm_clock_lock": None}
    found, bad = st.entries()
    assert bad == [] and len(found) == 1 and found[0] == s
    assert list(state_dir.iterdir()) == [path]  # no temporary file left
    st.remove(s)
    assert st.entries() == ([], [])


def test_an_unreadable_file_is_reported_not_fatal(state_dir):
    state_dir.mkdir()
    (state_dir / "sweep-broken.json").write_text("{not json")
    found, bad = st.entries()
    assert found == [] and bad[0][0].name == "sweep-broken.json"


def test_a_device_is_matched_by_uuid_then_by_its_string():
    s = entry()
    assert s.matches("cuda:3", {"uuid": "gpu-1234"})  # CUDA renumbered: the UUID decides
    assert not s.matches("cuda:0", {"uuid": "GPU-9999"})
    assert s.matches("cuda:0", {})
    assert not entry(identity={}).matches("cuda:1")


def test_the_owner_is_alive_while_its_process_runs(state_dir):
    assert entry().owner_alive()  # this process
    gone = entry(pid=dead_pid(), pid_start="1")
    assert not gone.owner_alive()
    assert entry(pid=1, pid_start="not-its-start").owner_alive() is False  # pid reused by another process


def test_bench_run_is_told_about_settings_another_process_left(state_dir):
    st.write(entry(sweep_id="mine"))  # this process's own sweep: not a leftover for its own runs
    assert st.left_in_force("cuda:0", {"uuid": "GPU-1234"}) == []
    st.write(entry(sweep_id="killed", pid=dead_pid(), pid_start="1"))
    st.write(entry(sweep_id="old-boot", pid=dead_pid(), pid_start="1", boot_id="another-boot"))
    left = st.left_in_force("cuda:0", {"uuid": "GPU-1234"})
    assert [s.sweep_id for s in left] == ["killed"]  # a reboot reset the device: the old file is stale
    text = st.warning_text(left[0])
    assert text == ("cuda:0 still has the setting an interrupted sweep left: power limit 300 W (as found: power "
                    "limit 700 W, SM clocks at the driver's default); run `bench sweep --restore` to put it back")


def test_a_running_sweep_is_named_as_running(state_dir):
    s = entry(pid=os.getppid(), pid_start=st.process_start(os.getppid()))
    assert s.owner_alive()
    assert st.warning_text(s).startswith(f"a sweep (pid {os.getppid()}) is changing cuda:0's settings")


def test_state_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv(st.STATE_ENV, raising=False)
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "xdg"))
    assert st.state_dir() == tmp_path / "xdg" / "bench"
    monkeypatch.setenv(st.STATE_ENV, str(tmp_path / "mine"))
    assert st.state_dir() == tmp_path / "mine"
