"""Blinding: nothing a rater receives reveals the condition, model, adapter, direction or alpha."""

import json
import re
import uuid
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from annotations.models import Assignment, Candidate
from annotations.services.raters import invites_create
from annotations.services.studies import panel_create

from .conftest import SECRETS, make_study

pytestmark = pytest.mark.django_db


class Recorder:
    """A client that keeps every response body and header a rater receives."""

    def __init__(self):
        self.client = Client()
        self.seen: list[str] = []

    def keep(self, response):
        self.seen.append(response.content.decode(errors="replace"))
        self.seen.append(json.dumps(dict(response.headers)))
        self.seen.append(response.get("Location", ""))
        return response

    def get(self, url, **kw):
        return self.keep(self.client.get(url, **kw))

    def post(self, url, data, **kw):
        return self.keep(self.client.post(url, data, **kw))

    def post_json(self, url, body):
        return self.keep(self.client.post(url, json.dumps(body), content_type="application/json"))


def leaks(texts):
    found = set()
    for text in texts:
        for secret in SECRETS:
            if secret.lower() in text.lower():
                found.add(secret)
    return found


def condition_identifiers():
    """Real ids a rater must never see: candidate pks and external ids (they name the condition here)."""
    return {c.external_id for c in Candidate.objects.exclude(external_id="")}


def walk_pages(recorder, slug):
    recorder.get(f"/join/{slug}/?PROLIFIC_PID=blind-1&STUDY_ID=s&SESSION_ID=x", follow=True)
    recorder.post(f"/rate/{slug}/consent/", {"agree": "on"}, follow=True)
    recorder.get(f"/rate/{slug}/instructions/")
    while True:
        page = recorder.get(f"/rate/{slug}/judge/")
        if page.status_code == 302:
            recorder.get(page["Location"])
            return
        form = page.context["form"]
        recorder.post(f"/rate/{slug}/judge/", {"assignment": form.initial["assignment"], "action": "judge",
                                               "client_key": form.initial["client_key"], "choice_overall": "right"},
                      follow=True)


def walk_api(recorder, slug, worker):
    recorder.post_json(f"/api/rate/{slug}/join/", {"external_id": worker, "consent": True})
    items = []
    while True:
        response = recorder.get(f"/api/rate/{slug}/next/")
        if response.status_code == 204:
            break
        item = response.json()
        items.append(item)
        recorder.post_json(f"/api/rate/assignments/{item['assignment']}/judgments/",
                           {"client_key": str(uuid.uuid4()), "choices": {"overall": "left"}})
    recorder.get(f"/api/rate/{slug}/done/")
    return items


def test_no_page_or_json_a_rater_receives_names_a_condition_or_its_settings():
    study = make_study(slug="blindpages", rate=0.2)
    panel_create(study=study, name="crowd", completion_code="DONE1")
    pages, api = Recorder(), Recorder()
    walk_pages(pages, study.slug)
    items = walk_api(api, study.slug, "blind-2")
    assert len(items) == Assignment.objects.filter(rater__external_id="blind-2").count() > 20
    seen = pages.seen + api.seen
    assert leaks(seen) == set()
    ids = condition_identifiers()
    assert not [i for i in ids if any(i in text for text in seen)]


def test_an_expert_coming_by_invite_sees_no_condition_either():
    study = make_study(slug="blindinvite")
    invite = invites_create(panel=panel_create(study=study, name="experts", kind="expert"), count=1)[0]
    recorder = Recorder()
    recorder.get(f"/invite/{invite.token}/", follow=True)
    recorder.post(f"/rate/{study.slug}/consent/", {"agree": "on"}, follow=True)
    page = recorder.get(f"/rate/{study.slug}/judge/")
    assert page.status_code == 200
    assert leaks(recorder.seen) == set()


def test_static_files_and_element_ids_carry_no_condition():
    study = make_study(slug="blindstatic")
    panel_create(study=study, name="crowd")
    recorder = Recorder()
    recorder.get(f"/join/{study.slug}/?PROLIFIC_PID=w")
    recorder.post(f"/rate/{study.slug}/consent/", {"agree": "on"})
    html = recorder.get(f"/rate/{study.slug}/judge/").content.decode()
    for name in re.findall(r'(?:src|href)="([^"]+)"', html):
        assert not leaks([name])
    for path in (Path(settings.BASE_DIR) / "static").glob("rater.*"):
        assert not leaks([path.name, path.read_text()])
    element_ids = set(re.findall(r'\bid="([^"]+)"', html))
    allowed = re.compile(r"^(text-(left|right|item)|judge-form|skip|submit-judgment|progress-done|"
                         r"id_(choice_\w+_\d|strength_\d|rationale|reason|detail|assignment|client_key|seconds))$")
    assert all(allowed.match(i) for i in element_ids), element_ids


def test_candidate_ids_shown_are_opaque_and_differ_between_assignments():
    study = make_study(slug="opaque", target=4)
    panel_create(study=study, name="crowd")
    shown = []
    for worker in ("w1", "w2", "w3"):
        for item in walk_api(Recorder(), study.slug, worker):
            shown += [item["left"]["id"], item["right"]["id"]]
    assert len(shown) == len(set(shown))
    real = {str(pk) for pk in Candidate.objects.values_list("pk", flat=True)} | condition_identifiers()
    assert not real & set(shown)


def test_which_side_a_condition_is_shown_on_does_not_depend_on_the_condition():
    study = make_study(slug="sides", briefs=6, samples=2, target=4)
    panel_create(study=study, name="crowd")
    names = dict(study.conditions.values_list("pk", "name"))
    for worker in range(4):
        walk_api(Recorder(), study.slug, f"w{worker}")
    left = Counter()
    appearances = Counter()
    for a in Assignment.objects.select_related("comparison__candidate_a", "comparison__candidate_b"):
        shown_left = a.comparison.candidate_a if a.left_is_a else a.comparison.candidate_b
        for c in (a.comparison.candidate_a, a.comparison.candidate_b):
            appearances[names[c.condition_id]] += 1
        left[names[shown_left.condition_id]] += 1
    for name in names.values():
        share = left[name] / appearances[name]
        assert 0.4 <= share <= 0.6, (name, share)
    # The order in which a rater meets condition pairs is not sorted by condition either.
    first_pairs = [frozenset((a.comparison.candidate_a.condition_id, a.comparison.candidate_b.condition_id))
                   for a in Assignment.objects.filter(rater__external_id="w0").order_by("id")[:9]]
    assert len(set(first_pairs)) == 3
