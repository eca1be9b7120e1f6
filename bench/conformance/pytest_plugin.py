"""The conformance kit as a pytest plugin (registered under ``pytest11`` as ``bench_conformance``).

In a vendor's test suite, with ``bench`` installed::

    def test_my_sampler_conforms(bench_conformance):
        report = bench_conformance("acme")            # entry-point name, or the class itself
        assert report.check("energy_consistency").status == "pass"

``bench_conformance(target, **kwargs)`` runs :func:`bench.conformance.kit.run_conformance`
and fails the test with the table unless the verdict is PASS (a check failed, or checks were skipped); keyword
arguments are passed on (``device=``, ``options=``, ``fake=``, ``timeout_s=``). ``pytest --bench-conformance-json=PATH``
writes every report of the session to PATH (attach it when submitting results).

Importing this module is cheap: pytest loads it in every session of an environment where bench
is installed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

_REPORTS_KEY = pytest.StashKey[list]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("bench", "bench conformance kit")
    group.addoption("--bench-conformance-json", metavar="PATH", default=None,
                    help="write the conformance kit's reports of this session to PATH (JSON)")


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_REPORTS_KEY] = []


@pytest.fixture
def bench_conformance(request: pytest.FixtureRequest) -> Callable[..., Any]:
    """Run the conformance kit on a sampler; fail the test (with the table) if a check fails."""
    from bench.conformance.core import ConformanceFailure
    from bench.conformance.kit import run_conformance

    reports = request.config.stash.get(_REPORTS_KEY, [])

    def check(target: Any, *, allow_fail: bool = False, **kwargs: Any) -> Any:
        report = run_conformance(target, **kwargs)
        reports.append({"test": request.node.nodeid, **report.to_dict()})
        if not report.ok and not allow_fail:
            raise ConformanceFailure(report)
        return report

    return check


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    path = session.config.getoption("--bench-conformance-json", None)
    reports = session.config.stash.get(_REPORTS_KEY, [])
    if path and reports:
        Path(path).write_text(json.dumps(reports, indent=2), encoding="utf-8")
