"""100 concurrent raters against a real gunicorn process on PostgreSQL: nothing lost, nothing
counted twice.

Every rater is a thread with its own HTTP session speaking the JSON rater API (join -> next ->
judgments). Mixed in: the same submission sent twice at the same moment from two
connections, a submission whose response is lost to a client-side timeout and that is sent
again with the same client key until it is answered, resubmissions after a success, and
raters who walk away holding a lease. After the first round the abandoned leases are aged
past their expiry (what 20 minutes would do), the raters who walked away come back with their
stale submission (refused, nothing written) and everyone carries on until the study is full.
Then every counter must reconcile, from the responses the clients saw and from the database.
The figures of the run are written to test-artifacts/reliability/load.json.
"""

from __future__ import annotations

import json
import random
import statistics
import threading
import time
import uuid
from collections import Counter, defaultdict

import pytest
import requests
from django.utils import timezone

from annotations.models import Assignment, Comparison, Judgment, Rater
from annotations.services.studies import panel_create
from tests.factories import age_leases
from tests.rater.conftest import make_study

from .conftest import ARTIFACTS, Server, needs_postgres

pytestmark = [pytest.mark.slow, needs_postgres]

RATERS = 100
CRITERIA = ("novelty", "overall")
TARGET = 3
CAP = 8
ABANDON = 0.1  # share of raters who may walk away holding a lease in the first round
DEADLINE = 100  # seconds for the whole exchange


class Client:
    """One rater's browser-less client: a session, the CSRF token, and what it saw."""

    def __init__(self, base: str, slug: str, name: str, log: "Log", rng: random.Random):
        self.base, self.slug, self.name, self.log, self.rng = base, slug, name, log, rng
        self.http = requests.Session()
        self.token = ""
        self.held = None  # the assignment abandoned in round one
        self.walks_away = rng.random() < ABANDON

    def timed(self, kind: str, method: str, path: str, session=None, timeout=(3, 30), **kw):
        started = time.perf_counter()
        response = (session or self.http).request(method, self.base + path, timeout=timeout,
                                                  headers={"X-CSRFToken": self.token}, **kw)
        self.log.latency(kind, time.perf_counter() - started, response.status_code)
        return response

    def join(self):
        r = self.timed("join", "POST", f"/api/rate/{self.slug}/join/", json={"external_id": self.name, "consent": True})
        assert r.status_code == 201, r.text
        self.token = r.json()["csrf_token"]

    def twin(self) -> requests.Session:
        """A second connection of the same browser (same cookies): a double click, two tabs."""
        other = requests.Session()
        other.cookies.update(self.http.cookies)
        return other

    def submit(self, assignment: str, key: str, session=None, timeout=(3, 30)):
        body = {"client_key": key, "choices": {c: self.rng.choice(["left", "right", "tie"]) for c in CRITERIA},
                "strength": self.rng.choice([None, 1, 2, 3]), "seconds": 4.5}
        return self.timed("submit", "POST", f"/api/rate/assignments/{assignment}/judgments/", session=session,
                          timeout=timeout, json=body)

    def submit_until_answered(self, assignment: str, key: str, session=None):
        """Send (again) with the same key until an answer arrives: what a client does after a timeout."""
        for _ in range(50):
            try:
                r = self.submit(assignment, key, session=session)
            except requests.RequestException:
                self.log.count("retry_after_error")
                continue
            self.log.answer(key, r.status_code)
            return r
        raise AssertionError(f"no answer for {key}")

    def judge_one(self, assignment: str):
        key = uuid.uuid4().hex
        self.log.sent(key)
        mode = self.rng.random()
        if mode < 0.12:  # the same submission twice at the same moment, from two connections
            self.log.count("concurrent_duplicate")
            twin = self.twin()
            threads = [threading.Thread(target=self.submit_until_answered, args=(assignment, key, s))
                       for s in (self.http, twin)]
            [t.start() for t in threads]
            [t.join() for t in threads]
        elif mode < 0.24:  # the response is lost (client timeout) and the client sends again
            self.log.count("timeout_then_retry")
            try:
                r = self.submit(assignment, key, session=self.twin(), timeout=(3, 0.002))
                self.log.answer(key, r.status_code)  # answered faster than the timeout after all
            except requests.Timeout:
                self.log.count("timed_out")
            self.submit_until_answered(assignment, key)
        elif mode < 0.34:  # answered, then sent again (a reload of the POST)
            self.log.count("resubmit_after_success")
            self.submit_until_answered(assignment, key)
            self.submit_until_answered(assignment, key)
        else:
            self.submit_until_answered(assignment, key)

    def run(self, *, may_abandon: bool, deadline: float):
        while time.monotonic() < deadline:
            try:
                r = self.timed("next", "GET", f"/api/rate/{self.slug}/next/")
            except requests.ConnectionError:  # a kept-alive connection closed by the server: ask again
                self.log.count("retry_after_error")
                continue
            if r.status_code == 204:
                return "done"
            if r.status_code == 503:  # every free item was being leased by others at that instant
                self.log.count("busy")
                time.sleep(0.02)
                continue
            assert r.status_code == 200, (r.status_code, r.text[:300])
            item = r.json()
            if may_abandon and self.walks_away and self.rng.random() < 0.5:
                self.held = item["assignment"]
                return "abandoned"
            self.judge_one(item["assignment"])
        raise AssertionError(f"{self.name} still going at the deadline")


