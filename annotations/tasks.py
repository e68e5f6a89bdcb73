"""Thin Celery tasks: load by id, call one service, report through the Job row.

Model work is routed to queue "gpu" (names starting with ``gpu_``; see CELERY_TASK_ROUTES).
Tasks are acknowledged late and re-run safely: every service only does what is missing.
"""

from celery import shared_task
from celery.signals import worker_ready

from annotations.services import jobs


@shared_task(acks_late=True)
def gpu_train_adapter(job_id: int):
    from annotations.services.artifacts import adapter_train

    return jobs.job_run(job_id, adapter_train)


@shared_task(acks_late=True)
def gpu_extract_direction(job_id: int):
    from annotations.services.artifacts import direction_extract

    return jobs.job_run(job_id, direction_extract)


@shared_task(acks_late=True)
def gpu_generate(job_id: int):
    from annotations.services.generation import candidates_generate

    return jobs.job_run(job_id, candidates_generate)


@shared_task(acks_late=True)
def gpu_score(job_id: int):
    from annotations.services.scoring import candidates_score

    return jobs.job_run(job_id, candidates_score)


@shared_task(acks_late=True)
def gpu_judge(job_id: int):
    from annotations.services.scoring import comparisons_judge

    return jobs.job_run(job_id, comparisons_judge)


@shared_task
def ping(value):
    """A round trip through the broker and a worker (used by health checks and tests)."""
    return value


TASK_FOR_KIND = {
    "train_adapter": gpu_train_adapter,
    "extract_direction": gpu_extract_direction,
    "generate": gpu_generate,
    "score": gpu_score,
    "judge": gpu_judge,
}


@worker_ready.connect
def _requeue_stale_jobs(**kwargs):
    jobs.jobs_requeue_stale()
