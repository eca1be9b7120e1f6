"""The ``acme`` device backend: what the runner needs to drive an Acme board.

Torch has no ``acme`` device type: a real vendor would import their torch extension here (it
registers the device type, as ``torch_npu`` does for ``npu``) and return ``torch.device("acme", N)``.
This example has no such extension, so workloads compute on the host CPU
(``torch.device("cpu")``) while the board's identity, name, memory and energy come from its files:
an honest stand-in to show the shape, not a way to measure Acme compute.

On the simulated driver's DVFS board the host's compute is fed to the board's command queue and
:meth:`AcmeDevice.synchronize` waits for the board to work through it at its clock, so a power cap or a clock
lock slows the workloads down as it would on the board (:mod:`bench_plugin_acme.simwork`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bench.devices import Device
from bench_plugin_acme import sysfs
from bench_plugin_acme.simwork import HostWork

if TYPE_CHECKING:  # pragma: no cover
    import torch


class AcmeDevice(Device):
    """An Acme board (``acme:N``). Compute runs on the CPU in this example; see the module docstring."""

    type = "acme"
    default_samplers = ("acme",)

    def __init__(self, index: int | None) -> None:
        super().__init__(index)
        self.queue = HostWork.for_board(self.path)  # the simulated board's command queue, if it has one

    @classmethod
    def probe(cls) -> list[str]:
        return [f"acme:{i}" for i in sysfs.boards()]

    @classmethod
    def conformance_fake(cls) -> Any:
        """The same simulated board as the sampler's fake (the device kit opens it)."""
        from bench_plugin_acme.fake import conformance_setup

        return conformance_setup()

    @property
    def path(self):  # noqa: ANN201 - a pathlib.Path
        return sysfs.board_path(self.index or 0)

    @property
    def torch_device(self) -> "torch.device":
        import torch

        return torch.device("cpu")  # a real plugin: import its extension, then torch.device("acme", self.index)

    def synchronize(self) -> None:
        # a real plugin calls its extension's synchronize(index); here the simulated board works through the
        # host compute it was given, at its clock (nothing to wait for without the simulator's queue)
        if self.queue is not None:
            self.queue.drain()

    def name(self) -> str:
        return sysfs.read_text(self.path / "name")

    def identity(self) -> dict[str, Any]:
        return {"uuid": sysfs.read_text(self.path / "uuid"), "pci_bus_id": sysfs.read_text(self.path / "pci_bus_id")}

    def memory_stats(self) -> dict[str, int]:
        return {"total_bytes": sysfs.read_int(self.path / "mem_total_bytes")}

    def supports_dtype(self, dtype: str) -> bool:
        return dtype in ("fp32", "bf16")
