"""Opening a study: build the items raters judge, with attention checks mixed in.

Pairwise studies judge comparisons: two candidates of the same brief from different
conditions. With few samples per condition every cross-condition pair is built; when that
grows large (more than ``max_pairs_per_condition_pair`` pairs for one pair of conditions on
one brief) a balanced subset is built instead: for conditions i and j with samples S_i and S_j,
``max(|S_i|, |S_j|)`` pairs ``(S_i[k], S_j[(k + shift) % |S_j|])``, so every sample appears
about equally often and every condition pair gets the same number of comparisons per brief
(a cyclic design, as in incomplete-block pairing).

Rating studies judge candidates directly; nothing is built for them except the decoys.

Attention checks are degenerate decoys (the brief repeated back, or the words of a real
answer shuffled), stored as candidates without a condition (``decoy_of`` = the source). In a
pairwise study a decoy is paired with a real answer to the same brief and the expected choice
is the real side; in a rating study the decoy itself is an item that should get a low rating.
Their number is set so that they make up ``attention_check_rate`` of all items.

Opening is idempotent: it adds only what is missing (new pairs, checks below the rate), so
opening twice creates nothing new, and opening after importing more candidates adds theirs.
"""

from __future__ import annotations

import itertools
import math
import random
from collections import defaultdict
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction

from annotations.models import Candidate, Comparison, Study

from .assignment import study_items_changed

DEFAULT_MAX_PAIRS_PER_CONDITION_PAIR = 4


@dataclass
class OpenResult:
    comparisons: int = 0
    attention_checks: int = 0
    decoys: int = 0

    def __str__(self) -> str:
        return (f"{self.comparisons} new comparison(s), {self.attention_checks} new attention check(s), "
                f"{self.decoys} new decoy(s)")


def study_open(*, study: Study, max_pairs_per_condition_pair: int = DEFAULT_MAX_PAIRS_PER_CONDITION_PAIR,
               seed: int = 0) -> OpenResult:
    """Build missing comparisons (pairwise) and attention checks, then set the study open."""
    rng = random.Random(f"{study.pk}:{seed}")
    with transaction.atomic():
        # Two admins opening at once would both create decoys: the study row lock serializes them.
        locked = Study.objects.select_for_update().get(pk=study.pk)
        real = list(Candidate.objects.filter(study=study, condition__isnull=False, decoy_of__isnull=True)
                    .select_related("brief").order_by("brief_id", "condition_id", "sample_index", "id"))
        if not real:
            raise ValidationError(f"study '{study.slug}' has no candidates: import or generate them before opening it")
        if study.task == Study.Task.PAIRWISE:
            result = _build_pairwise(study, real, max_pairs_per_condition_pair, rng)
        else:
            result = _build_rating_checks(study, real, rng)
        if locked.status != Study.Status.OPEN:
            Study.objects.filter(pk=study.pk).update(status=Study.Status.OPEN)
    study.status = Study.Status.OPEN
    study_items_changed(study)
    return result


def study_close(*, study: Study) -> Study:
    """Close the study: no new items are handed out; leases already held may still be judged."""
    with transaction.atomic():
        Study.objects.filter(pk=study.pk).update(status=Study.Status.CLOSED)
    study.status = Study.Status.CLOSED
    return study


def checks_needed(n_real: int, rate: float) -> int:
    """How many checks make ``rate`` of all items: c / (n + c) = rate; at least one when rate > 0."""
    if rate <= 0 or n_real == 0:
        return 0
    return max(1, round(rate * n_real / (1 - rate)))


def _pairs_for_brief(by_condition: dict[int, list[Candidate]], limit: int, rng: random.Random):
    for ci, cj in itertools.combinations(sorted(by_condition), 2):
        si, sj = by_condition[ci], by_condition[cj]
        if len(si) * len(sj) <= limit:
            pairs = list(itertools.product(si, sj))
        else:
            shift = rng.randrange(len(sj))
            pairs = [(si[k % len(si)], sj[(k + shift) % len(sj)]) for k in range(max(len(si), len(sj)))]
        for x, y in pairs:
            # Canonical A/B is random: raters see sides randomized again per assignment.
            yield (x, y) if rng.random() < 0.5 else (y, x)


