"""Constraints live in the database: they hold even when Python is bypassed."""

import pytest
from django.db import IntegrityError, transaction

from annotations.models import Assignment, Candidate, Comparison, Judgment, Score

from ..factories import BriefFactory, CandidateFactory, ComparisonFactory, RaterFactory

pytestmark = pytest.mark.django_db


def violates(fn):
    with pytest.raises(IntegrityError), transaction.atomic():
        fn()


def test_a_sample_exists_once_per_brief_and_condition():
    c = CandidateFactory()
    violates(lambda: Candidate.objects.create(study=c.study, brief=c.brief, condition=c.condition,
                                              sample_index=c.sample_index, text="again"))


def test_a_score_name_exists_once_per_candidate():
    c = CandidateFactory()
    Score.objects.create(candidate=c, name="novelty", value=1)
    violates(lambda: Score.objects.create(candidate=c, name="novelty", value=2))


def test_a_pair_exists_once_in_either_order():
    comp = ComparisonFactory()
    violates(lambda: Comparison.objects.create(study=comp.study, brief=comp.brief,
                                               candidate_a=comp.candidate_b, candidate_b=comp.candidate_a))


def test_a_candidate_is_never_compared_with_itself():
    c = CandidateFactory()
    violates(lambda: Comparison.objects.create(study=c.study, brief=c.brief, candidate_a=c, candidate_b=c))


def test_a_rater_gets_an_item_once_and_judges_a_criterion_once():
    comp = ComparisonFactory()
    rater = RaterFactory(panel__study=comp.study)
    a = Assignment.objects.create(rater=rater, comparison=comp)
    violates(lambda: Assignment.objects.create(rater=rater, comparison=comp))
    Judgment.objects.create(assignment=a, criterion="overall", choice="a")
    violates(lambda: Judgment.objects.create(assignment=a, criterion="overall", choice="b"))


def test_an_assignment_has_exactly_one_item():
    comp = ComparisonFactory()
    rater = RaterFactory(panel__study=comp.study)
    violates(lambda: Assignment.objects.create(rater=rater))
    violates(lambda: Assignment.objects.create(rater=rater, comparison=comp, candidate=comp.candidate_a))


def test_a_judgment_has_an_answer_and_a_strength_in_range():
    comp = ComparisonFactory()
    a = Assignment.objects.create(rater=RaterFactory(panel__study=comp.study), comparison=comp)
    violates(lambda: Judgment.objects.create(assignment=a, criterion="overall"))
    violates(lambda: Judgment.objects.create(assignment=a, criterion="overall", choice="a", strength=7))


def test_a_candidate_without_condition_must_be_a_decoy():
    brief = BriefFactory()
    violates(lambda: Candidate.objects.create(study=brief.study, brief=brief, text="orphan"))


def test_crowd_ids_are_unique_per_panel():
    rater = RaterFactory()
    violates(lambda: RaterFactory(panel=rater.panel, external_id=rater.external_id))
