"""Rater quality: attention checks decide who is excluded from aggregates.

A check counts as failed when the rater did not pick the expected side (or, for a rating
decoy, did not rate it in the lower half). With an ``overall`` criterion that one answer
decides; otherwise the majority of the item's criteria does. A rater whose failed share is
above ``study.max_attention_failures`` is excluded; their judgments are kept and exported
with the flag. The decision is recomputed after every check, so a rater can also come back
in; manual exclusions (any other reason) are never touched.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from django.db import transaction

from annotations.models import Judgment, Rater, Study

ATTENTION_REASON = "attention checks"


@dataclass
class AttentionSummary:
    checks: int
    failed: int

    @property
    def failed_share(self) -> float:
        return self.failed / self.checks if self.checks else 0.0


def attention_summary(*, rater: Rater) -> AttentionSummary:
    per_item: dict[int, dict[str, bool]] = defaultdict(dict)
    for assignment_id, criterion, passed in Judgment.objects.filter(
            assignment__rater=rater, attention_passed__isnull=False).values_list(
            "assignment_id", "criterion", "attention_passed"):
        per_item[assignment_id][criterion] = passed
    failed = 0
    for answers in per_item.values():
        if "overall" in answers:
            ok = answers["overall"]
        else:
            ok = sum(answers.values()) * 2 > len(answers)
        failed += not ok
    return AttentionSummary(checks=len(per_item), failed=failed)


def rater_quality_update(*, rater: Rater) -> Rater:
    """Exclude (or readmit) ``rater`` by their attention checks. Safe inside or outside atomic()."""
    study = rater.panel.study
    summary = attention_summary(rater=rater)
    fails = summary.checks > 0 and summary.failed_share > study.max_attention_failures
    with transaction.atomic():
        if fails:
            reason = (f"{ATTENTION_REASON}: failed {summary.failed} of {summary.checks} "
                      f"(allowed {study.max_attention_failures:.0%})")
            Rater.objects.filter(pk=rater.pk).filter(excluded=False).update(excluded=True, exclusion_reason=reason)
            Rater.objects.filter(pk=rater.pk, exclusion_reason__startswith=ATTENTION_REASON).update(
                exclusion_reason=reason)
        else:
            Rater.objects.filter(pk=rater.pk, excluded=True, exclusion_reason__startswith=ATTENTION_REASON).update(
                excluded=False, exclusion_reason="")
    rater.refresh_from_db(fields=["excluded", "exclusion_reason"])
    return rater


def study_quality_refresh(*, study: Study) -> int:
    """Recompute exclusions for every rater of the study; returns how many are excluded."""
    for rater in Rater.objects.filter(panel__study=study).select_related("panel__study"):
        rater_quality_update(rater=rater)
    return Rater.objects.filter(panel__study=study, excluded=True).count()
