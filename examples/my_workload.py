"""Your own model and training step as a bench workload: no package, no registration.

Measure it like a built-in workload by naming the file and the class:

    bench run --device cuda:0 --workload examples/my_workload.py:TinyMlpTraining
    bench run --device cpu --workload examples/my_workload.py:TinyMlpTraining --preset smoke

The result records where the class came from (this file's absolute path and SHA-256), so a reviewer can tell
it from a registered workload and check which code ran. ``package.module:ClassName`` works the same way for a
module on ``PYTHONPATH``.

A workload is a :class:`bench.workload.Workload` subclass:

- class attributes: ``name`` (how the result names it; it must not be a registered workload's name), ``kind``
  (``training`` or ``inference``), ``unit`` (what one unit of work is), ``presets`` (at least ``smoke``; the
  ``standard`` preset is what ``bench run`` on an accelerator uses), ``dtypes`` (supported);
- ``setup(device)`` builds the model and the inputs on ``device.torch_device`` once and returns a
  :class:`bench.workload.WorkloadInfo` (units per step, FLOPs per unit, parameters, memory);
- ``step()`` does one step; it may leave work queued on the device: bench synchronises at every window edge;
- ``teardown()`` frees what ``setup`` built.

Import torch inside the methods, so listing and checking the workload stays cheap.
"""

from __future__ import annotations

from typing import Any

from bench.workload import Workload, WorkloadInfo, torch_dtype


class TinyMlpTraining(Workload):
    """A two-layer MLP classifier trained with AdamW on synthetic data; one step = one batch, unit = sample."""

    name = "tiny-mlp-train"
    kind = "training"
    unit = "sample"
    description = "a user's own MLP training step (cross-entropy, backward, AdamW)"
    presets = {
        "smoke": {"batch_size": 32, "size": 64, "dtype": "fp32"},  # size: the width of the hidden layer
        "standard": {"batch_size": 512, "size": 4096, "dtype": "fp32"},
    }
    dtypes = ("fp32", "bf16")
    features, classes = 128, 10

    def setup(self, device: Any) -> WorkloadInfo:
        import torch
        from torch.utils.flop_counter import FlopCounterMode

        torch.manual_seed(self.params.seed)
        dev, dtype = device.torch_device, torch_dtype(self.settings["dtype"])
        batch, width = self.settings["batch_size"], self.settings["size"]
        self.model = torch.nn.Sequential(
            torch.nn.Linear(self.features, width), torch.nn.ReLU(), torch.nn.Linear(width, self.classes),
        ).to(dev, dtype)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=1e-3)
        self.x = torch.randn(batch, self.features, device=dev, dtype=dtype)
        self.y = torch.randint(0, self.classes, (batch,), device=dev)
        with FlopCounterMode(display=False) as counter:  # forward + backward of one step, 2 FLOPs per MAC
            self.loss_of_batch().backward()
        self.optimizer.zero_grad(set_to_none=True)
        parameters = sum(p.numel() for p in self.model.parameters())
        weight_bytes = sum(p.numel() * p.element_size() for p in self.model.parameters())
        return WorkloadInfo(
            unit=self.unit,
            units_per_step=batch,
            flops_per_unit=counter.get_total_flops() / batch,
            parameters=parameters,
            memory_bytes=4 * weight_bytes + self.x.numel() * self.x.element_size(),  # weights, grads, 2 moments
            settings=dict(self.settings),
            optimizations={"fused_optimizer": False},
        )

    def loss_of_batch(self) -> Any:
        import torch.nn.functional as F

        return F.cross_entropy(self.model(self.x).float(), self.y)

    def step(self) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        self.loss_of_batch().backward()
        self.optimizer.step()

    def teardown(self) -> None:
        self.model = self.optimizer = self.x = self.y = None
