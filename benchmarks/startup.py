"""Start-up: how long ``bench --help``, ``bench list`` and ``bench plugins list`` take, side by side.

Each command runs as a user runs it, in a fresh process (the ``bench`` console script beside this Python, or
``python -m bench``), ``--runs`` times in a shuffled order per round after one untimed warm-up run each (so the
files are in the page cache for every timed run). Reported per command: the median, quartiles and range of the
wall time and the median of the child's CPU time (user + system, less exposed to other processes than wall
time); and from one extra run under ``python -X importtime``, its peak RSS (``VmHWM``) and which of torch,
pandas, scipy, matplotlib, pyarrow and codecarbon it imported at all.

Usage::

    python benchmarks/startup.py [--quick] [--runs N] [--out FILE] [--docs]

JSON goes to stdout (and ``--out``); a markdown table to stderr. ``--docs`` also writes
docs/data/startup.json and the start-up table of docs/performance.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from a checkout
    sys.path.insert(0, str(ROOT))

from _docs import emit, write_data, write_section  # noqa: E402  (beside this script)
from _machine import machine_info  # noqa: E402

COMMANDS = {"bench --help": ["--help"], "bench list": ["list"], "bench plugins list": ["plugins", "list"]}
TARGETS_S = {"bench --help": 0.25, "bench list": 0.5, "bench plugins list": 0.5}
HEAVY = ("torch", "pandas", "scipy", "matplotlib", "pyarrow", "codecarbon")


def _shown(part: str) -> str:
    """A path inside the repository as a relative one (the record says which script ran, not where)."""
    root = Path(__file__).resolve().parents[1]
    try:
        return str(Path(part).relative_to(root))
    except ValueError:
        return part


def entry_point() -> list[str]:
    """The ``bench`` console script of this environment, else ``python -m bench``."""
    script = Path(sys.executable).with_name("bench")
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    found = shutil.which("bench")
    return [found] if found else [sys.executable, "-m", "bench"]


def timed(cmd: list[str], env: dict[str, str]) -> dict[str, float]:
    """One run: wall time (s) and the child's CPU time (s)."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT, env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    proc.stderr.close()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}: {err[-500:]}")
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime}


# The child's own peak RSS (VmHWM belongs to its address space; ru_maxrss would carry this parent's over exec).
PEAK = ("import atexit, sys\n"
        "def peak():\n"
        "    for line in open('/proc/self/status'):\n"
        "        if line.startswith('VmHWM:'):\n"
        "            print('PEAK_KIB', line.split()[1], file=sys.stderr)\n"
        "atexit.register(peak)\n"
        "from bench.cli import main\n"
        "main(sys.argv[1:])\n")


def imports_and_peak(args: list[str], env: dict[str, str]) -> tuple[list[str], float | None]:
    """The heavy top-level packages a command imports (``-X importtime``) and its peak RSS (MiB)."""
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", PEAK, *args], capture_output=True,
                          text=True, cwd=ROOT, env=env, timeout=300)
    names = {line.rsplit("|", 1)[-1].strip() for line in proc.stderr.splitlines() if line.startswith("import time:")}
    peak = [int(line.split()[1]) / 1024 for line in proc.stderr.splitlines() if line.startswith("PEAK_KIB")]
    return [m for m in HEAVY if m in names], (peak[-1] if peak else None)


def spread(xs: list[float]) -> dict[str, float]:
    from bench.analysis.stats import percentile

    s = sorted(xs)
    return {"median": statistics.median(s), "p25": percentile(s, 25), "p75": percentile(s, 75),
            "min": s[0], "max": s[-1]}


def measure(runs: int, seed: int) -> list[dict[str, Any]]:
    env = {**os.environ, "COLUMNS": "120", "PYTHONDONTWRITEBYTECODE": "0"}
    base = entry_point()
    for args in COMMANDS.values():  # warm-up: page cache, .pyc files
        timed([*base, *args], env)
    samples: dict[str, list[dict[str, float]]] = {name: [] for name in COMMANDS}
    rng = random.Random(seed)
    for _ in range(runs):
        order = list(COMMANDS)
        rng.shuffle(order)
        for name in order:
            samples[name].append(timed([*base, *COMMANDS[name]], env))
    rows = []
    for name, args in COMMANDS.items():
        runs_ = samples[name]
        wall = spread([r["wall_s"] for r in runs_])
        heavy, peak = imports_and_peak(args, env)
        rows.append({"command": name, "runs": len(runs_), "wall_s": wall,
                     "cpu_s": spread([r["cpu_s"] for r in runs_]), "peak_rss_mib": peak,
                     "heavy_imports": heavy, "target_s": TARGETS_S[name],
                     "met": wall["median"] < TARGETS_S[name]})
    return rows


def markdown(report: dict[str, Any]) -> str:
    lines = ["| command | wall time, median [p25, p75] (min..max) | CPU time, median | peak RSS | imports "
             "torch/pandas/scipy | target | met |",
             "|---|---|---|---|---|---|---|"]
    for r in report["results"]:
        w = r["wall_s"]
        heavy = ", ".join(r["heavy_imports"]) or "none"
        peak = "-" if r["peak_rss_mib"] is None else f"{r['peak_rss_mib']:.0f} MiB"
        lines.append(f"| `{r['command']}` | {w['median']:.3f} s [{w['p25']:.3f}, {w['p75']:.3f}] "
                     f"({w['min']:.3f}..{w['max']:.3f}) | {r['cpu_s']['median']:.3f} s "
                     f"| {peak} | {heavy} | < {r['target_s']:g} s | {'yes' if r['met'] else 'no'} |")
    return "\n".join(lines)


def docs_section(report: dict[str, Any]) -> str:
    m = report["machine"]
    return (f"Run {report['date']}: `{report['command']}` ({report['config']['runs']} timed runs of each command "
            f"in a shuffled order per round, after one warm-up run each). Machine: {m['nproc']} cores "
            f"(`{m['cpu_model']}`), Python {m['python']}, torch {m['torch']}; load average "
            f"{m['loadavg_start'][0]:g} at start, {m['loadavg_end'][0]:g} at the end. Raw figures: "
            f"[data/startup.json](data/startup.json).\n\n" + markdown(report))


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="2 runs of each (figures meaningless)")
    p.add_argument("--runs", type=int, default=15, help="timed runs of each command (default 15)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, help="also write the JSON here")
    p.add_argument("--docs", action="store_true", help="write docs/data/startup.json and docs/performance.md")
    args = p.parse_args(argv)
    if args.quick:
        args.runs = 2
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    machine = machine_info()
    report: dict[str, Any] = {
        "benchmark": "startup",
        "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "command": " ".join(["python", "benchmarks/startup.py", *(argv if argv is not None else sys.argv[1:])]),
        "machine": machine,
        "config": {"quick": args.quick, "runs": args.runs, "entry_point": " ".join(_shown(part) for part in entry_point())},
        "results": measure(args.runs, args.seed),
    }
    machine["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    report["met"] = all(r["met"] for r in report["results"])
    emit(report, args.out)
    if args.docs:
        write_data("startup", report)
        write_section("performance.md", "startup", docs_section(report))
    print(markdown(report), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
