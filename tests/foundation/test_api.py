"""Study and import endpoints: who may call them, and what they answer."""

import io

import pytest

from annotations.models import Brief, Study

pytestmark = pytest.mark.django_db

BRIEFS = b"id,text,kind\nb1,Name a tea brand,naming\nb2,,headline\n"


@pytest.fixture
def study():
    return Study.objects.create(slug="ads", criteria=[{"name": "overall", "description": "x"}])


def upload(client, slug, kind, data, name="f.csv"):
    f = io.BytesIO(data)
    f.name = name
    return client.post(f"/api/studies/{slug}/import/{kind}/", {"file": f}, format="multipart")


@pytest.mark.parametrize("method,url", [
    ("get", "/api/studies/"),
    ("post", "/api/studies/"),
    ("get", "/api/studies/ads/"),
    ("post", "/api/studies/ads/import/briefs/"),
    ("post", "/api/studies/ads/import/candidates/"),
    ("post", "/api/studies/ads/import/judgments/"),
])
def test_anonymous_and_outsiders_get_no_data(api_client, outsider, study, method, url):
    response = getattr(api_client, method)(url)
    assert response.status_code in (401, 403)
    api_client.force_authenticate(outsider)
    response = getattr(api_client, method)(url)
    assert response.status_code == 403
    assert b"ads" not in response.content


def test_a_researcher_creates_a_study_with_default_criteria(api_client, researcher):
    api_client.force_authenticate(researcher)
    response = api_client.post("/api/studies/", {"slug": "new-one", "task": "rating"}, format="json")
    assert response.status_code == 201
    assert [c["name"] for c in response.json()["criteria"]] == ["novelty", "value", "surprise", "overall"]
    assert Study.objects.get(slug="new-one").created_by == researcher


def test_creating_a_duplicate_study_is_a_clear_400(api_client, admin_user, study):
    api_client.force_authenticate(admin_user)
    response = api_client.post("/api/studies/", {"slug": "ads"}, format="json")
    assert response.status_code == 400 and "already exists" in response.json()["detail"]


def test_an_import_error_names_row_and_column_and_saves_nothing(api_client, researcher, study):
    api_client.force_authenticate(researcher)
    response = upload(api_client, "ads", "briefs", BRIEFS)
    assert response.status_code == 400
    assert response.json()["errors"] == [{"row": 2, "column": "text", "problem": "is empty"}]
    assert Brief.objects.count() == 0


def test_a_good_import_answers_what_it_created(api_client, admin_user, study):
    api_client.force_authenticate(admin_user)
    response = upload(api_client, "ads", "briefs", BRIEFS.replace(b"b2,,", b"b2,Headline for a bike,"))
    assert response.status_code == 201 and response.json() == {"created": {"briefs": 2}}


def test_an_upload_without_a_file_is_a_400(api_client, researcher, study):
    api_client.force_authenticate(researcher)
    assert api_client.post("/api/studies/ads/import/briefs/", {}, format="multipart").status_code == 400


def test_the_openapi_schema_and_docs_are_served(client):
    schema = client.get("/api/schema/")
    assert schema.status_code == 200
    text = schema.content.decode()
    assert "/api/studies/{slug}/import/briefs/" in text
    assert client.get("/api/docs/").status_code == 200


def test_the_admin_study_page_offers_uploads(client, admin_user, study):
    client.force_login(admin_user)
    page = client.get(f"/admin/annotations/study/{study.pk}/change/")
    assert b"Upload briefs, candidates or judgments" in page.content
    f = io.BytesIO(BRIEFS.replace(b"b2,,", b"b2,Fixed,"))
    f.name = "b.csv"
    response = client.post(f"/admin/annotations/study/{study.pk}/upload/", {"kind": "briefs", "file": f})
    assert response.status_code == 302 and Brief.objects.count() == 2


def test_the_admin_upload_shows_the_row_error(client, admin_user, study):
    client.force_login(admin_user)
    f = io.BytesIO(BRIEFS)
    f.name = "b.csv"
    response = client.post(f"/admin/annotations/study/{study.pk}/upload/", {"kind": "briefs", "file": f}, follow=True)
    assert b"row 2, column &#x27;text&#x27;: is empty" in response.content.lower()
    assert Brief.objects.count() == 0


def test_healthz_checks_database_and_broker(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}
