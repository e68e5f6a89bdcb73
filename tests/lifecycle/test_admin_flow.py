"""The admin flow in a real browser: create a study, upload briefs, add a steered condition,
extract its direction, generate, open, judge as a crowd rater, and read the report.

Real Chromium, real worker process, real Redis and PostgreSQL; the base model is a tiny
random-weight Llama (the subject is the lifecycle, not the model's quality).
"""

import os
import time
from pathlib import Path

import pytest
from django.conf import settings

from annotations.models import Candidate, Comparison, Condition, Job, Judgment, Study

from .. import keyboard

pytestmark = [pytest.mark.browser, pytest.mark.worker, pytest.mark.slow, pytest.mark.django_db(transaction=True)]
ARTIFACTS = Path(settings.BASE_DIR) / "test-artifacts"
BRIEFS = (b"id,title,text,kind\n"
          b"tea,Night tea,Name a tea brand for night-shift workers.,naming\n"
          b"bike,Bike shop,Write a headline for a repair cafe for bicycles.,headline\n")


def wait_for_job(kind, timeout=300):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = Job.objects.filter(kind=kind).order_by("-id").first()
        if job and job.status == Job.Status.FAILED:
            raise AssertionError(f"{kind} job failed: {job.error}")
        if job and job.status == Job.Status.SUCCEEDED:
            return job
        time.sleep(0.5)
    raise AssertionError(f"{kind} job did not finish in {timeout} s")


def run_action(page, base, model, action, label):
    page.goto(f"{base}/admin/annotations/{model}/")
    page.locator("tr", has_text=label).locator("input.action-select").check()
    page.select_option("select[name=action]", action)
    with page.expect_navigation():
        page.click("button[name=index]")


def test_an_admin_runs_a_study_from_upload_to_report(live_server, admin_user, tiny_model_dir, worker_process, tmp_path,
                                                     browser):
    if not os.environ.get("CELERY_BROKER_URL", "").startswith("redis"):
        pytest.skip("needs the Redis broker (make test sets CELERY_BROKER_URL)")
    worker_process(BASE_MODEL=str(tiny_model_dir))
    base = live_server.url
    (tmp_path / "briefs.csv").write_bytes(BRIEFS)
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", admin_user.username)
    page.fill("#id_password", "pw-for-tests-1")
    with page.expect_navigation():
        page.click("input[type=submit]")

    # Create the study (criteria default to novelty, value, surprise, overall).
    page.goto(f"{base}/admin/annotations/study/add/")
    page.fill("#id_slug", "round-one")
    page.fill("#id_title", "Round one")
    page.fill("#id_samples_per_condition", "2")
    page.fill("#id_target_per_item", "1")
    page.fill("#id_min_seconds", "0")
    page.fill("#id_attention_check_rate", "0")
    with page.expect_navigation():
        page.click("input[name=_continue]")
    study = Study.objects.get(slug="round-one")
    assert study.criterion_names == ["novelty", "value", "surprise", "overall"]

    # Upload the briefs from the study page.
    page.click("text=Upload briefs, candidates or judgments")
    page.select_option("#id_kind", "briefs")
    page.set_input_files("#id_file", str(tmp_path / "briefs.csv"))
    with page.expect_navigation():
        page.click("input[type=submit]")
    assert "Imported 2 briefs" in page.content()

    # Two conditions: the base model and a steered one.
    for name, kind, options in (("plain", "base", '{"decoding": {"max_new_tokens": 24}}'),
                                ("bold", "steered", '{"alpha": 8, "decoding": {"max_new_tokens": 24}}')):
        page.goto(f"{base}/admin/annotations/condition/add/")
        page.select_option("#id_study", label="round-one")
        page.fill("#id_name", name)
        page.select_option("#id_kind", kind)
        page.fill("#id_settings", options)
        with page.expect_navigation():
            page.click("input[name=_save]")

    run_action(page, base, "condition", "extract_direction", "bold")
    wait_for_job(Job.Kind.EXTRACT_DIRECTION)
    assert Condition.objects.get(name="bold").settings["direction"]
    run_action(page, base, "study", "generate", "round-one")
    page.goto(f"{base}/admin/annotations/job/")
    page.screenshot(path=str(ARTIFACTS / "admin-jobs.png"), full_page=True)
    wait_for_job(Job.Kind.GENERATE)
    assert Candidate.objects.filter(study=study).count() == 2 * 2 * 2
    steered = Candidate.objects.filter(condition__name="bold").first()
    assert steered.provenance["alpha"] == 8.0 and steered.provenance["direction_hash"]

    page.goto(f"{base}/admin/annotations/panel/add/")
    page.select_option("#id_study", label="round-one")
    page.fill("#id_name", "crowd")
    page.select_option("#id_kind", "crowd")
    page.fill("#id_completion_code", "ROUND-ONE-DONE")
    with page.expect_navigation():
        page.click("input[name=_save]")
    run_action(page, base, "study", "open_for_raters", "round-one")
    assert Study.objects.get(slug="round-one").status == Study.Status.OPEN
    assert Comparison.objects.filter(study=study, attention_check=False).count() == 2 * 2 * 2

    # A crowd rater judges everything by keyboard.
    rater = browser.new_page(viewport={"width": 1280, "height": 900})
    rater.goto(f"{base}/join/round-one/?PROLIFIC_PID=w-1&STUDY_ID=r1&SESSION_ID=s1")
    keyboard.consent(rater)
    keyboard.start(rater)
    judged = 0
    while rater.url.endswith("/judge/") and rater.locator("#judge-form[data-task]").count():
        for key in ("1", "ArrowDown", "2", "ArrowDown", "0", "ArrowDown", "1"):
            rater.keyboard.press(key)
        with rater.expect_navigation():
            rater.keyboard.press("Enter")
        judged += 1
        assert judged < 30
    assert "ROUND-ONE-DONE" in rater.content()
    assert Judgment.objects.filter(assignment__rater__external_id="w-1").count() == judged * 4

    # The researcher's report.
    page.goto(f"{base}/studies/round-one/report/")
    page.screenshot(path=str(ARTIFACTS / "admin-report.png"), full_page=True)
    ranking = page.locator("table", has_text="BT strength").first
    assert ranking.locator("tr", has_text="plain").count() and ranking.locator("tr", has_text="bold").count()
    assert "excluded" not in page.locator("table", has_text="Attention checks").inner_text()
