"""A replayed trace is never a measurement: it stands in for the host only, its channels are not calibrated
and not measured, and a run made with it is L0, ungraded, and says why wherever it is shown."""

from __future__ import annotations

import json

import pytest

from bench.analysis.scoring.quality import assess_quality
from bench.conformance.fake_cuda import fake_gpus
from bench.conformance.fake_nvml import FakeNvml
from bench.result.io import load_result
from bench.result.model import ChannelInfo
from bench.result.trace import TraceWriter, finalize
from bench.samplers.base import Capabilities, PowerKind, Reading, Scope
from bench.samplers.replay import ReplaySampler
from tests.factories import caps, make_result


def write_trace(folder, power_w=50.0, seconds=30.0, meta_caps=True):
    """A synthetic ``power_w`` trace at 1 kHz with an exact counter, whose metadata claims a calibrated meter."""
    folder.mkdir(parents=True, exist_ok=True)
    caps = Capabilities(energy_counter=True, power=PowerKind.INSTANT, scope=Scope.SYSTEM, update_period_s=0.001,
                        calibrated=True)
    meta = {"channels": {"meter:0": {"sampler": "lab-meter", **caps.to_dict()}}} if meta_caps else {}
    writer = TraceWriter(folder, meta)
    for k in range(int(seconds * 1000) + 1):
        t = k / 1000
        writer.append("meter:0", Reading(t_ns=int(t * 1e9), energy_j=power_w * t, power_w=power_w))
    writer.close()
    return finalize(folder)


def test_replay_stands_in_for_the_host_only():
    assert ReplaySampler.is_available("cpu")
    for device in ("cuda:0", "cuda:1", "npu:0", "cpu:7"):
        answer = ReplaySampler.is_available(device)
        assert not answer and "measures no device" in answer.reason


def test_replayed_channels_are_never_calibrated_nor_measured(tmp_path):
    trace = write_trace(tmp_path / "t", seconds=2.0)
    (sampler,) = ReplaySampler.open("cpu", trace=str(trace))
    caps = sampler.capabilities
    assert caps.calibrated is False and caps.measured is False  # whatever the trace's metadata says
    assert caps.energy_counter is True  # the recorded channel had one: the meter may use it
    assert "not a measurement" in sampler.describe()["method"]
    bare = write_trace(tmp_path / "bare", seconds=2.0, meta_caps=False)
    (sampler,) = ReplaySampler.open("cpu", trace=str(bare), channel="meter:0")
    assert sampler.capabilities.energy_counter is False  # no metadata: no counter claimed


def test_a_run_on_a_replayed_trace_is_l0_and_ungraded_everywhere(cli, tmp_path):
    trace = write_trace(tmp_path / "trace")
    res = cli("run", "--device", "cpu", "--sampler", "replay", "--sampler-option", f"trace={trace}",
              "--sampler-option", "loop=1", "--workload", "gemm", "--idle", "1", "--duration", "0.5",
              "--repeats", "3", "--warmup-min", "0.3", "--warmup-max", "2", "--quiet",
              "--out", str(tmp_path), "--name", "replayed")
    assert res.code == 0, res.err
    folder = tmp_path / "replayed"
    r = load_result(folder)
    sensor = next(a for a in r.quality.aspects if a.aspect == "sensor")
    assert r.quality.level == 0 and sensor.level == 0 and "a replayed trace" in sensor.reason
    assert r.measurement.channels[0].capabilities["measured"] is False
    assert r.measurement.channels[0].capabilities["calibrated"] is False
    shown = cli("show", str(folder))
    assert "ungraded" in shown.out and "a replayed trace" in shown.out
    scored = cli("score", "--json", str(folder))
    (s,) = json.loads(scored.out)
    ws = s["workloads"][0]
    assert ws["grade"] is None and "quality L0" in ws["grade_reason"] and "replayed trace" in ws["grade_reason"]
    assert s["conforms"] is False


def test_a_replay_cannot_stand_in_for_an_accelerator(cli, tmp_path):
    trace = write_trace(tmp_path / "trace", seconds=2.0)
    with fake_gpus(FakeNvml.of("NVIDIA H100 80GB HBM3")):
        res = cli("run", "--device", "cuda:0", "--sampler", "replay", "--sampler-option", f"trace={trace}",
                  "--workload", "gemm", "--quiet", "--out", str(tmp_path))
    assert res.code == 2 and "measures no device" in res.err and "cuda:0" in res.err


@pytest.mark.parametrize("sampler", ["replay", "estimate"])
def test_old_results_of_non_measuring_samplers_are_l0(sampler):
    """Results written before channels declared ``measured`` are judged by their sampler."""
    c = caps(power="estimated" if sampler == "estimate" else "instant")
    c.pop("measured", None)
    result = make_result(channels=[ChannelInfo(channel="x:0", sampler=sampler, capabilities=c)])
    assert assess_quality(result).level == 0
