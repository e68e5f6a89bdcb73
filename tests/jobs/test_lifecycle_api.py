"""The study lifecycle through the API: conditions, jobs with progress, clone."""

import pytest

from annotations.models import Brief, Condition, Job, Study

from ..factories import BriefFactory, StudyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def study():
    s = StudyFactory(slug="round1")
    BriefFactory(study=s, external_id="b1")
    return s


@pytest.fixture
def no_broker(monkeypatch):
    from annotations import tasks

    sent = []
    for task in tasks.TASK_FOR_KIND.values():
        monkeypatch.setattr(task, "apply_async", lambda args, _s=sent, **options: _s.append(args[0]))
    return sent


def test_a_researcher_defines_a_steered_condition(api_client, researcher, study):
    api_client.force_authenticate(researcher)
    response = api_client.post("/api/studies/round1/conditions/", {
        "name": "steered-a8", "kind": "steered", "settings": {"alpha": 8, "layer": 15, "decoding": {"temperature": 0.7}}},
        format="json")
    assert response.status_code == 201, response.content
    assert Condition.objects.get(name="steered-a8").settings["layer"] == 15


@pytest.mark.parametrize("settings,message", [
    ({"decoding": {"temprature": 1}}, "unknown key(s) temprature"),
    ({"alpha": "lots"}, "settings.alpha must be a number"),
    ({"decoding": {"max_new_tokens": 0}}, "max_new_tokens must be an integer"),
])
def test_bad_condition_settings_are_a_clear_400(api_client, researcher, study, settings, message):
    api_client.force_authenticate(researcher)
    response = api_client.post("/api/studies/round1/conditions/", {"name": "x", "kind": "steered", "settings": settings},
                               format="json")
    assert response.status_code == 400 and message in response.json()["detail"]
    assert not Condition.objects.filter(name="x").exists()


def test_starting_generation_answers_a_job_to_follow(api_client, researcher, study, no_broker,
                                                     django_capture_on_commit_callbacks):
    api_client.force_authenticate(researcher)
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post("/api/studies/round1/generate/", {}, format="json")
    assert response.status_code == 202
    job = response.json()
    assert (job["kind"], job["status"], job["study"]) == ("generate", "pending", "round1")
    assert no_broker == [job["id"]]
    assert Study.objects.get(slug="round1").status == Study.Status.GENERATING
    followed = api_client.get(f"/api/jobs/{job['id']}/").json()
    assert followed["progress"] == 0.0
    assert [j["id"] for j in api_client.get("/api/studies/round1/jobs/").json()] == [job["id"]]


def test_training_an_adapter_needs_a_fine_tuned_condition(api_client, admin_user, study, no_broker):
    Condition.objects.create(study=study, name="base", kind="base")
    api_client.force_authenticate(admin_user)
    response = api_client.post("/api/studies/round1/conditions/base/train-adapter/", {}, format="json")
    assert response.status_code == 400 and "not fine_tuned" in response.json()["detail"]
    assert Job.objects.count() == 0


def test_a_clone_copies_briefs_conditions_and_panels_but_no_outputs(api_client, researcher, study):
    Condition.objects.create(study=study, name="steered", kind="steered", settings={"alpha": 4, "direction": "abc"})
    api_client.force_authenticate(researcher)
    response = api_client.post("/api/studies/round1/clone/", {"slug": "round2"}, format="json")
    assert response.status_code == 201
    clone = Study.objects.get(slug="round2")
    assert clone.status == Study.Status.DRAFT
    assert list(Brief.objects.filter(study=clone).values_list("external_id", flat=True)) == ["b1"]
    assert clone.conditions.get().settings == {"alpha": 4, "direction": "abc"}
    assert clone.candidates.count() == 0


@pytest.mark.parametrize("method,url", [
    ("get", "/api/studies/round1/conditions/"), ("post", "/api/studies/round1/generate/"),
    ("post", "/api/studies/round1/score/"), ("get", "/api/studies/round1/jobs/"), ("get", "/api/jobs/1/"),
    ("post", "/api/studies/round1/open/"), ("post", "/api/studies/round1/close/"),
    ("post", "/api/studies/round1/clone/"),
])
def test_lifecycle_endpoints_are_for_researchers_only(api_client, outsider, study, method, url):
    assert getattr(api_client, method)(url).status_code in (401, 403)
    api_client.force_authenticate(outsider)
    assert getattr(api_client, method)(url).status_code == 403


@pytest.mark.parametrize("settings,message", [
    ({"colour": "red"}, "unknown key(s) 'colour'"),
    ({"decoding": {"system_prompt": "a\x00b"}}, "NUL character"),
])
def test_condition_settings_refuse_unknown_keys_and_nul_characters(api_client, researcher, study, settings, message):
    api_client.force_authenticate(researcher)
    response = api_client.post("/api/studies/round1/conditions/", {"name": "x", "kind": "base", "settings": settings},
                               format="json")
    assert response.status_code == 400 and message in response.json()["detail"]
