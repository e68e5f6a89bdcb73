"""The admin never deletes what judgments depend on (judgments are append-only), and says why."""

import pytest

from annotations.models import Assignment, Comparison, Judgment, Rater

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
        for send in (client.get, client.post):
            response = send(f"/admin/annotations/{model}/{pk}/delete/", follow=True)
            assert response.redirect_chain[0][0] == f"/admin/annotations/{model}/{pk}/change/", model
            said = " ".join(str(m) for m in response.context["messages"])
            assert "1 judgment(s) depend on it" in said and f"delete the whole study '{comp.study.slug}'" in said
    assert Judgment.objects.count() == 1
    assert Rater.objects.filter(pk=rater.pk).exists() and Comparison.objects.filter(pk=comp.pk).exists()


def test_an_unjudged_rater_can_still_be_deleted(client, admin_user):
    rater = RaterFactory()
    client.force_login(admin_user)
    assert client.get(f"/admin/annotations/rater/{rater.pk}/delete/").status_code == 200
