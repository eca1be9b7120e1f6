"""Fixtures every test may use: the CLI in-process (``cli``), the shipped standard and hardware profiles, and a
state folder for sweeps (``state_dir``; every test session has its own)."""

from __future__ import annotations

import os

import pytest

from tests.support.harness import invoke


@pytest.fixture(autouse=True, scope="session")
def _state_dir(tmp_path_factory):
    """Sweeps keep their state files in a folder of this test session, never the user's (subprocesses inherit it)."""
    from bench.control.state import STATE_ENV

    old = os.environ.get(STATE_ENV)
    os.environ[STATE_ENV] = str(tmp_path_factory.mktemp("bench-state"))
    yield
    if old is None:
        os.environ.pop(STATE_ENV, None)
    else:
        os.environ[STATE_ENV] = old


@pytest.fixture
def state_dir(tmp_path, monkeypatch):
    """An empty state folder of this test's own."""
    from bench.control.state import STATE_ENV

    path = tmp_path / "state"
    monkeypatch.setenv(STATE_ENV, str(path))
    return path


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
