"""Jobs: exactly one worker runs a job, a dead worker's job is re-run, failures say what to do."""

from datetime import timedelta

import pytest
from django.utils import timezone

from annotations.models import Condition, Job, Study
from annotations.services import jobs
from annotations.services.generation import candidates_generate

from ..factories import BriefFactory, StudyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def job():
    return Job.objects.create(kind=Job.Kind.GENERATE, study=StudyFactory())


def test_only_one_worker_claims_a_pending_job(job):
    assert jobs.job_claim(job_id=job.id) is not None
    assert jobs.job_claim(job_id=job.id) is None
    job.refresh_from_db()
    assert (job.status, job.attempts) == (Job.Status.RUNNING, 1)


def test_a_job_whose_worker_died_is_claimed_again(job):
    jobs.job_claim(job_id=job.id)
    Job.objects.filter(id=job.id).update(heartbeat_at=timezone.now() - jobs.stale_after() - timedelta(seconds=1))
    again = jobs.job_claim(job_id=job.id)
    assert again is not None and again.attempts == 2


def test_a_finished_job_is_never_run_again(job):
    jobs.job_run(job.id, lambda j: {"ok": 1})
    calls = []
    assert jobs.job_run(job.id, lambda j: calls.append(j)) is None
    assert calls == []
    job.refresh_from_db()
    assert (job.status, job.result, job.progress) == (Job.Status.SUCCEEDED, {"ok": 1}, 1.0)


def test_asking_twice_for_the_same_work_gives_the_same_job(django_capture_on_commit_callbacks, monkeypatch):
    from annotations import tasks

    sent = []
    monkeypatch.setattr(tasks.gpu_generate, "apply_async", lambda args, **options: sent.append(args[0]))
    study = StudyFactory()
    with django_capture_on_commit_callbacks(execute=True):
        first = jobs.job_enqueue(kind=Job.Kind.GENERATE, study=study)
        second = jobs.job_enqueue(kind=Job.Kind.GENERATE, study=study)
    assert first.id == second.id and sent == [first.id]


def test_a_failure_is_recorded_with_its_message(job):
    def work(j):
        raise jobs.JobError("condition 'x' has no adapter: train one first")

    assert jobs.job_run(job.id, work) is None
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED and job.error == "condition 'x' has no adapter: train one first"


def test_a_model_that_fails_to_load_fails_the_job_with_an_actionable_message(settings, tmp_path):
    settings.BASE_MODEL = str(tmp_path / "no-such-model")
    brief = BriefFactory()
    Condition.objects.create(study=brief.study, name="base", kind=Condition.Kind.BASE)
    job = Job.objects.create(kind=Job.Kind.GENERATE, study=brief.study)
    jobs.job_run(job.id, candidates_generate)
    job.refresh_from_db()
    assert job.status == Job.Status.FAILED
    assert "could not be loaded" in job.error and "no-such-model" in job.error
    assert brief.study.candidates.count() == 0
    assert Study.objects.get(id=brief.study_id).status == Study.Status.DRAFT


def test_generation_without_conditions_says_what_is_missing():
    job = Job.objects.create(kind=Job.Kind.GENERATE, study=BriefFactory().study)
    jobs.job_run(job.id, candidates_generate)
    job.refresh_from_db()
    assert "has no base, fine-tuned or steered condition" in job.error
