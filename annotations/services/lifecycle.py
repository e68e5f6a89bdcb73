"""Moving a study through its lifecycle: draft -> generating -> open -> closed."""

from __future__ import annotations

from annotations.models import Job, Study

from .jobs import job_enqueue


def study_generate(*, study: Study) -> Job:
    """Enqueue generation; the study is 'generating' until it is opened."""
    if study.status == Study.Status.DRAFT:
        Study.objects.filter(id=study.id).update(status=Study.Status.GENERATING)
    return job_enqueue(kind=Job.Kind.GENERATE, study=study)


def study_score(*, study: Study) -> Job:
    return job_enqueue(kind=Job.Kind.SCORE, study=study)
