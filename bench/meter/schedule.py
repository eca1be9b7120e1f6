"""When the meter reads: one read per period, at a random instant of it (stratified) or at its start (regular).

A regular grid of reads can lock in phase with a periodic load (a 20 ms burst once a second hit by every
read of a 10 Hz grid, or missed by every one) and bias every window the same way. Stratified reads keep
the mean rate and the bound on the interval (under two periods) but take each read at a uniformly random
instant of its period, so no load can stay in phase with them: the error of a window averages to zero over
phases. The generator is seeded (``DEFAULT_SEED`` unless a seed is given: any fixed sequence is as random
relative to a load as any other) and the seed is recorded with the trace, so a run's read times can be
reproduced.
"""

from __future__ import annotations

import os
import random

MODES = ("stratified", "regular")
DEFAULT_SEED = 0


def new_seed() -> int:
    """A fresh random seed (recorded, so it can be replayed)."""
    return int.from_bytes(os.urandom(4), "little")


class PollSchedule:
    """The instants (ns) of successive reads at ``period_ns``; ``mode`` is ``stratified`` or ``regular``."""

    __slots__ = ("period_ns", "mode", "seed", "slot_ns", "next_ns", "_rng", "_random")

    def __init__(self, period_ns: int, mode: str = "stratified", seed: int | None = None) -> None:
        if mode not in MODES:
            raise ValueError(f"polling must be one of {', '.join(MODES)}, got {mode!r}")
        self.period_ns = period_ns
        self.mode = mode
        self.seed = DEFAULT_SEED if seed is None else int(seed)
        self._rng = random.Random(self.seed)
        self._random = self._rng.random if mode == "stratified" else None
        self.slot_ns = 0
        self.next_ns = 0

    def start(self, now_ns: int) -> int:
        """Begin the first period after the read at ``now_ns``; the instant of the next read."""
        self.slot_ns = now_ns + self.period_ns
        self.next_ns = self._at(self.slot_ns)
        return self.next_ns

    def advance(self, now_ns: int) -> int:
        """After a read at ``now_ns``: the instant of the next one. A read late past its whole period
        restarts the schedule from now (no burst of catch-up reads)."""
        self.slot_ns += self.period_ns
        if self.slot_ns + self.period_ns <= now_ns:
            self.slot_ns = now_ns
        self.next_ns = max(self._at(self.slot_ns), now_ns)
        return self.next_ns

    def _at(self, slot_ns: int) -> int:
        return slot_ns + int(self._random() * self.period_ns) if self._random is not None else slot_ns

    def record(self) -> dict[str, object]:
        """What the trace's metadata keeps about the reads."""
        return {"mode": self.mode, "seed": self.seed, "period_ns": self.period_ns}
