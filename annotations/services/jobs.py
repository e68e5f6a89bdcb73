"""Job rows: how work for the workers is enqueued, claimed, reported and finished.

A job is claimed with a conditional update (exactly one worker wins); a job whose worker died
(no heartbeat for ``JOB_STALE_SECONDS``) can be claimed again. The work itself is idempotent, so a
re-run only does what is missing.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from annotations.models import Job

log = logging.getLogger(__name__)


def stale_after() -> timedelta:
    """How long a running job may go without a heartbeat before another worker may take it."""
    return timedelta(seconds=settings.JOB_STALE_SECONDS)

ACTIVE = (Job.Status.PENDING, Job.Status.RUNNING)


class JobError(Exception):
    """A failure with a message a user can act on (stored on the job)."""


def job_enqueue(*, kind: str, study=None, condition=None, params: dict | None = None) -> Job:
    """Create a job and send its task once the transaction commits.

    Asking again for the same kind/study/condition while one is pending or running returns
    that job instead of a second one.
    """
    from annotations import tasks  # tasks import services; import here to avoid a cycle

    with transaction.atomic():
        existing = Job.objects.select_for_update().filter(kind=kind, study=study, condition=condition,
                                                          status__in=ACTIVE).first()
        if existing is not None:
            return existing
        job = Job.objects.create(kind=kind, study=study, condition=condition, params=params or {})
        transaction.on_commit(lambda: tasks.TASK_FOR_KIND[kind].delay(job.id))
    return job


def job_claim(*, job_id: int) -> Job | None:
    """Mark the job running for this worker; None if another worker has it or it is finished."""
    now = timezone.now()
    claimable = Q(status=Job.Status.PENDING) | Q(status=Job.Status.RUNNING, heartbeat_at__lt=now - stale_after())
    changed = Job.objects.filter(claimable, id=job_id).update(
        status=Job.Status.RUNNING, started_at=now, heartbeat_at=now, attempts=F("attempts") + 1, error="")
    return Job.objects.get(id=job_id) if changed == 1 else None


def job_progress(job: Job, fraction: float, **detail) -> None:
    """Record progress (0..1) and details; doubles as the heartbeat."""
    job.progress = max(0.0, min(1.0, float(fraction)))
    job.progress_detail = {**job.progress_detail, **detail}
    job.heartbeat_at = timezone.now()
    Job.objects.filter(id=job.id).update(progress=job.progress, progress_detail=job.progress_detail,
                                         heartbeat_at=job.heartbeat_at)


def job_finish(job: Job, result: dict | None = None) -> None:
    Job.objects.filter(id=job.id).update(status=Job.Status.SUCCEEDED, progress=1.0, result=result or {},
                                         finished_at=timezone.now(), heartbeat_at=timezone.now())


def job_fail(job: Job, message: str) -> None:
    Job.objects.filter(id=job.id).update(status=Job.Status.FAILED, error=message, finished_at=timezone.now())


def job_run(job_id: int, work) -> dict | None:
    """Claim the job, run ``work(job)``, and record the outcome. Used by every task."""
    job = job_claim(job_id=job_id)
    if job is None:
        log.info("job %s is finished or running elsewhere; nothing to do", job_id)
        return None
    try:
        result = work(job) or {}
    except JobError as exc:
        job_fail(job, str(exc))
        return None
    except Exception as exc:
        # Unexpected: record it for the admin, then let Celery log the traceback.
        job_fail(job, f"{exc.__class__.__name__}: {exc}")
        raise
    job_finish(job, result)
    return result


def jobs_requeue_stale() -> list[int]:
    """Re-send jobs whose worker died (e.g. killed mid-job). Called when a worker starts."""
    from annotations import tasks

    cutoff = timezone.now() - stale_after()
    stale = list(Job.objects.filter(status=Job.Status.RUNNING, heartbeat_at__lt=cutoff).values_list("id", "kind"))
    for job_id, kind in stale:
        tasks.TASK_FOR_KIND[kind].delay(job_id)
    return [job_id for job_id, _ in stale]
