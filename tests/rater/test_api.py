"""The rater JSON API: join, next, submit; who may call what."""

import json
import uuid

import pytest
from django.test import Client

from annotations.models import Assignment, Invite, Judgment, Rater
from annotations.services.studies import panel_create

from .conftest import make_study

pytestmark = pytest.mark.django_db


def post(client, url, body, **extra):
    return client.post(url, json.dumps(body), content_type="application/json", **extra)


def joined(slug="blind", worker="P1"):
    client = Client()
    response = post(client, f"/api/rate/{slug}/join/", {"external_id": worker, "consent": True,
                                                          "STUDY_ID": "s1", "SESSION_ID": "x1"})
    assert response.status_code in (200, 201), response.content
    return client


def submit(client, assignment, choice="left", key=None):
    return post(client, f"/api/rate/assignments/{assignment}/judgments/",
                {"client_key": key or str(uuid.uuid4()), "choices": {"overall": choice}, "strength": 2,
                 "rationale": "crisper", "seconds": 5})


def test_a_crowd_rater_joins_judges_to_the_end_and_gets_the_code(crowd):
    client = joined()
    assert post(client, "/api/rate/blind/join/", {"external_id": "P1", "consent": True}).status_code == 200  # resumed
    n = 0
    while True:
        response = client.get("/api/rate/blind/next/")
        if response.status_code == 204:
            break
        item = response.json()
        assert set(item) >= {"assignment", "brief", "left", "right", "criteria", "progress"}
        assert item["progress"]["done"] == n
        assert submit(client, item["assignment"]).status_code == 201
        n += 1
    assert n == Assignment.objects.count() == 24
    assert client.get("/api/rate/blind/done/").json()["completion_code"] == "C0DE42"


def test_the_same_client_key_answers_the_same_and_stores_once(crowd):
    client = joined()
    item = client.get("/api/rate/blind/next/").json()
    key = str(uuid.uuid4())
    first, second = submit(client, item["assignment"], key=key), submit(client, item["assignment"], "right", key=key)
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["judgments"] == second.json()["judgments"]
    assert second.json()["replayed"] and Judgment.objects.count() == 1


def test_a_second_answer_with_a_new_key_is_a_clear_409(crowd):
    client = joined()
    item = client.get("/api/rate/blind/next/").json()
    submit(client, item["assignment"])
    response = submit(client, item["assignment"])
    assert response.status_code == 409 and "already judged" in response.json()["detail"]


def test_a_bad_body_is_a_400_that_names_the_problem_and_stores_nothing(crowd):
    client = joined()
    item = client.get("/api/rate/blind/next/").json()
    response = post(client, f"/api/rate/assignments/{item['assignment']}/judgments/",
                    {"client_key": "k", "choices": {"overall": "A"}})
    assert response.status_code == 400 and "left, right or tie" in response.json()["detail"]
    response = post(client, f"/api/rate/assignments/{item['assignment']}/judgments/", {"choices": {"overall": "left"}})
    assert response.status_code == 400 and "client_key" in response.json()
    assert not Judgment.objects.exists()


def test_cant_judge_through_the_api(crowd):
    client = joined()
    item = client.get("/api/rate/blind/next/").json()
    response = post(client, f"/api/rate/assignments/{item['assignment']}/skip/", {"client_key": "s", "reason": "unreadable"})
    assert response.status_code == 201 and Assignment.objects.get().status == "skipped"


def test_join_needs_consent_and_an_id(crowd):
    assert post(Client(), "/api/rate/blind/join/", {"external_id": "P1", "consent": False}).status_code == 400
    response = post(Client(), "/api/rate/blind/join/", {"consent": True})
    assert response.status_code == 400 and "PROLIFIC_PID" in response.json()["detail"]
    assert post(Client(), "/api/rate/blind/join/", {"PROLIFIC_PID": "P5", "consent": True}).status_code == 201
    assert not Rater.objects.filter(external_id="P1").exists()


def test_join_does_not_tell_a_missing_study_from_one_without_a_public_link(study):
    panel_create(study=study, name="experts", kind="expert")
    a = post(Client(), "/api/rate/blind/join/", {"external_id": "P1", "consent": True})
    b = post(Client(), "/api/rate/nothing-here/join/", {"external_id": "P1", "consent": True})
    assert a.status_code == b.status_code == 404


def test_the_qualification_gates_next(study):
    panel_create(study=study, name="crowd", qualification=[
        {"brief": "b", "left": "good", "right": "bad bad", "answer": "left"}])
    client = joined()
    assert client.get("/api/rate/blind/next/").status_code == 403
    assert post(client, "/api/rate/blind/qualification/", {"answers": {"1": "left"}}).json() == {"passed": True}
    assert client.get("/api/rate/blind/next/").status_code == 200


