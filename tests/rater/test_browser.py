"""Real headless Chromium: a crowd rater and an invited expert judge a study to the end by keyboard."""

from pathlib import Path

import pytest
from django.conf import settings

from annotations.models import Candidate, Condition, Judgment, Rater
from annotations.services.pairing import study_open
from annotations.services.raters import invites_create
from annotations.services.studies import panel_create, study_create

from .. import keyboard
from ..factories import BriefFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"
DOCS_IMAGE = Path(settings.BASE_DIR) / "docs" / "img" / "rater-page.png"

ANSWERS = {
    "plain": ["Night Tea", "Shift Tea: a calm cup for your night"],
    "tuned": ["Moonlighter: the brew that clocks in when you do", "Graveyard Shift Oolong, for the 3 a.m. club"],
    "steered": ["Owl Hours: tea that keeps the lamp on", "Second Wind: leaves picked while the city sleeps"],
}


def tea_study(slug, criteria=("overall",), rate=0.0):
    study = study_create(slug=slug, title="Tea names", criteria=list(criteria), target_per_item=1,
                         attention_check_rate=rate, min_seconds=0)
    brief = BriefFactory(study=study, external_id="tea", title="A tea brand for night-shift workers",
                         text="Name a new brand of tea for people who work night shifts. One name, with a short line.")
    for i, (name, texts) in enumerate(ANSWERS.items()):
        cond = Condition.objects.create(study=study, name=name, kind=["base", "fine_tuned", "steered"][i])
        for s, text in enumerate(texts[:1]):
            Candidate.objects.create(study=study, brief=brief, condition=cond, sample_index=s, text=text)
    study_open(study=study)
    return study


def shot(page, name):
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def judge_to_the_end(page, keys, name):
    """Answer every item with the keyboard only; returns how many items were judged."""
    judged = 0
    while page.locator("#judge-form[data-task]").count() and page.url.endswith("/judge/"):
        if judged == 0:
            shot(page, f"{name}-judge")
        for key in keys:
            page.keyboard.press(key)
        with page.expect_navigation():
            page.keyboard.press("Enter")
        judged += 1
        assert judged < 50
    return judged


def test_a_crowd_rater_joins_qualifies_judges_by_keyboard_and_sees_the_code(live_server, browser):
    study = tea_study("tea-crowd", rate=0.25)
    panel_create(study=study, name="prolific", completion_code="TEA-2024-OK",
                 qualification=[{"brief": "Name a bakery.", "left": "bread bread bread", "right": "The Rolling Pin",
                                 "answer": "right"},
                                {"brief": "Name a bike shop.", "left": "Spoke & Mirror", "right": "shop bike the",
                                 "answer": "left"}])
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/join/{study.slug}/?PROLIFIC_PID=crowd-7&STUDY_ID=st1&SESSION_ID=se1")
    assert "Before you start" in page.content()
    shot(page, "crowd-consent")
    keyboard.consent(page)
    assert "How to judge" in page.content()
    shot(page, "crowd-instructions")
    keyboard.start(page)
    assert "qualification" in page.content()
    shot(page, "crowd-qualification")
    page.keyboard.press("2")
    page.keyboard.press("1")
    with page.expect_navigation():
        page.keyboard.press("Enter")
    judged = judge_to_the_end(page, ["1"], "crowd")
    assert judged == 4  # three pairs and one attention check
    assert page.locator("#completion-code").inner_text() == "TEA-2024-OK"
    shot(page, "crowd-done")
    rater = Rater.objects.get(external_id="crowd-7")
    assert rater.qualified_at and rater.finished_at and rater.params["SESSION_ID"] == "se1"
    assert Judgment.objects.filter(assignment__rater=rater).count() == 4
    assert all(j.seconds is not None for j in Judgment.objects.all())


def test_an_invited_expert_judges_every_criterion_with_arrow_keys(live_server, browser):
    study = tea_study("tea-experts", criteria=("novelty", "value", "overall"))
    invite = invites_create(panel=panel_create(study=study, name="experts", kind="expert"), labels=["ada"])[0]
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{live_server.url}/invite/{invite.token}/")
    keyboard.consent(page)
    keyboard.start(page)
    assert page.url.endswith("/judge/")
    # The picture in the README: the judging page with the first criterion answered.
    page.keyboard.press("ArrowRight")
    page.keyboard.press("s")
    DOCS_IMAGE.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(DOCS_IMAGE), full_page=True)
    page.keyboard.press("ArrowUp")
    judged = judge_to_the_end(page, ["ArrowRight", "ArrowDown", "ArrowLeft"], "expert")
    assert judged == 3
    assert "you are done" in page.content()
    shot(page, "expert-done")
    rows = Judgment.objects.filter(assignment__rater__invite=invite)
    assert rows.count() == 9
    assert sorted({j.choice_as_shown for j in rows if j.criterion == "value"}) == ["tie"]
    assert {j.choice_as_shown for j in rows if j.criterion == "novelty"} == {"right"}
    assert sorted(str(j.strength) for j in rows if j.criterion == "novelty") == ["1", "None", "None"]


def test_the_page_stacks_the_answers_on_a_narrow_screen(live_server, browser):
    study = tea_study("tea-phone")
    panel_create(study=study, name="crowd")
    page = browser.new_page(viewport={"width": 390, "height": 844})
    page.goto(f"{live_server.url}/join/{study.slug}/?PROLIFIC_PID=phone")
    keyboard.consent(page)
    page.goto(f"{live_server.url}/rate/{study.slug}/judge/")
    left, right = page.locator("#text-left").bounding_box(), page.locator("#text-right").bounding_box()
    assert right["y"] > left["y"] + left["height"] - 1  # one above the other
    shot(page, "phone-judge")
    page.keyboard.press("Enter")  # nothing answered yet: the page asks instead of submitting
    assert page.locator(".r-hint").is_visible()
