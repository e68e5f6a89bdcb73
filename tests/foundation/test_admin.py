"""The admin never offers to delete what judgments depend on (judgments are append-only)."""

import pytest

from annotations.models import Assignment, Judgment

from ..factories import ComparisonFactory, RaterFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def judged():
    comp = ComparisonFactory()
    rater = RaterFactory(panel__study=comp.study)
    Judgment.objects.create(assignment=Assignment.objects.create(rater=rater, comparison=comp),
                            criterion="overall", choice="a")
    return comp, rater


def test_a_judged_rater_panel_candidate_brief_or_condition_cannot_be_deleted(client, admin_user, judged):
    comp, rater = judged
    client.force_login(admin_user)
    for model, pk in (("rater", rater.pk), ("panel", rater.panel_id), ("candidate", comp.candidate_b_id),
                      ("brief", comp.brief_id), ("condition", comp.candidate_a.condition_id)):
        assert client.get(f"/admin/annotations/{model}/{pk}/delete/").status_code == 403, model
    assert Judgment.objects.count() == 1


def test_an_unjudged_rater_can_still_be_deleted(client, admin_user):
    rater = RaterFactory()
    client.force_login(admin_user)
    assert client.get(f"/admin/annotations/rater/{rater.pk}/delete/").status_code == 200
