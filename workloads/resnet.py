"""ResNet-50 v1.5 image classification: inference and training, unit = one image.

The model is defined here in plain torch (no torchvision, no downloads): a 7x7 stem, bottleneck
stages of 3, 4, 6 and 3 blocks at widths 64, 128, 256 and 512 (expansion 4), global average pool and
a 1000-way classifier: 25,557,032 parameters. v1.5 (as in MLPerf and torchvision) puts the stride 2
of a downsampling block in its 3x3 convolution, not its first 1x1 (v1). Inputs are synthetic
224x224 RGB images (normal noise) and random labels, built on the device once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from bench_workloads.common import (
    CHANNELS_LAST_DEVICE_TYPES,
    INFERENCE_DTYPES,
    TRAINING_DTYPES,
    ModelWorkload,
    autocast_for,
    build_module,
    compile_or_eager,
    count_flops,
    make_optimizer,
    tensor_bytes,
)

if TYPE_CHECKING:  # pragma: no cover
    import torch

STAGES = (3, 4, 6, 3)  # bottleneck blocks per stage (ResNet-50)
EXPANSION = 4


def _model_classes():
    """Define the modules on first use, so importing this file does not import torch."""
    import torch
    from torch import nn

    class Bottleneck(nn.Module):
        """1x1 reduce -> 3x3 (carries the stride: v1.5) -> 1x1 expand, plus the shortcut."""

        def __init__(self, in_ch: int, width: int, stride: int) -> None:
            super().__init__()
            out_ch = width * EXPANSION
            self.conv1 = nn.Conv2d(in_ch, width, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(width)
            self.conv2 = nn.Conv2d(width, width, 3, stride=stride, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(width)
            self.conv3 = nn.Conv2d(width, out_ch, 1, bias=False)
            self.bn3 = nn.BatchNorm2d(out_ch)
            self.relu = nn.ReLU(inplace=True)
            self.downsample = None
            if stride != 1 or in_ch != out_ch:
                self.downsample = nn.Sequential(
                    nn.Conv2d(in_ch, out_ch, 1, stride=stride, bias=False), nn.BatchNorm2d(out_ch)
                )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            identity = x if self.downsample is None else self.downsample(x)
            out = self.relu(self.bn1(self.conv1(x)))
            out = self.relu(self.bn2(self.conv2(out)))
            out = self.bn3(self.conv3(out))
            return self.relu(out + identity)

    class ResNet(nn.Module):
        """ResNet v1.5 with ``stages`` bottleneck blocks per stage; ``base_width`` 64 is ResNet-50."""

        def __init__(self, stages=STAGES, base_width: int = 64, num_classes: int = 1000) -> None:
            super().__init__()
            self.stem = nn.Sequential(
                nn.Conv2d(3, base_width, 7, stride=2, padding=3, bias=False),
                nn.BatchNorm2d(base_width),
                nn.ReLU(inplace=True),
                nn.MaxPool2d(3, stride=2, padding=1),
            )
            blocks, in_ch = [], base_width
            for i, depth in enumerate(stages):
                width = base_width * 2**i
                for j in range(depth):
                    blocks.append(Bottleneck(in_ch, width, 2 if (j == 0 and i > 0) else 1))
                    in_ch = width * EXPANSION
            self.blocks = nn.Sequential(*blocks)
            self.fc = nn.Linear(in_ch, num_classes)
            for m in self.modules():  # (skipped on meta: nothing to initialise)
                if isinstance(m, nn.Conv2d) and not m.weight.is_meta:
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            x = self.blocks(self.stem(x))
            return self.fc(torch.flatten(x.mean((2, 3)), 1))

    return ResNet


def resnet50(base_width: int = 64, num_classes: int = 1000) -> "torch.nn.Module":
    """A ResNet-50 v1.5 on the current default device and dtype."""
    return _model_classes()(STAGES, base_width, num_classes)


class _ResNet50(ModelWorkload):
    unit = "image"
    num_classes = 1000

    def _factory(self) -> "torch.nn.Module":
        return resnet50(self.settings.get("base_width", 64), self.num_classes)

    def _units(self) -> int:
        return self.settings["batch_size"]

    def _channels_last(self, device: "torch.device") -> bool:
        return device.type in CHANNELS_LAST_DEVICE_TYPES

    def _make_inputs(self, device: "torch.device") -> None:
        import torch

        b, size = self.settings["batch_size"], self.settings["image_size"]
        images = torch.randn(b, 3, size, size, device=device, dtype=self.dtype)
        if self._optimizations["channels_last"]:
            images = images.contiguous(memory_format=torch.channels_last)
        labels = torch.randint(0, self.num_classes, (b,), device=device)
        self.inputs = {"images": images, "labels": labels}

    def _meta_images(self) -> "torch.Tensor":
        import torch

        b, size = self.settings["batch_size"], self.settings["image_size"]
        return torch.empty(b, 3, size, size, device="meta", dtype=self.dtype)


class ResNet50Infer(_ResNet50):
    """ResNet-50 v1.5 inference: one step classifies ``batch_size`` synthetic 224x224 images."""

    name = "resnet50-infer"
    kind = "inference"
    description = "ResNet-50 v1.5 image classification, 224x224, unit = image"
    dtypes = INFERENCE_DTYPES
    presets = {
        "smoke": {"batch_size": 2, "image_size": 64, "dtype": "fp32"},
        "standard": {"batch_size": 64, "image_size": 224, "dtype": "bf16"},
    }

    def _build(self, device: "torch.device") -> None:
        import torch

        self._optimizations.update(inference_mode=True, channels_last=self._channels_last(device))
        model = build_module(self._factory, device, self.dtype)
        if self._optimizations["channels_last"]:
            model = model.to(memory_format=torch.channels_last)
        self.model = model
        self._make_inputs(device)
        self._calibrate_batchnorm()
        self.model.eval()
        self._step_fn = self._forward

    def _calibrate_batchnorm(self) -> None:
        """Set BatchNorm statistics from one pass over the synthetic batch.

        Freshly initialised statistics (mean 0, variance 1) let activations grow block after block,
        which a trained network's do not; calibrated ones keep them at a trained model's scale
        (and within fp16's range).
        """
        import torch

        norms = [m for m in self.model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
        for m in norms:
            m.momentum = 1.0
        self.model.train()
        with torch.no_grad():
            self.model(self.inputs["images"])
        for m in norms:
            m.momentum = 0.1

    def _forward(self, model: Any = None) -> None:
        import torch

        with torch.inference_mode():
            (self.model if model is None else model)(self.inputs["images"])

    def _meta_flops_per_step(self, model: "torch.nn.Module") -> int:
        import torch

        model.eval()
        images = self._meta_images()

        def run() -> None:
            with torch.inference_mode():
                model(images)

        return count_flops(run)

    def _compile(self) -> dict[str, Any]:
        self.model, record = compile_or_eager(self.model, self._forward)
        return record


class ResNet50Train(_ResNet50):
    """ResNet-50 v1.5 training: forward, cross-entropy backward and an SGD (momentum) step per batch.

    bf16 runs as mixed precision (autocast, fp32 master weights), as ResNet training is done.
    """

    name = "resnet50-train"
    kind = "training"
    description = "ResNet-50 v1.5 training step (SGD with momentum), 224x224, unit = image"
    dtypes = TRAINING_DTYPES
    presets = {
        "smoke": {"batch_size": 2, "image_size": 64, "dtype": "fp32"},
        "standard": {"batch_size": 64, "image_size": 224, "dtype": "bf16"},
    }
    lr = 0.01
    momentum = 0.9
    weight_decay = 5e-5
    # as MLPerf's ResNet-50 training: the loss of the (fixed) batch then settles at a positive floor
    # rather than reaching exact zero, so gradients never collapse to zeros however long the run
    label_smoothing = 0.1

    @property
    def dtype(self) -> "torch.dtype":
        import torch

        return torch.float32  # master weights and inputs; bf16 compute comes from autocast

    def _build(self, device: "torch.device") -> None:
        import torch

        self._optimizations.update(
            inference_mode=False,
            channels_last=self._channels_last(device),
            autocast=self.settings["dtype"] if self.settings["dtype"] == "bf16" else None,
        )
        model = build_module(self._factory, device, self.dtype)
        if self._optimizations["channels_last"]:
            model = model.to(memory_format=torch.channels_last)
        self.model = model.train()
        self.optimizer, fused = make_optimizer(
            "sgd", model.parameters(), device, lr=self.lr, momentum=self.momentum,
            weight_decay=self.weight_decay,
        )
        self._optimizations["fused_optimizer"] = fused
        self._device = device
        self._make_inputs(device)
        self.loss: torch.Tensor | None = None
        self._step_fn = self._train_step

    def _train_step(self, model: Any = None) -> None:
        import torch.nn.functional as F

        self.optimizer.zero_grad(set_to_none=True)
        with autocast_for(self._device, self.settings["dtype"]):
            logits = (self.model if model is None else model)(self.inputs["images"])
            loss = F.cross_entropy(logits, self.inputs["labels"], label_smoothing=self.label_smoothing)
        loss.backward()
        self.optimizer.step()
        self.loss = loss.detach()

    def _meta_flops_per_step(self, model: "torch.nn.Module") -> int:
        import torch
        import torch.nn.functional as F

        model.train()
        images = self._meta_images()
        labels = torch.zeros(images.shape[0], dtype=torch.long, device="meta")
        smoothing = self.label_smoothing
        return count_flops(lambda: F.cross_entropy(model(images), labels, label_smoothing=smoothing).backward())

    def _state_bytes(self) -> int:
        # gradients + one momentum buffer per parameter, both in the weights' dtype
        return 2 * tensor_bytes(*self.model.parameters())

    def _compile(self) -> dict[str, Any]:
        self.model, record = compile_or_eager(self.model, self._train_step)
        return record

    def _teardown_extra(self) -> None:
        self.optimizer = None
        self.loss = None
