"""Who may call what: a permission matrix over every URL the project serves, enumerated from
the URL resolver (a new URL, or a new method on an API view, without an entry here fails),
plus the rater-side rules: own assignments only, no enumeration through crowd links,
single-person revocable invites, rate limits, CSRF on every form, secrets from the environment."""

from __future__ import annotations

import re
import threading
import uuid

import pytest
from django.db import connection
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from annotations.models import Invite, Job, Rater
from annotations.services.raters import invite_use, invites_create
from annotations.services.studies import panel_create
from tests.rater.conftest import make_study

from .conftest import ROOT, needs_postgres

ROLES = ("anonymous", "crowd", "expert", "researcher", "admin")
ALL = set(ROLES)
RESEARCH = {"researcher", "admin"}
RATERS = {"crowd", "expert"}

# route name -> method -> roles allowed. Everyone else must be refused (401/403, a redirect to
# the login page, or for someone else's assignment a 404 that does not say it exists).
MATRIX = {
    "healthz": {"GET": ALL},
    "schema": {"GET": ALL},
    "api-docs": {"GET": ALL},
    "home": {"GET": ALL},
    "api-studies": {"GET": RESEARCH, "POST": RESEARCH},
    "api-study": {"GET": RESEARCH, "DELETE": {"admin"}},
    "api-import-briefs": {"POST": RESEARCH},
    "api-import-candidates": {"POST": RESEARCH},
    "api-import-judgments": {"POST": RESEARCH},
    "api-conditions": {"GET": RESEARCH, "POST": RESEARCH},
    "api-train-adapter": {"POST": RESEARCH},
    "api-extract-direction": {"POST": RESEARCH},
    "api-generate": {"POST": RESEARCH},
    "api-score": {"POST": RESEARCH},
    "api-jobs": {"GET": RESEARCH},
    "api-job": {"GET": RESEARCH},
    "api-open": {"POST": RESEARCH},
    "api-close": {"POST": RESEARCH},
    "api-clone": {"POST": RESEARCH},
    "api-study-report": {"GET": RESEARCH},
    "api-study-report-table": {"GET": RESEARCH},
    "api-study-ranking": {"GET": RESEARCH},
    "api-study-export": {"GET": RESEARCH},
    "api-panel-invites": {"GET": RESEARCH, "POST": RESEARCH},
    "api-invite-revoke": {"POST": RESEARCH},
    "api-rate-join": {"POST": ALL},
    "api-rate-qualification": {"POST": RATERS},
    "api-rate-next": {"GET": RATERS},
    "api-rate-done": {"GET": RATERS},
    "api-rate-judgments": {"POST": {"crowd"}},  # the assignment is the crowd rater's
    "api-rate-skip": {"POST": {"crowd"}},
    "rater-invite": {"GET": ALL},
    "rater-join": {"GET": ALL, "POST": ALL},
    "rater-consent": {"GET": RATERS, "POST": RATERS},
    "rater-instructions": {"GET": RATERS},
    "rater-qualification": {"GET": RATERS, "POST": RATERS},
    "rater-judge": {"GET": RATERS, "POST": RATERS},
    "rater-done": {"GET": RATERS},
    "report-index": {"GET": RESEARCH},
    "report-study": {"GET": RESEARCH},
    "report-plot": {"GET": RESEARCH},
}
# Every URL of the admin site (Django's own and each registered model's) is for staff only;
# the login page is the way in (and out). This rule is the matrix entry of every "admin:" route.
ADMIN_PUBLIC = {"login", "logout"}  # logging out is harmless; GET is refused anyway
ADMIN_NEEDS_QUERY = {"autocomplete"}  # refuses a request without its query, even from staff


def routes():
    """(namespace, name, route, callback) of every URL pattern, from the resolver."""
    def walk(patterns, prefix="", namespace=None):
        for p in patterns:
            if isinstance(p, URLResolver):
                yield from walk(p.url_patterns, prefix + str(p.pattern), p.namespace or namespace)
            elif isinstance(p, URLPattern):
                yield namespace, p.name, prefix + str(p.pattern), p.callback
    return list(walk(get_resolver().url_patterns))


APP_ROUTES = [r for r in routes() if r[0] != "admin"]
ADMIN_ROUTES = [r for r in routes() if r[0] == "admin"]


