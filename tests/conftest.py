"""Fixtures every test may use: the CLI in-process (``cli``), the shipped standard and hardware profiles."""

from __future__ import annotations

import pytest

from tests.support.harness import invoke


@pytest.fixture
def cli():
    """``bench ARGS...`` in-process (:func:`tests.support.harness.invoke`): code, out, err."""
    return invoke


@pytest.fixture(scope="session")
def std():
    """The newest shipped standard."""
    from bench.analysis.scoring.standard import load_standard

    return load_standard()


@pytest.fixture(scope="session")
def profiles():
    """The shipped hardware profiles."""
    from bench.analysis.scoring.profiles import load_profiles

    return load_profiles()
