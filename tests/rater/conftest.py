"""A three-condition study whose condition names, kinds and settings are easy to search for."""

import hashlib

import pytest

from annotations.models import Candidate, Condition, Panel
from annotations.services.pairing import study_open
from annotations.services.studies import panel_create, study_create

from ..factories import BriefFactory

# Strings that must never reach a rater.
SECRETS = ["zzbasecond", "zztunedcond", "zzsteercond", "fine_tuned", "steered", "SmolLM2-135M-secret",
           "adapter-zz-7f3a", "direction-zz-91c2"]


@pytest.fixture(autouse=True)
def throttle_cache(settings):
    """Rate limits count in a per-test in-memory cache, not in a cache shared with other runs."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": "rater-tests"}}
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


def make_study(slug="blind", task="pairwise", briefs=2, samples=2, criteria=("overall",), target=2, rate=0.0,
               conditions=("zzbasecond", "zztunedcond", "zzsteercond"), open_it=True, **options):
    study = study_create(slug=slug, task=task, criteria=list(criteria), target_per_item=target,
                         attention_check_rate=rate, min_seconds=0, **options)
    kinds = [Condition.Kind.BASE, Condition.Kind.FINE_TUNED, Condition.Kind.STEERED]
    conds = []
    for i, name in enumerate(conditions):
        conds.append(Condition.objects.create(
            study=study, name=name, kind=kinds[i % 3],
            settings={"model": "SmolLM2-135M-secret", "adapter": "adapter-zz-7f3a" if i == 1 else "",
                      "direction": "direction-zz-91c2" if i == 2 else "", "alpha": 6.5 if i == 2 else 0}))
    for b in range(briefs):
        brief = BriefFactory(study=study, external_id=f"{slug}-b{b}", text=f"Write a slogan for product {b}.",
                             title=f"Product {b}")
        for cond in conds:
            for s in range(samples):
                Candidate.objects.create(
                    study=study, brief=brief, condition=cond, sample_index=s, external_id=f"{slug}-{b}-{cond.name}-{s}",
                    text=f"A fresh idea for brief {b}, take {hashlib.sha1(f'{slug}{b}{cond.name}{s}'.encode()).hexdigest()[:6]}",
                    provenance={"model": "SmolLM2-135M-secret", "alpha": 6.5, "condition": cond.name})
    if open_it:
        study_open(study=study)
    return study


@pytest.fixture
def study(db):
    return make_study()


@pytest.fixture
def crowd(study):
    return panel_create(study=study, name="crowd", kind=Panel.Kind.CROWD, completion_code="C0DE42")


@pytest.fixture
def experts(study):
    return panel_create(study=study, name="experts", kind=Panel.Kind.EXPERT)
