"""The example plugin's simulated board and its control: the DVFS model a sweep runs against in CI, on a
simulated clock (exact figures), and the control's files, units and errors."""

import pytest

from bench.conformance import DrivenClock, env_vars
from bench.control import ClockLock, PowerLimitRange
from bench.errors import ControlError, ControlNoPermission, ControlNotSupported
from tests.support.acme import ensure_acme_installed


@pytest.fixture(scope="module")
def acme():
    ensure_acme_installed()
    from bench_plugin_acme import dvfs, fake, sysfs

    return dvfs, fake, sysfs


def test_a_cap_brings_the_clock_to_the_highest_one_that_fits(acme):
    dvfs, _, _ = acme
    m = dvfs.Dvfs()
    assert m.cap_clock_mhz(300) == 1800 and m.busy_power_w(1800) == pytest.approx(300.0)
    clock = m.cap_clock_mhz(200)
    assert clock == 1450 and m.busy_power_w(clock) <= 200 < m.busy_power_w(clock + m.clock_step_mhz)
    assert m.speed(1800) == pytest.approx(1.0) and m.speed(900) == pytest.approx(1 / (0.7 * 2 + 0.3))


def test_the_board_holds_the_cap_on_average_after_a_transient(acme):
    dvfs, _, _ = acme
    board = dvfs.BoardState(dvfs.Dvfs())
    dt = 0.01
    assert board.step(dt, 0.0, 300.0, None) == pytest.approx(60.0 * dt)  # nothing queued: idle power
    powers = [board.step(dt, 100.0, 150.0, None) / dt for _ in range(300)]  # 3 s busy under a 150 W cap
    assert max(powers[:10]) > 200.0  # it boosts first: the cap acts on average power, not at once
    assert all(p <= 150.5 for p in powers[150:])  # after 1.5 s: at or under the cap
    assert board.clock_mhz == pytest.approx(dvfs.Dvfs().cap_clock_mhz(150), abs=1)
    done = board.done_s
    board.step(1.0, 100.0, 150.0, None)
    assert board.done_s - done == pytest.approx(dvfs.Dvfs().speed(board.clock_mhz), rel=1e-3)  # work at its speed


def test_the_board_finishes_exactly_the_work_it_was_given(acme, tmp_path):
    """The queue's counters in whole microseconds meet exactly (a shortfall of 1 us once hung synchronize())."""
    dvfs, fake, sysfs = acme
    clock = DrivenClock()
    sim = fake.AcmeSimulator(tmp_path, dvfs=dvfs.Dvfs(), now_ns=clock.now_ns())
    clock.on_advance(sim)
    board = tmp_path / "acme0"
    for submitted in (521_581, 1_000_003, 1_733_337):
        (board / "sim_work_submitted_us").write_text(f"{submitted}\n")
        for _ in range(400):
            clock.sleep(0.01)
        assert sysfs.read_int(board / "sim_work_done_us") == submitted
    clock.sleep(0.5)
    assert sysfs.power_w(board) == 60.0  # the queue ran dry: idle again


@pytest.fixture
def control(acme, tmp_path):
    dvfs, fake, _ = acme
    clock = DrivenClock()
    fake.AcmeSimulator(tmp_path, dvfs=dvfs.Dvfs(), now_ns=clock.now_ns())
    with env_vars(ACME_SYSFS=str(tmp_path)):
        from bench_plugin_acme.sampler import AcmeSampler

        ctl = AcmeSampler.open_control("acme:0", identity={"uuid": "ACME-A1000-7C2E-4B1D-9F30"})
        yield ctl, tmp_path / "acme0"


def test_acme_control_reads_and_writes_the_drivers_files_in_watts_and_mhz(control):
    ctl, board = control
    assert ctl.power_limit_range() == PowerLimitRange(100.0, 300.0, 300.0)
    ctl.set_power_limit_w(212.5)
    assert (board / "power_cap_uw").read_text().strip() == "212500000" and ctl.get_power_limit_w() == 212.5
    assert ctl.supported_sm_clocks_mhz()[:2] == [1800, 1750] and ctl.get_sm_clock_lock() is None
    ctl.lock_sm_clocks(900, 900)
    assert ctl.get_sm_clock_lock() == ClockLock(900, 900)  # the driver shows a lock: it can be put back as it was
    ctl.reset_sm_clocks()
    assert (board / "clock_lock_mhz").read_text().strip() == "0" and ctl.get_sm_clock_lock() is None
    with pytest.raises(ControlError, match=r"^acme:0: a power limit of 350 W is outside the board's range 100-300 W$"):
        ctl.set_power_limit_w(350)


def test_acme_control_without_write_access_names_what_is_needed(control, monkeypatch):
    ctl, _ = control
    from bench_plugin_acme import sysfs

    def denied(path, value):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(sysfs, "write_text", denied)
    with pytest.raises(ControlNoPermission) as err:
        ctl.set_power_limit_w(200)
    assert str(err.value) == ("acme:0: setting the power limit needs root, or write access to the Acme driver's files "
                              "(e.g. a udev rule for the 'acme' group)")


def test_an_older_driver_without_the_files_has_no_control(control):
    ctl, board = control
    (board / "clock_lock_mhz").unlink()
    from bench_plugin_acme.sampler import AcmeSampler

    with pytest.raises(ControlNotSupported, match="this Acme driver has no clock_lock_mhz"):
        AcmeSampler.open_control("acme:0")
