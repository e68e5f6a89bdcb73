"""The next-item queue: which item a rater judges next, leased with an expiry.

What it does (``assignment_next``):

1. A rater holding an unexpired lease gets the same item back (a reload never skips an item).
2. Otherwise the candidates are the study's items this rater has never been assigned (in any
   state: the same pair is never shown twice, and the unique unordered-pair constraint on
   ``Comparison`` means "reversed" is the same row), whose *load* in the rater's panel is below
   ``study.target_per_item``. Load = judged + leased-and-unexpired; skipped and expired
   assignments do not count, so those slots go back to the pool without any sweeper.
3. Least-loaded first; among equally loaded items the rater gets the condition pair (or, for
   ratings, the condition) they have seen least, then a random one (random ties also spread
   simultaneous requests over different rows, which keeps lock contention low).
4. Attention checks are not filled to a target: every rater should meet them. Each request
   is a check with probability equal to the rater's deficit against ``attention_check_rate``,
   and checks are only served while real items remain.
5. The side shown left is whichever canonical side this item has shown left less often
   (random on a tie), so left/right positions stay balanced per item and, as canonical A/B is
   itself random, independent of condition.

Concurrency (PostgreSQL). Two raters asking at the same moment must never both take the last
slot of an item. Every writer of an item's load holds a row lock on the item while it counts
and inserts: ``assignment_next`` takes it with ``SELECT ... FOR UPDATE SKIP LOCKED`` (a rater
who finds the row busy moves on to the next candidate instead of queueing behind it, as in
Label Studio's task queue), re-counts the load under the lock, and inserts only if there is
still room; ``judgment_record`` takes the same lock (waiting) before it checks a lease's
expiry, so a lease cannot be judged after another rater was already given its slot. Under
READ COMMITTED the re-count is a new statement and sees every committed insert made by
whoever held the lock before. A rater's own requests (two tabs) are serialized by a lock on
the rater row. On SQLite ``select_for_update`` is a no-op, but the database runs every
transaction as ``BEGIN IMMEDIATE`` (see settings), which serializes writers outright.
"""

from __future__ import annotations

import hashlib
import hmac
import random
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from annotations.models import Assignment, Candidate, Comparison, Rater, Study

SHORTLIST = 48  # items read per request; the pick is made among the least-loaded of these


class State:
    ITEM = "item"  # an item is leased to the rater
    DONE = "done"  # the rater has judged everything there is for them
    CAP = "cap"  # the rater reached the panel's per-rater cap
    FULL = "full"  # nothing left, and the rater never judged anything: the panel is full
    CLOSED = "closed"
    NOT_OPEN = "not_open"
    BUSY = "busy"  # every free item was being leased by others at that instant: ask again


@dataclass
class NextItem:
    state: str
    assignment: Assignment | None = None
    completed: int = 0  # items the rater has judged or skipped, before this one


def active_q(now, prefix: str = "") -> Q:
    """Assignments that occupy a slot: judged, or leased and not yet expired."""
    return (Q(**{f"{prefix}status": Assignment.Status.DONE})
            | Q(**{f"{prefix}status": Assignment.Status.LEASED, f"{prefix}lease_expires_at__gt": now}))


def _item_spec(study: Study):
    """(model, assignment field, filter for checks) for the study's kind of item."""
    if study.task == Study.Task.PAIRWISE:
        return Comparison, "comparison", Q(attention_check=True)
    return Candidate, "candidate", Q(decoy_of__isnull=False)


def _items(study: Study):
    model, _, _ = _item_spec(study)
    return model.objects.filter(study=study)


def _condition_key(study: Study, row) -> tuple:
    if study.task == Study.Task.PAIRWISE:
        a, b = row["candidate_a__condition_id"], row["candidate_b__condition_id"]
        return (min(a or 0, b or 0), max(a or 0, b or 0))
    return (row["condition_id"],)


