"""Recording judgments: as shown -> canonical, idempotent by client key, refusals change nothing."""

from datetime import timedelta

import pytest
from django.utils import timezone

from annotations.models import Assignment, Comparison, Judgment, Rater
from annotations.services.assignment import assignment_next
from annotations.services.judging import JudgingRefused, assignment_skip, judgment_record
from annotations.services.quality import study_quality_refresh
from annotations.services.studies import panel_create

from ..factories import age_leases
from .conftest import make_study

pytestmark = pytest.mark.django_db


def rater_with_item(panel, name="w1"):
    rater = Rater.objects.create(panel=panel, external_id=name, consent_at=timezone.now())
    return rater, assignment_next(rater=rater).assignment


def refused(code, **kwargs):
    before = (Judgment.objects.count(), list(Assignment.objects.values_list("status", flat=True)))
    with pytest.raises(JudgingRefused) as info:
        judgment_record(**kwargs)
    assert info.value.code == code
    assert (Judgment.objects.count(), list(Assignment.objects.values_list("status", flat=True))) == before
    return info.value.message


@pytest.mark.parametrize("left_is_a, shown, stored", [(True, "left", "a"), (False, "left", "b"),
                                                       (True, "right", "b"), (False, "right", "a"),
                                                       (False, "tie", "tie")])
def test_choices_as_shown_are_stored_in_canonical_terms(crowd, left_is_a, shown, stored):
    rater, a = rater_with_item(crowd)
    Assignment.objects.filter(pk=a.pk).update(left_is_a=left_is_a)
    a.refresh_from_db()
    judgment_record(assignment=a, rater=rater, choices={"overall": shown}, client_key="k", strength=2)
    j = Judgment.objects.get()
    assert (j.choice, j.choice_as_shown) == (stored, shown)
    assert j.strength == (None if shown == "tie" else 2)


def test_the_same_client_key_twice_stores_one_judgment_and_answers_the_same(crowd):
    rater, a = rater_with_item(crowd)
    first = judgment_record(assignment=a, rater=rater, choices={"overall": "left"}, client_key="k1")
    again = judgment_record(assignment=a, rater=rater, choices={"overall": "right"}, client_key="k1")
    assert (first.replayed, again.replayed) == (False, True)
    assert [j.pk for j in again.judgments] == [j.pk for j in first.judgments]
    assert Judgment.objects.count() == 1 and Judgment.objects.get().choice_as_shown == "left"


def test_another_raters_assignment_is_refused(crowd):
    owner, a = rater_with_item(crowd)
    stranger = Rater.objects.create(panel=crowd, external_id="w2")
    assert "among yours" in refused("not_yours", assignment=a, rater=stranger, choices={"overall": "left"},
                                         client_key="k")


def test_an_expired_lease_is_refused_and_released(crowd):
    rater, a = rater_with_item(crowd)
    age_leases(Assignment.objects.filter(pk=a.pk))
    with pytest.raises(JudgingRefused, match="ran out"):
        judgment_record(assignment=a, rater=rater, choices={"overall": "left"}, client_key="k")
    assert Judgment.objects.count() == 0
    assert assignment_next(rater=rater).assignment.pk != a.pk
    assert Assignment.objects.get(pk=a.pk).status == Assignment.Status.EXPIRED


def test_a_second_answer_with_another_key_is_refused(crowd):
    rater, a = rater_with_item(crowd)
    judgment_record(assignment=a, rater=rater, choices={"overall": "left"}, client_key="k1")
    assert "already judged" in refused("already_judged", assignment=a, rater=rater, choices={"overall": "right"},
                                       client_key="k2")


def test_a_client_key_cannot_be_reused_for_another_item(crowd):
    rater, a = rater_with_item(crowd)
    judgment_record(assignment=a, rater=rater, choices={"overall": "left"}, client_key="k1")
    b = assignment_next(rater=rater).assignment
    refused("key_reused", assignment=b, rater=rater, choices={"overall": "left"}, client_key="k1")


@pytest.mark.parametrize("choices, message", [
    ({}, "one answer per criterion"),
    ({"overall": "up"}, "left, right or tie"),
    ({"overall": "left", "charm": "left"}, "unknown criterion 'charm'"),
])
def test_bad_choices_are_refused_with_a_clear_message(crowd, choices, message):
    rater, a = rater_with_item(crowd)
    assert message in refused("invalid", assignment=a, rater=rater, choices=choices, client_key="k")