class Log:
    def __init__(self):
        self.lock = threading.Lock()
        self.latencies = defaultdict(list)
        self.statuses = Counter()
        self.answers = defaultdict(Counter)  # client key -> status -> times
        self.keys: set[str] = set()
        self.counts = Counter()

    def latency(self, kind, seconds, status):
        with self.lock:
            self.latencies[kind].append(seconds)
            self.statuses[(kind, status)] += 1

    def sent(self, key):
        with self.lock:
            self.keys.add(key)

    def answer(self, key, status):
        with self.lock:
            self.answers[key][status] += 1

    def count(self, what):
        with self.lock:
            self.counts[what] += 1


def percentile(values, q):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def in_parallel(clients, fn):
    results, errors = {}, []

    def work(c):
        try:
            results[c.name] = fn(c)
        except BaseException as exc:  # collected and asserted by the test
            errors.append(f"{c.name}: {exc!r}")

    threads = [threading.Thread(target=work, args=(c,)) for c in clients]
    [t.start() for t in threads]
    [t.join(timeout=DEADLINE) for t in threads]
    assert not any(t.is_alive() for t in threads), "raters still running after the deadline"
    assert not errors, errors[:5]
    return results


@pytest.mark.django_db(transaction=True)
def test_a_hundred_concurrent_raters_on_gunicorn_lose_nothing_and_count_nothing_twice(tmp_path):
    study = make_study(slug="load", briefs=10, samples=2, criteria=CRITERIA, target=TARGET, rate=0.1)
    panel_create(study=study, name="crowd", max_items_per_rater=CAP, completion_code="LOAD-OK")
    real = set(Comparison.objects.filter(study=study, attention_check=False).values_list("pk", flat=True))
    log = Log()
    started = time.monotonic()
    deadline = started + DEADLINE
    with Server(tmp_path, workers=3, threads=16) as server:
        clients = [Client(server.url, study.slug, f"load-{i:03d}", log, random.Random(i)) for i in range(RATERS)]
        in_parallel(clients, lambda c: c.join())
        round_one = time.perf_counter()
        outcome = in_parallel(clients, lambda c: c.run(may_abandon=True, deadline=deadline))
        round_one = time.perf_counter() - round_one
        accepted_round_one = sum(1 for k in log.answers if log.answers[k][201])

        abandoned = [c for c in clients if outcome[c.name] == "abandoned"]
        assert abandoned, "the run should include raters who walk away holding a lease"
        # The leases they hold run out (what lease_minutes would do), and they come back.
        aged = age_leases(Assignment.objects.filter(public_id__in=[c.held for c in abandoned]))
        assert aged == len(abandoned)
        stale = [c.submit(c.held, uuid.uuid4().hex) for c in abandoned]
        assert {r.status_code for r in stale} == {409}, [r.text for r in stale]
        assert all(r.json()["code"] == "expired" for r in stale)
        in_parallel(clients, lambda c: c.run(may_abandon=False, deadline=deadline))
        done = [c.timed("done", "GET", f"/api/rate/{c.slug}/done/") for c in clients]
    elapsed = time.monotonic() - started

    # What the clients saw.
    # Raters who judged something finish with the completion code; one who came when the
    # panel was already full judged nothing and gets no code.
    judged = set(Assignment.objects.filter(status="done").values_list("rater__external_id", flat=True))
    assert [r.status_code for r in done] == [200 if c.name in judged else 403 for c in clients]
    assert {r.json()["completion_code"] for r in done if r.status_code == 200} == {"LOAD-OK"}
    assert not [s for s in log.statuses if s[1] >= 500 and s != ("next", 503)], log.statuses
    accepted = {k for k, statuses in log.answers.items() if statuses[201] or statuses[200]}
    assert accepted == log.keys, "every submission sent is answered as stored, eventually"
    assert all(statuses[201] <= 1 for statuses in log.answers.values()), "a key is stored once"
    duplicates = sum(1 for s in log.answers.values() if s[201] + s[200] > 1)

    # What the database holds.
    judgments = Judgment.objects.filter(assignment__rater__panel__study=study)
    assert judgments.count() == len(accepted) * len(CRITERIA)
    assert set(judgments.values_list("client_key", flat=True)) == accepted
    assert set(Assignment.objects.filter(status="done").values_list("client_key", flat=True)) == accepted
    per_item = Counter(Assignment.objects.filter(status="done", comparison__in=real)
                       .values_list("comparison_id", flat=True))
    assert {c: per_item[c] for c in real} == {c: TARGET for c in real}, "every item exactly at its target"
    pairs = list(Assignment.objects.values_list("rater_id", "comparison_id"))
    assert len(pairs) == len(set(pairs)), "no rater twice on an item"
    per_key = Counter(judgments.values_list("assignment_id", "criterion"))
    assert set(per_key.values()) == {1}
    assert not Assignment.objects.filter(status="leased", lease_expires_at__gt=timezone.now()).exists()
    assert Assignment.objects.filter(status="expired").count() == len(abandoned)
    assert all(n <= CAP for n in Counter(Assignment.objects.filter(status="done")
                                          .values_list("rater_id", flat=True)).values())
    assert Rater.objects.filter(panel__study=study, finished_at__isnull=False).count() == len(judged)
    assert elapsed < 110, f"took {elapsed:.0f} s"

    submit, nxt = log.latencies["submit"], log.latencies["next"]
    figures = {
        "raters": RATERS, "items": len(real), "target_per_item": TARGET, "criteria": len(CRITERIA),
        "accepted_submissions": len(accepted), "judgments": judgments.count(),
        "duplicate_or_retried_submissions": duplicates, "abandoned_leases": len(abandoned),
        "stale_submissions_refused": len(stale), **dict(log.counts),
        "requests": sum(log.statuses.values()), "wall_seconds": round(elapsed, 1),
        "round_one_seconds": round(round_one, 2),
        "submissions_per_second": round(accepted_round_one / round_one, 1),
        "judgments_per_second": round(accepted_round_one * len(CRITERIA) / round_one, 1),
        "submit_ms": {"p50": round(1000 * statistics.median(submit), 1), "p99": round(1000 * percentile(submit, 99), 1)},
        "next_ms": {"p50": round(1000 * statistics.median(nxt), 1), "p99": round(1000 * percentile(nxt, 99), 1)},
        "statuses": {f"{k} {s}": n for (k, s), n in sorted(log.statuses.items())},
    }
    (ARTIFACTS / "reliability").mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "reliability" / "load.json").write_text(json.dumps(figures, indent=1))
    print(json.dumps(figures))
