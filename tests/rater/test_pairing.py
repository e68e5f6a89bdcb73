"""Opening a study builds cross-condition pairs and attention checks, once."""

from collections import Counter

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command

from annotations.models import Candidate, Comparison, Study
from annotations.services.pairing import checks_needed, study_close, study_open
from annotations.services.studies import study_create

from .conftest import make_study

pytestmark = pytest.mark.django_db


def real_pairs(study):
    return Comparison.objects.filter(study=study, attention_check=False).select_related("candidate_a", "candidate_b")


def test_it_pairs_every_cross_condition_pair_within_a_brief():
    study = make_study(samples=2)
    pairs = list(real_pairs(study))
    # 2 briefs x 3 condition pairs x (2 x 2) samples
    assert len(pairs) == 24
    for p in pairs:
        assert p.candidate_a.brief_id == p.candidate_b.brief_id == p.brief_id
        assert p.candidate_a.condition_id != p.candidate_b.condition_id
    assert study.status == Study.Status.OPEN


def test_a_large_design_gets_a_balanced_subset():
    study = make_study(samples=5, briefs=1)
    pairs = list(real_pairs(study))
    assert len(pairs) == 3 * 5  # max(5, 5) per condition pair instead of 25
    per_condition_pair = Counter(frozenset((p.candidate_a.condition_id, p.candidate_b.condition_id)) for p in pairs)
    assert set(per_condition_pair.values()) == {5}
    per_candidate = Counter(c for p in pairs for c in (p.candidate_a_id, p.candidate_b_id))
    assert set(per_candidate.values()) == {2}  # every answer meets each other condition once


def test_canonical_sides_are_not_tied_to_a_condition():
    study = make_study(samples=5, briefs=4)
    first = min(study.conditions.values_list("id", flat=True))
    on_a = sum(p.candidate_a.condition_id == first for p in real_pairs(study) if first in
               (p.candidate_a.condition_id, p.candidate_b.condition_id))
    assert 10 <= on_a <= 30  # of 40: both sides are used


def test_attention_checks_make_up_the_rate_and_expect_the_real_side():
    study = make_study(samples=2, rate=0.2)
    checks = list(Comparison.objects.filter(study=study, attention_check=True).select_related("candidate_a", "candidate_b"))
    assert len(checks) == checks_needed(24, 0.2) == 6
    for check in checks:
        decoy, real = ((check.candidate_a, check.candidate_b) if check.candidate_a.decoy_of_id
                       else (check.candidate_b, check.candidate_a))
        assert decoy.condition_id is None and decoy.decoy_of_id is not None
        assert real.condition_id is not None
        assert check.expected_choice == ("a" if check.candidate_a == real else "b")
        assert decoy.text != real.text and decoy.brief_id == real.brief_id


def test_opening_twice_creates_nothing_new():
    study = make_study(rate=0.2)
    before = (Comparison.objects.count(), Candidate.objects.count())
    result = study_open(study=study)
    assert (Comparison.objects.count(), Candidate.objects.count()) == before
    assert (result.comparisons, result.attention_checks) == (0, 0)


def test_a_rating_study_gets_decoy_items_and_no_comparisons():
    study = make_study(task="rating", rate=0.25, samples=2)
    assert Comparison.objects.filter(study=study).count() == 0
    decoys = Candidate.objects.filter(study=study, decoy_of__isnull=False)
    assert decoys.count() == checks_needed(12, 0.25) == 4
    assert all(d.condition_id is None for d in decoys)


def test_it_refuses_a_study_without_candidates_and_changes_nothing():
    study = study_create(slug="empty")
    with pytest.raises(ValidationError, match="no candidates"):
        study_open(study=study)
    study.refresh_from_db()
    assert study.status == Study.Status.DRAFT


def test_it_refuses_a_pairwise_study_with_a_single_condition():
    with pytest.raises(ValidationError, match="two conditions"):
        make_study(conditions=("only",))


def test_the_commands_open_and_close_a_study(capsys):
    study = make_study(open_it=False)
    call_command("open_study", study.slug)
    assert "24 new comparison(s)" in capsys.readouterr().out
    call_command("close_study", study.slug)
    study.refresh_from_db()
    assert study.status == Study.Status.CLOSED
    study_close(study=study)