def test_a_missing_criterion_is_named():
    study = make_study(slug="multi", criteria=("novelty", "value"))
    rater, a = rater_with_item(panel_create(study=study, name="crowd"))
    assert "'value'" in refused("invalid", assignment=a, rater=rater, choices={"novelty": "left"}, client_key="k")


def test_ratings_must_be_whole_points_on_the_scale():
    study = make_study(slug="rate", task="rating")
    rater, a = rater_with_item(panel_create(study=study, name="crowd"))
    assert "1 to 5" in refused("invalid", assignment=a, rater=rater, choices={"overall": 7}, client_key="k")
    assert "1 to 5" in refused("invalid", assignment=a, rater=rater, choices={"overall": 2.5}, client_key="k")
    judgment_record(assignment=a, rater=rater, choices={"overall": "4"}, client_key="k")
    assert Judgment.objects.get().value == 4


def test_too_fast_judgments_are_flagged_by_the_faster_clock(crowd):
    crowd.study.min_seconds = 3
    crowd.study.save()
    rater, a = rater_with_item(crowd)
    rater.panel.study.min_seconds = 3
    judgment_record(assignment=a, rater=rater, choices={"overall": "left"}, client_key="k", seconds=1.2)
    assert Judgment.objects.get().too_fast
    b = assignment_next(rater=rater).assignment
    Assignment.objects.filter(pk=b.pk).update(shown_at=timezone.now() - timedelta(seconds=30))
    b.refresh_from_db()
    judgment_record(assignment=b, rater=rater, choices={"overall": "left"}, client_key="k2", seconds=12)
    assert not Judgment.objects.get(client_key="k2").too_fast


def test_cant_judge_records_the_reason_and_is_idempotent(crowd):
    rater, a = rater_with_item(crowd)
    assignment_skip(assignment=a, rater=rater, reason="offensive", detail="slur", client_key="s1")
    assert assignment_skip(assignment=a, rater=rater, reason="offensive", client_key="s1").replayed
    a.refresh_from_db()
    assert (a.status, a.skip_reason) == (Assignment.Status.SKIPPED, "offensive: slur")
    with pytest.raises(JudgingRefused, match="reason must be one of"):
        assignment_skip(assignment=a, rater=rater, reason="bored", client_key="s2")


def check_for(rater):
    """Lease an attention check to the rater directly."""
    comp = Comparison.objects.filter(attention_check=True).exclude(assignments__rater=rater).first()
    return Assignment.objects.create(rater=rater, comparison=comp, left_is_a=True, status="leased",
                                     shown_at=timezone.now(), lease_expires_at=timezone.now() + timedelta(minutes=5))


def test_attention_checks_are_scored_and_failing_raters_are_excluded_with_data_kept():
    study = make_study(slug="att", rate=0.3, max_attention_failures=0.34)
    panel = panel_create(study=study, name="crowd")
    rater = Rater.objects.create(panel=panel, external_id="w1", consent_at=timezone.now())
    good = check_for(rater)
    expected_side = "left" if good.comparison.expected_choice == "a" else "right"
    judgment_record(assignment=good, rater=rater, choices={"overall": expected_side}, client_key="k1")
    assert Judgment.objects.get(client_key="k1").attention_passed is True
    bad = check_for(rater)
    wrong = "right" if bad.comparison.expected_choice == "a" else "left"
    judgment_record(assignment=bad, rater=rater, choices={"overall": wrong}, client_key="k2")
    rater.refresh_from_db()
    assert Judgment.objects.get(client_key="k2").attention_passed is False
    assert rater.excluded and "failed 1 of 2" in rater.exclusion_reason
    assert Judgment.objects.filter(assignment__rater=rater).count() == 2  # data kept
    third = check_for(rater)
    right = "left" if third.comparison.expected_choice == "a" else "right"
    judgment_record(assignment=third, rater=rater, choices={"overall": right}, client_key="k3")
    rater.refresh_from_db()
    assert not rater.excluded  # 1 of 3 is within the allowed share
    assert study_quality_refresh(study=study) == 0


def test_a_manual_exclusion_is_never_lifted_by_the_checks(crowd):
    rater = Rater.objects.create(panel=crowd, external_id="w1", excluded=True, exclusion_reason="duplicate account")
    study_quality_refresh(study=crowd.study)
    rater.refresh_from_db()
    assert rater.excluded and rater.exclusion_reason == "duplicate account"
