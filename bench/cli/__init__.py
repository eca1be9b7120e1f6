"""The ``bench`` command. Thin: parse, call the library, print.

Sub-commands live one group per module and are imported only when used, so ``bench --help``
imports neither torch nor pandas nor any vendor library.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import sys

import click

from bench.errors import BenchError
from bench.safetext import clean
from bench.version import __version__

LOG_FORMAT = "%(levelname)s %(name)s: %(message)s"
# command name -> (module, attribute, one-line help). Modules are imported lazily.
COMMANDS: dict[str, tuple[str, str, str]] = {
    "run": ("bench.cli.run", "run", "Measure workloads on a device and write a result folder."),
    "list": ("bench.cli.listing", "list_group", "List workloads, samplers, devices, profiles, standards."),
    "show": ("bench.cli.show", "show", "Summarise a result folder."),
    "schema": ("bench.cli.show", "schema", "Print the JSON schema of result.json."),
    "score": ("bench.cli.score", "score", "Score results against an efficiency standard."),
    "check": ("bench.cli.score", "check", "Check results conform to a standard (exit 1 if not)."),
    "compare": ("bench.cli.compare", "compare", "Compare results with ratios and confidence intervals."),
    "report": ("bench.cli.report", "report", "Write a self-contained HTML report of results."),
    "keygen": ("bench.cli.integrity", "keygen", "Make an Ed25519 key pair for signing results."),
    "sign": ("bench.cli.integrity", "sign", "Sign a result with an Ed25519 key."),
    "verify": ("bench.cli.integrity", "verify", "Verify results are intact and signed."),
    "export": ("bench.cli.integrity", "export", "Bundle result folders into a submission archive."),
    "import": ("bench.cli.integrity", "import_", "Check and unpack a submission archive."),
    "plugins": ("bench.cli.plugins", "plugins_group", "List plugins and run the conformance kit."),
}


def _module_exists(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


class LazyGroup(click.Group):
    """A click group whose commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name, (mod, _, _) in COMMANDS.items() if _module_exists(mod)]

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, attr, _ = COMMANDS[name]
        if not _module_exists(module):
            return None
        return getattr(importlib.import_module(module), attr)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="bench")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
def cli(verbose: int) -> None:
    """bench: measure the energy of AI workloads with the device's own sensors, and grade it."""
    level = logging.WARNING - 10 * min(verbose, 2)
    logging.basicConfig(level=level, format=LOG_FORMAT)
    for handler in logging.getLogger().handlers:  # the one basicConfig made (not a test harness's own)
        if type(handler) is logging.StreamHandler and not isinstance(handler.formatter, SafeFormatter):
            handler.setFormatter(SafeFormatter(LOG_FORMAT))


class SafeFormatter(logging.Formatter):
    """Log lines are text from anywhere (a device name, a run id): each one printed as data."""

    def format(self, record: logging.LogRecord) -> str:
        return clean(super().format(record), newlines=True)


def main(argv: list[str] | None = None) -> None:
    """Console entry point: every :class:`BenchError` becomes one line on stderr and its exit code (the message
    printed as data: it may quote a file)."""
    try:
        rc = cli.main(args=argv, prog_name="bench", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("bench: aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        click.echo(f"bench: {clean(exc.format_message())}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except BenchError as exc:
        click.echo(f"bench: error: {clean(exc)}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("bench: interrupted", err=True)
        sys.exit(130)
    if isinstance(rc, int) and rc:
        sys.exit(rc)
