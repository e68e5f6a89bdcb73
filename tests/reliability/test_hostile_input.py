"""Hostile files to every import and hostile text everywhere it is shown.

Every bad file gets a 400 that says what is wrong (and where, when there is a where) and
saves nothing. Text that looks like HTML or a spreadsheet formula is data: stored verbatim,
shown escaped (the browser test runs a script tag end to end; exports are checked for
formula quoting in tests/reports/test_exports.py).
"""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.test import Client

from annotations.models import Brief, Candidate, Comparison, Condition, Judgment, Rater, Score
from annotations.services.imports import briefs_import, candidates_import
from annotations.services.studies import panel_create, study_create
from tests.rater.conftest import make_study

pytestmark = pytest.mark.django_db

SCRIPT = '<script>window.__pwned = 1; alert("pwned")</script>'
IMG = '<img src=x onerror="window.__pwned=2">'


def counts():
    return [m.objects.count() for m in (Brief, Candidate, Condition, Comparison, Rater, Judgment, Score)]


def csv_bytes(rows):
    return "\n".join(",".join(r) for r in rows).encode()


NESTED = ("[" * 100_000 + "]" * 100_000).encode()
HUGE = "x" * 300_000
HOSTILE = {
    "unclosed quote": ("f.csv", b'id,text\nb1,"never closed\n'),
    "ragged rows": ("f.csv", b"id,text\nb1,one,two,three\n"),
    "binary": ("f.csv", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256))),
    "utf-16": ("f.csv", "id,text\nb1,café\n".encode("utf-16")),
    "latin-1": ("f.csv", "id,text\nb1,café\n".encode("latin-1")),
    "nul bytes": ("f.csv", b"id,text\nb1,a\x00b\n"),
    "escaped nul in json": ("f.json", json.dumps([{"id": "b1", "text": "a\u0000b", "brief": "b1", "condition": "c",
                                                   "rater": "r", "criterion": "overall", "item_a": "x",
                                                   "item_b": "y", "choice": "a"}]).encode()),
    "nul in a json key": ("f.json", json.dumps([{"id": "b1", "text": "t", "k\u0000": "v"}]).encode()),
    "deeply nested json": ("f.json", NESTED),
    "deeply nested jsonl": ("f.jsonl", NESTED),
    "nested value": ("f.json", json.dumps([{"id": "b1", "text": {"a": [1, {"b": 2}]}}]).encode()),
    "not a list": ("f.json", b'{"id": "b1", "text": "t"}'),
    "scalars": ("f.jsonl", b"1\n2\n"),
    "empty": ("f.csv", b""),
    "header only": ("f.csv", b"id,text\n"),
    "empty header name": ("f.csv", b"id,,text\nb1,x,y\n"),
    "huge field": ("f.csv", csv_bytes([["id", "text"], ["b1", HUGE]])),
    "huge ids and names": ("f.csv", csv_bytes([["id", "text", "brief", "condition", "rater", "criterion", "panel",
                                                 "item_a", "item_b", "choice", "title", "score:" + "s" * 300],
                                                ["i" * 300, "t", "b" * 300, "c" * 300, "r" * 300, "k" * 300,
                                                 "p" * 300, "a" * 300, "b" * 300, "a", "T" * 300, "1"]])),
    "wrong extension": ("f.xlsx", b"PK\x03\x04"),
    "bad numbers": ("f.csv", csv_bytes([["id", "text", "brief", "condition", "score:x", "rater", "criterion",
                                         "item", "value"], ["c1", "t", "b1", "c", "NaN", "r", "overall", "c1", "inf"]])),
}


@pytest.fixture
def study(db):
    study = make_study(slug="hostile", criteria=("overall",))
    panel_create(study=study, name="crowd")
    return study


@pytest.fixture
def researcher_client(researcher):
    client = Client()
    client.force_login(researcher)
    return client


# Valid briefs files after all: a briefs file needs only id and text (other columns are kept
# as metadata, and a structured text is kept as its JSON).
VALID_AS_BRIEFS = {"bad numbers", "nested value"}


@pytest.mark.parametrize("kind", ["briefs", "candidates", "judgments"])
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_a_hostile_file_is_a_clear_400_and_saves_nothing(study, researcher_client, settings, kind, case):
    if kind == "briefs" and case in VALID_AS_BRIEFS:
        pytest.skip("a valid briefs file")
    name, data = HOSTILE[case]
    before = counts()
    upload = io.BytesIO(data)
    upload.name = name
    response = researcher_client.post(f"/api/studies/hostile/import/{kind}/", {"file": upload})
    assert response.status_code == 400, (case, response.status_code, response.content[:300])
    body = response.json()
    if case == "empty":  # refused by the upload field itself
        assert body == {"file": ["The submitted file is empty."]}
    else:
        assert body["detail"] == "Import refused; nothing was saved." and body["errors"], body
        assert all(e["problem"] for e in body["errors"])
    assert counts() == before


