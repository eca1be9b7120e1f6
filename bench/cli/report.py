"""``bench report``: one self-contained HTML file with leaderboards, plots and the method of every run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click


@click.command()
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=Path("report.html"),
              show_default=True, help="HTML file to write.")
@click.option("--title", default="bench report", show_default=True)
@click.option("--metric", type=click.Choice(["gross", "net"]), default="gross", show_default=True,
              help="Energy per unit that ranks the leaderboards.")
@click.option("--standard", default=None, help="Standard to grade against (id, version or .toml path).")
@click.option("--no-traces", is_flag=True, help="Leave out the per-run power traces (smaller, faster).")
@click.option("--max-points", type=click.IntRange(50, 100_000), default=600, show_default=True,
              help="Points per power trace after downsampling.")
@click.option("--image-format", "fmt", type=click.Choice(["png", "svg"]), default="png", show_default=True)
@click.option("--workers", type=click.IntRange(1, 256), default=None,
              help="Processes drawing the traces (default: CPU count, at most 8).")
@click.option("--include-edited", is_flag=True,
              help="Keep results that fail verification in the report (flagged); exit 1 still.")
@click.option("--json", "as_json", is_flag=True, help="Print what was written as JSON instead of a line.")
def report(results: tuple[Path, ...], output: Path, title: str, metric: str, standard: str | None, no_traces: bool,
           max_points: int, fmt: str, workers: int | None, include_edited: bool, as_json: bool) -> None:
    """Write a self-contained HTML report of RESULTS (run folders or folders of them).

    Exit 1 if any input was skipped or failed verification; the others are still reported.
    """
    from bench.cli.console import say
    from bench.report.page import write_report
    from bench.result.io import check_output

    check_output(output)  # before anything is read or drawn
    summary = write_report(list(results), output, standard=standard, include_edited=include_edited, title=title,
                           metric=metric, traces=not no_traces, max_points=max_points, fmt=fmt, workers=workers)
    for path, why in summary.skipped:
        say(f"bench: skipped {path}: {why}", err=True)
    if as_json:
        click.echo(json.dumps({"path": str(summary.path), "results": summary.runs, "rows": summary.rows,
                               "size_bytes": summary.size_bytes, "seconds": round(summary.seconds, 3),
                               "edited": summary.edited,
                               "skipped": [{"path": p, "reason": why} for p, why in summary.skipped]}, indent=2))
    else:
        say(f"wrote {summary.path}: {summary.runs} result(s), {summary.rows} row(s), "
            f"{summary.size_bytes / 1024:.0f} KiB in {summary.seconds:.1f} s")
    if summary.skipped or summary.edited:
        sys.exit(1)
