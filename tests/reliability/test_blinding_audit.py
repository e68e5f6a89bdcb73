"""Blinding audit beyond tests/rater/test_blinding.py: every rater-facing URL pattern (taken
from the resolver, so a new rater page is audited automatically) is crawled for a
three-condition pairwise study and a rating study; bodies, headers and the static files they
reference are searched for condition names, kinds, model names, adapter and direction hashes
and alpha values; and left/right position and presentation order are tested for
independence from the condition (chi-square over many assignments)."""

from __future__ import annotations

import json
import random
import re
import uuid
from collections import Counter

import pytest
from django.contrib.staticfiles import finders
from django.test import Client
from scipy.stats import chi2_contingency

from annotations.models import Assignment, Candidate, Condition, Rater
from annotations.services.assignment import assignment_next
from annotations.services.judging import judgment_record
from annotations.services.studies import panel_create
from tests.rater.conftest import SECRETS, make_study

from .test_permissions import APP_ROUTES

pytestmark = pytest.mark.django_db

ALPHA = "6.3719"  # distinctive: shorter numbers occur in stylesheets
MODEL_HASH = "sha256-4f9e2c7b1d"
LEAKS = SECRETS + [ALPHA, MODEL_HASH, "imported", "base model", "fine-tuned", "lora", "steer"]
RATER_ROUTES = {name for _, name, route, _ in APP_ROUTES
                if route.startswith(("join/", "invite/", "rate/", "api/rate/")) and "invites" not in route}


def audited_study(slug, task="pairwise"):
    study = make_study(slug=slug, task=task, criteria=("overall",), rate=0.2)
    for cond in Condition.objects.filter(study=study):
        cond.settings = {**cond.settings, "alpha": float(ALPHA), "model_sha": MODEL_HASH}
        cond.save()
    for cand in Candidate.objects.filter(study=study):
        cand.provenance = {**cand.provenance, "alpha": float(ALPHA), "model_fingerprint": MODEL_HASH,
                           "adapter_sha": "adapter-zz-7f3a", "direction_sha": "direction-zz-91c2", "layer": 15}
        cand.save()
    panel_create(study=study, name="crowd", completion_code="AUDIT1")
    return study


def crawl(slug: str) -> tuple[list[str], set[str]]:
    """Everything a crowd rater receives, pages and API; and the route names visited."""
    from django.urls import resolve

    seen, visited = [], set()
    client = Client()

    def keep(response, url):
        visited.add(resolve(url.split("?")[0]).url_name)
        seen.extend([response.content.decode(errors="replace"), json.dumps(dict(response.headers)),
                     "; ".join(f"{k}={v.value}" for k, v in response.cookies.items())])
        for ref in re.findall(r'(?:src|href)="([^"]+)"', seen[-3]):
            seen.append(ref)
            if ref.startswith("/static/"):
                path = finders.find(ref[len("/static/"):].split("?")[0])
                if path:
                    seen.append(open(path, errors="replace").read())
        return response

    def get(url):
        return keep(client.get(url), url)

    def post(url, data, **kw):
        return keep(client.post(url, data, **kw), url)

    get(f"/join/{slug}/")
    get(f"/join/{slug}/?PROLIFIC_PID=audit-1&STUDY_ID=s1&SESSION_ID=x1")
    get(f"/rate/{slug}/consent/")
    post(f"/rate/{slug}/consent/", {"agree": "on"})
    get(f"/rate/{slug}/instructions/")
    get(f"/rate/{slug}/qualification/")
    while (page := get(f"/rate/{slug}/judge/")).status_code == 200:
        form = page.context["form"]
        choice = "choice_overall" if "choice_overall" in form.fields else None
        post(f"/rate/{slug}/judge/", {"assignment": form.initial["assignment"], "client_key": form.initial["client_key"],
                                      "action": "judge", choice: form.fields[choice].choices[0][0]})
    get(f"/rate/{slug}/done/")
    api = Client()
    client, saved = api, client
    post(f"/api/rate/{slug}/join/", json.dumps({"external_id": "audit-2", "consent": True}),
         content_type="application/json")
    post(f"/api/rate/{slug}/qualification/", json.dumps({"answers": {}}), content_type="application/json")
    n = 0
    while (item := get(f"/api/rate/{slug}/next/")).status_code == 200:
        body = item.json()
        n += 1
        answer = "left" if body["task"] == "pairwise" else body["scale"]["min"]
        url = f"/api/rate/assignments/{body['assignment']}/"
        if n % 5 == 1:  # "can't judge" now and then
            post(url + "skip/", json.dumps({"client_key": uuid.uuid4().hex, "reason": "other"}),
                 content_type="application/json")
        else:
            post(url + "judgments/", json.dumps({"client_key": uuid.uuid4().hex, "choices": {"overall": answer}}),
                 content_type="application/json")
            post(url + "judgments/", json.dumps({"client_key": uuid.uuid4().hex, "choices": {"overall": answer}}),
                 content_type="application/json")  # a refused second answer
    get(f"/api/rate/{slug}/done/")
    client = saved
    return seen, visited


