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

    with transaction.atomic():
        existing = Job.objects.select_for_update().filter(kind=kind, study=study, condition=condition,
                                                          status__in=ACTIVE).first()
        if existing is not None:
            return existing
        job = Job.objects.create(kind=kind, study=study, condition=condition, params=params or {})
        transaction.on_commit(lambda: job_send(job_id=job.id, kind=kind))
    if not transaction.get_connection().in_atomic_block:
        job.refresh_from_db(fields=["progress_detail"])  # the send ran on commit: say if it waits
    return job


# How hard a web request tries to reach the broker before it leaves the job for later.
SEND_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}


def job_send(*, job_id: int, kind: str, resend_waiting: bool = True) -> bool:
    """Send the job's task; with the broker unreachable, leave the job pending and say so.

    Enqueueing never fails because of the broker: the job row is committed either way, and a
    pending job whose message may be lost is sent again by ``jobs_requeue_stale`` (when a
    worker starts, by ``manage.py requeue_jobs``, and after the next successful send).
    Sending twice is harmless: only one claim of a job succeeds.
    """
    from annotations import tasks
    from kombu.exceptions import KombuError

    try:
        # ignore_result: the outcome is on the Job row; asking Celery to keep it would also make
        # the send subscribe to the result store (Redis), which fails with a RuntimeError, not
        # a broker error, while Redis is down.
        tasks.TASK_FOR_KIND[kind].apply_async((job_id,), retry=True, retry_policy=SEND_RETRY_POLICY,
                                              ignore_result=True)
    except (KombuError, OSError) as exc:  # the broker is down or unreachable
        log.warning("job %s: broker unreachable (%s); it stays pending and is sent again later", job_id, exc)
        Job.objects.filter(id=job_id, status=Job.Status.PENDING).update(
            progress_detail={"waiting_for": "broker", "send_error": f"{exc.__class__.__name__}: {exc}"[:300]})
        return False
    Job.objects.filter(id=job_id, progress_detail__has_key="waiting_for").update(progress_detail={})
    if resend_waiting:
        # The broker is back: send what was left waiting for it.
        for other_id, other_kind in _waiting_for_broker().exclude(id=job_id).values_list("id", "kind"):
            job_send(job_id=other_id, kind=other_kind, resend_waiting=False)
    return True


def _waiting_for_broker():
    return Job.objects.filter(status=Job.Status.PENDING, progress_detail__has_key="waiting_for").order_by("id")


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


def jobs_requeue_stale(*, pending_older_than: timedelta | None = None) -> list[int]:
    """Re-send jobs whose message may be lost: running ones whose worker died (e.g. killed
    mid-job) and pending ones older than ``pending_older_than`` (default: the stale time), e.g.
    enqueued while the broker was down. Called when a worker starts and by ``requeue_jobs``."""
    now = timezone.now()
    pending_cutoff = now - (stale_after() if pending_older_than is None else pending_older_than)
    lost = list(Job.objects.filter(Q(status=Job.Status.RUNNING, heartbeat_at__lt=now - stale_after())
                                   | Q(status=Job.Status.PENDING, created_at__lte=pending_cutoff)
                                   | Q(status=Job.Status.PENDING, progress_detail__has_key="waiting_for"))
                .order_by("id").values_list("id", "kind"))
    return [job_id for job_id, kind in lost if job_send(job_id=job_id, kind=kind, resend_waiting=False)]
