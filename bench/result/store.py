"""Result folders on disk: finding them, loading and checking each, and labelling them for tables.

Every folder is checked before it is used (:mod:`bench.result.integrity`): a folder that is not a
result, truncated JSON, a newer schema, or an edited result or trace is skipped and named, never
silently dropped. :mod:`bench.analysis.frame` turns the loaded runs into a pandas DataFrame.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import ResultError
from bench.result.integrity import Check, check_folder
from bench.result.io import load_result
from bench.result.model import RESULT_FILE, Result
from bench.safetext import clean

log = logging.getLogger(__name__)
TRACE_NAMES = ("trace.parquet", "trace.arrows")

@dataclass
class Run:
    """One loaded result folder: the result, its integrity check and a short unique label."""

    folder: Path
    result: Result
    integrity: Check
    label: str = ""


@dataclass
class LoadReport:
    """The runs that loaded, and (path, reason) for each input that was skipped."""

    runs: list[Run] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


# --- finding and loading folders --------------------------------------------------------------


def find_result_folders(paths: Iterable[Path | str]) -> tuple[list[Path], list[tuple[str, str]]]:
    """Run folders (or result files) under ``paths``, in argument order, plus (path, reason) for non-results."""
    found: list[Path] = []
    skipped: list[tuple[str, str]] = []
    seen: set[Path] = set()

    def add(p: Path) -> None:
        key = p.resolve()
        if key not in seen:
            seen.add(key)
            found.append(p)

    for raw in paths:
        p = Path(raw)
        if not p.exists():
            skipped.append((str(p), "does not exist"))
        elif p.is_file() or (p / RESULT_FILE).is_file():
            add(p)
        else:
            before, before_skipped = len(found), len(skipped)
            for root, dirs, files in os.walk(p):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                here = Path(root)
                if RESULT_FILE in files:
                    add(here)
                    dirs[:] = []
                elif any(t in files for t in TRACE_NAMES):
                    skipped.append((str(here), f"not a result: a trace but no {RESULT_FILE}"))
            if len(found) == before and len(skipped) == before_skipped:
                skipped.append((str(p), f"not a result folder (no {RESULT_FILE} in it or below)"))
    return found, skipped


def folder_labels(folders: list[Path], run_ids: list[str | None]) -> list[str]:
    """Short labels for result folders (a ``result.json`` path counts as its folder): the folder's name, with its
    parent's name where names collide, and the start of the run id where those collide too. A label is text
    (:func:`bench.safetext.clean`): a folder name that is not UTF-8 shows its odd bytes as ``\xff``."""
    folders = [Path(f).parent if Path(f).name == RESULT_FILE else Path(f) for f in folders]
    names = [clean(f.name) for f in folders]
    labels = [name if names.count(name) == 1 else f"{clean(f.parent.name)}/{name}" for f, name in zip(folders, names)]
    return [f"{label}#{(run_id or '')[:8]}" if labels.count(label) > 1 else label
            for label, run_id in zip(labels, run_ids)]


def _labels(runs: list[Run]) -> None:
    for run, label in zip(runs, folder_labels([r.folder for r in runs], [r.result.run_id for r in runs])):
        run.label = label


def load_runs(paths: Iterable[Path | str], trusted: list[Any] | None = None,
              include_edited: bool = False) -> LoadReport:
    """Load and check every result under ``paths``. Edited or badly signed results are skipped unless
    ``include_edited`` (then they load with their integrity state shown)."""
    folders, skipped = find_result_folders(paths)
    report = LoadReport(skipped=skipped)
    for folder in folders:
        try:
            check = check_folder(folder, trusted=trusted)
            if not check.ok and not include_edited:
                report.skipped.append((str(folder), f"{check.state}: {check.detail}"))
                continue
            result = load_result(folder)
        except ResultError as exc:
            report.skipped.append((str(folder), str(exc)))
            continue
        report.runs.append(Run(folder=check.folder, result=result, integrity=check))
    _labels(report.runs)
    return report