def test_an_oversized_file_is_refused_before_it_is_parsed(study, researcher_client, settings):
    settings.IMPORT_MAX_BYTES = 1000
    upload = io.BytesIO(csv_bytes([["id", "text"]] + [[f"b{i}", "y" * 50] for i in range(100)]))
    upload.name = "big.csv"
    response = researcher_client.post("/api/studies/hostile/import/briefs/", {"file": upload})
    assert response.status_code == 400 and "limit is 1,000 bytes" in response.json()["errors"][0]["problem"]


def test_the_admin_upload_reports_a_hostile_file_as_a_message(study, admin_user):
    client = Client()
    client.force_login(admin_user)
    upload = io.BytesIO(NESTED)
    upload.name = "nested.json"
    response = client.post(f"/admin/annotations/study/{study.pk}/upload/", {"kind": "briefs", "file": upload},
                           follow=True)
    assert response.status_code == 200 and b"nothing saved" in response.content


def test_html_and_formulas_in_files_are_kept_verbatim_as_data(db):
    study = study_create(slug="verbatim", criteria=["overall"])
    out = io.StringIO()
    csv.writer(out).writerows([["id", "title", "text"], ["b1", '=HYPERLINK("http://x")', SCRIPT]])
    briefs_import(study=study, filename="b.csv", data=out.getvalue().encode())
    candidates_import(study=study, filename="c.jsonl", data=(json.dumps(
        {"id": "c1", "brief": "b1", "condition": "<b>cond</b>", "text": IMG}) + "\n").encode())
    brief = Brief.objects.get(study=study)
    assert (brief.title, brief.text) == ('=HYPERLINK("http://x")', SCRIPT)
    assert Candidate.objects.get(study=study).text == IMG


def hostile_study():
    study = make_study(slug="xss", criteria=("overall",), title=f"Study {SCRIPT}",
                       instructions=f"Read carefully {SCRIPT}")
    brief = Brief.objects.filter(study=study).first()
    Brief.objects.filter(pk=brief.pk).update(title=f"T {SCRIPT}", text=f"Brief {SCRIPT} {IMG}")
    Candidate.objects.filter(study=study).update(text=f"Answer {SCRIPT} {IMG}")
    panel_create(study=study, name="crowd", completion_code=f"C{IMG}"[:64])
    return study


def assert_escaped(html: str, where: str):
    assert "<script>window.__pwned" not in html and "<img src=x" not in html, where
    return "&lt;script&gt;window.__pwned" in html or "&lt;img src=x" in html


def test_html_in_briefs_candidates_and_rationales_is_escaped_on_every_page(db, admin_user, researcher):
    study = hostile_study()
    rater = Client()
    shown = []
    for url in ("/join/xss/?PROLIFIC_PID=w1", "/rate/xss/consent/"):
        shown.append(assert_escaped(rater.get(url, follow=True).content.decode(), url))
    rater.post("/rate/xss/consent/", {"agree": "on"})
    judge = rater.get("/rate/xss/judge/")
    assert judge.status_code == 200
    shown.append(assert_escaped(judge.content.decode(), "judge"))
    form = judge.context["form"]
    # A rationale with markup, and a form error echoing it back.
    rater.post("/rate/xss/judge/", {"assignment": form.initial["assignment"], "client_key": form.initial["client_key"],
                                     "choice_overall": "left", "rationale": f"Because {SCRIPT}", "action": "judge"})
    assert Judgment.objects.get().rationale == f"Because {SCRIPT}"
    api = rater.get("/api/rate/xss/next/")
    assert api["Content-Type"] == "application/json" and SCRIPT in api.json()["left"]["text"] + api.json()["right"][
        "text"] + api.json()["brief"]["text"]  # JSON carries data, not markup
    while (page := rater.get("/rate/xss/judge/")).status_code == 200:
        assert_escaped(page.content.decode(), "judge")
        f = page.context["form"]
        rater.post("/rate/xss/judge/", {"assignment": f.initial["assignment"], "client_key": f.initial["client_key"],
                                         "choice_overall": "right", "action": "judge"})
    assert_escaped(rater.get("/rate/xss/done/", follow=True).content.decode(), "done")
    staff = Client()
    staff.force_login(admin_user)
    for url in ("/admin/annotations/candidate/", "/admin/annotations/brief/", f"/admin/annotations/study/{study.pk}/change/",
                f"/admin/annotations/brief/{Brief.objects.filter(study=study).first().pk}/change/",
                "/reports/", "/studies/xss/report/"):
        response = staff.get(url)
        assert response.status_code == 200, url
        shown.append(assert_escaped(response.content.decode(), url))
    assert sum(shown) >= 5, "the hostile text is shown (escaped) on the pages, not just absent"
