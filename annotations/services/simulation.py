"""Simulated raters, so a demo study's report can be seen filled.

Simulated raters are marked ``simulated`` on the Rater row, and that flag travels into the
report and every export; their judgments have ``source="simulation"``. They go through the
same queue and judging services as people (leases, attention checks, idempotent submits).

The simulated preference is a Bradley-Terry choice on a latent quality per candidate: the
z-scored automatic creativity score where there is one, plus a fixed per-candidate random
effect, plus per-judgment noise; ties with a small probability; attention checks are passed
most of the time. Nothing here is presented as human data.
"""

from __future__ import annotations

import math
import random
import uuid
from datetime import timedelta

import numpy as np
from django.db import transaction
from django.utils import timezone

from annotations.models import Panel, Rater, Score, Study

from .assignment import State, assignment_next
from .judging import judgment_record
from .raters import rater_consent


def _latent_quality(study: Study) -> dict[int, float]:
    creativity = dict(Score.objects.filter(candidate__study=study, name="creativity").values_list("candidate_id", "value"))
    ids = list(study.candidates.values_list("id", flat=True))
    values = np.array([creativity.get(i, np.nan) for i in ids], dtype=float)
    finite = values[np.isfinite(values)]
    mean, sd = (finite.mean(), finite.std() or 1.0) if finite.size else (0.0, 1.0)
    out = {}
    for i, v in zip(ids, values):
        own = random.Random(f"candidate:{i}").gauss(0, 0.6)
        out[i] = (0.9 * (v - mean) / sd if np.isfinite(v) else 0.0) + own
    return out


def simulate_raters(*, study: Study, n: int, seed: int = 0, max_items: int | None = None) -> dict:
    """Add ``n`` simulated raters (alternating the study's panels) who judge until the queue is empty."""
    panels = list(Panel.objects.filter(study=study).order_by("id"))
    if not panels:
        raise ValueError(f"study '{study.slug}' has no panels: create one first")
    rng = random.Random(seed)
    quality = _latent_quality(study)
    criteria = study.criterion_names
    stored = 0
    for i in range(n):
        panel = panels[i % len(panels)]
        with transaction.atomic():
            rater, _ = Rater.objects.get_or_create(
                panel=panel, external_id=f"simulated-{seed}-{i}", defaults={"simulated": True})
        rater_consent(rater=rater)
        bias = rng.gauss(0, 0.3)
        done = 0
        while max_items is None or done < max_items:
            seconds = rng.uniform(6, 40)
            # Shown "seconds ago", so the server's own timing agrees with the simulated one.
            nxt = assignment_next(rater=rater, now=timezone.now() - timedelta(seconds=seconds), rng=rng)
            if nxt.state == State.BUSY:
                continue
            if nxt.state != State.ITEM:
                break
            assignment = nxt.assignment
            choices = {c: _choose(study, assignment, quality, bias, rng) for c in criteria}
            judgment_record(assignment=assignment, rater=rater, choices=choices, client_key=str(uuid.uuid4()),
                            seconds=seconds, source="simulation")
            done += 1
            stored += len(criteria)
    return {"raters": n, "judgments": stored}


def _choose(study: Study, assignment, quality: dict[int, float], bias: float, rng: random.Random):
    if assignment.candidate_id is not None:  # rating study
        if assignment.candidate.decoy_of_id is not None:
            return study.likert_min if rng.random() < 0.9 else study.likert_max
        centre = (study.likert_min + study.likert_max) / 2
        value = round(centre + quality.get(assignment.candidate_id, 0.0) + bias + rng.gauss(0, 0.8))
        return max(study.likert_min, min(study.likert_max, value))
    comp = assignment.comparison
    if comp.attention_check:
        canonical = comp.expected_choice if rng.random() < 0.95 else ("b" if comp.expected_choice == "a" else "a")
    elif rng.random() < 0.1:
        return "tie"
    else:
        diff = quality.get(comp.candidate_a_id, 0.0) - quality.get(comp.candidate_b_id, 0.0) + rng.gauss(0, 0.5)
        canonical = "a" if rng.random() < 1 / (1 + math.exp(-diff)) else "b"
    return "left" if (canonical == "a") == assignment.left_is_a else "right"
