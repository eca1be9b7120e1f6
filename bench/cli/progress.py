"""The progress display of ``bench run``: an overall line with the run's clock and an estimate of the time left,
then one bar per phase (the idle baseline; per workload its set-up, warm-up and repeats), each filling once.

:class:`RunPlan` is the estimate, plain arithmetic over the run's configuration and what the phases took so
far; :class:`RunProgress` draws it with rich. Labels are printed as they are (never read as rich markup).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

PHASE_LABELS = {"idle": "idle baseline", "setup": "set-up", "warmup": "warm-up", "repeat": "repeats",
                "latency": "latency"}
LABEL_WIDTH = 30


@dataclass
class RunPlan:
    """How long a run should take, refined as it goes. Seconds throughout.

    Before a phase has been seen its length is estimated from the configuration: the idle baseline as
    configured, a set-up as long as the mean of those seen (0 before the first), a warm-up as long as the
    mean of those seen (before the first: ``warmup_min_s``, and at least two 1 s blocks, the fewest that can
    agree), and ``repeats`` windows of ``duration_s`` stretched by how much the finished repeats overran.
    """

    workloads: int
    idle_s: float = 0.0
    repeats: int = 3
    duration_s: float = 10.0
    warmup_min_s: float = 2.0
    warmup_max_s: float = 60.0
    setups_s: list[float] = field(default_factory=list)
    warmups_s: list[float] = field(default_factory=list)
    repeats_s: list[float] = field(default_factory=list)

    @classmethod
    def of(cls, cfg: Any) -> "RunPlan":
        """The plan of a :class:`~bench.run.config.RunConfig`."""
        return cls(workloads=len(cfg.workloads), idle_s=float(cfg.idle_s), repeats=int(cfg.repeats),
                   duration_s=float(cfg.duration_s), warmup_min_s=float(cfg.warmup_min_s),
                   warmup_max_s=float(cfg.warmup_max_s))

    def setup_s(self) -> float:
        return sum(self.setups_s) / len(self.setups_s) if self.setups_s else 0.0

    def warmup_s(self) -> float:
        if self.warmups_s:
            return sum(self.warmups_s) / len(self.warmups_s)
        return min(max(self.warmup_min_s, 2.0), self.warmup_max_s)

    def repeat_s(self) -> float:
        if self.repeats_s:
            return max(self.duration_s, sum(self.repeats_s) / len(self.repeats_s))
        return self.duration_s

    def workload_s(self) -> float:
        """A whole workload not yet started."""
        return self.setup_s() + self.warmup_s() + self.repeats * self.repeat_s()

    def remaining_s(self, phase: str | None, done: float, total: float, in_phase_s: float,
                    workloads_done: int) -> float:
        """Seconds left: the rest of the current phase (``done`` of ``total`` in its unit, ``in_phase_s``
        seconds in it), the rest of its workload, and every workload after it. ``workloads_done`` counts the
        workloads finished before the current one; ``phase`` None: nothing started yet."""
        if phase is None:
            return self.idle_s + self.workloads * self.workload_s()
        later = max(self.workloads - workloads_done - (0 if phase == "idle" else 1), 0) * self.workload_s()
        if phase == "idle":
            return max(self.idle_s - done, 0.0) + later
        if phase == "setup":
            rest = max(self.setup_s() - in_phase_s, 0.0) + self.warmup_s() + self.repeats * self.repeat_s()
        elif phase == "warmup":
            if total > 0 and done >= total:  # the warm-up has ended
                left = 0.0
            else:
                left = min(max(self.warmup_s() - done, 1.0), max(self.warmup_max_s - done, 0.0))
            rest = left + self.repeats * self.repeat_s()
        elif phase == "latency":  # after the repeats, ``total`` seconds long
            rest = max(total - max(done, in_phase_s), 0.0)
        else:  # repeat: ``done`` whole repeats, the current one ``in_phase_s`` old
            left_repeats = max(total - done, 0.0)
            rest = max(left_repeats * self.repeat_s() - in_phase_s, 0.0) if left_repeats else 0.0
        return rest + later


class RunProgress:
    """Context manager whose :meth:`update` is the runner's progress callback (phase, done, total, label)."""

    def __init__(self, enabled: bool, console: Any, plan: RunPlan | None = None,
                 now: Callable[[], float] = time.monotonic) -> None:
        self.enabled = enabled
        self.console = console
        self.plan = plan
        self.now = now
        self._progress: Any = None
        self._overall: Any = None
        self._bar: Any = None
        self._key: tuple[str, str] | None = None
        self._phase_start = 0.0
        self._phase_state: tuple[str, float, float] | None = None  # (phase, done, total) of the open bar
        self._run_start = 0.0
        self._workloads_done = 0
        self._seen_workloads: list[str] = []
        self._finished = False

    def __enter__(self) -> "RunProgress":
        if self.enabled:
            from rich.progress import BarColumn, TaskProgressColumn, TextColumn, TimeElapsedColumn

            self._progress = progress_class()(
                self._before_refresh,
                TextColumn("{task.description}", markup=False, style="bold"),
                BarColumn(bar_width=None),
                TaskProgressColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.fields[left]}", markup=False),
                console=self.console, transient=False, expand=True, refresh_per_second=4,
                get_time=self.now,
            )
            self._run_start = self.now()
            self._overall = self._progress.add_task(_fit("run"), total=None, left=self._left_text(None, 0, 0))
            self._progress.start()
        return self

    # --- the estimate -------------------------------------------------------------------------

    def _left_text(self, phase: str | None, done: float, total: float) -> str:
        if self.plan is None:
            return ""
        left = self.plan.remaining_s(phase, done, total, self.now() - self._phase_start, self._workloads_done)
        return f"~{_clock(left)} left"

    def _before_refresh(self) -> None:
        """Before each refresh: the open bar and the overall line move with the clock between the runner's calls."""
        if self._bar is not None and self._phase_state is not None and not self._finished:
            phase, done, total = self._phase_state
            shown = done
            if phase == "repeat" and self.plan is not None and done < total:  # inside a repeat: by its expected length
                shown = done + min((self.now() - self._phase_start) / max(self.plan.repeat_s(), 1e-9), 0.99)
            self._progress.update(self._bar, completed=shown)
            self._update_overall(phase, done, total)

    def _update_overall(self, phase: str | None, done: float, total: float) -> None:
        elapsed = self.now() - self._run_start
        fields: dict[str, Any] = {"left": self._left_text(phase, done, total)}
        if self.plan is not None:
            left = self.plan.remaining_s(phase, done, total, self.now() - self._phase_start, self._workloads_done)
            fields.update(total=max(elapsed + left, 1e-9), completed=elapsed)
        self._progress.update(self._overall, **fields)

    # --- the runner's callback ----------------------------------------------------------------

    def update(self, phase: str, done: float, total: float, message: str) -> None:
        if self._progress is None:
            return
        workload = "" if phase == "idle" else message
        key = (phase, workload)
        if key != self._key:
            self._next_bar(key, phase, workload, total)
        elif phase == "repeat" and self._phase_state is not None and done > self._phase_state[1]:
            self._note_repeat(done - self._phase_state[1])
        before = self._phase_state
        ended = total > 0 and done >= total and (before is None or before[1] < before[2])
        if ended and self.plan is not None and phase in ("setup", "warmup"):  # how long such a phase takes here
            (self.plan.setups_s if phase == "setup" else self.plan.warmups_s).append(self.now() - self._phase_start)
        self._phase_state = (phase, done, total)
        self._progress.update(self._bar, completed=done, total=max(total, 1e-9))
        self._update_overall(phase, done, total)

    def _next_bar(self, key: tuple[str, str], phase: str, workload: str, total: float) -> None:
        """Close the open bar (full: its phase is over) and open the next."""
        now = self.now()
        if self._bar is not None and self._key is not None:  # the runner filled it if the phase ended well
            self._progress.stop_task(self._bar)
        if workload and workload not in self._seen_workloads:
            if self._seen_workloads:
                self._workloads_done += 1
            self._seen_workloads.append(workload)
        label = PHASE_LABELS.get(phase, phase)
        text = label if phase == "idle" else f"{workload}: {label}"
        self._bar = self._progress.add_task(_fit(text), total=max(total, 1e-9), left="")
        self._key, self._phase_start, self._phase_state = key, now, None

    def _note_repeat(self, repeats: float) -> None:
        """A repeat ended: remember how long it took (the estimate of the ones to come)."""
        if self.plan is not None:
            self.plan.repeats_s.append((self.now() - self._phase_start) / max(repeats, 1.0))
        self._phase_start = self.now()

    def __exit__(self, *exc: object) -> None:
        if self._progress is None:
            return
        if self._bar is not None:
            self._progress.stop_task(self._bar)
        self._finished = True
        elapsed = self.now() - self._run_start
        self._progress.update(self._overall, total=max(elapsed, 1e-9), completed=elapsed, left="done")
        self._progress.refresh()
        self._progress.stop()


def progress_class() -> type:
    """rich's Progress, calling ``before_refresh`` before each refresh (rich is imported only when drawing)."""
    from rich.progress import Progress

    class ClockedProgress(Progress):
        def __init__(self, before_refresh: Callable[[], None], *columns: Any, **kwargs: Any) -> None:
            self.before_refresh = before_refresh
            super().__init__(*columns, **kwargs)

        def get_renderables(self) -> Any:
            self.before_refresh()
            yield from super().get_renderables()

    return ClockedProgress


def _clock(seconds: float) -> str:
    """``H:MM:SS``."""
    s = max(int(round(seconds)), 0)
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _fit(text: str, width: int = LABEL_WIDTH) -> str:
    """A label padded or cut to ``width`` columns, so the bars line up."""
    return text.ljust(width) if len(text) <= width else text[: width - 1] + "\u2026"
