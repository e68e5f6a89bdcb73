"""The next-item queue: least-judged first, never the same pair twice, leased, balanced, capped."""

import random
from collections import Counter
from datetime import timedelta

import pytest
from django.utils import timezone

from annotations.models import Assignment, Comparison, Panel, Rater
from annotations.services.assignment import State, assignment_next
from annotations.services.judging import assignment_skip, judgment_record
from annotations.services.pairing import study_close
from annotations.services.studies import panel_create

from .conftest import make_study

pytestmark = pytest.mark.django_db


def new_rater(panel, name):
    return Rater.objects.create(panel=panel, external_id=name, consent_at=timezone.now())


def judge_all(rater, choice="left", limit=1000):
    """Judge until the queue says stop; returns the states seen and the comparisons judged."""
    judged = []
    for n in range(limit):
        result = assignment_next(rater=rater)
        if result.state != State.ITEM:
            return result.state, judged
        a = result.assignment
        judgment_record(assignment=a, rater=rater, choices={"overall": choice}, client_key=f"{rater.pk}-{n}")
        judged.append(a.comparison_id)
    raise AssertionError("the queue never ended")


def test_the_next_item_is_the_least_judged_one(study, crowd):
    first = new_rater(crowd, "w1")
    taken = assignment_next(rater=first).assignment.comparison_id
    second = new_rater(crowd, "w2")
    assert assignment_next(rater=second).assignment.comparison_id != taken


def test_a_rater_never_gets_the_same_pair_twice_and_sees_every_pair_once(study, crowd):
    state, judged = judge_all(new_rater(crowd, "w1"))
    assert state == State.DONE
    assert len(judged) == len(set(judged)) == Comparison.objects.filter(study=study).count()


def test_a_reload_gives_back_the_held_item(study, crowd):
    rater = new_rater(crowd, "w1")
    a = assignment_next(rater=rater).assignment
    assert assignment_next(rater=rater).assignment.pk == a.pk
    assert Assignment.objects.filter(rater=rater).count() == 1


def test_expired_leases_go_back_to_the_pool():
    study = make_study(slug="tiny", briefs=1, samples=1, conditions=("x", "y"), target=1)
    crowd = panel_create(study=study, name="crowd")
    first, second = new_rater(crowd, "w1"), new_rater(crowd, "w2")
    held = assignment_next(rater=first).assignment
    assert assignment_next(rater=second).state == State.FULL
    later = held.lease_expires_at + timedelta(seconds=1)
    again = assignment_next(rater=second, now=later)
    assert again.state == State.ITEM and again.assignment.comparison_id == held.comparison_id
    # The first rater's lapsed lease is released on their next request; the slot stays taken.
    assert assignment_next(rater=first, now=later).state == State.FULL
    assert Assignment.objects.get(pk=held.pk).status == Assignment.Status.EXPIRED


def test_each_item_gets_the_target_per_panel_and_no_more(study, crowd, experts):
    for panel in (crowd, experts):
        for i in range(5):
            judge_all(new_rater(panel, f"{panel.name}{i}"))
    for panel in (crowd, experts):
        per_item = Counter(Assignment.objects.filter(rater__panel=panel, status="done").values_list("comparison_id", flat=True))
        assert set(per_item.values()) == {study.target_per_item}
        assert len(per_item) == Comparison.objects.filter(study=study).count()


def test_a_skipped_item_goes_back_to_the_pool():
    study = make_study(slug="tiny", briefs=1, samples=1, conditions=("x", "y"), target=1)
    crowd = panel_create(study=study, name="crowd")
    first, second = new_rater(crowd, "w1"), new_rater(crowd, "w2")
    held = assignment_next(rater=first).assignment
    assignment_skip(assignment=held, rater=first, reason="unreadable", client_key="k1")
    assert assignment_next(rater=second).assignment.comparison_id == held.comparison_id
    assert assignment_next(rater=first).state == State.DONE  # never the same pair again, even after a skip


def test_the_per_rater_cap_ends_a_rater_early(study):
    capped = panel_create(study=study, name="capped", max_items_per_rater=3)
    state, judged = judge_all(new_rater(capped, "w1"))
    assert (state, len(judged)) == (State.CAP, 3)


def test_left_and_right_are_balanced_per_item_and_over_conditions():
    study = make_study(slug="sides", briefs=3, samples=2, target=4)
    crowd = panel_create(study=study, name="crowd")
    for i in range(4):
        judge_all(new_rater(crowd, f"w{i}"))
    per_item = Counter()
    for a in Assignment.objects.filter(status="done"):
        per_item[a.comparison_id] += 1 if a.left_is_a else -1
    assert all(v == 0 for v in per_item.values())  # 4 raters per item: twice each way
    base = study.conditions.get(name="zzbasecond").pk
    left = Counter()
    for a in Assignment.objects.filter(status="done").select_related("comparison__candidate_a", "comparison__candidate_b"):
        shown_left = a.comparison.candidate_a if a.left_is_a else a.comparison.candidate_b
        if base in (a.comparison.candidate_a.condition_id, a.comparison.candidate_b.condition_id):
            left[shown_left.condition_id == base] += 1
    assert left[True] == left[False]


def test_condition_pairs_are_balanced_for_each_rater():
    study = make_study(slug="pairs", briefs=4, samples=2, target=1)
    crowd = panel_create(study=study, name="crowd", max_items_per_rater=6)
    rater = new_rater(crowd, "w1")
    judge_all(rater)
    pairs = Counter(frozenset((a.comparison.candidate_a.condition_id, a.comparison.candidate_b.condition_id))
                    for a in rater.assignments.select_related("comparison__candidate_a", "comparison__candidate_b"))
    assert sorted(pairs.values()) == [2, 2, 2]


def test_attention_checks_are_mixed_in_at_about_the_rate():
    study = make_study(slug="checks", briefs=4, samples=3, rate=0.2, target=1)
    crowd = panel_create(study=study, name="crowd")
    rater = new_rater(crowd, "w1")
    for n in range(40):
        result = assignment_next(rater=rater, rng=random.Random(n))
        judgment_record(assignment=result.assignment, rater=rater, choices={"overall": "tie"}, client_key=f"k{n}")
    checks = rater.assignments.filter(comparison__attention_check=True).count()
    assert 4 <= checks <= 12


def test_a_closed_study_hands_out_nothing(study, crowd):
    study_close(study=study)
    crowd.study.refresh_from_db()
    rater = Rater.objects.select_related("panel__study").get(pk=new_rater(crowd, "w1").pk)
    assert assignment_next(rater=rater).state == State.CLOSED
    assert not Assignment.objects.exists()


def test_panels_do_not_share_targets(study, crowd):
    other = panel_create(study=study, name="other", kind=Panel.Kind.CROWD)
    for i in range(study.target_per_item):
        judge_all(new_rater(crowd, f"w{i}"))
    assert assignment_next(rater=new_rater(crowd, "late")).state == State.FULL
    assert assignment_next(rater=new_rater(other, "fresh")).state == State.ITEM