@pytest.mark.parametrize("task", ["pairwise", "rating"])
def test_no_rater_facing_response_identifies_a_condition(task):
    study = audited_study(f"audit-{task}", task=task)
    seen, visited = crawl(study.slug)
    assert RATER_ROUTES - {"rater-invite"} <= visited, RATER_ROUTES - visited  # invites: tests/rater/test_blinding.py
    text = "\n".join(seen).lower()
    assert [leak for leak in LEAKS if leak.lower() in text] == []
    real_ids = {str(pk) for pk in Candidate.objects.values_list("pk", flat=True)}
    shown = set(re.findall(r'"id":\s*"([^"]+)"', text)) | set(re.findall(r'data-id="([^"]+)"', text))
    assert not shown & real_ids
    assert not [e for e in Candidate.objects.values_list("external_id", flat=True) if e and e.lower() in text]


def test_sides_and_presentation_order_are_independent_of_the_condition():
    """Chi-square tests over ~600 assignments: which condition is shown left, and which
    condition pair comes early or late in a rater's sequence."""
    study = make_study(slug="indep", briefs=6, samples=2, criteria=("overall",), target=8, rate=0.0)
    panel = panel_create(study=study, name="crowd")
    names = dict(study.conditions.values_list("pk", "name"))
    rng = random.Random(7)
    for r in range(50):
        rater = Rater.objects.create(panel=panel, external_id=f"ind-{r}", consent_at="2026-01-01T00:00Z")
        for _ in range(12):
            item = assignment_next(rater=rater, rng=rng)
            if item.assignment is None:
                break
            judgment_record(assignment=item.assignment, rater=rater, choices={"overall": "left"},
                            client_key=uuid.uuid4().hex, seconds=5)
    assignments = list(Assignment.objects.filter(rater__panel=panel).select_related(
        "comparison__candidate_a", "comparison__candidate_b").order_by("rater_id", "id"))
    assert len(assignments) >= 500
    left, position = Counter(), Counter()
    per_rater = Counter()
    for a in assignments:
        ca, cb = a.comparison.candidate_a.condition_id, a.comparison.candidate_b.condition_id
        shown_left, shown_right = (ca, cb) if a.left_is_a else (cb, ca)
        left[(names[shown_left], "left")] += 1
        left[(names[shown_right], "right")] += 1
        order = per_rater[a.rater_id]
        per_rater[a.rater_id] += 1
        position[(tuple(sorted((names[ca], names[cb]))), "early" if order < 6 else "late")] += 1
    conditions = sorted(set(names.values()))
    sides = [[left[(c, s)] for s in ("left", "right")] for c in conditions]
    pairs = sorted({k[0] for k in position})
    orders = [[position[(p, o)] for o in ("early", "late")] for p in pairs]
    p_side = chi2_contingency(sides).pvalue
    p_order = chi2_contingency(orders).pvalue
    assert p_side > 0.01, (sides, p_side)
    assert p_order > 0.01, (orders, p_order)