def rater_progress(*, rater: Rater, study: Study | None = None, done: int | None = None) -> dict:
    """Judged (or skipped) items of the rater, and the number they are expected to reach."""
    study = study or rater.panel.study
    _, fk, check_q = _item_spec(study)
    if done is None:
        done = rater.assignments.filter(status__in=[Assignment.Status.DONE, Assignment.Status.SKIPPED]).count()
    n_real = _items(study).exclude(check_q).count()
    total = n_real + round(n_real * study.attention_check_rate / max(1e-9, 1 - study.attention_check_rate))
    cap = rater.panel.max_items_per_rater
    target = min(total, cap) if cap else total
    return {"done": done, "target": max(target, done)}


def assignment_next(*, rater: Rater, now=None, rng: random.Random | None = None) -> NextItem:
    """Lease the next item to ``rater`` (or give back the one they hold); see the module notes."""
    rng = rng or random.Random()
    study = rater.panel.study
    if study.status == Study.Status.CLOSED:
        return NextItem(State.CLOSED)
    if study.status != Study.Status.OPEN:
        return NextItem(State.NOT_OPEN)
    model, fk, check_q = _item_spec(study)
    with transaction.atomic():
        # One rater, one request at a time: two tabs must not lease two items.
        Rater.objects.select_for_update().filter(pk=rater.pk).values_list("pk").first()
        now = now or timezone.now()
        mine = list(rater.assignments.values("id", "status", "lease_expires_at", f"{fk}_id"))
        for row in mine:
            if row["status"] == Assignment.Status.LEASED:
                if row["lease_expires_at"] and row["lease_expires_at"] > now:
                    current = Assignment.objects.select_related(*_related(fk)).get(pk=row["id"])
                    current.rater = rater
                    return NextItem(State.ITEM, current, completed=sum(
                        r["status"] in (Assignment.Status.DONE, Assignment.Status.SKIPPED) for r in mine))
                Assignment.objects.filter(pk=row["id"], status=Assignment.Status.LEASED).update(
                    status=Assignment.Status.EXPIRED)
                row["status"] = Assignment.Status.EXPIRED
        completed = sum(r["status"] in (Assignment.Status.DONE, Assignment.Status.SKIPPED) for r in mine)
        cap = rater.panel.max_items_per_rater
        if cap and completed >= cap:
            return NextItem(State.CAP)

        seen_ids = [r[f"{fk}_id"] for r in mine]
        value_fields = (["id", "candidate_a__condition_id", "candidate_b__condition_id"]
                        if fk == "comparison" else ["id", "condition_id"])
        seen_rows = list(_items(study).filter(pk__in=seen_ids).exclude(check_q).values(*value_fields))
        seen_pairs = Counter(_condition_key(study, r) for r in seen_rows)
        n_checks_seen = len(seen_ids) - len(seen_rows)
        deficit = study.attention_check_rate * (len(seen_ids) + 1) - n_checks_seen
        want_check = rng.random() < deficit
        tried: list[int] = []
        for _ in range(3):
            candidates = _items(study).exclude(pk__in=seen_ids + tried)
            load = Count("assignments",
                         filter=Q(assignments__rater__panel_id=rater.panel_id) & active_q(now, "assignments__"))
            real = list(candidates.exclude(check_q).annotate(load=load).filter(load__lt=study.target_per_item)
                        .order_by("load", "?").values(*value_fields, "load")[:SHORTLIST])
            if not real:
                if tried:
                    return NextItem(State.BUSY)
                return NextItem(State.DONE if completed else State.FULL)
            shortlist = []
            if want_check:
                # Checks are not filled to a target; least-shown first keeps them all in use.
                shortlist = [r["id"] for r in candidates.filter(check_q).annotate(
                    load=Count("assignments", filter=active_q(now, "assignments__"))).order_by("load", "?")
                    .values("id", "load")[:8]]
            rng.shuffle(real)
            real.sort(key=lambda r: (r["load"], seen_pairs[_condition_key(study, r)]))
            shortlist += [r["id"] for r in real]
            real_ids = {r["id"] for r in real}
            for item_id in shortlist:
                assignment = _try_lease(rater, study, model, fk, item_id, now, rng, is_check=item_id not in real_ids)
                if assignment is not None:
                    return NextItem(State.ITEM, assignment, completed=completed)
                tried.append(item_id)
        return NextItem(State.BUSY)