class TestPermissions:
    """Anonymous visitors, a rater of another study, a rater of the same study, a researcher."""

    @pytest.fixture
    def item(self, crowd):
        client = joined(worker="owner")
        return client, client.get("/api/rate/blind/next/").json()["assignment"]

    def test_anonymous_visitors_can_neither_get_items_nor_submit(self, item):
        _, assignment = item
        assert Client().get("/api/rate/blind/next/").status_code == 403
        assert submit(Client(), assignment).status_code == 403
        assert not Judgment.objects.exists()

    def test_a_rater_of_another_study_cannot_touch_this_one(self, item):
        _, assignment = item
        other = make_study(slug="other")
        panel_create(study=other, name="crowd")
        client = joined(slug="other", worker="owner")
        assert client.get("/api/rate/blind/next/").status_code == 403
        response = submit(client, assignment)
        assert response.status_code == 404 and "among yours" in response.json()["detail"]
        assert not Judgment.objects.exists()

    def test_another_rater_of_the_same_study_gets_a_404(self, item):
        _, assignment = item
        assert submit(joined(worker="someone-else"), assignment).status_code == 404

    def test_a_researcher_without_a_rater_session_cannot_judge(self, item, researcher):
        _, assignment = item
        client = Client()
        client.force_login(researcher)
        assert client.get("/api/rate/blind/next/").status_code == 403
        assert submit(client, assignment).status_code == 403

    def test_a_rater_session_must_send_the_csrf_token(self, crowd):
        client = Client(enforce_csrf_checks=True)
        response = post(client, "/api/rate/blind/join/", {"external_id": "P1", "consent": True})
        assert response.status_code == 201  # a first join has nothing to forge
        token = response.json()["csrf_token"]
        assignment = client.get("/api/rate/blind/next/").json()["assignment"]
        assert submit(client, assignment).status_code == 403
        ok = post(client, f"/api/rate/assignments/{assignment}/judgments/",
                  {"client_key": "k", "choices": {"overall": "left"}}, HTTP_X_CSRFTOKEN=token)
        assert ok.status_code == 201

    def test_a_form_encoded_cross_site_post_is_refused(self, item):
        client, assignment = item
        response = client.post(f"/api/rate/assignments/{assignment}/judgments/",
                               "client_key=k&choices=x", content_type="text/plain")
        assert response.status_code == 415

    def test_invites_api_is_for_researchers_only(self, crowd, experts, researcher, outsider):
        url = f"/api/panels/{experts.pk}/invites/"
        assert Client().post(url, {"count": 2}).status_code == 403
        rater_client = joined(worker="x")
        assert post(rater_client, url, {"count": 2}).status_code == 403
        client = Client()
        client.force_login(outsider)
        assert post(client, url, {"count": 2}).status_code == 403
        client.force_login(researcher)
        created = post(client, url, {"count": 2, "labels": ["ada"]})
        assert created.status_code == 201 and len(created.json()) == 3
        assert created.json()[0]["url"].startswith("http://testserver/invite/")
        invite = Invite.objects.first()
        assert post(client, f"/api/invites/{invite.pk}/revoke/", {}).json() == {"revoked": 1}
        assert Client().get(f"/invite/{invite.token}/").status_code == 403


def test_every_rater_endpoint_is_in_the_openapi_schema(db):
    schema = Client().get("/api/schema/", HTTP_ACCEPT="application/json").content.decode()
    for path in ("/api/rate/{slug}/join/", "/api/rate/{slug}/next/", "/api/rate/assignments/{public_id}/judgments/",
                 "/api/rate/assignments/{public_id}/skip/", "/api/panels/{panel_id}/invites/",
                 "/api/invites/{id}/revoke/", "/api/rate/{slug}/qualification/", "/api/rate/{slug}/done/"):
        assert path in schema, path


def test_submitting_is_rate_limited_per_rater(crowd, monkeypatch):
    from annotations.throttles import SubmitThrottle

    monkeypatch.setattr(SubmitThrottle, "THROTTLE_RATES", {"join": "30/minute", "submit": "2/minute"})
    client = joined()
    item = client.get("/api/rate/blind/next/").json()
    codes = [submit(client, item["assignment"], key="same").status_code for _ in range(3)]
    other = joined(worker="P2")
    other_item = other.get("/api/rate/blind/next/").json()
    other_code = submit(other, other_item["assignment"]).status_code
    assert codes == [201, 200, 429]
    assert other_code == 201


def test_a_session_that_cannot_be_saved_because_the_database_went_away_gets_a_503(crowd, monkeypatch):
    from django.conf import settings
    from django.contrib.sessions.backends.base import UpdateError
    from django.db import OperationalError
    from django.utils.module_loading import import_string

    store = import_string(f"{settings.SESSION_ENGINE}.SessionStore")

    def save(self, must_create=False):
        try:
            raise OperationalError("server closed the connection unexpectedly")
        except OperationalError:
            if must_create:
                raise
            raise UpdateError from None  # as Django's database session store does

    client = joined()  # the session exists; the next change to it fails to save
    monkeypatch.setattr(store, "save", save)
    response = post(client, "/api/rate/blind/join/", {"external_id": "P2", "consent": True})
    assert response.status_code == 503 and response["Retry-After"] == "5"
    assert "database is unavailable" in response.json()["detail"]
    fresh = post(Client(), "/api/rate/blind/join/", {"external_id": "P3", "consent": True})  # a new session
    assert fresh.status_code == 503
