"""What every command run over hostile input must do, and the tools to check it.

- :func:`handled`: the command ran in this process (:func:`tests.support.harness.invoke`) within a deadline and
  ended with an exit code, not an exception; every error is one line; its output holds nothing that acts on a
  terminal (no control character but line feeds and tabs, no bidi override).
- :func:`deadline`: a hang becomes a failure after a few seconds (SIGALRM: interrupts Python loops, blocking
  system calls and the regular-expression engine alike).
- :func:`peak_rss`: commands run in a child process whose peak resident memory (``VmHWM``) is measured per command.
- :func:`unprivileged`: the body runs with an ordinary user's effective id, so permission bits hold for root too.
- :func:`snapshot`: what a folder tree holds, to check a command wrote only where it was asked to.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from tests import ROOT
from tests.support.harness import CliResult, invoke

SECONDS = 20  # generous on two shared cores; the point is that nothing runs unbounded
NOBODY = 65534
UNSAFE = {chr(c) for c in range(0x20) if chr(c) not in "\n\t"} | {"\x7f", "\x9b", "\u202e", "\u2066"}


class Hang(Exception):
    """The body ran past its deadline."""


@contextlib.contextmanager
def deadline(seconds: float = SECONDS):
    """Fail the body with :class:`Hang` after ``seconds`` (main thread only, as pytest runs tests)."""

    def alarm(signum, frame):
        raise Hang(f"still running after {seconds} s")

    old = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


def handled(*args: str, codes: tuple[int, ...] = (0, 1, 2), seconds: float = SECONDS) -> CliResult:
    """``bench ARGS`` in-process: it returns (no exception escaped) within ``seconds`` with one of ``codes``;
    errors are single lines; the output is safe for a terminal."""
    with deadline(seconds):
        res = invoke(*args)
    assert res.code in codes, f"bench {' '.join(args)} exited {res.code}:\n{res.output}"
    assert "Traceback" not in res.output, res.output
    terminal_safe(res.output)
    for line in res.err.splitlines():
        if line.startswith("bench:"):
            assert len(line) < 2000, line[:200]
    return res


def terminal_safe(text: str) -> None:
    bad = sorted({repr(c) for c in text if c in UNSAFE or 0x80 <= ord(c) <= 0x9F or 0xD800 <= ord(c) <= 0xDFFF})
    assert not bad, f"characters that act on a terminal reached the output: {bad}\n{text[:2000]!r}"


@contextlib.contextmanager
def unprivileged():
    """Run the body as ``nobody`` (effective ids) when the tests run as root: root ignores permission bits."""
    if os.geteuid() != 0:
        yield
        return
    os.setegid(NOBODY)
    os.seteuid(NOBODY)
    try:
        yield
    finally:
        os.seteuid(0)
        os.setegid(0)


@contextlib.contextmanager
def open_folder():
    """A scratch folder every user can enter (pytest's tmp_path is private to its owner), removed after."""
    folder = Path(tempfile.mkdtemp(prefix="bench-hostile-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        for root, dirs, _ in os.walk(folder):
            for d in dirs:
                with contextlib.suppress(OSError):
                    os.chmod(os.path.join(root, d), 0o755, follow_symlinks=False)
        shutil.rmtree(folder, ignore_errors=True)


def snapshot(root: Path) -> dict[str, tuple[int, int]]:
    """path -> (size, mtime_ns) of everything under ``root`` (links not followed)."""
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            path = os.path.join(dirpath, name)
            st = os.lstat(path)
            out[os.path.relpath(path, root)] = (st.st_size, st.st_mtime_ns)
    return out


def changed(before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]]) -> set[str]:
    return {p for p in set(before) | set(after) if before.get(p) != after.get(p)}


def peak_rss(commands: list[list[str]], timeout: float = 120) -> list[dict]:
    """Run each ``bench`` command in one child process, one after the other; per command its exit code, seconds,
    peak resident memory growth in MiB (``VmHWM`` reset before each through ``/proc/self/clear_refs``) and output."""
    proc = subprocess.run([sys.executable, str(Path(__file__).with_name("rss_child.py")), json.dumps(commands)],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.splitlines()[-1])
