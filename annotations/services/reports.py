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

import hashlib
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


def _cached_report(study: Study, refresh: bool, include_candidates: bool) -> tuple[dict, str]:
    """The report (and, if asked, its per-candidate aggregate) for the current data version.

    The two are cached under separate keys: the per-candidate list is as long as the study
    has candidates and only the scatter plots need it, so the report alone loads fast.
    """
    version = selectors.study_data_version(study=study)
    key, candidates_key = _key(study, version), _key(study, version, what="candidates")
    report = None if refresh else cache.get(key)
    candidates = cache.get(candidates_key) if (report is not None and include_candidates) else None
    if report is None or (include_candidates and candidates is None):
        started = time.perf_counter()
        report = report_build(study=study)
        candidates = report.pop("candidates", [])
        report["build_seconds"] = round(time.perf_counter() - started, 3)
        report["data_version"] = version
        cache.set_many({key: report, candidates_key: candidates}, CACHE_SECONDS)
    if include_candidates:
        report = {**report, "candidates": candidates}
    return report, version


def report_for_study(study: Study, *, refresh: bool = False, include_candidates: bool = False) -> dict:
    """The report JSON of DESIGN.md for the study, from the cache when its data is unchanged.

    ``refresh=True`` rebuilds it regardless. The per-candidate aggregate (``candidates``) is
    left out unless asked for: it is as long as the study has candidates and is only needed
    for plots. Two extra keys say how the report was made: ``build_seconds`` and
    ``data_version`` (see ``selectors.study_data_version``).
    """
    report, _ = _cached_report(study, refresh, include_candidates)
    return report


PLOTS = ("ranking", "agreement", "scatter", "position_bias", "rater_quality")
PLOT_FORMATS = ("png", "svg")
GRANULARITIES = ("item", "brief", "system")


class UnknownPlot(ValueError):
    """The plot asked for does not exist for this report (name, format, score or criterion)."""


def report_plot(study: Study, *, name: str, fmt: str, panel: str = "all", criterion: str | None = None,
                score: str | None = None, granularity: str = "item") -> bytes:
    """One report figure as PNG or SVG bytes, cached with the report it is drawn from.

    ``ranking`` takes a panel; ``scatter`` (score vs human aggregate with the fitted line)
    takes panel, criterion, score and granularity. Raises ``UnknownPlot`` for anything the
    report does not have.
    """
    from annotations.analysis import plots  # matplotlib is loaded only when a figure is asked for

    if name not in PLOTS:
        raise UnknownPlot(f"unknown plot '{name}'; use one of {', '.join(PLOTS)}")
    if fmt not in PLOT_FORMATS:
        raise UnknownPlot(f"unknown format '{fmt}'; use png or svg")
    report, version = _cached_report(study, False, include_candidates=(name == "scatter"))
    if panel != "all" and panel not in report["panels"]:
        raise UnknownPlot(f"unknown panel '{panel}'")
    if name == "scatter":
        criterion, score = scatter_default(report, criterion=criterion, score=score)
        if granularity not in GRANULARITIES:
            raise UnknownPlot(f"unknown granularity '{granularity}'; use one of {', '.join(GRANULARITIES)}")
    params = f"{panel}|{criterion}|{score}|{granularity}" if name == "scatter" else panel
    # score names may hold spaces and any character: the key carries a digest of them
    digest = hashlib.sha256(params.encode()).hexdigest()[:16]
    key = _key(study, version, what=f"plot-{name}.{fmt}:{digest}")
    data = cache.get(key)
    if data is not None:
        return data
    if name == "ranking":
        data = plots.ranking_plot(report, panel=panel, fmt=fmt)
    elif name == "agreement":
        data = plots.agreement_plot(report, fmt=fmt)
    elif name == "position_bias":
        data = plots.position_bias_plot(report, fmt=fmt)
    elif name == "rater_quality":
        data = plots.rater_quality_plot(report, fmt=fmt)
    else:
        data = plots.score_scatter_from_report(
            report, selectors.study_scores_frame(study=study), score=score, panel=panel, criterion=criterion,
            conditions=selectors.study_conditions_frame(study=study), granularity=granularity, fmt=fmt)
    cache.set(key, data, CACHE_SECONDS)
    return data


def scatter_default(report: dict, *, criterion: str | None = None, score: str | None = None) -> tuple[str, str]:
    """The (criterion, score) to plot: as given, else the first criterion and the score that
    correlates most strongly (|Spearman|, item level) with the people on it."""
    records = [r for r in report.get("correlation", []) if r["panel"] == "all"]
    if not records:
        raise UnknownPlot("the report has no score-human correlations (no automatic scores yet)")
    criteria = [c for c in report["criteria"] if any(r["criterion"] == c for r in records)]
    criterion = criterion or criteria[0]
    if criterion not in criteria:
        raise UnknownPlot(f"unknown criterion '{criterion}'")
    names = {r["score"] for r in records if r["criterion"] == criterion}
    if score is None:
        ranked = sorted((r for r in records if r["criterion"] == criterion and r["granularity"] == "item"),
                        key=lambda r: -abs(r["spearman"] or 0))
        score = ranked[0]["score"] if ranked else sorted(names)[0]
    if score not in names:
        raise UnknownPlot(f"unknown score '{score}'")
    return criterion, score
