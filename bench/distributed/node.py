"""The pieces a rank of a distributed run is made of: the agreed stop flag, the samplers of a node,
the node map of the ranks, and a workload as one rank runs it (set-up agreed, DDP for training)."""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass, field
from typing import Any

from bench.devices import Device, backend, open_device
from bench.distributed.merge import version_mismatch
from bench.errors import SamplerError, StorageError, UsageError, WorkloadError
from bench.result.model import DistributedWorkload, Issue, NodeDevice
from bench.samplers.base import Sampler
from bench.samplers.select import check_rate, select_samplers


class AgreedStop(threading.Event):
    """A stop request every rank sees at the same collective: ``set()`` (a signal) marks it pending
    here; ``is_set()`` turns true only once the ranks have exchanged it."""

    def __init__(self) -> None:
        super().__init__()
        self.agreed = False

    def is_set(self) -> bool:
        return self.agreed

    def pending(self) -> bool:
        return super().is_set()

    def agree(self) -> None:
        self.agreed = True


def error_kind(err: BaseException) -> str:
    if isinstance(err, SamplerError):
        return "sampler"
    if isinstance(err, StorageError):
        return "storage"
    if isinstance(err, UsageError):
        return "usage"
    return "workload"


def same_device(a: dict[str, Any], b: dict[str, Any]) -> bool:
    for key in ("uuid", "pci_bus_id"):
        if a.get(key) and b.get(key):
            return str(a[key]).lower() == str(b[key]).lower()
    return a.get("spec") == b.get("spec")


class RankWorkload:
    """A workload as one rank runs it: set-up agreed by all ranks, DDP for training, a weight check."""

    def __init__(self, wl: Any, coordinator: Any) -> None:
        self._wl, self._coord = wl, coordinator
        self.record = DistributedWorkload(workload=wl.name, mode="independent")
        self.units_per_step = 1

    def __getattr__(self, name: str) -> Any:
        return getattr(self._wl, name)

    def setup(self, device: Device) -> Any:
        r = self._coord
        info, err = None, None
        try:
            info = self._wl.setup(device)
        except Exception as exc:
            err = exc
        r.agree(err, f"{self._wl.name} set-up")
        ups = r.comm.gather_all(info.units_per_step, "set-up")
        if len(set(ups)) != 1:
            raise WorkloadError(f"ranks disagree on units per step of {self._wl.name}: {ups}")
        self.units_per_step = info.units_per_step
        model = getattr(self._wl, "model", None)
        wrap = self._wl.kind == "training" and _trainable(model)
        if all(r.comm.gather_all(wrap, "set-up")):
            err = None
            try:
                self._wl.model = _ddp(model, device)
            except Exception as exc:
                err = exc
            r.agree(err, f"{self._wl.name} DDP wrap")
            self.record.mode = "ddp"
        elif self._wl.kind == "training":
            r.issues.append(Issue(code="no_gradient_exchange", message=f"{self._wl.name}: no trainable model "
                                  "exposed; every rank trained on its own, gradients not exchanged"))
        return info

    def step(self) -> None:
        self._wl.step()

    def teardown(self) -> None:
        try:
            if self.record.mode == "ddp" and sys.exc_info()[0] is None and not self._coord.comm.lost:
                sums = self._coord.comm.gather_all(_weights_sum(self._wl.model), "weight check")
                self.record.params_in_sync = max(sums) - min(sums) <= 1e-9 * max(1.0, abs(sums[0]))
        finally:
            self._wl.teardown()


def _trainable(model: Any) -> bool:
    import torch

    return isinstance(model, torch.nn.Module) and any(p.requires_grad for p in model.parameters())


def _ddp(model: Any, device: Device) -> Any:
    from torch.nn.parallel import DistributedDataParallel

    tdev = device.torch_device
    return DistributedDataParallel(model, device_ids=[tdev.index] if tdev.type == "cuda" else None)


def _weights_sum(model: Any) -> float:
    import torch

    module = getattr(model, "module", model)
    with torch.no_grad():
        return float(torch.stack([p.detach().double().sum() for p in module.parameters()]).sum().item())


def assign_nodes(infos: list[dict[str, Any]]) -> int:
    """Number the nodes of the hand-shake's ranks (``info["node"]``: 0 holds rank 0) and check them;
    returns the node count. By ``node_rank`` where every rank knows it, else by host name.
    Raises :class:`UsageError` (the same on every rank) for mixed versions, a rank that could not
    open its device, or two ranks of a node with the same local rank."""
    keys = [i["node_rank"] if all(j["node_rank"] is not None for j in infos) else i["host"] for i in infos]
    order = sorted(set(keys), key=lambda k: min(i["rank"] for i, kk in zip(infos, keys) if kk == k))
    for info, key in zip(infos, keys):
        info["node"] = order.index(key)
    mismatch = version_mismatch(infos)
    if mismatch:
        raise UsageError(mismatch)
    bad = [i for i in infos if i["error"]]
    if bad:
        raise UsageError("; ".join(f"rank {i['rank']} (node {i['node']}, host {i['host']}): {i['error']}"
                                   for i in bad[:4]))
    for n in range(len(order)):
        locals_ = sorted(i["local_rank"] for i in infos if i["node"] == n)
        if len(set(locals_)) != len(locals_):
            raise UsageError(f"node {n} has ranks with the same local rank: {locals_}")
    return len(order)


@dataclass
class NodeSamplers:
    """What a node's leader measures: every device of the node, and which channels the run uses."""

    samplers: list[Sampler] = field(default_factory=list)
    devices: list[NodeDevice] = field(default_factory=list)
    used: set[str] = field(default_factory=set)
    sampler_name: str | None = None


def open_node_samplers(device: Device, mates: list[dict[str, Any]], cfg: Any, node: int) -> NodeSamplers:
    """A sampler for every device of the node of ``device``'s type, used by one of ``mates`` or not.

    A used device that cannot be measured is a :class:`UsageError`; an unused one is listed with why.
    """
    specs = ["cpu"] if device.type == "cpu" else backend(device.type).probe()
    out, matched = NodeSamplers(), set()
    for spec in specs:
        nd = NodeDevice(spec=spec)
        out.devices.append(nd)
        try:
            dev = device if spec == device.spec else open_device(spec)
            desc = dev.describe()
            nd.name, nd.identity = desc.get("name"), {k: v for k, v in desc.items() if k in ("uuid", "pci_bus_id")}
            nd.used_by = [i["rank"] for i in mates if same_device(i["device"], desc)]
            matched.update(nd.used_by)
            name, opened = select_samplers(dev, cfg.sampler, dict(cfg.sampler_options))
            check_rate(opened, cfg.rate_hz)
        except UsageError as exc:
            if nd.used_by:
                raise
            nd.note = f"not measured: {exc}"
            continue
        nd.channels = [s.channel for s in opened]
        out.samplers += opened
        if nd.used_by:
            out.used.update(nd.channels)
            out.sampler_name = out.sampler_name or name
    lost = [i for i in mates if i["rank"] not in matched]
    if lost:
        raise UsageError(f"local rank 0 of node {node} cannot see the device of rank(s) "
                         f"{', '.join(str(i['rank']) for i in lost)} ({lost[0]['device'].get('spec')}); "
                         "let every rank of a node see all of its devices (no per-rank CUDA_VISIBLE_DEVICES)")
    return out
