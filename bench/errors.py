"""One error tree for the whole harness.

The CLI maps every :class:`BenchError` to a one-line message and the error's ``exit_code``;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class BenchError(Exception):
    """Base of every error the harness raises on purpose."""

    exit_code = 1


class UsageError(BenchError):
    """The user asked for something that does not exist or cannot be (bad option, unknown name)."""

    exit_code = 2


class DeviceError(UsageError):
    """A requested device is absent or cannot be used. Never silently replaced by another device."""


class ConfigError(UsageError):
    """A data file (hardware profile, standard) is malformed; the message names file, field and problem."""


class PluginError(BenchError):
    """A plugin failed to import or broke the contract."""


class WorkloadError(BenchError):
    """A workload raised while running."""


class OutOfMemoryError(WorkloadError):
    """The workload did not fit in the device's memory."""


class ResultError(BenchError):
    """A result folder or file is missing, malformed, edited, or from a newer schema."""


class StorageError(BenchError):
    """The output folder cannot be written (disk full, permissions); what was measured is saved elsewhere."""


class Interrupted(BenchError):
    """The run was stopped by a signal."""

    exit_code = 130


# --- sampler errors: what any power/energy source can fail with -------------------------------


class SamplerError(BenchError):
    """Base of the sampler contract's errors."""


class SamplerUnavailable(SamplerError):
    """The sensor or its library is not present on this machine."""


class SamplerNoPermission(SamplerError):
    """The sensor exists but this user may not read it (e.g. RAPL ``energy_uj`` is root-only)."""


class SamplerNotSupported(SamplerError):
    """The sensor exists but this device does not support the reading (e.g. energy counter before Volta)."""


class SamplerDeviceLost(SamplerError):
    """The device vanished mid-run (fell off the bus, driver reset)."""


class SamplerTimeout(SamplerError):
    """A read did not return within its time limit."""


# --- control errors: what changing a device's power limit or clocks can fail with ---------------


class ControlError(BenchError):
    """A device setting (power limit, locked clocks) could not be read, changed or put back."""


class ControlNotSupported(ControlError):
    """The device, its driver or the backend cannot change this setting."""


class ControlNoPermission(ControlError):
    """Changing the setting needs a privilege this process lacks; the message names the privilege."""
