"""Measure your own code from Python: a measuring session, its windows, and a decorator.

::

    import bench

    with bench.measure("cuda:0", out="results", idle_s=10) as session:
        with session.window("train", units=n_samples, unit="sample"):
            train()
    print(session.windows["train"].energy_j, session.windows["train"].time_s)

A session is a ``bench run`` whose work is the caller's code: the same :class:`~bench.run.runner.Runner` opens the
device and the sensors, writes the run folder and the provisional result, runs the meter and its trace, measures
the idle baseline, synchronises the device and reads the sensors at every window edge, turns windows into gross,
idle and net energy (:func:`~bench.analysis.figures.repeat_figures`, :func:`~bench.analysis.figures.aggregate`), and
at the end seals the result with the quality level and the validity checks. There is no second measuring loop.

In the result folder each window name becomes one workload entry whose repeats are the name's occurrences
(window ``NAME/repeat.K`` for the K-th), so ``bench show``, ``score``, ``compare``, ``report`` and ``sign`` read a
session's folder as they read a run's, and the validity checks cover every occurrence. Windows may nest and
overlap; the meter keeps each open window's accounting apart.
"""

from bench.api.decorator import measured
from bench.api.measurements import NamedWindow, WindowMeasurement
from bench.api.session import Session, active_session, measure

__all__ = ["NamedWindow", "Session", "WindowMeasurement", "active_session", "measure", "measured"]
