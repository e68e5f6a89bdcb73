"""Raters arrive by crowd link or invite; consent, qualification, resume, revoke, full and closed studies."""

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from annotations.models import Invite, Panel, Rater
from annotations.services.pairing import study_close
from annotations.services.raters import (
    JoinRefused,
    crowd_join,
    invite_use,
    invites_create,
    invites_revoke,
    rater_qualify,
)
from annotations.services.studies import panel_create

from .conftest import make_study

pytestmark = pytest.mark.django_db

QUALIFICATION = [
    {"brief": "Name a cafe.", "left": "Cafe", "right": "The Daily Grind", "answer": "right"},
    {"brief": "Name a bike shop.", "left": "Spoke & Mirror", "right": "bike bike bike", "answer": "left"},
]


def test_a_crowd_worker_returning_with_the_same_id_resumes(crowd):
    first, created = crowd_join(panel=crowd, external_id="P1", params={"PROLIFIC_PID": "P1", "SESSION_ID": "s1"})
    again, created_again = crowd_join(panel=crowd, external_id="P1", params={"SESSION_ID": "s2"})
    assert (created, created_again, first.pk) == (True, False, again.pk)
    assert Rater.objects.get().params == {"PROLIFIC_PID": "P1", "SESSION_ID": "s2"}


def test_the_crowd_link_keeps_the_panels_parameters_and_resumes(crowd):
    client = Client()
    url = "/join/blind/?PROLIFIC_PID=P9&STUDY_ID=st&SESSION_ID=se&other=dropped"
    response = client.get(url)
    # The consent page comes in the same answer, its form posting to the consent URL.
    assert response.status_code == 200
    assert f'action="{reverse("rater-consent", args=["blind"])}"'.encode() in response.content
    rater = Rater.objects.get()
    assert rater.params == {"PROLIFIC_PID": "P9", "STUDY_ID": "st", "SESSION_ID": "se"}
    assert Client().get(url).status_code == 200 and Rater.objects.count() == 1


def test_parameter_names_are_configurable_per_panel():
    study = make_study(slug="mturk")
    panel_create(study=study, name="mturk", id_param="workerId", extra_params=["assignmentId"])
    Client().get("/join/mturk/?workerId=W7&assignmentId=A1")
    assert Rater.objects.get().params == {"workerId": "W7", "assignmentId": "A1"}


def test_a_link_without_an_id_asks_for_it(crowd):
    response = Client().get("/join/blind/")
    assert response.status_code == 200 and b"csrfmiddlewaretoken" in response.content
    assert not Rater.objects.exists()


@pytest.mark.parametrize("setup, words", [("closed", b"closed"), ("draft", b"not open yet"), ("full", b"full")])
def test_closed_not_open_and_full_studies_say_so_plainly(setup, words):
    study = make_study(slug="state", open_it=setup != "draft", target=1, briefs=1, samples=1, conditions=("x", "y"))
    panel = panel_create(study=study, name="crowd")
    if setup == "closed":
        study_close(study=study)
    if setup == "full":
        from annotations.services.assignment import assignment_next

        taker = Rater.objects.create(panel=panel, external_id="early", consent_at=timezone.now())
        assignment_next(rater=taker)
    response = Client().get("/join/state/?PROLIFIC_PID=late", follow=True)
    assert words in response.content
    assert not Rater.objects.filter(external_id="late").exists()


def test_an_unknown_study_gives_the_same_plain_404(db):
    response = Client().get("/join/no-such-study/?PROLIFIC_PID=x")
    assert response.status_code == 404 and b"no study at this address" in response.content


def test_an_invite_is_bound_to_its_first_rater_and_resumes_them(experts):
    invite = invites_create(panel=experts, labels=["ada@example.org"])[0]
    first = invite_use(token=invite.token)
    assert invite_use(token=invite.token).pk == first.pk
    invite.refresh_from_db()
    assert invite.rater_id == first.pk and Rater.objects.count() == 1


def test_a_revoked_invite_lets_nobody_in_even_a_rater_who_used_it(experts):
    invite = invites_create(panel=experts, count=1)[0]
    client = Client()
    assert client.get(f"/invite/{invite.token}/").status_code == 302
    assert invites_revoke(invites=Invite.objects.all()) == 1
    with pytest.raises(JoinRefused, match="withdrawn"):
        invite_use(token=invite.token)
    assert client.get("/rate/blind/judge/").status_code == 403
    assert b"withdrawn" in client.get(f"/invite/{invite.token}/").content


