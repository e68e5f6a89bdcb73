"""Faults: the database going away mid-run, and the broker being down.

Both are cut with a TCP proxy of our own between the server process (gunicorn) and the
shared PostgreSQL / Redis, which keep running for everyone else. A model that fails to load
is covered by tests/jobs/test_jobs.py, a worker killed mid-job by tests/jobs/test_worker_faults.py.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import Counter

import pytest
import redis
import requests
from django.db import connection

from annotations.models import Assignment, Job, Judgment
from annotations.services.studies import panel_create
from tests.factories import UserFactory
from tests.rater.conftest import make_study

from .conftest import ARTIFACTS, Server, TcpProxy, database_url, needs_postgres

pytestmark = [pytest.mark.slow, needs_postgres]

CRITERIA = ("novelty", "overall")


class Rater:
    """A JSON-API rater that retries on 503 and after lost connections, as a front end should."""

    def __init__(self, base, slug, name, seen: Counter, lock):
        self.base, self.slug, self.name, self.seen, self.lock = base, slug, name, seen, lock
        self.http = requests.Session()
        self.token = ""
        self.accepted: set[str] = set()

    def call(self, method, path, **kw):
        while True:
            try:
                r = self.http.request(method, self.base + path, timeout=(2, 20),
                                      headers={"X-CSRFToken": self.token}, **kw)
            except requests.ConnectionError:
                with self.lock:
                    self.seen["connection error"] += 1
                time.sleep(0.05)
                continue
            with self.lock:
                self.seen[r.status_code] += 1
            if r.status_code == 503:
                if r.json().get("detail", "").startswith("The database is unavailable"):
                    with self.lock:
                        self.seen["503 database"] += 1
                time.sleep(0.1)
                continue
            return r

    def run(self, deadline):
        self.join()
        self.judge(deadline)

    def join(self):
        r = self.call("POST", f"/api/rate/{self.slug}/join/", json={"external_id": self.name, "consent": True})
        assert r.status_code in (200, 201), r.text
        self.token = r.json()["csrf_token"]

    def judge(self, deadline):
        while time.monotonic() < deadline:
            r = self.call("GET", f"/api/rate/{self.slug}/next/")
            if r.status_code == 204:
                return
            assert r.status_code == 200, r.text
            key = uuid.uuid4().hex
            r = self.call("POST", f"/api/rate/assignments/{r.json()['assignment']}/judgments/",
                          json={"client_key": key, "choices": {c: "left" for c in CRITERIA}, "seconds": 5})
            assert r.status_code in (200, 201), r.text
            self.accepted.add(key)
        raise AssertionError(f"{self.name} did not finish")


@pytest.mark.django_db(transaction=True)
def test_the_database_going_away_mid_run_gives_503s_writes_nothing_partial_and_recovers(tmp_path):
    study = make_study(slug="dbfault", briefs=4, samples=2, criteria=CRITERIA, target=2, rate=0.0)
    panel_create(study=study, name="crowd")
    proxy = TcpProxy(int(connection.settings_dict.get("PORT") or 5432)).start()
    seen, lock = Counter(), threading.Lock()
    server = Server(tmp_path, env={"DATABASE_URL": database_url(port=proxy.port)}, workers=2, threads=8)
    with server:
        raters = [Rater(server.url, study.slug, f"db-{i}", seen, lock) for i in range(12)]
        deadline = time.monotonic() + 90
        # Everyone joins first: a fast server could otherwise finish the small study with the
        # first raters before the last ones join (they would be told it is full).
        [r.join() for r in raters]
        threads = [threading.Thread(target=r.judge, args=(deadline,)) for r in raters]
        [t.start() for t in threads]
        while time.monotonic() < deadline - 60 and not (raters[0].token and sum(len(r.accepted) for r in raters) > 5):
            time.sleep(0.05)  # mid-run: everyone joined, judgments coming in
        proxy.cut()
        down_at = time.monotonic()
        time.sleep(0.5)
        # While it is down: a clear 503 in JSON with Retry-After, for pages and API alike.
        joined = requests.Session()
        joined.cookies.update(raters[0].http.cookies)  # a rater's browser
        probes = [joined.get(f"{server.url}{path}", timeout=10) for path in
                  (f"/api/rate/{study.slug}/next/", f"/join/{study.slug}/?PROLIFIC_PID=x", "/healthz")]
        for probe in probes:
            assert probe.status_code == 503, (probe.request.url, probe.status_code, probe.text[:200])
        assert probes[0].headers["Retry-After"] and "Nothing was saved" in probes[0].json()["detail"]
        assert probes[2].json()["database"].startswith("error")
        time.sleep(2.5)
        proxy.restore()
        outage = time.monotonic() - down_at
        [t.join(timeout=100) for t in threads]
        assert not any(t.is_alive() for t in threads)
        recovered = requests.get(f"{server.url}/api/rate/{study.slug}/next/", timeout=10)
        log = server.log.read_text()
    proxy.cut()

    assert seen["503 database"] >= 1, seen
    assert 500 not in seen and "Traceback" not in log, (seen, log[-3000:])
    assert recovered.status_code == 403  # the service answers again (this client never joined)
    # Nothing partial: every judged assignment has one judgment per criterion, every judgment
    # belongs to a submission its client saw accepted, and every accepted one is there.
    accepted = set().union(*(r.accepted for r in raters))
    judgments = Judgment.objects.filter(assignment__rater__panel__study=study)
    assert set(judgments.values_list("client_key", flat=True)) == accepted
    assert judgments.count() == len(accepted) * len(CRITERIA)
    assert set(Counter(judgments.values_list("assignment_id", flat=True)).values()) == {len(CRITERIA)}
    assert not Assignment.objects.filter(status="done").exclude(client_key__in=accepted).exists()
    per_item = Counter(Assignment.objects.filter(status="done").values_list("comparison_id", flat=True))
    assert set(per_item.values()) == {2}
    figures = {"outage_seconds": round(outage, 1), "responses": {str(k): v for k, v in seen.items()},
               "accepted_submissions": len(accepted), "judgments": judgments.count()}
    (ARTIFACTS / "reliability").mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "reliability" / "database_outage.json").write_text(json.dumps(figures, indent=1))


@pytest.mark.django_db(transaction=True)
def test_with_the_broker_down_raters_are_served_and_jobs_wait_for_it(tmp_path, settings):
    study = make_study(slug="brokerfault", criteria=CRITERIA, target=2)
    panel_create(study=study, name="crowd")
    UserFactory(username="bea-admin", is_staff=True, is_superuser=True, password="pw-for-tests-1")
    broker_db = 12
    proxy = TcpProxy(6379)  # not started: the broker is down from the start
    broker_url = f"redis://127.0.0.1:{proxy.port}/{broker_db}"
    queue = redis.Redis(host="127.0.0.1", port=6379, db=broker_db)
    queue.delete("gpu")
    server = Server(tmp_path, env={"CELERY_BROKER_URL": broker_url, "CELERY_RESULT_BACKEND": broker_url})
    with server:
        # Raters are served as usual.
        rater = Rater(server.url, study.slug, "broker-1", Counter(), threading.Lock())
        rater.run(time.monotonic() + 60)
        assert len(rater.accepted) == Assignment.objects.filter(status="done").count() > 5
        # Health says which part is down.
        health = requests.get(f"{server.url}/healthz", timeout=15).json()
        assert health["database"] == "ok" and health["broker"].startswith("error")
        # Enqueueing a job answers at once with a pending job that waits for the broker.
        admin = requests.Session()
        admin.auth = ("bea-admin", "pw-for-tests-1")
        started = time.monotonic()
        r = admin.post(f"{server.url}/api/studies/{study.slug}/score/", json={}, timeout=30)
        took = time.monotonic() - started
        assert r.status_code == 202, r.text
        assert r.json()["status"] == "pending" and r.json()["progress_detail"]["waiting_for"] == "broker"
        assert took < 5, f"enqueue took {took:.1f} s with the broker down"
        job_id = r.json()["id"]
        again = admin.post(f"{server.url}/api/studies/{study.slug}/score/", json={}, timeout=30).json()
        assert again["id"] == job_id, "asking again while it waits does not make a second job"
        assert queue.llen("gpu") == 0

        # The broker comes back: the next enqueue sends its job and the one left waiting.
        proxy.restore()
        r = admin.post(f"{server.url}/api/studies/{study.slug}/generate/", json={}, timeout=30)
        assert r.status_code == 202 and r.json()["progress_detail"] == {}
        assert queue.llen("gpu") == 2
        assert Job.objects.get(id=job_id).progress_detail == {}
    proxy.cut()
    queue.delete("gpu")
    assert "Traceback" not in server.log.read_text()


@pytest.mark.django_db(transaction=True)
def test_a_job_left_waiting_for_the_broker_is_sent_when_a_worker_starts(tmp_path):
    """The worker-start hook (and ``manage.py requeue_jobs``) re-sends pending jobs."""
    import subprocess

    from .conftest import ROOT

    study = make_study(slug="requeue", open_it=False)
    job = Job.objects.create(kind=Job.Kind.SCORE, study=study, progress_detail={"waiting_for": "broker"})
    queue = redis.Redis(host="127.0.0.1", port=6379, db=12)
    queue.delete("gpu")
    env = {**Server(tmp_path).env, "CELERY_BROKER_URL": "redis://127.0.0.1:6379/12"}
    out = subprocess.run([__import__("sys").executable, "manage.py", "requeue_jobs"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert f"sent 1 job(s) again: {job.id}" in out.stdout
    assert queue.llen("gpu") == 1
    job.refresh_from_db()
    assert job.status == Job.Status.PENDING and job.progress_detail == {}
    queue.delete("gpu")
