"""Thin Celery tasks: load by id, call one service, report through the Job row.

Model work is routed to queue "gpu" (names starting with ``gpu_``; see CELERY_TASK_ROUTES).
Tasks are acknowledged late and re-run safely: every service only does what is missing.
"""

from celery import shared_task
from celery.signals import worker_process_init, worker_ready

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


@worker_ready.connect  # --pool solo: tasks run in the main process
@worker_process_init.connect  # prefork: in each child
def _limit_torch_threads(**kwargs):
    """Model work in a worker uses ``MODELS_THREADS`` intra-op threads (default: cores - 1).

    On a small machine the worker shares its cores with the web server and the database;
    OpenMP threads that spin-wait for a busy core make every small decoding step wait for a
    time slice (measured here under load: a decode step of the 135M model took 3.7 s with 2
    threads and 0.35 s with 1).
    """
    import os

    import torch

    threads = int(os.environ.get("MODELS_THREADS") or max(1, (os.cpu_count() or 2) - 1))
    torch.set_num_threads(threads)
