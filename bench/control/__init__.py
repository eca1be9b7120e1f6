"""Device settings a backend can change for a sweep (power limit, locked clocks): the contract (base) and the
state file of settings changed and not yet put back (state). ``from bench.control import Control`` is the import
a backend needs."""

from bench.control.base import (
    ClockLock,
    ClockLockCapability,
    Control,
    ControlError,
    ControlNoPermission,
    ControlNotSupported,
    PowerLimitCapability,
    PowerLimitRange,
    capabilities,
)

__all__ = ["ClockLock", "ClockLockCapability", "Control", "ControlError", "ControlNoPermission",
           "ControlNotSupported", "PowerLimitCapability", "PowerLimitRange", "capabilities"]
