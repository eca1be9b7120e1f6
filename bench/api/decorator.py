"""``@bench.measured``: each call of a function measured as one occurrence of a window."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from bench.api.session import Session, active_session
from bench.devices import parse_spec

F = TypeVar("F", bound=Callable[..., Any])


def _same_device(session: Session, device: str | None) -> bool:
    if device is None:
        return True
    type_, index = parse_spec(device)
    spec = type_ if type_ == "cpu" else f"{type_}:{index or 0}"
    return session.device == spec


def measured(device: str | None = None, *, name: str | None = None, unit: str | None = None,
             units: int | Callable[..., int] = 1, sync: bool | None = None, **options: Any) -> Callable[[F], F]:
    """Decorate a function so each call is measured as one occurrence of window ``name`` (default: the
    function's name). ``units``: the units of work of a call, or a function of the call's arguments that
    returns them. Inside an open session on the same device (``with bench.measure(...)``) a call is a window
    of that session; elsewhere each call is a session of its own on ``device`` (default ``cpu``) with
    ``options`` (as for :class:`Session`). The wrapper's ``last`` is the last call's :class:`WindowMeasurement`
    and ``last_session`` the session it was measured in."""

    def wrap(fn: F) -> F:
        label = name or getattr(fn, "__name__", "call")

        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            n = units(*args, **kwargs) if callable(units) else units
            active = active_session()
            if active is not None and active.state == "open" and _same_device(active, device):
                return _call(inner, active, fn, (label, n, unit, sync), args, kwargs)
            with Session(device or "cpu", **options) as session:
                return _call(inner, session, fn, (label, n, unit, sync), args, kwargs)

        inner.last = None  # type: ignore[attr-defined]
        inner.last_session = None  # type: ignore[attr-defined]
        return inner  # type: ignore[return-value]

    return wrap


def _call(wrapper: Any, session: Session, fn: Callable[..., Any], how: tuple[str, int, str | None, bool | None],
          args: Any, kwargs: Any) -> Any:
    label, units, unit, sync = how
    with session.window(label, units=units, unit=unit, sync=sync) as w:
        out = fn(*args, **kwargs)
    wrapper.last, wrapper.last_session = w.measurement, session
    return out
