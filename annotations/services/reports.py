"""The study report, cached per study until its data changes.

Building a report runs every bootstrap of ``annotations.analysis`` and takes seconds on a big
study, so it is cached (``django.core.cache``). The cache key carries a data version computed
by one aggregate query (largest id and count of judgments, scores and judge verdicts, the
excluded and simulated raters, the reference conditions; see
``selectors.study_data_version``): a new judgment changes the key, so the next request
rebuilds the report without any signal handler having to remember to clear the cache.
Stale entries are never read again and expire on their own.
"""

from __future__ import annotations

import time

from django.core.cache import cache

from annotations import selectors
from annotations.analysis.report import build_report
from annotations.models import Study

# Bump when the report's shape or the statistics change, so old cached reports are not served.
REPORT_FORMAT = 1
CACHE_SECONDS = 7 * 24 * 3600
N_BOOT = 1000
SEED = 0


def _key(study: Study, version: str, what: str = "report") -> str:
    # created_at keeps two databases that reuse a study id (tests, demos) from sharing entries
    # in a file or Redis cache.
    return f"study-{what}:v{REPORT_FORMAT}:{study.pk}:{study.created_at.timestamp():.6f}:{version}"


def report_build(*, study: Study, n_boot: int = N_BOOT, seed: int = SEED) -> dict:
    """Build the full report from the database (no cache). Includes ``candidates``, the
    per-candidate human aggregate used by the score-vs-human scatter plots."""
    frames = selectors.study_analysis_frames(study=study)
    report = build_report(
        study=study.slug, task=study.task, criteria=study.criterion_names,
        pj=frames.pj, rj=frames.rj, scores=frames.scores, conditions=frames.conditions, judge=frames.judge,
        seed=seed, n_boot=n_boot, include_candidates=True,
    )
    return report_mark_raters(report=report, raters=frames.raters)


def report_mark_raters(*, report: dict, raters) -> dict:
    """Mark each rater-quality record with the rater's ``simulated`` flag and exclusion reason,
    so simulated raters stand out in the report (the statistics do not know about them)."""
    if len(raters):
        by_pseudonym = raters.set_index("pseudonym")
        for rec in report.get("raters", []):
            if rec.get("rater") in by_pseudonym.index:
                r = by_pseudonym.loc[rec["rater"]]
                rec["simulated"] = bool(r["simulated"])
                rec["exclusion_reason"] = r["exclusion_reason"] or None
    return report


def _cached_full_report(study: Study, refresh: bool) -> tuple[dict, str]:
    version = selectors.study_data_version(study=study)
    key = _key(study, version)
    report = None if refresh else cache.get(key)
    if report is None:
        started = time.perf_counter()
        report = report_build(study=study)
        report["build_seconds"] = round(time.perf_counter() - started, 3)
        report["data_version"] = version
        cache.set(key, report, CACHE_SECONDS)
    return report, version


def report_for_study(study: Study, *, refresh: bool = False, include_candidates: bool = False) -> dict:
    """The report JSON of DESIGN.md for the study, from the cache when its data is unchanged.

    ``refresh=True`` rebuilds it regardless. The per-candidate aggregate (``candidates``) is
    left out unless asked for: it is as long as the study has candidates and is only needed
    for plots.
    """
    report, _ = _cached_full_report(study, refresh)
    if include_candidates:
        return report
    return {k: v for k, v in report.items() if k != "candidates"}


def report_plot(study: Study, *, name: str, fmt: str) -> bytes:
    """One report plot as PNG or SVG bytes, cached with the report it is drawn from."""
    from annotations.analysis import plots  # matplotlib is loaded only when a plot is asked for

    report, version = _cached_full_report(study, refresh=False)
    key = _key(study, version, what=f"plot-{name}.{fmt}")
    data = cache.get(key)
    if data is None:
        data = plots.render(report, name, fmt)
        cache.set(key, data, CACHE_SECONDS)
    return data
