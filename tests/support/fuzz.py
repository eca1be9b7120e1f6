"""Shared hypothesis settings and strategies of the property tests."""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

FAST = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=25,
)


def one_line_error(fn, arg, expected):
    """``fn(arg)``, or None when it raised ``expected`` with a one-line message."""
    try:
        return fn(arg)
    except expected as exc:
        assert str(exc) and "\n" not in str(exc).strip()
        return None
