"""The console tables are printed on: the terminal's width, or 132 columns when output goes to a file
or a pipe (a log should not wrap every number over three lines); and the two ways text from a file reaches it.

Every string that comes from a result, a trace, a bundle, a profile or a standard is data: :func:`plain` makes it a
rich ``Text`` (never parsed as markup, control characters and escape sequences neutralised by
:func:`bench.safetext.clean`), and :func:`say` prints one such line with click.
"""

from __future__ import annotations

from typing import Any

import click

from bench.safetext import clean

LOG_WIDTH = 132


def console() -> Any:
    from rich.console import Console

    con = Console()
    return con if con.is_terminal else Console(width=max(con.width, LOG_WIDTH))


def plain(value: Any, style: str = "", limit: int | None = None) -> Any:
    """``value`` as a rich ``Text``: shown as it is, never read as markup, nothing that acts on the terminal."""
    from rich.text import Text

    return Text(clean("-" if value is None else value, limit=limit), style=style)


def say(line: Any, err: bool = False) -> None:
    """Print one line of text that may hold data from a file (each line break shown as ``\\n``)."""
    click.echo(clean(line), err=err)


def say_block(text: str, err: bool = False, nl: bool = True) -> None:
    """Print a block of text (a CSV or markdown table): line breaks kept, anything else neutralised."""
    click.echo(clean(text, newlines=True), err=err, nl=nl)