def _related(fk: str) -> list[str]:
    if fk == "comparison":
        return ["comparison__brief", "comparison__candidate_a", "comparison__candidate_b"]
    return ["candidate__brief"]


def _try_lease(rater, study, model, fk, item_id, now, rng, is_check: bool) -> Assignment | None:
    """Lease ``item_id`` if its row lock is free and it still has room. Call inside atomic()."""
    related = ["brief", "candidate_a", "candidate_b"] if fk == "comparison" else ["brief"]
    item = (model.objects.select_for_update(skip_locked=True, of=("self",)).select_related(*related)
            .filter(pk=item_id).first())
    if item is None:
        return None  # another rater is leasing or judging it right now: try the next one
    stats = Assignment.objects.filter(**{f"{fk}_id": item_id}).aggregate(
        load=Count("id", filter=Q(rater__panel_id=rater.panel_id) & active_q(now)),
        left_a=Count("id", filter=Q(left_is_a=True) & ~Q(status=Assignment.Status.EXPIRED)),
        left_b=Count("id", filter=Q(left_is_a=False) & ~Q(status=Assignment.Status.EXPIRED)),
    )
    if not is_check and stats["load"] >= study.target_per_item:
        return None
    if stats["left_a"] == stats["left_b"]:
        left_is_a = rng.random() < 0.5
    else:
        left_is_a = stats["left_a"] < stats["left_b"]
    return Assignment.objects.create(
        rater=rater, left_is_a=left_is_a, status=Assignment.Status.LEASED, shown_at=now,
        lease_expires_at=now + timedelta(minutes=study.lease_minutes), **{fk: item})


def panel_is_full(*, panel, now=None) -> bool:
    """No real item has room left in this panel."""
    study = panel.study
    now = now or timezone.now()
    _, _, check_q = _item_spec(study)
    load = Count("assignments", filter=Q(assignments__rater__panel_id=panel.pk) & active_q(now, "assignments__"))
    return not _items(study).exclude(check_q).annotate(load=load).filter(load__lt=study.target_per_item).exists()


# --- what the rater is shown -------------------------------------------------------------

def opaque_id(assignment: Assignment, side: str) -> str:
    """A per-assignment id for a shown text: the same candidate gets a different id every time."""
    message = f"{assignment.public_id}:{side}".encode()
    return hmac.new(settings.SECRET_KEY.encode(), message, hashlib.sha256).hexdigest()[:16]


@dataclass
class ShownText:
    id: str
    text: str


@dataclass
class ShownItem:
    """Everything a rater may see of an assignment, and nothing else (no condition, no ids)."""

    assignment: str
    task: str
    brief_title: str
    brief_text: str
    left: ShownText | None
    right: ShownText | None
    candidate: ShownText | None
    criteria: list[dict]
    scale: dict | None
    expires_at: object
    progress: dict | None = None


def shown_item(assignment: Assignment, study: Study | None = None) -> ShownItem:
    """The item as the rater sees it: sides as recorded on the assignment, opaque text ids."""
    if assignment.comparison_id:
        comp = assignment.comparison
        left, right = ((comp.candidate_a, comp.candidate_b) if assignment.left_is_a
                       else (comp.candidate_b, comp.candidate_a))
        brief = comp.brief
        shown = {"left": ShownText(opaque_id(assignment, "left"), left.text),
                 "right": ShownText(opaque_id(assignment, "right"), right.text), "candidate": None}
    else:
        brief = assignment.candidate.brief
        shown = {"left": None, "right": None,
                 "candidate": ShownText(opaque_id(assignment, "item"), assignment.candidate.text)}
    study = study or assignment.rater.panel.study
    scale = None if assignment.comparison_id else {"min": study.likert_min, "max": study.likert_max}
    return ShownItem(
        assignment=str(assignment.public_id), task=study.task, brief_title=brief.title, brief_text=brief.text,
        criteria=[{"name": c["name"], "description": c.get("description", "")} for c in study.criteria],
        scale=scale, expires_at=assignment.lease_expires_at, **shown,
    )
