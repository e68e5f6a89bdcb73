"""End to end in headless Chromium: a <script> tag in a brief and in the candidates is shown
as text on the rater's page and never runs."""

from __future__ import annotations

import pytest

from annotations.models import Brief, Candidate
from annotations.services.studies import panel_create
from tests.rater.conftest import make_study

from .conftest import ARTIFACTS

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCRIPT = '<script>window.__pwned = "script"; alert("pwned")</script>'
IMG = '<img src="x" onerror="window.__pwned = \'img\'">'


def test_a_script_tag_in_a_brief_and_candidates_is_shown_as_text_and_never_runs(live_server, browser):
    study = make_study(slug="xssbrowser", criteria=("overall",), briefs=1)
    Brief.objects.filter(study=study).update(title=f"Title {SCRIPT}", text=f"Brief {SCRIPT}")
    Candidate.objects.filter(study=study).update(text=f"Answer {SCRIPT} {IMG}")
    panel_create(study=study, name="crowd")
    page = browser.new_page()
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    page.goto(f"{live_server.url}/join/xssbrowser/?PROLIFIC_PID=xss-1")
    page.get_by_role("checkbox").first.check()
    page.locator("form button[type=submit], form input[type=submit]").first.click()
    page.goto(f"{live_server.url}/rate/xssbrowser/judge/")
    page.wait_for_load_state("load")
    page.wait_for_timeout(300)  # give an injected handler every chance to fire
    body = page.inner_text("body")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "xss-rater-page.png"), full_page=True)
    assert f"Brief {SCRIPT}" in body, body[:500]
    assert body.count(f"Answer {SCRIPT}") == 2
    assert page.evaluate("window.__pwned === undefined")
    assert dialogs == []
    assert page.locator("script:not([src])").evaluate_all(
        "nodes => nodes.filter(n => n.textContent.includes('__pwned')).length") == 0
