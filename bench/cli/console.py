"""The console tables are printed on: the terminal's width, or 132 columns when output goes to a file
or a pipe (a log should not wrap every number over three lines)."""

from __future__ import annotations

from typing import Any

LOG_WIDTH = 132


def console() -> Any:
    from rich.console import Console

    con = Console()
    return con if con.is_terminal else Console(width=max(con.width, LOG_WIDTH))
