"""Researcher pages: the study report with its tables, figures and downloads.

Login required, then researchers and admins only (the same rule as the API's
``IsResearcher``). The figures are drawn server-side from the cached report.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_GET

from annotations import selectors
from annotations.api.permissions import is_researcher
from annotations.models import Study
from annotations.services.exports import REPORT_TABLES
from annotations.services.reports import GRANULARITIES, UnknownPlot, report_for_study, report_plot, scatter_default

PLOT_TYPES = {"png": "image/png", "svg": "image/svg+xml"}
TOP_CORRELATIONS = 25


def _get_study_for_researcher(request, slug: str) -> Study:
    if not is_researcher(request.user):
        raise PermissionDenied("Researchers and admins only.")
    return get_object_or_404(Study, slug=slug)


@require_GET
@login_required
def report_index(request):
    if not is_researcher(request.user):
        raise PermissionDenied("Researchers and admins only.")
    return render(request, "report/index.html", {"studies": selectors.study_list_for_reports()})


@require_GET
@login_required
def report_page(request, slug):
    study = _get_study_for_researcher(request, slug)
    report = report_for_study(study, refresh=request.GET.get("refresh") == "1")
    scatter = _scatter_choice(report, request.GET)
    return render(request, "report/study.html", {
        "study": study, "report": report, "summary": selectors.study_summary(study=study),
        "tables": report_tables(report), "scatter": scatter, "plots": _plot_links(study, report, scatter),
        "downloads": _downloads(study),
    })


@require_GET
@login_required
def report_plot_file(request, slug, name, fmt):
    study = _get_study_for_researcher(request, slug)
    q = request.GET
    try:
        data = report_plot(study, name=name, fmt=fmt, panel=q.get("panel", "all"), criterion=q.get("criterion") or None,
                           score=q.get("score") or None, granularity=q.get("granularity", "item"))
    except UnknownPlot as exc:
        raise Http404(str(exc)) from None
    response = HttpResponse(data, content_type=PLOT_TYPES[fmt])
    if q.get("download"):
        response["Content-Disposition"] = f'attachment; filename="{study.slug}-{name}.{fmt}"'
    return response


# --- presentation helpers -------------------------------------------------------------------


def _f(x, digits: int = 3) -> str:
    return "–" if x is None else f"{x:.{digits}f}"


def _ci(pair, digits: int = 3) -> str:
    return "–" if not pair else f"[{pair[0]:.{digits}f}, {pair[1]:.{digits}f}]"


def _pct(x) -> str:
    return "–" if x is None else f"{100 * x:.0f}%"


def report_tables(report: dict) -> dict:
    """The report's records as rows of display strings, grouped the way the page shows them."""
    rating = report["task"] == "rating"
    ranking = []
    for r in report["ranking"]:
        value, ci = (r["mean_rating"], r.get("mean_rating_ci95")) if rating else (r["bt_strength"], r["bt_ci95"])
        ranking.append({"panel": r["panel"], "criterion": r["criterion"], "condition": r["condition"] or "(none)",
                        "value": _f(value), "ci": _ci(ci), "win_rate": _pct(r["win_rate"]),
                        "win_ci": _ci(r["win_rate_ci95"], 2), "n": r["n"]})
    agreement = []
    for a in report["agreement"]:
        alpha = a.get("alpha") or {}
        icc = a.get("icc") or {}
        agreement.append({
            "panel": a["panel"], "criterion": a["criterion"], "nominal": _f(alpha.get("nominal")),
            "ordinal": _f(alpha.get("ordinal")), "interval": _f(alpha.get("interval")), "ci": _ci(a.get("alpha_ci95")),
            "fleiss": _f(a.get("fleiss_kappa")), "percent": _pct(a.get("percent_agreement")),
            "icc2k": _f(icc.get("ICC2k")) if icc else "–", "n_items": a.get("n_items"),
            "n_raters": a.get("n_raters"), "n_judgments": a.get("n_judgments"),
        })
    strongest = sorted((c for c in report["correlation"] if c["panel"] == "all"),
                       key=lambda c: -abs(c["spearman"] or 0))[:TOP_CORRELATIONS]
    correlation = [{"criterion": c["criterion"], "score": c["score"], "granularity": c["granularity"],
                    "pearson": _f(c["pearson"]), "spearman": _f(c["spearman"]), "ci": _ci(c.get("spearman_ci95")),
                    "kendall": _f(c["kendall_tau_b"]), "p": _f(c.get("spearman_p"), 4), "n": c["n"]}
                   for c in strongest]
    model_judge = [{"panel": m["panel"], "judge": m["judge"], "criterion": m.get("criterion", "all"),
                    "agreement": _pct(m.get("agreement_with_majority")), "ci": _ci(m.get("ci95"), 2), "n": m.get("n")}
                   for m in report["model_judge"]]
    position = [{"panel": p["panel"], "criterion": p["criterion"], "share": _pct(p.get("left_share")),
                 "ci": _ci(p.get("ci95"), 2), "p": _f(p.get("p_value"), 4), "n": p.get("n"),
                 "biased": p.get("p_value") is not None and p["p_value"] < 0.05}
                for p in report["position_bias"]]
    raters = [{"panel": r["panel"], "rater": r["rater"], "n": r["n_judgments"],
               "agreement": _pct(r.get("agreement_with_majority")), "attention": _pct(r.get("attention_pass_rate")),
               "n_checks": r.get("n_attention_checks"), "seconds": _f(r.get("median_seconds"), 1),
               "left": _pct(r.get("left_share")), "flagged": r.get("flagged"), "simulated": r.get("simulated"),
               "reason": r.get("exclusion_reason") or ""}
              for r in report["raters"]]
    return {"ranking": ranking, "agreement": agreement, "correlation": correlation,
            "n_correlations": len(report["correlation"]), "model_judge": model_judge,
            "position_bias": position, "raters": raters}


