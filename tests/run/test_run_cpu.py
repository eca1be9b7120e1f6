"""`bench run --device cpu` end to end on this machine: a real workload, a real subprocess."""

import json

import pytest

from bench.result.io import load_result
from bench.result.trace import read_trace
from tests.support.harness import run_bench


@pytest.fixture(scope="module")
def cpu_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("results")
    proc = run_bench("run", "--device", "cpu", "--workload", "gemm", "--idle", "1", "--duration", "0.6",
                     "--repeats", "3", "--warmup-min", "0.5", "--warmup-max", "3", "--rate", "10",
                     "--out", str(out), "--name", "gemm-cpu")
    assert proc.returncode == 0, proc.stderr
    return out / "gemm-cpu", proc


def test_result_folder_and_summary(cpu_run):
    folder, proc = cpu_run
    assert (folder / "result.json").is_file() and (folder / "trace.parquet").is_file()
    assert not (folder / "trace.arrows").exists()
    assert "gemm" in proc.stdout and "complete" in proc.stdout
    assert "sampler: estimate" in proc.stdout


def test_figures_are_consistent(cpu_run):
    folder, _ = cpu_run
    r = load_result(folder)
    assert r.status == "complete"
    w = r.workload("gemm")
    assert len(w.repeats) == 3
    assert w.flops_per_unit == 2 * 512**3
    for rep in w.repeats:
        assert rep.duration_s >= 0.6
        assert rep.units == rep.steps * w.units_per_step > 0
        # energy = mean power x time; units x energy per unit = net energy
        assert rep.gross_energy_j == pytest.approx(rep.mean_power_w * rep.duration_s, rel=0.01)
        assert rep.units * rep.energy_per_unit_j == pytest.approx(rep.net_energy_j, rel=0.01)
        assert rep.net_energy_j == pytest.approx(rep.gross_energy_j - r.idle.power_w * rep.duration_s, rel=1e-6)
        assert rep.throughput == pytest.approx(rep.units / rep.duration_s)
    agg = w.aggregate
    assert agg.energy_per_unit_j.n == 3
    assert agg.energy_per_unit_j.ci95_low <= agg.energy_per_unit_j.mean <= agg.energy_per_unit_j.ci95_high
    assert agg.flops_per_joule.mean == pytest.approx(
        sum(w.flops_per_unit / rep.gross_energy_per_unit_j for rep in w.repeats) / 3, rel=1e-9)


def test_trace_covers_the_run(cpu_run):
    folder, _ = cpu_run
    r = load_result(folder)
    table = read_trace(folder)
    assert table.num_rows == r.measurement.samples == r.trace.rows
    ts = table.column("t_ns").to_pylist()
    for win in r.windows:
        inside = [t for t in ts if win.t_start_ns <= t <= win.t_end_ns]
        assert len(inside) >= win.duration_s * 10 * 0.5  # 10 Hz requested; allow a loaded machine
    assert r.measurement.achieved_rate_hz == pytest.approx(10, rel=0.3)


def test_provenance_and_method_recorded(cpu_run):
    folder, _ = cpu_run
    data = json.loads((folder / "result.json").read_text())
    assert data["schema_version"] == "1.0"
    assert data["provenance"]["versions"]["torch"].startswith("2.")
    assert data["measurement"]["channels"][0]["capabilities"]["power"] == "estimated"
    assert data["config"]["repeats"] == 3 and data["config"]["duration_s"] == 0.6
    assert data["integrity"]["digest"] and data["trace"]["sha256"]
    names = [w["name"] for w in data["windows"]]
    assert names[0] == "idle" and "gemm/repeat.3" in names


def test_the_estimates_share_of_busy_cpu_is_recorded_as_it_stood_at_the_end(cpu_run):
    folder, _ = cpu_run
    r = load_result(folder)
    described = r.measurement.channels[0].describe
    assert described["busy_cpu_s"] > 1.0  # the run kept a core busy for seconds
    assert 0.0 < described["process_cpu_share"] <= 1.0
    polluted = [i for i in r.issues if i.code == "estimate_polluted"]
    assert bool(polluted) == (described["process_cpu_share"] < 0.5)  # recorded exactly when the share is low


def test_show_reads_the_folder(cpu_run):
    folder, _ = cpu_run
    proc = run_bench("show", str(folder))
    assert proc.returncode == 0 and "gemm" in proc.stdout
    proc = run_bench("show", str(folder), "--json")
    assert json.loads(proc.stdout)["status"] == "complete"
