"""Whole-run windows from per-node windows (pure functions, no torch).

Each node's local rank 0 measures one window over all of its node's devices. The whole-run window
sums the energy of the devices the run used on every node; the node's other devices are kept
beside it (per node, not in the sum). Channel names stay as in each node's trace, with
``node<N>/`` in front for nodes other than node 0 (whose trace is the result's ``trace.parquet``).
Times and duration are node 0's: the trace of node 0 is the one the windows' ``t_*_ns`` refer to.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from bench.result.model import ChannelEnergy, Issue, NodeWindow, Window, WindowBreakdown


def qualify(node: int, channel: str) -> str:
    """A channel's name in the whole-run result: as in node 0's trace, else ``node<N>/<channel>``."""
    return channel if node == 0 else f"node{node}/{channel}"


def _sum(values: Iterable[float | None]) -> float | None:
    total = 0.0
    for v in values:
        if v is None:
            return None
        total += v
    return total


def merge_windows(name: str, node_windows: Mapping[int, Window],
                  used: Mapping[int, set[str]]) -> tuple[Window, WindowBreakdown]:
    """The whole-run window and its per-node breakdown.

    ``node_windows``: node index -> that node's window (raw channel names, every device of the node);
    ``used``: node index -> names of the channels that measure devices the run used. Energy in J.
    """
    if 0 not in node_windows:
        raise ValueError("node 0's window is missing")
    base = node_windows[0]
    channels: list[ChannelEnergy] = []
    nodes: list[NodeWindow] = []
    issues: list[Issue] = []
    clean = True
    for n in sorted(node_windows):
        w = node_windows[n]
        mine = used.get(n, set())
        in_use = [c for c in w.channels if c.channel in mine]
        idle = [c.model_copy(update={"channel": qualify(n, c.channel)}) for c in w.channels if c.channel not in mine]
        nodes.append(NodeWindow(node=n, duration_s=w.duration_s, energy_j=_sum(c.energy_j for c in in_use),
                                unused_energy_j=_sum(c.energy_j for c in idle) if idle else None,
                                unused_channels=idle))
        channels += [c.model_copy(update={"channel": qualify(n, c.channel)}) for c in in_use]
        issues += [i if n == 0 else i.model_copy(update={"message": f"node {n}: {i.message}"}) for i in w.issues]
        clean = clean and w.clean  # conservative: a spoiled unused channel marks the window too
    energy = _sum(c.energy_j for c in channels) if channels else None
    peaks = [c.peak_power_w for c in channels if c.peak_power_w is not None]
    window = Window(
        name=name,
        t_start_ns=base.t_start_ns,
        t_end_ns=base.t_end_ns,
        duration_s=base.duration_s,
        energy_j=energy,
        mean_power_w=(energy / base.duration_s) if (energy is not None and base.duration_s > 0) else None,
        peak_power_w=sum(peaks) if peaks else None,
        samples=sum(c.samples for c in channels),
        channels=channels,
        issues=issues,
        clean=clean,
        energy_uncertainty_j=_sum(c.energy_uncertainty_j for c in channels) if energy is not None else None,
    )
    return window, WindowBreakdown(window=name, nodes=nodes)


def ranks_text(infos: list[dict], limit: int = 6) -> str:
    """``rank 3 (node 1, host b)`` for a few ranks; a count for the rest."""
    parts = [f"rank {i['rank']} (node {i.get('node', '?')}, host {i.get('host', '?')})" for i in infos[:limit]]
    if len(infos) > limit:
        parts.append(f"and {len(infos) - limit} more")
    return ", ".join(parts)


def version_mismatch(infos: list[dict]) -> str | None:
    """A message naming the ranks and nodes per harness version, or None when all agree."""
    groups: dict[str, list[dict]] = {}
    for info in infos:
        groups.setdefault(str(info.get("version")), []).append(info)
    if len(groups) < 2:
        return None
    main = max(groups, key=lambda v: (len(groups[v]), any(i["rank"] == 0 for i in groups[v])))
    odd = [f"bench {v} on {ranks_text(group)}" for v, group in sorted(groups.items()) if v != main]
    return (f"harness versions differ across ranks: bench {main} on {len(groups[main])} rank(s) including "
            f"{ranks_text(groups[main], 2)}, but {'; '.join(odd)}; install the same bench version on every node")