def test_an_unknown_invite_token_is_refused(db):
    assert Client().get("/invite/not-a-token/").status_code == 404


def test_invites_are_created_in_bulk_with_labels_and_count(experts):
    invites = invites_create(panel=experts, count=3, labels=["a", "", "b"])
    assert [i.label for i in invites] == ["a", "b", "", "", ""]
    assert len({i.token for i in invites}) == 5


def test_the_qualification_passes_with_the_right_answers_only_once(study):
    panel = panel_create(study=study, name="q", qualification=QUALIFICATION)
    good, _ = crowd_join(panel=panel, external_id="good")
    assert rater_qualify(rater=good, answers={"1": "right", "2": "left"})
    bad, _ = crowd_join(panel=panel, external_id="bad")
    assert not rater_qualify(rater=bad, answers=["left", "left"])
    with pytest.raises(JoinRefused, match="not passed"):
        rater_qualify(rater=bad, answers={"1": "right", "2": "left"})
    with pytest.raises(JoinRefused, match="missing: 2"):
        rater_qualify(rater=crowd_join(panel=panel, external_id="half")[0], answers={"1": "right"})


def test_the_pages_walk_a_rater_from_link_to_completion_code(crowd):
    client = Client()
    client.get("/join/blind/?PROLIFIC_PID=P1&STUDY_ID=s&SESSION_ID=x")
    assert client.get("/rate/blind/judge/").status_code == 302  # consent first
    assert b"agree" in client.get("/rate/blind/consent/").content
    assert client.post("/rate/blind/consent/", {}).status_code == 200  # unticked: asked again
    assert client.post("/rate/blind/consent/", {"agree": "on"})["Location"].endswith("/instructions/")
    page = client.get("/rate/blind/instructions/").content.decode()
    assert "worked example" in page and "All things considered" in page
    for _ in range(100):
        response = client.get("/rate/blind/judge/")
        if response.status_code == 302:
            break
        form = response.context["form"]
        client.post("/rate/blind/judge/", {"assignment": form.initial["assignment"], "client_key": form.initial["client_key"],
                                           "choice_overall": "left", "seconds": "4.2", "action": "judge"})
    done = client.get(response["Location"])
    assert b"C0DE42" in done.content
    assert Rater.objects.get().finished_at is not None


def test_every_rater_form_needs_a_csrf_token(crowd):
    client = Client(enforce_csrf_checks=True)
    client.get("/join/blind/?PROLIFIC_PID=P1")
    assert client.post("/rate/blind/consent/", {"agree": "on"}).status_code == 403
    assert client.post("/join/blind/", {"external_id": "P2"}).status_code == 403
    assert client.post("/rate/blind/judge/", {"action": "judge"}).status_code == 403


def test_the_admin_creates_invites_in_bulk_and_revokes_them(admin_user, experts):
    client = Client()
    client.force_login(admin_user)
    url = reverse("admin:annotations_panel_changelist")
    page = client.post(url, {"action": "create_invites", "_selected_action": [experts.pk]})
    assert b"Create invites" in page.content
    client.post(url, {"action": "create_invites", "_selected_action": [experts.pk], "apply": "1", "count": "2",
                      "labels": "ada\nbo"}, follow=True)
    assert Invite.objects.filter(panel=experts).count() == 4
    client.post(reverse("admin:annotations_invite_changelist"),
                {"action": "revoke", "_selected_action": list(Invite.objects.values_list("pk", flat=True))})
    assert not Invite.objects.filter(revoked_at__isnull=True).exists()


def test_the_join_page_is_rate_limited(crowd, monkeypatch):
    from annotations.throttles import JoinThrottle

    # monkeypatch restores the class attribute after the test, whatever happens
    monkeypatch.setattr(JoinThrottle, "THROTTLE_RATES", {"join": "2/minute", "submit": "240/minute"})
    codes = [Client().get(f"/join/blind/?PROLIFIC_PID=p{i}").status_code for i in range(3)]
    assert codes == [200, 200, 429]  # the first two get the consent page
    assert Rater.objects.count() == 2


def test_only_crowd_panels_have_a_public_link(study):
    panel_create(study=study, name="experts", kind=Panel.Kind.EXPERT)
    assert Client().get("/join/blind/?PROLIFIC_PID=x").status_code == 404
