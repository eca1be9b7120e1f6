"""``bench compare``: per-workload tables of results against a baseline, with ratios, CIs and verdicts."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click

from bench.cli.params import Finite

VERDICT_STYLE = {"better": "bold green", "worse": "bold red", "no significant difference": "dim",
                 "baseline": "bold", "not comparable": "yellow"}


def _config(row: Any) -> str:
    return "/".join(str(x) for x in (row.preset, row.dtype, row.batch) if x is not None) or "-"


def _mean_ci(row: Any) -> str:
    from bench.report.plots import nice_number

    if row.mean is None:
        return "-"
    from bench.cli.show import ci_text

    if row.ci_low is None or row.ci_high is None or not row.mean:
        return f"{nice_number(row.mean)} {ci_text(None, row.n)}"
    return f"{nice_number(row.mean)} {ci_text(abs((row.ci_high - row.ci_low) / 2 / row.mean), row.n)}"


def _ratio(row: Any) -> str:
    from bench.report.formats import ratio_ci_text

    if row.ratio is None:
        return "-"
    ci = ratio_ci_text(row)
    return f"{row.ratio:.3f}" + ("" if ci == "-" else f"\n{ci}")


def print_rich(comp: Any, console: Any) -> None:
    """The comparison as compact rich tables, flags as numbered notes below each table. Cells are
    plain Text: nothing from a result is read as markup."""
    from rich import box
    from rich.table import Table

    from bench.cli.console import plain
    from bench.report.formats import table_title

    for tb in comp.tables:
        configs = {_config(r) for r in tb.rows}
        title = table_title(comp, tb) + (f" ({configs.pop()})" if len(configs) == 1 else "")
        table = Table(title=plain(title), title_justify="left", box=box.SIMPLE_HEAD, pad_edge=False)
        # (header, right-aligned, never wrapped): figures keep their width, names and verdicts wrap
        heads = [("#", True, True), ("result", False, False)] + ([("config", False, False)] if configs else [])
        heads += [(comp.label, True, True), ("ratio (95% CI)", True, True), ("verdict (Welch p)", False, False),
                  ("grade Q", False, True)]
        for head, right, no_wrap in heads:
            table.add_column(head, justify="right" if right else "left", no_wrap=no_wrap,
                             min_width=12 if head.startswith("verdict") else None,
                             overflow="fold" if head.startswith(("verdict", "config")) else "ellipsis")
        notes, ungraded = [], []
        for i, row in enumerate(tb.rows, 1):
            mark = ""
            if row.flags:
                notes.append(f"[{i}] " + "; ".join(row.flags))
                mark = f" [{i}]"
            who = plain(row.run)
            who.append("\n")
            who.append_text(plain(row.device or "-", style="dim"))
            good = row.integrity in ("signed", "unsigned")
            who.append(f"\n{row.integrity or '-'}", style="dim" if good else "bold red")
            verdict = plain(row.verdict + mark, style=VERDICT_STYLE.get(row.verdict, ""))
            if row.across:  # a ratio across settings, as asked: say so beside the verdict
                verdict.append("\nacross " + ", ".join(a.split(" ", 1)[0] for a in row.across), style="yellow")
            if row.p_value is not None:
                verdict.append(f"\np = {row.p_value:.2g}", style="dim")
            cells = [str(i), who] + ([plain(_config(row))] if configs else [])
            quality = "-" if row.quality_level is None else f"L{row.quality_level}"
            cells += [_mean_ci(row), _ratio(row), verdict, plain(f"{row.grade or 'ungraded':<5} {quality}")]
            table.add_row(*cells)
            if row.grade is None and row.grade_reason:
                ungraded.append(f"{row.run}: ungraded: {row.grade_reason}")
        console.print(table)
        for note in notes + ungraded + tb.notes:
            console.print(plain(note, style="yellow"))
    console.print(plain(comp.method, style="dim"))


def report_skipped(skipped: list[tuple[str, str]]) -> None:
    from bench.cli.console import say

    for path, why in skipped:
        say(f"bench: skipped {path}: {why}", err=True)


@click.command()
@click.argument("results", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--baseline", "-b", default=None,
              help="Baseline result: position (1 = first), folder, label or run id prefix. Default: the first.")
@click.option("--metric", type=click.Choice(["gross", "net", "throughput"]), default="gross", show_default=True,
              help="Figure compared: gross or net J per unit (lower is better), or throughput (higher is better).")
@click.option("--format", "fmt", type=click.Choice(["rich", "markdown", "csv", "json", "html"]), default="rich",
              show_default=True)
@click.option("--output", "-o", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write to this file instead of standard output.")
@click.option("--standard", default=None, help="Standard to grade against (id, version or .toml path).")
@click.option("--include-edited", is_flag=True,
              help="Keep results that fail verification in the tables (flagged); exit 1 still.")
@click.option("--alpha", type=Finite(0.0, 0.5, min_open=True), default=0.05, show_default=True,
              help="Significance level of Welch's t-test.")
@click.option("--allow", "allow", multiple=True, type=click.Choice(["dtype", "preset", "batch", "seq_len", "settings"]),
              help="Give ratios and verdicts across this setting too (repeatable), e.g. --allow dtype for bf16 "
                   "against fp32; such rows are flagged 'across'. Never across units.")
def compare(results: tuple[Path, ...], baseline: str | None, metric: str, fmt: str, output: Path | None,
            standard: str | None, include_edited: bool, alpha: float, allow: tuple[str, ...]) -> None:
    """Compare results: each result's figures and its ratio to a baseline, with a 95% CI and a verdict.

    RESULTS are run folders, result.json files, or folders of run folders. Exit 1 if any input was skipped
    or failed verification.
    """
    from bench.analysis.compare import comparison
    from bench.analysis.frame import Grader, runs_frame
    from bench.errors import UsageError
    from bench.result.io import check_output
    from bench.result.store import load_runs

    if output is not None:
        check_output(output)  # before anything is read: a report nobody can write is not worth building
    loaded = load_runs(results, include_edited=include_edited)
    report_skipped(loaded.skipped)
    if not loaded.runs:
        raise UsageError("no result to compare")
    frame = runs_frame(loaded.runs, Grader(standard))
    frame.attrs["skipped"] = list(loaded.skipped)
    comp = comparison(frame, baseline=baseline, metric=metric, alpha=alpha, allow=allow)
    _emit(comp, fmt, output)
    bad = [r for r in loaded.runs if not r.integrity.ok]
    if loaded.skipped or bad:
        sys.exit(1)


def _emit(comp: Any, fmt: str, output: Path | None) -> None:
    import io

    from bench.cli.console import say_block
    from bench.report import formats
    from bench.result.io import write_output

    if fmt == "rich":
        from rich.console import Console

        from bench.cli.console import console as wide_console

        if output is None:
            print_rich(comp, wide_console())
            return
        buf = io.StringIO()
        print_rich(comp, Console(file=buf, width=200, color_system=None))
        write_output(output, buf.getvalue().encode("utf-8"))
        return
    text = {"markdown": formats.to_markdown, "csv": formats.to_csv, "json": formats.to_json,
            "html": formats.to_html}[fmt](comp)
    if output is None:
        say_block(text, nl=False)
    else:
        write_output(output, text.encode("utf-8"))
