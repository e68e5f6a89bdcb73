"""Automatic scores for every candidate, group scores per brief x condition, and model judges.

Idempotent: candidates that already have their model scores are skipped; inserts rely on the
unique constraints (candidate, name) and (comparison, judge). Inference runs outside any
transaction; each batch is written in its own short one.
"""

from __future__ import annotations

from django.db import transaction

from annotations.models import Artifact, Candidate, Comparison, Condition, GroupScore, JudgeVerdict, Job, Score, Study

from .jobs import job_progress
from .runtime import artifact_path, worker_runtime

BATCH = 16
MODEL_SCORES = ("creativity", "entropy", "perplexity", "distinct_1", "distinct_2", "compression_ratio")
MARKER = "perplexity"  # present once a candidate's model scores are written
MODEL_JUDGE = "judge:base"  # the base model asked which text is more creative, both orders
DIRECTION_JUDGE = "judge:direction"  # the higher creativity score wins


def study_direction(study: Study):
    """The direction used for creativity scores: the study's steered condition's, else the newest."""
    from models_runtime.steering import Direction

    steered = study.conditions.filter(kind=Condition.Kind.STEERED).exclude(settings__direction=None).first()
    sha = (steered.settings or {}).get("direction") if steered else None
    if sha:
        return Direction.load(artifact_path(Artifact.Kind.DIRECTION, sha, steered)), steered.settings.get("layer")
    artifact = Artifact.objects.filter(kind=Artifact.Kind.DIRECTION).order_by("-id").first()
    if artifact is None:
        return None, None
    return Direction.load(artifact.path), None


def scored_candidates(study: Study):
    return (Candidate.objects.filter(study=study, condition__isnull=False).select_related("brief", "condition")
            .order_by("id"))


def candidates_score(job: Job) -> dict:
    study = job.study
    candidates = list(scored_candidates(study))
    have = set(Score.objects.filter(candidate__study=study, name=MARKER).values_list("candidate_id", flat=True))
    todo = [c for c in candidates if c.id not in have]
    written, source = 0, None
    if todo:
        from models_runtime.scoring import score_texts

        runtime = worker_runtime()
        direction, layer = study_direction(study)
        # Score with whichever vectors passed the held-out validity check better at this layer
        # (on SmolLM2 the answer-based vectors rank creative answers first far more often than
        # the prompt-based ones that steer best); the choice is recorded in the job result.
        source = (direction.best_scoring_source(layer) or "prompt") if direction is not None else None
        for start in range(0, len(todo), BATCH):
            batch = todo[start: start + BATCH]
            rows = score_texts(runtime, [c.text for c in batch], briefs=[c.brief.text for c in batch],
                               direction=direction, layer=layer, source=source or "prompt")
            scores = [Score(candidate=c, name=name, value=row[name])
                      for c, row in zip(batch, rows) for name in MODEL_SCORES if row.get(name) is not None]
            with transaction.atomic():
                Score.objects.bulk_create(scores, ignore_conflicts=True)
            written += len(batch)
            job_progress(job, 0.8 * written / len(todo), scored=written, total=len(todo))
    semantic = _semantic_scores(study, candidates)
    job_progress(job, 0.9, stage="model judge")
    verdicts = comparisons_judge(job, progress_from=0.9)
    return {"scored": written, "semantic": semantic, "verdicts": verdicts,
            **({"creativity_source": source} if written else {})}


def _semantic_scores(study: Study, candidates) -> int:
    """Embedding novelty per candidate and diversity / attractor rate per brief x condition.

    They depend on the whole set of candidates, so they are recomputed (all of them) only when
    some candidate has none yet, e.g. after more candidates were generated or imported."""
    have = set(Score.objects.filter(candidate__study=study, name="novelty_within").values_list("candidate_id", flat=True))
    if not candidates or all(c.id in have for c in candidates):
        return 0
    from models_runtime.diversity import semantic_scores

    base = study.conditions.filter(kind=Condition.Kind.BASE).values_list("name", flat=True).first()
    result = semantic_scores([{"id": c.id, "brief": c.brief_id, "condition": c.condition.name, "text": c.text}
                              for c in candidates], base_condition=base)
    scores = [Score(candidate_id=row["id"], name=name, value=row[name])
              for row in result["items"] for name in ("novelty_within", "novelty_vs_base") if row[name] is not None]
    conditions = {c.condition.name: c.condition_id for c in candidates}
    groups = [GroupScore(brief_id=int(g["brief"]), condition_id=conditions[g["condition"]], name=name, value=g[name])
              for g in result["groups"] for name in ("semantic_diversity", "attractor_rate") if g[name] is not None]
    with transaction.atomic():
        Score.objects.bulk_create(scores, update_conflicts=True, unique_fields=["candidate", "name"],
                                  update_fields=["value"])
        GroupScore.objects.bulk_create(groups, update_conflicts=True, unique_fields=["brief", "condition", "name"],
                                       update_fields=["value"])
    return len(scores) + len(groups)


def comparisons_judge(job: Job, progress_from: float = 0.0) -> int:
    """Model judges for every real comparison without a verdict: the base model asked which
    text is more creative (both orders), and the direction judge (higher creativity wins)."""
    from models_runtime import judge

    study = job.study
    comparisons = list(Comparison.objects.filter(study=study, attention_check=False)
                       .select_related("brief", "candidate_a", "candidate_b").order_by("id"))
    if not comparisons:
        return 0
    done = set(JudgeVerdict.objects.filter(comparison__study=study).values_list("comparison_id", "judge"))
    creativity = dict(Score.objects.filter(candidate__study=study, name="creativity").values_list("candidate_id", "value"))
    verdicts = []
    for comp in comparisons:
        a, b = creativity.get(comp.candidate_a_id), creativity.get(comp.candidate_b_id)
        if (comp.id, DIRECTION_JUDGE) not in done and a is not None and b is not None:
            verdicts.append(JudgeVerdict(comparison=comp, judge=DIRECTION_JUDGE,
                                         choice=judge.direction_judge(a, b),
                                         details={"creativity_a": a, "creativity_b": b}))
    todo = [c for c in comparisons if (c.id, MODEL_JUDGE) not in done]
    if todo:
        runtime = worker_runtime()
        for start in range(0, len(todo), BATCH):
            batch = todo[start: start + BATCH]
            picks = judge.judge_pairs(runtime, [(c.candidate_a.text, c.candidate_b.text, c.brief.text) for c in batch])
            verdicts += [JudgeVerdict(comparison=c, judge=MODEL_JUDGE, choice=p["winner"], prob_a=p["prob_a"],
                                      details=p) for c, p in zip(batch, picks)]
            job_progress(job, progress_from + (1 - progress_from) * (start + len(batch)) / len(todo))
    with transaction.atomic():
        JudgeVerdict.objects.bulk_create(verdicts, ignore_conflicts=True)
    return len(verdicts)