def _scatter_choice(report: dict, query) -> dict | None:
    try:
        criterion, score = scatter_default(report, criterion=query.get("criterion") or None,
                                           score=query.get("score") or None)
    except UnknownPlot:
        return None
    granularity = query.get("granularity") if query.get("granularity") in GRANULARITIES else "item"
    names = sorted({c["score"] for c in report["correlation"] if c["panel"] == "all" and c["criterion"] == criterion})
    criteria = [c for c in report["criteria"] if any(r["criterion"] == c for r in report["correlation"])]
    return {"criterion": criterion, "score": score, "granularity": granularity, "scores": names,
            "criteria": criteria, "granularities": GRANULARITIES}


def _plot_links(study: Study, report: dict, scatter: dict | None) -> list[dict]:
    """Figure title, image URL and PNG / SVG download URLs, in page order."""
    wanted = [("ranking", "Ranking with 95% intervals", {"panel": "all"})]
    wanted += [("ranking", f"Ranking: panel {p}", {"panel": p}) for p in report["panels"] if len(report["panels"]) > 1]
    wanted.append(("agreement", "Agreement per criterion and panel", {}))
    if scatter:
        wanted.append(("scatter", f"{scatter['score']} vs people on {scatter['criterion']} ({scatter['granularity']} level)",
                       {k: scatter[k] for k in ("criterion", "score", "granularity")}))
    if report["task"] == "pairwise":
        wanted.append(("position_bias", "Position bias", {}))
    wanted.append(("rater_quality", "Rater quality", {}))
    links = []
    for name, title, params in wanted:
        def url(fmt, download=False, name=name, params=params):
            query = dict(params, **({"download": "1"} if download else {}))
            base = reverse("report-plot", args=[study.slug, name, fmt])
            return f"{base}?{urlencode(query)}" if query else base
        links.append({"name": name, "title": title, "src": url("svg"), "png": url("png", True), "svg": url("svg", True)})
    return links


def _downloads(study: Study) -> dict:
    slug = study.slug
    return {
        "exports": [(fmt, reverse("api-study-export", args=[slug]) + f"?format={fmt}") for fmt in ("csv", "jsonl", "parquet")],
        "report_json": reverse("api-study-report", args=[slug]),
        "tables": [(t, reverse("api-study-report-table", args=[slug, t])) for t in REPORT_TABLES],
    }
