"""The Acme plugin's own tests: the conformance kit through bench's pytest plugin, plus a few
figures of our own. Run with ``pytest`` after ``pip install -e .`` (bench provides the fixture)."""

from __future__ import annotations

import pytest
from bench_plugin_acme.device import AcmeDevice
from bench_plugin_acme.fake import RATED_W, AcmeSimulator
from bench_plugin_acme.sampler import AcmeSampler

from bench.conformance import DrivenClock, env_vars, run_device_conformance
from bench.errors import SamplerDeviceLost


def test_sampler_passes_the_conformance_kit(bench_conformance):
    report = bench_conformance("acme")  # by entry-point name: checks the installed plugin
    assert report.mode in ("fake", "hardware")
    assert report.check("energy_consistency").status == "pass"


def test_device_backend_passes_the_device_kit():
    report = run_device_conformance("acme")
    assert report.ok, report.format_table()


@pytest.fixture
def board(tmp_path):
    clock = DrivenClock()
    sim = AcmeSimulator(tmp_path, power=250.0, now_ns=clock.now_ns())
    clock.on_advance(sim)
    with env_vars(ACME_SYSFS=str(tmp_path)):
        yield clock, sim


def test_units_are_joules_and_watts(board):
    clock, _ = board
    (sampler,) = AcmeSampler.open("acme:0")
    first = sampler.read()
    clock.sleep(2.0)
    second = sampler.read()
    assert second.power_w == pytest.approx(250.0)
    assert second.energy_j - first.energy_j == pytest.approx(500.0, abs=1e-6)  # 250 W x 2 s
    assert second.power_limit_w == RATED_W


def test_board_is_found_by_uuid_and_present_to_the_device_backend(board):
    device = AcmeDevice.open(0)
    (sampler,) = AcmeSampler.open("acme:0", identity=device.identity())
    assert sampler.describe()["uuid"] == device.identity()["uuid"]
    assert AcmeDevice.probe() == ["acme:0"] and device.name() == "Acme A1"


def test_a_lost_board_raises_device_lost(board):
    _, sim = board
    (sampler,) = AcmeSampler.open("acme:0")
    sim.unplug(0)
    with pytest.raises(SamplerDeviceLost):
        sampler.read()
    assert not AcmeSampler.is_available("acme:0")
