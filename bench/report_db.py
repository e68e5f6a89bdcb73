"""Benchmark of the study report from the database (not a test).

Loads a pairwise study with N judgments (default 100,000) into the configured database with
``bulk_create``: 5 conditions (one a human reference), 200 briefs, every pair of conditions
per brief, 2% attention checks, an expert and a crowd panel (a few raters excluded, a few
simulated), 4 criteria, 3 automatic scores per candidate and a model judge. Then it times:

- the selectors (``study_analysis_frames``: database to DataFrames),
- ``build_report`` on those frames,
- ``report_for_study`` cold (selectors + report + cache write) and warm (cache hit),
- a streamed CSV export of every judgment.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/eval_bench .venv/bin/python bench/report_db.py \
        [--judgments 100000] [--keep]

The database is migrated first; the study is deleted at the end unless ``--keep``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evalplatform.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.test import override_settings  # noqa: E402

from annotations import selectors  # noqa: E402
from annotations.analysis.report import build_report  # noqa: E402
from annotations.models import (  # noqa: E402
    Assignment,
    Brief,
    Candidate,
    Comparison,
    Condition,
    JudgeVerdict,
    Judgment,
    Panel,
    Rater,
    Score,
    Study,
)
from annotations.services.deletion import study_delete  # noqa: E402
from annotations.services.exports import judgments_export  # noqa: E402
from annotations.services.reports import report_for_study  # noqa: E402

SLUG = "bench-report-db"
CONDITIONS = {"base": -0.4, "fine_tuned": 0.0, "steered_a4": 0.3, "steered_a8": 0.2, "human": 0.5}
CRITERIA = ["novelty", "value", "surprise", "overall"]
N_BRIEFS = 200
BATCH = 5000


def timed(label, fn, *args, **kwargs):
    started = time.perf_counter()
    result = fn(*args, **kwargs)
    seconds = time.perf_counter() - started
    print(f"{label:<44} {seconds:8.2f} s")
    return result, seconds


def remove_study() -> None:
    """Judgments are append-only: the study goes through study_delete (which exports it first,
    here to a throw-away folder)."""
    study = Study.objects.filter(slug=SLUG).first()
    if study is not None:
        with tempfile.TemporaryDirectory() as tmp, override_settings(STUDY_DELETE_EXPORT_DIR=tmp):
            study_delete(study=study, confirm=SLUG)


def load(n_judgments: int, seed: int = 0) -> Study:
    """Write the study with ``n_judgments`` judgments (n_judgments / 4 assignments)."""
    rng = np.random.default_rng(seed)
    remove_study()
    with transaction.atomic():
        study = Study.objects.create(slug=SLUG, title="Report benchmark", task="pairwise",
                                     criteria=[{"name": c, "description": c} for c in CRITERIA])
        conds = [Condition.objects.create(study=study, name=name, kind="imported", reference=(name == "human"))
                 for name in CONDITIONS]
        briefs = Brief.objects.bulk_create([Brief(study=study, external_id=f"b{i}", text=f"Brief {i}", kind="idea")
                                            for i in range(N_BRIEFS)])
        cands = Candidate.objects.bulk_create([
            Candidate(study=study, brief=b, condition=c, external_id=f"{b.external_id}-{c.name}", text="x",
                      provenance={"model": c.name, "seed": 0})
            for b in briefs for c in conds], batch_size=BATCH)
        theta = {c.pk: CONDITIONS[c.condition.name] + rng.normal(0, 0.3) for c in cands}
        Score.objects.bulk_create([Score(candidate=c, name=name, value=theta[c.pk] * w + rng.normal(0, 0.3))
                                   for c in cands for name, w in (("creativity", 1.0), ("perplexity", -0.5),
                                                                  ("distinct_2", 0.2))], batch_size=BATCH)
        by_brief = {}
        for c in cands:
            by_brief.setdefault(c.brief_id, []).append(c)
        comps = []
        for b in briefs:
            cs = by_brief[b.pk]
            comps += [Comparison(study=study, brief=b, candidate_a=cs[i], candidate_b=cs[j])
                      for i in range(len(cs)) for j in range(i + 1, len(cs))]
        decoys = Candidate.objects.bulk_create([
            Candidate(study=study, brief=b, condition=None, decoy_of=by_brief[b.pk][0], sample_index=1000 + k,
                      external_id=f"{b.external_id}-decoy", text="the the the") for k, b in enumerate(briefs)])
        comps += [Comparison(study=study, brief=d.brief, candidate_a=by_brief[d.brief_id][1], candidate_b=d,
                             attention_check=True, expected_choice="a") for d in decoys[: N_BRIEFS // 2]]
        comps = Comparison.objects.bulk_create(comps, batch_size=BATCH)
        JudgeVerdict.objects.bulk_create([
            JudgeVerdict(comparison=c, judge="judge:base",
                         choice="a" if theta[c.candidate_a_id] > theta[c.candidate_b_id] else "b")
            for c in comps if not c.attention_check], batch_size=BATCH)

        n_assign = n_judgments // len(CRITERIA)
        experts = Panel.objects.create(study=study, name="experts", kind="expert")
        crowd = Panel.objects.create(study=study, name="crowd", kind="crowd")
        n_raters = max(10, n_assign // 100)
        raters = Rater.objects.bulk_create([
            Rater(panel=experts if i % 5 == 0 else crowd, external_id=f"w{i}", excluded=(i % 50 == 7),
                  exclusion_reason="failed attention checks" if i % 50 == 7 else "", simulated=(i % 40 == 3))
            for i in range(n_raters)], batch_size=BATCH)
        # each comparison judged by distinct raters: walk raters round-robin per comparison
        assignments, seen = [], set()
        comp_idx = rng.integers(0, len(comps), n_assign * 2)
        rater_idx = rng.integers(0, len(raters), n_assign * 2)
        for ci, ri in zip(comp_idx, rater_idx):
            if (ci, ri) in seen:
                continue
            seen.add((ci, ri))
            assignments.append(Assignment(rater=raters[ri], comparison=comps[ci], left_is_a=bool(rng.random() < 0.5),
                                          status=Assignment.Status.DONE))
            if len(assignments) == n_assign:
                break
        assignments = Assignment.objects.bulk_create(assignments, batch_size=BATCH)
        judgments = []
        for a in assignments:
            comp = a.comparison
            d = theta.get(comp.candidate_a_id, 1.0) - theta.get(comp.candidate_b_id, -3.0)
            for criterion in CRITERIA:
                u = rng.random()
                p_a = 1 / (1 + np.exp(-(d + rng.normal(0, 0.3))))
                choice = "tie" if u < 0.08 else ("a" if rng.random() < p_a else "b")
                judgments.append(Judgment(
                    assignment=a, criterion=criterion, choice=choice, strength=int(rng.integers(1, 4)),
                    seconds=float(rng.gamma(4, 4)), source="simulation",
                    attention_passed=(choice == "a") if comp.attention_check else None))
            if len(judgments) >= BATCH * 4:
                Judgment.objects.bulk_create(judgments, batch_size=BATCH)
                judgments = []
        Judgment.objects.bulk_create(judgments, batch_size=BATCH)
    return study


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--judgments", type=int, default=100_000)
    parser.add_argument("--keep", action="store_true", help="Keep the study afterwards.")
    args = parser.parse_args(argv)

    print(f"database: {connection.vendor} {connection.settings_dict['NAME']}")
    call_command("migrate", verbosity=0)
    study, load_s = timed(f"load {args.judgments:,} judgments (bulk_create)", load, args.judgments)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # what autovacuum does soon after a bulk load
    n = Judgment.objects.filter(assignment__rater__panel__study=study).count()
    print(f"  {n:,} judgments, {Comparison.objects.filter(study=study).count():,} comparisons, "
          f"{Rater.objects.filter(panel__study=study).count():,} raters")

    frames, sel_s = timed("selectors: database -> DataFrames", selectors.study_analysis_frames, study=study)
    _, rep_s = timed("build_report (1,000 bootstrap rounds)", build_report, study=study.slug, task="pairwise",
                     criteria=study.criterion_names, pj=frames.pj, scores=frames.scores,
                     conditions=frames.conditions, judge=frames.judge)
    _, cold_s = timed("report_for_study, cold (refresh)", report_for_study, study, refresh=True)
    _, warm_s = timed("report_for_study, cached", report_for_study, study)
    _, version_s = timed("  of which: data version query", selectors.study_data_version, study=study)
    with tempfile.NamedTemporaryFile(suffix=".csv") as f:
        _, export_s = timed("export every judgment as CSV (streamed)", judgments_export, study=study, fmt="csv",
                            target=f.name)
        size = os.path.getsize(f.name)
    print(f"\nselectors + build_report: {sel_s + rep_s:.2f} s for {n:,} judgments "
          f"(selectors {100 * sel_s / (sel_s + rep_s):.0f}% of it); cached report {1000 * warm_s:.0f} ms "
          f"({cold_s / warm_s:.0f}x faster than cold); CSV export {size / 1e6:.1f} MB in {export_s:.2f} s")
    if not args.keep:
        remove_study()
    return 0


if __name__ == "__main__":
    sys.exit(main())
