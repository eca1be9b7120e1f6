"""What a sweep is given: START:STOP:STEP and lists, a slowdown budget, and one clear line for bad input."""

import pytest

from bench.errors import UsageError
from bench.run.config import RunConfig
from bench.sweep.config import MAX_VALUES, SweepConfig, parse_fraction, parse_values
from bench.workload import WorkloadParams


@pytest.mark.parametrize("text,values", [
    ("300:150:50", [300.0, 250.0, 200.0, 150.0]),
    ("150:300:50", [150.0, 200.0, 250.0, 300.0]),
    ("300:140:50", [300.0, 250.0, 200.0, 150.0]),  # STOP not on a step: the last step before it
    ("300:150:-50", [300.0, 250.0, 200.0, 150.0]),  # the direction comes from START and STOP
    ("0.3:0.1:0.1", [0.3, 0.2, 0.1]),  # decimal steps without float drift
    ("250W, 200w,250", [250.0, 200.0]),  # units, spaces, a repeat dropped
    ("275", [275.0]),
])
def test_ranges_and_lists(text, values):
    assert parse_values(text, "W", "--power-limits") == values


@pytest.mark.parametrize("text,message", [
    ("abc", "--power-limits: 'abc' is not a number of W"),
    ("300:150", "--power-limits: '300:150' is not START:STOP:STEP (e.g. 300:150:50) nor a list (300,250,200)"),
    ("300:150:0", "--power-limits: the step of '300:150:0' is 0"),
    ("300:150:0.1", f"--power-limits: '300:150:0.1' gives 1501 values; at most {MAX_VALUES} (a larger step?)"),
    ("250,-5", "--power-limits: -5 W is not a positive value"),
    ("1410MHz", "--power-limits: '1410MHz' is not a number of W"),
    ("", "--power-limits is empty; give START:STOP:STEP or a comma-separated list of W"),
])
def test_bad_values_are_one_line(text, message):
    with pytest.raises(UsageError) as err:
        parse_values(text, "W", "--power-limits")
    assert str(err.value) == message


def test_slowdown_budget():
    assert parse_fraction("5%") == 0.05 and parse_fraction("0.05") == 0.05 and parse_fraction("12.5 %") == 0.125
    with pytest.raises(UsageError, match=r"^--max-slowdown: 5 would be 500%; write 5% for 5 percent"):
        parse_fraction("5")
    with pytest.raises(UsageError, match="is not a fraction"):
        parse_fraction("five")


def run_cfg(**kw):
    return RunConfig(workloads=[("gemm", WorkloadParams())], **kw)


@pytest.mark.parametrize("kw,message", [
    ({}, "nothing to sweep: give --power-limits and/or --sm-clocks"),
    ({"power_limits_w": [250.0], "max_slowdown": -0.1}, "--max-slowdown must be greater than or equal to 0 (got -0.1)"),
    ({"power_limits_w": [0.0]}, "--power-limits must be greater than 0 (got 0.0)"),
    ({"sm_clocks_mhz": [float(x) for x in range(1, MAX_VALUES + 2)]}, f"--sm-clocks has more than {MAX_VALUES} values"),
])
def test_the_model_validates_once(kw, message):
    with pytest.raises(UsageError) as err:
        SweepConfig(run=run_cfg(), **kw)
    assert str(err.value) == message


def test_a_suite_is_not_swept():
    with pytest.raises(UsageError, match="a sweep runs --workload"):
        SweepConfig(run=run_cfg(suite="smoke"), power_limits_w=[200.0])


@pytest.mark.parametrize("args,needle", [
    (["--power-limits", "300:150"], "Invalid value for '--power-limits': '300:150' is not START:STOP:STEP"),
    (["--power-limits", "300:150:0"], "Invalid value for '--power-limits': the step of '300:150:0' is 0"),
    (["--power-limits", "250", "--max-slowdown", "5"], "Invalid value for '--max-slowdown': 5 would be 500%; write 5%"),
    (["--power-limits", "250", "--max-slowdown", "-5%"], "Invalid value for '--max-slowdown': must be greater than"),
    (["--sm-clocks", "0"], "Invalid value for '--sm-clocks': 0 MHz is not a positive value"),
    (["--power-limits", "250", "--repeats", "0"], "Invalid value for '--repeats': must be greater than or equal"),
    (["--power-limits", "250"], "give the --workload to sweep"),
])
def test_the_command_line_says_what_is_wrong_in_one_line(cli, tmp_path, args, needle):
    wl = [] if needle.startswith("give") else ["--workload", "gemm"]
    res = cli("sweep", "--device", "cpu", *wl, *args, "--out", str(tmp_path))
    assert res.code == 2, res.output
    assert needle in res.err and len(res.err.strip().splitlines()) == 1
    assert not any(tmp_path.iterdir())


def test_restore_takes_no_settings(cli, state_dir):
    res = cli("sweep", "--restore", "--power-limits", "250")
    assert res.code == 2 and res.err.strip() == "bench: error: --restore puts settings back; it takes no --power-limits"
    res = cli("sweep", "--restore")
    assert res.code == 0 and res.out.strip() == "nothing to restore: no sweep left a setting in force"
