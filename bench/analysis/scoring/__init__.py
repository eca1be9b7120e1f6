"""Scoring: a result, an efficiency standard, hardware profiles and footprint factors -> grades and a verdict.

- :mod:`bench.analysis.scoring.profiles`: hardware profiles (rated power, peak FLOP/s, sources), matched by device name.
- :mod:`bench.analysis.scoring.standard`: the versioned standard files (rules, metrics, grade bands).
- :mod:`bench.analysis.scoring.quality`: measurement quality levels L0-L3 from a result's own evidence.
- :mod:`bench.analysis.scoring.footprint`: carbon (grid intensity) and water (WUE, PUE, EWIF) factors.
- :mod:`bench.analysis.scoring.checks`: each rule of a standard applied to a result.
- :mod:`bench.analysis.scoring.score`: the score of one result: values, grades (only where the standard
  grades, else why not), footprint and the verdict.

Scoring reads only a :class:`bench.result.model.Result`, so any result can be re-scored later, on any
machine, against any standard. Importing this package imports nothing heavy.
"""
