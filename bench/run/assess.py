"""The end-of-run assessment written into a finished result: the matched hardware profile, the rated-power and
sanity checks, the quality level and the validity checks. None of it may lose a finished run: a broken profile
file or a check that cannot run becomes an issue or a warning."""

from __future__ import annotations

import logging
from pathlib import Path

from bench.analysis.figures import aggregate
from bench.analysis.sanity import merge_issues, rated_power_issues, sanity_issues
from bench.analysis.scoring.profiles import HardwareProfile, match_profile
from bench.analysis.scoring.quality import assess_quality
from bench.analysis.validity import check_validity
from bench.errors import BenchError
from bench.result.model import Issue, Result

log = logging.getLogger(__name__)


def assess(res: Result, folder: Path) -> None:
    """Attach the profile, the sanity findings, the quality level and the validity checks to ``res`` (whose trace
    is in ``folder``)."""
    prof = None
    try:
        prof = match_profile(str(res.device.get("name", "")), device_type=res.device.get("type"))
        if prof is not None:
            res.profile = prof.model_dump(mode="json")
    except BenchError as exc:
        res.issues.append(Issue(code="profile_error", message=f"no hardware profile: {exc}"))
    if prof is not None:
        spoil_over_rated(res, prof)
    res.issues = merge_issues(res.issues, sanity_issues(res))
    res.quality = assess_quality(res)
    try:
        res.validity = check_validity(res, folder)
    except Exception as exc:  # a check that cannot run is reported, never fatal to a finished run
        log.warning("validity checks failed to run: %s", exc)


def devices_used(res: Result) -> int:
    """How many devices the windows' energy covers (one, or every used device of a distributed run)."""
    if res.distributed is None:
        return 1
    used = sum(1 for node in res.distributed.nodes for d in node.devices if d.used_by)
    return max(used, 1)


def spoil_over_rated(res: Result, prof: HardwareProfile) -> None:
    """Mark every window the profile's datasheet rated power rules out as not clean, with the issue; repeats of
    those windows leave their workload's aggregate. A generic profile (per-core rating) checks nothing."""
    if prof.rated_power_w is None:
        return
    n = devices_used(res)
    found = rated_power_issues(res.windows, prof.rated_power_w * n,
                               f"profile {prof.id}" + (f" x {n} devices" if n > 1 else ""))
    if not found:
        return
    for w in res.windows:
        if w.name in found:
            w.issues.append(found[w.name])
            w.clean = False
    if res.idle is not None and res.idle.window in found:
        res.idle.clean = False
    for wl in res.workloads:
        hit = [r for r in wl.repeats if r.window in found]
        for rep in hit:
            rep.clean = False
        if hit and wl.aggregate is not None:
            wl.aggregate = aggregate(wl.repeats, wl.flops_per_unit)
    by_code: dict[str, list[Issue]] = {}
    for issue in found.values():
        by_code.setdefault(issue.code, []).append(issue)
    for code, issues in by_code.items():
        res.issues.append(Issue(code=code, severity="error", window=issues[0].window,
                                message=f"{len(issues)} window(s) not clean: {issues[0].message}"))
