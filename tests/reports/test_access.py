"""Who may read reports, figures and exports: researchers and admins; external ids: admins only."""

import csv
import io

import pyarrow.parquet as pq
import pytest

pytestmark = pytest.mark.django_db

API = [
    "/api/studies/ads/report/",
    "/api/studies/ads/ranking.csv",
    "/api/studies/ads/report/agreement.csv",
    "/api/studies/ads/export/?format=csv",
    "/api/studies/ads/export/?format=jsonl",
    "/api/studies/ads/export/?format=parquet",
]
PAGES = [
    "/reports/",
    "/studies/ads/report/",
    "/studies/ads/report/plots/ranking.png",
    "/studies/ads/report/plots/agreement.svg",
    "/studies/ads/report/plots/position_bias.png",
    "/studies/ads/report/plots/rater_quality.svg",
    "/studies/ads/report/plots/scatter.png?criterion=novelty&score=creativity&granularity=system",
]


def body(response):
    return b"".join(response.streaming_content) if response.streaming else response.content


@pytest.mark.parametrize("url", API)
def test_anonymous_callers_are_refused_by_the_api(pairwise_study, api_client, url):
    assert api_client.get(url).status_code in (401, 403)


@pytest.mark.parametrize("url", API)
def test_outsiders_are_refused_by_the_api(pairwise_study, api_client, outsider, url):
    api_client.force_authenticate(outsider)
    assert api_client.get(url).status_code == 403


@pytest.mark.parametrize("user", ["researcher", "admin_user"])
@pytest.mark.parametrize("url", API)
def test_researchers_and_admins_get_the_api(pairwise_study, api_client, url, user, request):
    api_client.force_authenticate(request.getfixturevalue(user))
    response = api_client.get(url)
    assert response.status_code == 200, body(response)[:300]
    assert body(response)


@pytest.mark.parametrize("url", PAGES)
def test_anonymous_visitors_are_sent_to_log_in(pairwise_study, client, url):
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")


@pytest.mark.parametrize("url", PAGES)
def test_outsiders_are_refused_the_pages(pairwise_study, client, outsider, url):
    client.force_login(outsider)
    assert client.get(url).status_code == 403


@pytest.mark.parametrize("user", ["researcher", "admin_user"])
@pytest.mark.parametrize("url", PAGES)
def test_researchers_and_admins_get_the_pages(pairwise_study, client, url, user, request):
    client.force_login(request.getfixturevalue(user))
    response = client.get(url)
    assert response.status_code == 200


def test_the_report_page_shows_exclusions_simulated_raters_and_links(pairwise_study, client, researcher):
    client.force_login(researcher)
    html = client.get("/studies/ads/report/").content.decode()
    assert "Simulated data." in html and "simulated</span>" in html
    assert "1 excluded rater(s)" in html
    assert "failed 2 of 2 attention checks" in html
    assert pairwise_study["raters"]["s1"].pseudonym in html
    assert "PROLIFIC-111" not in html
    for link in ("/api/studies/ads/export/?format=parquet", "/api/studies/ads/ranking.csv".replace("ranking.csv", "report/ranking.csv"),
                 "/studies/ads/report/plots/ranking.svg", "download=1"):
        assert link in html
    assert "reference, not in correlations" in html


def test_figures_come_as_png_and_svg(pairwise_study, client, researcher):
    client.force_login(researcher)
    png = client.get("/studies/ads/report/plots/ranking.png")
    svg = client.get("/studies/ads/report/plots/ranking.svg?download=1")
    assert png["Content-Type"] == "image/png" and png.content.startswith(b"\x89PNG")
    assert svg["Content-Type"] == "image/svg+xml" and b"<svg" in svg.content
    assert svg["Content-Disposition"] == 'attachment; filename="ads-ranking.svg"'


@pytest.mark.parametrize("url", ["/studies/ads/report/plots/pie.png", "/studies/ads/report/plots/ranking.gif",
                                 "/studies/ads/report/plots/scatter.png?score=nope",
                                 "/studies/nope/report/"])
def test_unknown_figures_and_studies_are_not_found(pairwise_study, client, researcher, url):
    client.force_login(researcher)
    assert client.get(url).status_code == 404


def test_the_rating_report_page_renders(rating_study, client, researcher):
    client.force_login(researcher)
    html = client.get("/studies/stories/report/").content.decode()
    assert "Mean rating" in html and "ICC2k" in html


def test_external_ids_in_an_export_are_for_admins_only(pairwise_study, api_client, researcher, admin_user):
    url = "/api/studies/ads/export/?format=csv&external_ids=1"
    api_client.force_authenticate(researcher)
    assert api_client.get(url).status_code == 403
    api_client.force_authenticate(admin_user)
    response = api_client.get(url)
    rows = list(csv.DictReader(io.StringIO(body(response).decode())))
    assert "PROLIFIC-111" in {r["rater_external_id"] for r in rows}


def test_api_exports_match_the_files(pairwise_study, api_client, researcher):
    api_client.force_authenticate(researcher)
    response = api_client.get("/api/studies/ads/export/?format=csv")
    assert response.streaming and response["Content-Type"].startswith("text/csv")
    assert 'filename="ads-judgments.csv"' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(body(response).decode())))
    assert len(rows) == 88 and "rater_external_id" not in rows[0]
    jsonl = body(api_client.get("/api/studies/ads/export/?format=jsonl")).decode().splitlines()
    assert len(jsonl) == 88
    parquet = api_client.get("/api/studies/ads/export/?format=parquet")
    assert pq.read_table(io.BytesIO(body(parquet))).num_rows == 88


def test_an_unknown_export_format_is_a_clear_error(pairwise_study, api_client, researcher):
    api_client.force_authenticate(researcher)
    response = api_client.get("/api/studies/ads/export/?format=xlsx")
    assert response.status_code == 400 and "unknown format 'xlsx'" in response.json()["detail"]


def test_an_unknown_report_table_is_not_found(pairwise_study, api_client, researcher):
    api_client.force_authenticate(researcher)
    assert api_client.get("/api/studies/ads/report/nope.csv").status_code == 404


def test_the_api_schema_documents_the_report_endpoints(db, client):
    schema = client.get("/api/schema/").content.decode()
    for path in ("/api/studies/{slug}/report/", "/api/studies/{slug}/export/", "/api/studies/{slug}/ranking.csv"):
        assert path in schema
