"""Child process of :func:`tests.hostile.support.peak_rss`: runs ``bench`` commands one after the other and prints,
as one JSON line, each one's exit code, seconds and peak resident memory growth (MiB)."""

import contextlib
import io
import json
import sys
import time


def vm(key: str) -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1]) // 1024
    return 0


def main() -> None:
    # imported before measuring: the libraries are not the command's cost
    import pandas  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    import bench.cli.integrity  # noqa: F401
    import bench.cli.report  # noqa: F401
    import bench.cli.score  # noqa: F401
    import bench.report.page  # noqa: F401
    from bench.cli import main as command

    rows = []
    for args in json.loads(sys.argv[1]):
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")  # reset the peak resident set size to the current one
        base = vm("VmRSS")
        out, err = io.StringIO(), io.StringIO()
        start = time.monotonic()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                command(args)
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            except BaseException as exc:  # reported, not raised: the parent asserts on it
                code = f"{type(exc).__name__}: {exc}"
        rows.append({"args": args, "code": code, "seconds": time.monotonic() - start,
                     "growth_mib": vm("VmHWM") - base, "out": out.getvalue()[-2000:], "err": err.getvalue()[-2000:]})
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
