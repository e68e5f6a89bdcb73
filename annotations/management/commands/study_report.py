import json

from django.core.management.base import BaseCommand

from annotations.services.reports import report_for_study

from ._base import get_study


class Command(BaseCommand):
    help = ("Print a study's report: agreement, rankings, score-human correlations, model judges, "
            "position bias and rater quality. With --json, the report JSON and nothing else on stdout.")

    def add_arguments(self, parser):
        parser.add_argument("slug", help="Study slug.")
        parser.add_argument("--json", action="store_true", help="Print the report JSON (DESIGN.md 'Report JSON').")
        parser.add_argument("--refresh", action="store_true", help="Rebuild the report even if a cached one is current.")

    def handle(self, *args, slug, json: bool, refresh: bool, **options):
        report = report_for_study(get_study(slug), refresh=refresh)
        if json:
            self.stdout.write(_dumps(report))
            return
        self.stdout.write(_summary(report))


def _dumps(report: dict) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False, allow_nan=False)


def _fmt(x, digits=3):
    return "-" if x is None else f"{x:.{digits}f}"


def _summary(report: dict) -> str:
    lines = [f"study {report['study']} ({report['task']}): {report['n_judgments']} judgments, "
             f"{report['excluded']['judgments']} left out of aggregates "
             f"({report['excluded']['flagged_raters']} excluded rater(s), "
             f"{report['excluded']['attention_checks']} attention-check judgments)"]
    if report["simulated"]["judgments"]:
        lines.append(f"SIMULATED: {report['simulated']['judgments']} judgments come from simulated raters")
    lines.append("\nagreement (panel, criterion: alpha nominal / ordinal / interval, n items)")
    for a in report["agreement"]:
        alpha = a.get("alpha") or {}
        lines.append(f"  {a['panel']:>10} {a['criterion']:<14} {_fmt(alpha.get('nominal'))} / "
                     f"{_fmt(alpha.get('ordinal'))} / {_fmt(alpha.get('interval'))}  n={a.get('n_items')}")
    lines.append("\nranking (panel, criterion, condition: Bradley-Terry strength or mean rating, n)")
    for r in report["ranking"]:
        value = r.get("bt_strength") if report["task"] == "pairwise" else r.get("mean_rating")
        lines.append(f"  {r['panel']:>10} {r['criterion']:<14} {str(r['condition']):<20} {_fmt(value)}  n={r.get('n')}")
    lines.append(f"\n{len(report['correlation'])} score-human correlation records; use --json for all figures")
    return "\n".join(lines)