def test_every_url_has_an_entry_in_the_matrix():
    names = [name for _, name, _, _ in APP_ROUTES]
    assert None not in names, "every URL needs a name to be in the permission matrix"
    assert sorted(set(names)) == sorted(MATRIX), "add new URLs to MATRIX (and remove gone ones)"
    for _, name, route, callback in APP_ROUTES:
        view = getattr(callback, "view_class", None) or getattr(callback, "cls", None)
        if view is not None and hasattr(view, "http_method_names"):
            handled = {m.upper() for m in ("get", "post", "put", "patch", "delete") if hasattr(view, m)}
            assert handled == set(MATRIX[name]), f"{name}: methods {handled} vs matrix {set(MATRIX[name])}"


@pytest.fixture
def world(db, settings, monkeypatch, tmp_path):
    """A three-condition study with a crowd rater and an expert, each in their own browser."""
    from annotations import tasks

    for task in tasks.TASK_FOR_KIND.values():
        monkeypatch.setattr(task, "apply_async", lambda *a, **kw: None)
    settings.STUDY_DELETE_EXPORT_DIR = tmp_path / "deleted"
    study = make_study(slug="matrix", criteria=("overall",))
    crowd = panel_create(study=study, name="crowd")
    experts = panel_create(study=study, name="experts", kind="expert")
    invite = invites_create(panel=experts, count=2)
    clients = {role: Client() for role in ROLES}
    clients["crowd"].get("/join/matrix/?PROLIFIC_PID=crowd-1")
    clients["crowd"].post("/rate/matrix/consent/", {"agree": "on"})
    clients["expert"].get(f"/invite/{invite[0].token}/")
    clients["expert"].post("/rate/matrix/consent/", {"agree": "on"})
    item = clients["crowd"].get("/api/rate/matrix/next/").json()
    assert clients["expert"].get("/api/rate/matrix/next/").status_code == 200
    Rater.objects.update(finished_at="2026-01-01T00:00Z")  # so done/ answers for both raters
    from tests.conftest import UserFactory  # noqa: F401  (factories via conftest users below)
    from tests.factories import UserFactory as Users
    from django.contrib.auth.models import Group
    from annotations.api.permissions import RESEARCHERS_GROUP

    researcher = Users(username="rita-research")
    researcher.groups.add(Group.objects.get_or_create(name=RESEARCHERS_GROUP)[0])
    clients["researcher"].force_login(researcher)
    clients["admin"].force_login(Users(username="adam-admin", is_staff=True, is_superuser=True))
    job = Job.objects.create(kind=Job.Kind.SCORE, study=study)
    values = {"slug": "matrix", "name": "zzsteercond", "job_id": job.pk, "table": "ranking",
              "public_id": item["assignment"], "panel_id": crowd.pk, "pk": invite[1].pk,
              "token": invite[1].token, "fmt": "svg", "object_id": study.pk, "content_type_id": "1",
              "id": researcher.pk, "app_label": "annotations", "url": "no-such-page/"}
    return {"clients": clients, "values": values, "study": study}


def fill(route: str, values: dict, name: str) -> str:
    if name == "report-plot":
        return "/studies/matrix/report/plots/ranking.svg"
    route = re.sub(r"\(\?P<(\w+)>[^)]*\)", lambda m: str(values[m.group(1)]), route).replace("^", "").replace("$", "")
    return "/" + re.sub(r"<(?:\w+:)?(\w+)>", lambda m: str(values[m.group(1)]), route)


def refused(response, login_url="/admin/login/") -> bool:
    if response.status_code in (401, 403):
        return True
    if response.status_code == 302 and response["Location"].startswith(login_url):
        return True
    return response.status_code == 404 and b"not_yours" in response.content


def call(client, method, url):
    if method == "GET":
        return client.get(url)
    return client.generic(method, url, b"{}", content_type="application/json")


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_each_role_gets_exactly_what_the_matrix_says(world, name):
    route = next(r for _, n, r, _ in APP_ROUTES if n == name)
    url = fill(route, world["values"], name)
    for method, allowed in MATRIX[name].items():
        for role in ROLES:
            response = call(world["clients"][role], method, url)
            assert response.status_code < 500, (role, method, url, response.status_code)
            assert refused(response) == (role not in allowed), (role, method, url, response.status_code,
                                                                 response.content[:200])


