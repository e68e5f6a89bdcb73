"""A small pairwise study and a small rating study with every case the reports must handle:
two panels, sides shown both ways, an attention check, an excluded rater, a simulated rater,
a human-written reference condition, automatic scores and a model judge."""

import pytest
from django.test import override_settings

from annotations.models import (
    Assignment,
    Candidate,
    Comparison,
    Condition,
    JudgeVerdict,
    Judgment,
    Panel,
    Rater,
    Score,
)
from annotations.services.studies import study_create
from tests.factories import BriefFactory


@pytest.fixture(autouse=True)
def _private_cache():
    """Each test gets an empty in-memory cache (the default one is a shared file cache)."""
    with override_settings(CACHES={"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                               "LOCATION": "reports-tests"}}):
        from django.core.cache import cache

        cache.clear()
        yield


def judge(rater, *, left_is_a=True, source="web", **item_and_answers):
    """One assignment of ``rater`` with one judgment per criterion.

    item_and_answers: comparison=... or candidate=..., then criterion=choice (pairwise) or
    criterion=value (rating), plus optional strength / rationale / seconds / attention_passed.
    """
    comparison = item_and_answers.pop("comparison", None)
    candidate = item_and_answers.pop("candidate", None)
    extra = {k: item_and_answers.pop(k) for k in ("strength", "rationale", "seconds", "attention_passed", "too_fast")
             if k in item_and_answers}
    assignment = Assignment.objects.create(rater=rater, comparison=comparison, candidate=candidate,
                                           left_is_a=left_is_a, status=Assignment.Status.DONE)
    out = []
    for criterion, answer in item_and_answers.items():
        answer_fields = {"choice": answer} if comparison is not None else {"value": answer}
        out.append(Judgment.objects.create(assignment=assignment, criterion=criterion, source=source,
                                           **answer_fields, **extra))
    return out


@pytest.fixture
def pairwise_study(db):
    """Two briefs x (base, steered, human) in all three pairs, one attention check per brief.

    Panels: "experts" (e1, e2) and "crowd" (c1, c2, c3 excluded, s1 simulated).
    """
    study = study_create(slug="ads", task="pairwise", criteria=["novelty", "overall"])
    conds = {
        "base": Condition.objects.create(study=study, name="base", kind="base"),
        "steered": Condition.objects.create(study=study, name="steered", kind="steered"),
        "human": Condition.objects.create(study=study, name="human", kind="imported", reference=True),
    }
    experts = Panel.objects.create(study=study, name="experts", kind="expert")
    crowd = Panel.objects.create(study=study, name="crowd", kind="crowd")
    raters = {
        "e1": Rater.objects.create(panel=experts, external_id="expert-anna"),
        "e2": Rater.objects.create(panel=experts, external_id="expert-ben"),
        "c1": Rater.objects.create(panel=crowd, external_id="PROLIFIC-111"),
        "c2": Rater.objects.create(panel=crowd, external_id="PROLIFIC-222"),
        "c3": Rater.objects.create(panel=crowd, external_id="PROLIFIC-333", excluded=True,
                                   exclusion_reason="failed 2 of 2 attention checks"),
        "s1": Rater.objects.create(panel=crowd, external_id="sim-1", simulated=True),
    }
    comparisons, candidates = [], {}
    for b in range(2):
        brief = BriefFactory(study=study, external_id=f"brief{b}")
        for name, cond in conds.items():
            c = Candidate.objects.create(study=study, brief=brief, condition=cond, external_id=f"{name}{b}",
                                         text=f"{name} answer {b}", provenance={"model": name, "seed": b})
            candidates[(name, b)] = c
            Score.objects.create(candidate=c, name="creativity",
                                 value={"base": 0.1, "steered": 0.9, "human": 0.5}[name] + b / 10)
        decoy = Candidate.objects.create(study=study, brief=brief, condition=None, decoy_of=candidates[("steered", b)],
                                         text="the the the", external_id=f"decoy{b}")
        for x, y in (("steered", "base"), ("steered", "human"), ("human", "base")):
            comparisons.append(Comparison.objects.create(study=study, brief=brief, candidate_a=candidates[(x, b)],
                                                         candidate_b=candidates[(y, b)]))
        comparisons.append(Comparison.objects.create(study=study, brief=brief, candidate_a=candidates[("steered", b)],
                                                     candidate_b=decoy, attention_check=True, expected_choice="a"))
    real = [c for c in comparisons if not c.attention_check]
    checks = [c for c in comparisons if c.attention_check]
    for i, comp in enumerate(real):
        for name in ("e1", "e2", "c1", "c2", "s1"):
            judge(raters[name], comparison=comp, left_is_a=(i + len(name)) % 2 == 0, seconds=10.0 + i,
                  novelty="a", overall="a" if name != "c2" else "tie")
        judge(raters["c3"], comparison=comp, left_is_a=True, seconds=1.0, novelty="b", overall="b", too_fast=True)
    for comp in checks:
        for name in ("e1", "c1", "s1"):
            judge(raters[name], comparison=comp, left_is_a=False, novelty="a", overall="a", attention_passed=True)
        judge(raters["c3"], comparison=comp, left_is_a=True, novelty="b", overall="b", attention_passed=False)
    for comp in real:
        JudgeVerdict.objects.create(comparison=comp, judge="judge:base", choice="a")
    return {"study": study, "raters": raters, "comparisons": comparisons, "candidates": candidates,
            "conditions": conds}


@pytest.fixture
def rating_study(db):
    """One brief x (base, steered, human), three raters rating surprise and overall 1-5,
    plus one decoy rated as an attention check."""
    study = study_create(slug="stories", task="rating", criteria=["surprise", "overall"])
    panel = Panel.objects.create(study=study, name="crowd", kind="crowd")
    raters = [Rater.objects.create(panel=panel, external_id=f"w{i}") for i in range(3)]
    brief = BriefFactory(study=study, external_id="p1")
    cands = {}
    for name, ref in (("base", False), ("steered", False), ("human", True)):
        cond = Condition.objects.create(study=study, name=name, reference=ref)
        cands[name] = Candidate.objects.create(study=study, brief=brief, condition=cond, external_id=name, text=name)
        Score.objects.create(candidate=cands[name], name="length", value=len(name))
    decoy = Candidate.objects.create(study=study, brief=brief, condition=None, decoy_of=cands["base"],
                                     external_id="decoy", text="x")
    values = {"base": (2, 2, 3), "steered": (4, 5, 4), "human": (3, 3, 3)}
    for name, vals in values.items():
        for rater, v in zip(raters, vals):
            judge(rater, candidate=cands[name], surprise=v, overall=v)
    judge(raters[0], candidate=decoy, surprise=1, overall=1, attention_passed=True)
    return {"study": study, "raters": raters, "candidates": cands, "decoy": decoy}