def _build_pairwise(study: Study, real: list[Candidate], limit: int, rng: random.Random) -> OpenResult:
    result = OpenResult()
    existing = {tuple(sorted(pair)) for pair in
                Comparison.objects.filter(study=study).values_list("candidate_a_id", "candidate_b_id")}
    by_brief: dict[int, dict[int, list[Candidate]]] = defaultdict(lambda: defaultdict(list))
    for c in real:
        by_brief[c.brief_id][c.condition_id].append(c)
    new = []
    for brief_id, by_condition in by_brief.items():
        for a, b in _pairs_for_brief(by_condition, limit, rng):
            key = tuple(sorted((a.pk, b.pk)))
            if key not in existing:
                existing.add(key)
                new.append(Comparison(study=study, brief_id=brief_id, candidate_a=a, candidate_b=b))
    if not new and not Comparison.objects.filter(study=study, attention_check=False).exists():
        raise ValidationError(f"study '{study.slug}' has no brief answered by two or more conditions: "
                              "a pairwise study needs at least two conditions per brief")
    Comparison.objects.bulk_create(new, batch_size=1000)
    result.comparisons = len(new)

    n_real = Comparison.objects.filter(study=study, attention_check=False).count()
    missing = checks_needed(n_real, study.attention_check_rate) - Comparison.objects.filter(
        study=study, attention_check=True).count()
    if missing > 0:
        briefs_with_two = [bid for bid, conds in by_brief.items() if sum(len(v) for v in conds.values()) >= 2]
        briefs = briefs_with_two or list(by_brief)
        rng.shuffle(briefs)
        checks = []
        for k in range(missing):
            brief_id = briefs[k % len(briefs)]
            pool = [c for cands in by_brief[brief_id].values() for c in cands]
            source = rng.choice(pool)
            # Pair the decoy with a different real answer where there is one: the same words
            # on both sides would make the check too easy to spot.
            others = [c for c in pool if c.pk != source.pk]
            partner = rng.choice(others) if others else source
            decoy = _make_decoy(source, k, rng)
            decoy_first = rng.random() < 0.5
            checks.append((decoy, partner, decoy_first))
        Candidate.objects.bulk_create([d for d, _, _ in checks])
        Comparison.objects.bulk_create([
            Comparison(study=study, brief_id=partner.brief_id, attention_check=True,
                       candidate_a=decoy if decoy_first else partner, candidate_b=partner if decoy_first else decoy,
                       expected_choice="b" if decoy_first else "a")
            for decoy, partner, decoy_first in checks
        ])
        result.attention_checks = result.decoys = len(checks)
    return result


def _build_rating_checks(study: Study, real: list[Candidate], rng: random.Random) -> OpenResult:
    result = OpenResult()
    missing = checks_needed(len(real), study.attention_check_rate) - Candidate.objects.filter(
        study=study, decoy_of__isnull=False).count()
    if missing > 0:
        sources = list(real)
        rng.shuffle(sources)
        decoys = [_make_decoy(sources[k % len(sources)], k, rng) for k in range(missing)]
        Candidate.objects.bulk_create(decoys)
        result.attention_checks = result.decoys = len(decoys)
    return result


def degenerate_text(source: Candidate, k: int, rng: random.Random) -> str:
    """A text no careful rater prefers: the brief repeated back, or the answer's words shuffled."""
    words = source.text.split()
    if k % 2 == 1 and len(words) >= 4:
        shuffled = words[:]
        for _ in range(5):
            rng.shuffle(shuffled)
            if shuffled != words:
                break
        return " ".join(w.strip(".,;:!?").lower() for w in shuffled)
    brief = " ".join(source.brief.text.split())
    repeats = max(2, math.ceil(len(words) / max(1, len(brief.split()))))
    return " ".join([brief] * min(repeats, 3))


def _make_decoy(source: Candidate, k: int, rng: random.Random) -> Candidate:
    return Candidate(study_id=source.study_id, brief_id=source.brief_id, condition=None, decoy_of=source,
                     sample_index=source.sample_index, text=degenerate_text(source, k, rng),
                     provenance={"attention_check": "shuffled_words" if k % 2 == 1 else "brief_repeated"})