@pytest.mark.parametrize("route", [r[2] for r in ADMIN_ROUTES])
def test_the_admin_site_is_for_staff_only(world, route):
    name = next(n for _, n, r, _ in ADMIN_ROUTES if r == route)
    url = fill(route, world["values"], name)
    for role in ROLES:
        response = world["clients"][role].get(url)
        assert response.status_code < 500, (role, url, response.status_code)
        if name in ADMIN_PUBLIC or (role == "admin" and name in ADMIN_NEEDS_QUERY):
            continue
        assert refused(response) == (role != "admin"), (role, url, response.status_code)


# --- rater-side rules ------------------------------------------------------------------------

def test_a_rater_cannot_see_or_judge_anyone_elses_assignment(world):
    crowd, expert = world["clients"]["crowd"], world["clients"]["expert"]
    theirs = world["values"]["public_id"]
    body = {"client_key": "k1", "choices": {"overall": "left"}}
    stranger = expert.post(f"/api/rate/assignments/{theirs}/judgments/", body, content_type="application/json")
    unknown = expert.post(f"/api/rate/assignments/{uuid.uuid4()}/judgments/", body, content_type="application/json")
    assert stranger.status_code == unknown.status_code == 404
    assert stranger.json() == unknown.json(), "someone else's assignment looks exactly like no assignment"
    mine = crowd.get("/api/rate/matrix/next/").json()
    assert mine["assignment"] == theirs and "rater" not in mine and "panel" not in mine


def test_crowd_links_do_not_enumerate_studies_or_raters(db):
    secret = make_study(slug="hidden-draft", open_it=False, title="Confidential client campaign")
    panel_create(study=secret, name="secret-crowd-panel")
    closed = make_study(slug="over", title="Finished campaign")
    panel_create(study=closed, name="closed-crowd-panel")
    closed.status = "closed"
    closed.save()
    client = Client()
    answers = {
        "unknown": client.get("/join/no-such-study/?PROLIFIC_PID=w1"),
        "draft": client.get("/join/hidden-draft/?PROLIFIC_PID=w1"),
        "closed": client.get("/join/over/?PROLIFIC_PID=w1"),
        "api-unknown": client.post("/api/rate/no-such-study/join/", {"external_id": "w1", "consent": True},
                                   content_type="application/json"),
        "api-draft": client.post("/api/rate/hidden-draft/join/", {"external_id": "w1", "consent": True},
                                 content_type="application/json"),
        "api-closed": client.post("/api/rate/over/join/", {"external_id": "w1", "consent": True},
                                  content_type="application/json"),
    }
    for what, response in answers.items():
        text = response.content.decode()
        assert response.status_code in (200, 404, 409), (what, response.status_code)  # plain notices, no data
        for leak in ("Confidential", "Finished campaign", "secret-crowd-panel", "closed-crowd-panel", "hidden-draft",
                     "zzbasecond"):
            assert leak not in text, (what, leak)
        assert not re.search(r"\br-[0-9a-f]{12}\b", text), (what, "a rater pseudonym")
    assert not Rater.objects.exists(), "refused joins create nobody"
    # Nothing public lists studies or raters.
    for url in ("/api/studies/", "/reports/", "/api/rate/over/next/", "/api/studies/over/"):
        assert refused(client.get(url)), url


