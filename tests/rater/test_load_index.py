"""The queue's load index (ItemLoad) agrees with the assignments it summarizes.

The index is read instead of counting assignments; these tests hold it against a count made
here, independently, after traffic that exercises every way a slot is taken or given back:
judged, skipped, lapsed, a lapsed lease being judged at that moment, two tabs of one rater.
"""

import random
import threading
from collections import Counter
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from annotations.models import Assignment, ItemLoad, Rater
from annotations.services.assignment import State, assignment_next, panel_is_full
from annotations.services.judging import assignment_skip, judgment_record
from annotations.services.studies import panel_create

from .conftest import make_study

postgres_only = pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL row locks")


def new_rater(panel, name):
    return Rater.objects.create(panel=panel, external_id=name, consent_at=timezone.now())


def counted(row: ItemLoad, now) -> dict:
    """What the row should say, counted from the assignments (judged + leases still running)."""
    of_item = Assignment.objects.filter(comparison_id=row.comparison_id, rater__panel_id=row.panel_id)
    running = Q(status="leased", lease_expires_at__gt=now)
    shown = Q(status__in=["done", "skipped"]) | running
    return {"load": of_item.filter(Q(status="done") | running).count(),
            "left_a": of_item.filter(shown, left_is_a=True).count(),
            "left_b": of_item.filter(shown, left_is_a=False).count()}


@pytest.mark.django_db
def test_the_index_agrees_with_a_recount_after_judging_skipping_and_lapsing():
    study = make_study(slug="index", briefs=2, samples=1, target=2)
    panel = panel_create(study=study, name="crowd")
    rng = random.Random(3)
    clock = timezone.now()
    for i in range(14):
        rater = new_rater(panel, f"w{i}")
        for n in range(4):
            result = assignment_next(rater=rater, now=clock, rng=rng)
            if result.state != State.ITEM:
                break
            fate = rng.random()
            if fate < 0.6:
                judgment_record(assignment=result.assignment, rater=rater, choices={"overall": "left"},
                                client_key=f"{i}-{n}")
            elif fate < 0.8:
                assignment_skip(assignment=result.assignment, rater=rater, reason="unreadable", client_key=f"{i}-{n}")
            else:
                break  # walks away: the lease lapses
        clock += timedelta(minutes=study.lease_minutes / 3)
    rows = list(ItemLoad.objects.filter(panel=panel))
    assert rows
    for row in rows:
        truth = counted(row, clock)
        if row.valid_until is None or row.valid_until > clock:
            assert {"load": row.load, "left_a": row.left_a, "left_b": row.left_b} == truth
        else:
            assert row.load >= truth["load"]  # a lapse not yet recounted only ever over-counts


@pytest.mark.django_db
def test_every_item_still_ends_exactly_at_its_target_with_lapses_and_skips():
    study = make_study(slug="fill", briefs=2, samples=1, target=2)
    panel = panel_create(study=study, name="crowd")
    clock = timezone.now()
    for i in range(30):
        rater = new_rater(panel, f"w{i}")
        for n in range(50):
            result = assignment_next(rater=rater, now=clock)
            if result.state != State.ITEM:
                break
            if (i + n) % 5 == 0:
                clock += timedelta(minutes=study.lease_minutes + 1)  # walked away; the next one comes later
                break
            if (i + n) % 7 == 0:
                assignment_skip(assignment=result.assignment, rater=rater, reason="other", client_key=f"{i}-{n}")
                continue
            judgment_record(assignment=result.assignment, rater=rater, choices={"overall": "right"},
                            client_key=f"{i}-{n}")
    per_item = Counter(Assignment.objects.filter(rater__panel=panel, status="done")
                       .values_list("comparison_id", flat=True))
    assert set(per_item.values()) == {2}
    assert len(per_item) == study.comparisons.count()
    assert panel_is_full(panel=panel, now=clock)


@pytest.mark.django_db
def test_a_missing_index_row_is_recounted_not_trusted_as_empty():
    study = make_study(slug="rows", briefs=1, samples=1, conditions=("x", "y"), target=1)
    panel = panel_create(study=study, name="crowd")
    first = new_rater(panel, "w1")
    held = assignment_next(rater=first).assignment
    judgment_record(assignment=held, rater=first, choices={"overall": "left"}, client_key="k")
    ItemLoad.objects.all().delete()  # e.g. a database restored from before the index existed
    assert assignment_next(rater=new_rater(panel, "w2")).state == State.FULL
    assert ItemLoad.objects.get(panel=panel).load == 1


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_a_lapsed_lease_being_judged_right_now_keeps_its_slot():
    study = make_study(slug="race", briefs=1, samples=1, conditions=("x", "y"), target=1)
    panel = panel_create(study=study, name="crowd")
    first, second = new_rater(panel, "w1"), new_rater(panel, "w2")
    held = assignment_next(rater=first).assignment
    later = held.lease_expires_at + timedelta(seconds=1)
    locked, release = threading.Event(), threading.Event()

    def submission_in_progress():
        # What a submission does first: lock the assignment row, then check and write.
        try:
            with transaction.atomic():
                Assignment.objects.select_for_update().get(pk=held.pk)
                locked.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=submission_in_progress)
    thread.start()
    assert locked.wait(10)
    try:
        assert assignment_next(rater=second, now=later).state == State.FULL
        assert Assignment.objects.get(pk=held.pk).status == "leased"
    finally:
        release.set()
        thread.join()
    again = assignment_next(rater=second, now=later)
    assert again.state == State.ITEM and again.assignment.comparison_id == held.comparison_id
    assert Assignment.objects.get(pk=held.pk).status == "expired"


@postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_tabs_of_one_rater_asking_at_once_share_one_lease():
    study = make_study(slug="tabs", briefs=2, samples=2, target=3)
    panel = panel_create(study=study, name="crowd")
    for i in range(12):
        rater = new_rater(panel, f"w{i}")
        barrier = threading.Barrier(2)
        got = []

        def tab():
            try:
                fresh = Rater.objects.select_related("panel__study").get(pk=rater.pk)
                barrier.wait(10)
                got.append(assignment_next(rater=fresh).assignment.pk)
            finally:
                connection.close()

        tabs = [threading.Thread(target=tab) for _ in range(2)]
        [t.start() for t in tabs]
        [t.join() for t in tabs]
        assert len(got) == 2 and got[0] == got[1]
        assert Assignment.objects.filter(rater=rater).count() == 1


@pytest.mark.django_db
def test_a_rating_study_fills_its_candidates_through_the_same_index():
    study = make_study(slug="ratings", task="rating", briefs=2, samples=1, target=2, rate=0.2)
    panel = panel_create(study=study, name="crowd")
    for i in range(6):
        rater = new_rater(panel, f"w{i}")
        for n in range(50):
            result = assignment_next(rater=rater)
            if result.state != State.ITEM:
                break
            judgment_record(assignment=result.assignment, rater=rater, choices={"overall": 4}, client_key=f"{i}-{n}")
    real = Counter(Assignment.objects.filter(rater__panel=panel, status="done", candidate__decoy_of__isnull=True)
                   .values_list("candidate_id", flat=True))
    assert set(real.values()) == {2} and len(real) == 6  # 2 briefs x 3 conditions x 1 sample
    assert Assignment.objects.filter(rater__panel=panel, candidate__decoy_of__isnull=False).exists()  # checks served
    for row in ItemLoad.objects.filter(panel=panel):
        judged = Assignment.objects.filter(candidate_id=row.candidate_id, rater__panel=panel, status="done").count()
        assert row.comparison_id is None and row.load == judged
    assert panel_is_full(panel=panel)
