"""Moving a study through its lifecycle: draft -> generating -> open -> closed."""

from __future__ import annotations

from django.core.exceptions import ValidationError

from annotations.models import Condition, Job, Study

from .jobs import job_enqueue


def study_generate(*, study: Study) -> Job:
    """Enqueue generation; the study is 'generating' until it is opened."""
    if study.status == Study.Status.DRAFT:
        Study.objects.filter(id=study.id).update(status=Study.Status.GENERATING)
    return job_enqueue(kind=Job.Kind.GENERATE, study=study)


def study_score(*, study: Study) -> Job:
    return job_enqueue(kind=Job.Kind.SCORE, study=study)


def condition_train_adapter(*, condition: Condition, params: dict | None = None) -> Job:
    if condition.kind != Condition.Kind.FINE_TUNED:
        raise ValidationError(f"condition '{condition.name}' is {condition.kind}, not fine_tuned")
    return job_enqueue(kind=Job.Kind.TRAIN_ADAPTER, study=condition.study, condition=condition, params=params)


def condition_extract_direction(*, condition: Condition, params: dict | None = None) -> Job:
    if condition.kind != Condition.Kind.STEERED:
        raise ValidationError(f"condition '{condition.name}' is {condition.kind}, not steered")
    return job_enqueue(kind=Job.Kind.EXTRACT_DIRECTION, study=condition.study, condition=condition, params=params)
