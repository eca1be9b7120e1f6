"""The one CLI harness of the tests: ``bench ARGS...`` in this process, as the console script runs it
(:func:`invoke`, also the ``cli`` fixture), or in a real process (:func:`run_bench`) where signals, exit codes of
the interpreter or a clean import state matter."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess

from tests import BENCH, ROOT


class CliResult:
    """What a command did: its exit code, standard output and standard error."""

    def __init__(self, code: int, out: str, err: str) -> None:
        self.code, self.out, self.err = code, out, err

    @property
    def output(self) -> str:
        """Standard output then standard error, as a person at the terminal reads them."""
        return self.out + self.err


def invoke(*args: str) -> CliResult:
    """``bench ARGS...`` in-process through :func:`bench.cli.main` (every error becomes its exit code)."""
    from bench.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            main(list(args))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return CliResult(code, out.getvalue(), err.getvalue())


def run_bench(*args: str, timeout: float = 300, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run the real console entry point in a subprocess (from the repository root, 200 columns)."""
    full_env = {**os.environ, "COLUMNS": "200", **(env or {})}
    return subprocess.run([*BENCH, *args], capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=full_env)
