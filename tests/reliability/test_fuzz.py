"""The API fuzzed from its own OpenAPI schema (schemathesis): no input gives a 500.

Driven in-process through the WSGI application, as an admin (HTTP basic auth), as a crowd
rater (session cookie and CSRF header) and anonymously. Path parameters are pointed at a real
study, panel, job and assignment, so bodies and query strings are fuzzed against live objects
rather than bouncing off 404s. Examples are bounded and derandomized: the run is the same in
CI every time and takes about a minute.
"""

from __future__ import annotations

import base64
import contextlib
import re

import pytest
import schemathesis
from django.test import Client
from hypothesis import HealthCheck, given, settings

from annotations.models import Job
from annotations.services.raters import invites_create
from annotations.services.studies import panel_create
from tests.factories import UserFactory
from tests.rater.conftest import make_study

MAX_EXAMPLES = 12
ROLES = ("admin", "rater", "anonymous")


@contextlib.contextmanager
def wsgi_in_test_transaction():
    """Calls into the WSGI app must not close the test's database connection at the end of a
    request, as Django's test client arranges for its own requests (which is also why this is
    entered after the last use of a test client)."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def _load_schema():
    """The schema as the server publishes it, loaded at collection (no database needed)."""
    from evalplatform.wsgi import application

    return schemathesis.openapi.from_wsgi("/api/schema/", application)


schema = _load_schema()


@pytest.fixture
def fuzz_world(db, monkeypatch, settings, tmp_path):
    from annotations import tasks

    for task in tasks.TASK_FOR_KIND.values():
        monkeypatch.setattr(task, "apply_async", lambda *a, **kw: None)
    settings.STUDY_DELETE_EXPORT_DIR = tmp_path / "deleted"
    study = make_study(slug="fuzz", criteria=("novelty", "overall"))
    panel = panel_create(study=study, name="crowd")
    invite = invites_create(panel=panel_create(study=study, name="experts", kind="expert"), count=1)[0]
    UserFactory(username="fuzz-admin", is_staff=True, is_superuser=True, password="pw-for-tests-1")
    rater = Client()
    joined = rater.post("/api/rate/fuzz/join/", {"external_id": "fuzzer", "consent": True},
                        content_type="application/json")
    item = rater.get("/api/rate/fuzz/next/").json()
    job = Job.objects.create(kind=Job.Kind.SCORE, study=study)
    credentials = base64.b64encode(b"fuzz-admin:pw-for-tests-1").decode()
    world = {
        "path": {"slug": "fuzz", "panel_id": panel.pk, "job_id": job.pk, "pk": invite.pk,
                 "public_id": item["assignment"], "name": "zzsteercond", "table": "ranking"},
        "admin": {"headers": {"Authorization": f"Basic {credentials}"}},
        "rater": {"headers": {"X-CSRFToken": joined.json()["csrf_token"]},
                  "cookies": {k: v.value for k, v in rater.cookies.items()}},
        "anonymous": {},
    }
    with wsgi_in_test_transaction():
        yield world


def check(case, world, role):
    if case.path_parameters:
        for name in case.path_parameters:
            if name in world["path"]:
                case.path_parameters[name] = world["path"][name]
    response = case.call(**world[role])
    assert response.status_code < 500 or (response.status_code == 503 and b"Busy" in response.content), (
        role, case.method, case.formatted_path, case.body if not isinstance(case.body, bytes) else "<bytes>",
        case.query, response.status_code, response.content[:500])


FUZZ = settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
                suppress_health_check=list(HealthCheck))
OPERATIONS = [result.ok() for result in schema.get_all_operations()]


@pytest.mark.slow
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: f"{op.method.upper()} {op.path}")
def test_the_api_never_answers_500(operation, role, fuzz_world):
    """Hypothesis examples generated from the operation's schema (bodies, query strings,
    headers), sent as ``role``; every answer must be below 500 (503 "busy" from the queue is a
    documented answer)."""

    @given(case=operation.as_strategy())
    @FUZZ
    def fuzz(case):
        check(case, fuzz_world, role)

    fuzz()


def test_the_fuzzed_schema_covers_every_api_endpoint_and_method():
    from .test_permissions import APP_ROUTES, MATRIX

    fuzzed = {(op.ok().method.upper(), op.ok().path) for op in schema.get_all_operations()}
    served = {(method, "/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route))
              for _, name, route, _ in APP_ROUTES if route.startswith("api/") and name not in ("schema", "api-docs")
              for method in MATRIX[name]}
    served = {(method, path.replace("{pk}", "{id}")) for method, path in served}  # the schema calls pk "id"
    assert fuzzed == served
