"""Generating the candidates of a study: every brief x generated condition x sample.

Idempotent: only the (brief, condition, sample) rows that are missing are generated, and rows
are inserted with the database's unique constraint as the final arbiter, so a re-delivered or
re-run job adds nothing twice. Inference runs outside any transaction; each batch is written
in its own short one.
"""

from __future__ import annotations

from collections import defaultdict

from django.db import transaction

from annotations.models import Candidate, Condition, Job, Score, Study

from .jobs import JobError, job_progress
from .runtime import condition_runtime, sample_seed, worker_runtime

GENERATED_KINDS = (Condition.Kind.BASE, Condition.Kind.FINE_TUNED, Condition.Kind.STEERED)
BATCH = 16


def missing_samples(study: Study, conditions) -> list[tuple[Condition, object, int]]:
    have = set(Candidate.objects.filter(study=study, condition__in=conditions)
               .values_list("brief_id", "condition_id", "sample_index"))
    briefs = list(study.briefs.order_by("id"))
    return [(c, b, s) for c in conditions for b in briefs for s in range(study.samples_per_condition)
            if (b.id, c.id, s) not in have]


def candidates_generate(job: Job) -> dict:
    study = job.study
    conditions = [job.condition] if job.condition else list(study.conditions.filter(kind__in=GENERATED_KINDS))
    if not conditions:
        raise JobError(f"study '{study.slug}' has no base, fine-tuned or steered condition to generate")
    if not study.briefs.exists():
        raise JobError(f"study '{study.slug}' has no briefs: import some first")
    todo = missing_samples(study, conditions)
    if not todo:
        return {"generated": 0}
    runtime = worker_runtime()
    from models_runtime.generation import generate_batch

    by_condition = defaultdict(list)
    for condition, brief, sample in todo:
        by_condition[condition].append((brief, sample))
    done = 0
    for condition, items in by_condition.items():
        config, adapter, steering = condition_runtime(condition, runtime)
        base_seed = int((condition.settings or {}).get("seed", 0))
        for start in range(0, len(items), BATCH):
            batch = items[start: start + BATCH]
            seeds = [sample_seed(brief_external_id=b.external_id, sample_index=s, base_seed=base_seed) for b, s in batch]
            results = generate_batch(runtime, [b.text for b, _ in batch], config=config, seeds=seeds,
                                     adapter=adapter, steering=steering)
            _save(study, condition, batch, results)
            done += len(batch)
            job_progress(job, done / len(todo), generated=done, total=len(todo), condition=condition.name)
    return {"generated": done}


def _save(study, condition, batch, results) -> None:
    candidates = [
        Candidate(study=study, brief=brief, condition=condition, sample_index=sample, text=r.text,
                  provenance={**r.provenance, "tokens": r.n_tokens, "finish_reason": r.finish_reason})
        for (brief, sample), r in zip(batch, results)
    ]
    with transaction.atomic():
        Candidate.objects.bulk_create(candidates, ignore_conflicts=True)
        saved = {(c.brief_id, c.sample_index): c.id for c in Candidate.objects.filter(
            condition=condition, brief__in=[b for b, _ in batch])}
        # The mean next-token entropy comes free with generation (no extra forward pass).
        Score.objects.bulk_create(
            [Score(candidate_id=saved[(b.id, s)], name="mean_entropy", value=r.mean_entropy)
             for (b, s), r in zip(batch, results) if r.mean_entropy is not None],
            ignore_conflicts=True)
