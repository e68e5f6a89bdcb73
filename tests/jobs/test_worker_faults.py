"""A worker killed mid-generation: after a restart the job finishes with no duplicate and no
missing candidate. Real worker processes, real Redis, real PostgreSQL; a tiny random-weight
model on disk stands in for the base model (the subject here is the job, not the model)."""

import os
import signal
import time

import pytest

from annotations.models import Candidate, Condition, Job
from annotations.services import jobs
from annotations.services.imports import briefs_import
from annotations.services.studies import study_create

pytestmark = [pytest.mark.worker, pytest.mark.slow]


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.django_db(transaction=True)
def test_a_killed_worker_s_job_finishes_after_restart_without_duplicates(tiny_model_dir, worker_process, settings):
    if not os.environ.get("CELERY_BROKER_URL", "").startswith("redis"):
        pytest.skip("needs the Redis broker (make test sets CELERY_BROKER_URL)")
    study = study_create(slug="faults", task="pairwise", samples_per_condition=6)
    briefs_import(study=study, data=("id,text\n" + "".join(f"b{i},Write a headline number {i}\n" for i in range(10))).encode(),
                  filename="b.csv")
    Condition.objects.create(study=study, name="base", kind="base", settings={"decoding": {"max_new_tokens": 48}})
    Condition.objects.create(study=study, name="hot", kind="base",
                             settings={"decoding": {"max_new_tokens": 48, "temperature": 1.5}})
    expected = 10 * 6 * 2
    env = {"BASE_MODEL": str(tiny_model_dir), "JOB_STALE_SECONDS": "3"}
    settings.JOB_STALE_SECONDS = 3
    first = worker_process(**env)
    job = jobs.job_enqueue(kind=Job.Kind.GENERATE, study=study)
    made = lambda: Candidate.objects.filter(study=study).count()  # noqa: E731
    wait_for(lambda: made() > 0, 240, "the first candidates")
    os.killpg(first.pid, signal.SIGKILL)  # no warm shutdown: the worker dies mid-job
    first.wait(timeout=10)
    partial = made()
    assert 0 < partial < expected, f"kill landed at {partial} of {expected}: make the job longer"
    assert Job.objects.get(id=job.id).status == Job.Status.RUNNING
    time.sleep(3.5)  # the dead worker's heartbeat goes stale
    worker_process(**env)
    wait_for(lambda: Job.objects.get(id=job.id).status == Job.Status.SUCCEEDED, 240, "the job to finish")
    job = Job.objects.get(id=job.id)
    assert job.attempts == 2
    rows = list(Candidate.objects.filter(study=study).values_list("brief_id", "condition_id", "sample_index"))
    assert len(rows) == len(set(rows)) == expected, "no duplicate and no missing candidate"
