"""The HTML report: one self-contained file (inline CSS, JS and figures as data URIs; no network).

:func:`bench.report.page.write_report` loads result folders, grades them, and writes leaderboards per
comparable group, energy-per-unit CI bars, efficiency frontiers, the method box and the power trace of every
run. The building blocks are :mod:`~bench.report.html` (markup), :mod:`~bench.report.plots` (figures),
:mod:`~bench.report.build` (sections) and :mod:`~bench.report.formats` (comparison tables as text).
"""