@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_an_invite_binds_one_person_even_when_opened_twice_at_once():
    study = make_study(slug="oneperson")
    invite = invites_create(panel=panel_create(study=study, name="experts", kind="expert"), count=1)[0]
    got, barrier = [], threading.Barrier(6)

    def use():
        barrier.wait()
        try:
            got.append(invite_use(token=invite.token).pk)
        finally:
            connection.close()

    threads = [threading.Thread(target=use) for _ in range(6)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert len(got) == 6 and len(set(got)) == 1
    assert Rater.objects.filter(panel__study=study).count() == 1


def test_a_revoked_invite_shuts_out_the_rater_who_used_it_everywhere(world):
    expert = world["clients"]["expert"]
    assert expert.get("/api/rate/matrix/next/").status_code == 200
    invite = Invite.objects.filter(rater__isnull=False).get()
    revoke = world["clients"]["researcher"].post(f"/api/invites/{invite.pk}/revoke/")
    assert revoke.status_code == 200 and revoke.json() == {"revoked": 1}
    assert expert.get("/api/rate/matrix/next/").status_code == 403
    assert expert.get("/rate/matrix/judge/").status_code == 403
    assert Client().get(f"/invite/{invite.token}/").status_code == 403
    held = Rater.objects.get(invite=invite).assignments.get()
    refused_post = expert.post(f"/api/rate/assignments/{held.public_id}/judgments/",
                               {"client_key": "late", "choices": {"overall": "left"}}, content_type="application/json")
    assert refused_post.status_code == 403 and not held.judgments.exists()


@pytest.fixture
def join_rate(monkeypatch):
    from annotations.throttles import JoinThrottle

    monkeypatch.setattr(JoinThrottle, "THROTTLE_RATES", {"join": "3/minute", "submit": "240/minute"})


def test_joining_is_rate_limited_on_the_api_and_on_invite_links(db, join_rate):
    study = make_study(slug="limited")
    panel_create(study=study, name="crowd")
    client = Client()
    codes = [client.post("/api/rate/limited/join/", {"external_id": f"w{i}", "consent": True},
                         content_type="application/json").status_code for i in range(5)]
    assert codes[:3] == [201, 201, 201] and codes[3:] == [429, 429]
    assert Rater.objects.count() == 3
    assert Client().get("/invite/whatever-token/").status_code == 429  # same address, same budget


FORM = re.compile(r"<form\b[^>]*>.*?</form>", re.S | re.I)


def test_every_html_form_carries_a_csrf_token_and_is_refused_without_it(world):
    study = world["study"]
    strict = {role: Client(enforce_csrf_checks=True) for role in ("anonymous", "crowd", "admin")}
    strict["crowd"].cookies = world["clients"]["crowd"].cookies
    strict["admin"].cookies = world["clients"]["admin"].cookies
    pages = {
        "anonymous": ["/join/matrix/"],
        "crowd": ["/rate/matrix/consent/", "/rate/matrix/judge/"],
        "admin": ["/admin/", f"/admin/annotations/study/{study.pk}/change/", f"/admin/annotations/study/{study.pk}/upload/",
                  f"/admin/annotations/study/{study.pk}/delete/", "/admin/annotations/invite/",
                  "/admin/annotations/panel/", "/admin/password_change/"],
    }
    checked = 0
    for role, urls in pages.items():
        for url in urls:
            page = strict[role].get(url)
            assert page.status_code == 200, (url, page.status_code)
            for form in FORM.findall(page.content.decode()):
                if not re.search(r'method="post"', form, re.I):
                    continue
                assert "csrfmiddlewaretoken" in form, (url, form[:200])
                action = re.search(r'action="([^"]*)"', form)
                target = (action.group(1) if action and action.group(1) else url).replace("&amp;", "&")
                response = strict[role].post(target, {"post": "yes", "agree": "on"})
                assert response.status_code == 403, (url, target, response.status_code)
                checked += 1
    assert checked >= 8
    assert Client(enforce_csrf_checks=True).post("/admin/login/", {"username": "x", "password": "y"}).status_code == 403


def test_secrets_come_only_from_the_environment():
    settings_text = (ROOT / "evalplatform" / "settings.py").read_text()
    assert 'os.environ["SECRET_KEY"]' in settings_text or "os.environ.get(\"SECRET_KEY\")" in settings_text
    assert not re.search(r"SECRET_KEY\s*=\s*['\"]", settings_text), "no literal secret key"
    suspicious = re.compile(r"(-----BEGIN [A-Z ]*PRIVATE KEY-----|AKIA[0-9A-Z]{16}|sk-[A-Za-z0-9]{20,}|"
                            r"(?:password|passwd|secret|token)\s*[:=]\s*['\"][^'\"\s]{12,}['\"])", re.I)
    tracked = [p for p in ROOT.rglob("*") if p.is_file() and p.suffix in {".py", ".yml", ".yaml", ".toml", ".cfg",
                                                                          ".ini", ".env", ".sh", ".json"}
               and not {".venv", "var", ".git", "tests", "node_modules", "test-artifacts", "data"} & set(p.parts)]
    hits = [(str(p.relative_to(ROOT)), m.group(0)[:40]) for p in tracked
            for m in suspicious.finditer(p.read_text(errors="ignore"))]
    assert not hits, hits
    example = (ROOT / ".env.example").read_text()
    assert "SECRET_KEY=change-me" in example and ".env" in (ROOT / ".gitignore").read_text()
