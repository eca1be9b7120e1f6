"""The end-of-run assessment written into a finished result: the matched hardware profile, the quality level
and the validity checks. None of it may lose a finished run: a broken profile file or a check that cannot
run becomes an issue or a warning."""

from __future__ import annotations

import logging
from pathlib import Path

from bench.analysis.scoring.profiles import match_profile
from bench.analysis.scoring.quality import assess_quality
from bench.analysis.validity import check_validity
from bench.errors import BenchError
from bench.result.model import Issue, Result

log = logging.getLogger(__name__)


def assess(res: Result, folder: Path) -> None:
    """Attach the profile, the quality level and the validity checks to ``res`` (whose trace is in ``folder``)."""
    try:
        prof = match_profile(str(res.device.get("name", "")), device_type=res.device.get("type"))
        if prof is not None:
            res.profile = prof.model_dump(mode="json")
    except BenchError as exc:
        res.issues.append(Issue(code="profile_error", message=f"no hardware profile: {exc}"))
    res.quality = assess_quality(res)
    try:
        res.validity = check_validity(res, folder)
    except Exception as exc:  # a check that cannot run is reported, never fatal to a finished run
        log.warning("validity checks failed to run: %s", exc)
