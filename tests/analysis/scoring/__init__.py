"""Tests of bench.analysis.scoring."""

import pytest


def assert_refused(loader, bad, field: str, problem: str) -> None:
    """``loader(bad)`` raises one line of :class:`~bench.errors.ConfigError`: ``FILE: FIELD...`` naming ``problem``."""
    from bench.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        loader(bad)
    msg = str(info.value)
    assert "\n" not in msg
    assert msg.startswith(f"{bad}: {field}"), msg
    assert problem in msg, msg
