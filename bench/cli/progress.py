"""A rich progress bar for the phases of a run (idle, warm-up, repeats)."""

from __future__ import annotations

from typing import Any


class RunProgress:
    """Context manager whose :meth:`update` matches the runner's progress callback."""

    def __init__(self, enabled: bool, console: Any) -> None:
        self.enabled = enabled
        self.console = console
        self._progress = None
        self._task = None

    def __enter__(self) -> "RunProgress":
        if self.enabled:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(TextColumn("{task.description:<36}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                                      TimeElapsedColumn(), console=self.console, transient=False)
            self._progress.start()
            self._task = self._progress.add_task("starting", total=1)
        return self

    def update(self, phase: str, done: float, total: float, message: str) -> None:
        if self._progress is None:
            return
        text = message or phase
        self._progress.update(self._task, description=f"[{phase}] {text}"[:36], completed=done, total=max(total, 1e-9))

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
