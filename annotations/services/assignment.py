"""The next-item queue: which item a rater judges next, leased with an expiry.

What it does (``assignment_next``):

1. A rater holding an unexpired lease gets the same item back (a reload never skips an item).
2. Otherwise the candidates are the study's items this rater has never been assigned (in any
   state: the same pair is never shown twice, and the unique unordered-pair constraint on
   ``Comparison`` means "reversed" is the same row), whose *load* in the rater's panel is below
   ``study.target_per_item``. Load = judged + leased; skipped and expired assignments do not
   count, and a lease whose time ran out is marked expired when its item is next leased, so
   those slots go back to the pool without any sweeper.
3. Least-loaded first; among equally loaded items the rater gets the condition pair (or, for
   ratings, the condition) they have seen least, then a random one (random ties also spread
   simultaneous requests over different rows, which keeps lock contention low).
4. Attention checks are not filled to a target: every rater should meet them. Each request
   is a check with probability equal to the rater's deficit against ``attention_check_rate``,
   and checks are only served while real items remain.
5. The side shown left is whichever canonical side this item has shown left less often
   (random on a tie), so left/right positions stay balanced per item and, as canonical A/B is
   itself random, independent of condition.

Load index. Counting the assignments of every open item on each request grows with the
study; instead each (panel, item) has an ``ItemLoad`` row (judged + leased, left/right
shown) that the queue reads by an outer join on its unique index. Its counts hold until
``valid_until`` (the first counted lease's expiry, or the moment a lease was given up);
a row past it, or missing, is recounted from the assignments under the item's lock before
the item is leased. So the index can lag behind only in the safe direction, and never needs
a sweeper or a rebuild.

Concurrency (PostgreSQL). Two raters asking at the same moment must never both take the last
slot of an item. Every writer of an item's load holds a row lock on the item while it reads
the load and inserts: ``assignment_next`` takes it with ``SELECT ... FOR UPDATE SKIP LOCKED``
(a rater who finds the row busy moves on to the next candidate instead of queueing behind
it, as in Label Studio's task queue), reads (or recounts) the load under the lock, and
inserts only if there is still room. A lapsed lease gives its slot away only once the
recount has marked it expired under its row lock; a submission locks the same row first and
refuses a lease that is expired, so a lease is never judged after its slot went to someone
else. A rater's own requests (two tabs) are kept apart by the database: a rater holds at
most one lease (a partial unique index), so the second of two simultaneous requests fails
to insert, rolls back and, asked again, gets the lease the first one took.
On SQLite ``select_for_update`` is a no-op, but the database runs every transaction as
``BEGIN IMMEDIATE`` (see settings), which serializes writers outright.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import threading
from collections import Counter, OrderedDict
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, F, FilteredRelation, Q
from django.db.models.functions import Coalesce
from django.utils import timezone

from annotations.models import Assignment, Brief, Candidate, Comparison, ItemLoad, Rater, Study
from annotations.written_sql import Columns, param, update, value

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


def _item_spec(study: Study):
    """(model, assignment field, filter for checks) for the study's kind of item."""
    if study.task == Study.Task.PAIRWISE:
        return Comparison, "comparison", Q(attention_check=True)
    return Candidate, "candidate", Q(decoy_of__isnull=False)


def _items(study: Study):
    model, _, _ = _item_spec(study)
    return model.objects.filter(study=study)


class _ItemFacts:
    """What the queue needs to know of an item that never changes once it exists: the
    condition pair it compares (or the condition of a candidate) and whether it is an
    attention check. Kept per process, per study, so the hot queries join no candidates.
    """

    STUDIES = 16  # studies kept; the least recently used is dropped first

    def __init__(self):
        self._by_study: OrderedDict[int, dict[int, tuple]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, study: Study, ids) -> dict[int, tuple]:
        """{item id: (condition key, is_check)} for ``ids``, reading the missing ones."""
        with self._lock:
            known = self._by_study.setdefault(study.pk, {})
            self._by_study.move_to_end(study.pk)
            while len(self._by_study) > self.STUDIES:
                self._by_study.popitem(last=False)
        missing = [i for i in ids if i not in known]
        if missing:
            model, fk, _ = _item_spec(study)
            if fk == "comparison":
                rows = model.objects.filter(pk__in=missing).values_list(
                    "pk", "candidate_a__condition_id", "candidate_b__condition_id", "attention_check")
                known.update({pk: ((min(a or 0, b or 0), max(a or 0, b or 0)), check) for pk, a, b, check in rows})
            else:
                rows = model.objects.filter(pk__in=missing).values_list("pk", "condition_id", "decoy_of_id")
                known.update({pk: ((condition,), decoy is not None) for pk, condition, decoy in rows})
        return {i: known[i] for i in ids if i in known}


_item_facts = _ItemFacts()


def rater_progress(*, rater: Rater, study: Study | None = None, done: int | None = None) -> dict:
    """Judged (or skipped) items of the rater, and the number they are expected to reach."""
    study = study or rater.panel.study
    if done is None:
        done = rater.assignments.filter(status__in=[Assignment.Status.DONE, Assignment.Status.SKIPPED]).count()
    n_real = _real_items_count(study)
    total = n_real + round(n_real * study.attention_check_rate / max(1e-9, 1 - study.attention_check_rate))
    cap = rater.panel.max_items_per_rater
    target = min(total, cap) if cap else total
    return {"done": done, "target": max(target, done)}


def _real_items_count(study: Study) -> int:
    """Items to judge in the study (attention checks aside), cached: every rater page shows it."""
    key = f"study:{study.pk}:real-items"
    n_real = cache.get(key)
    if n_real is None:
        _, _, check_q = _item_spec(study)
        n_real = _items(study).exclude(check_q).count()
        cache.set(key, n_real, timeout=60)
    return n_real


def study_items_changed(study: Study) -> None:
    """Call after adding items to a study (opening it, importing candidates)."""
    cache.delete(f"study:{study.pk}:real-items")


def assignment_next(*, rater: Rater, now=None, rng: random.Random | None = None) -> NextItem:
    """Lease the next item to ``rater`` (or give back the one they hold); see the module notes."""
    rng = rng or random.Random()
    study = rater.panel.study
    if study.status == Study.Status.CLOSED:
        return NextItem(State.CLOSED)
    if study.status != Study.Status.OPEN:
        return NextItem(State.NOT_OPEN)
    try:
        return _next(rater, study, now, rng)
    except IntegrityError:
        # The same rater leased an item in another request at this very moment (one lease per
        # rater, one assignment per rater and item): this transaction rolled back, and asking
        # again gives back that lease.
        return _next(rater, study, now, rng)


def _next(rater: Rater, study: Study, now, rng: random.Random) -> NextItem:
    _, fk, _ = _item_spec(study)
    with transaction.atomic():
        mine = _QUEUE_SQL[fk].given(rater.pk)
        now = now or timezone.now()
        for row in mine:
            if row["status"] == Assignment.Status.LEASED:
                if row["expires"] and row["expires"] > now:
                    current = Assignment.objects.select_related(*_related(fk)).get(pk=row["assignment"])
                    current.rater = rater
                    return NextItem(State.ITEM, current, completed=sum(
                        r["status"] in (Assignment.Status.DONE, Assignment.Status.SKIPPED) for r in mine))
                # The item's load row still counts this lease; its ``valid_until`` has passed, so
                # the next lease of the item recounts (see _recount).
                Assignment.objects.filter(pk=row["assignment"], status=Assignment.Status.LEASED).update(
                    status=Assignment.Status.EXPIRED)
                row["status"] = Assignment.Status.EXPIRED
        completed = sum(r["status"] in (Assignment.Status.DONE, Assignment.Status.SKIPPED) for r in mine)
        cap = rater.panel.max_items_per_rater
        if cap and completed >= cap:
            return NextItem(State.CAP)

        seen_ids = [r["item"] for r in mine]
        facts = _item_facts.get(study, seen_ids)
        seen_pairs = Counter(key for key, check in facts.values() if not check)
        n_checks_seen = sum(1 for _, check in facts.values() if check)
        deficit = study.attention_check_rate * (len(seen_ids) + 1) - n_checks_seen
        want_check = rng.random() < deficit
        tried: list[int] = []
        busy = False  # some item was locked by another request: it may still have room
        sql = _QUEUE_SQL[fk]
        for _ in range(3):
            real = sql.shortlist(study, rater, now, tried, checks=False, limit=SHORTLIST)
            if not real:
                if busy:
                    return NextItem(State.BUSY)
                return NextItem(State.DONE if completed else State.FULL)
            # Checks are not filled to a target; least-shown first keeps them all in use.
            shortlist = [i for i, _ in sql.shortlist(study, rater, now, tried, checks=True, limit=8)] if want_check else []
            rng.shuffle(real)
            facts = _item_facts.get(study, [i for i, _ in real])
            real.sort(key=lambda row: (row[1], seen_pairs[facts[row[0]][0]]))
            shortlist += [i for i, _ in real]
            real_ids = {i for i, _ in real}
            for item_id in shortlist:
                assignment = _try_lease(rater, study, fk, item_id, now, rng, is_check=item_id not in real_ids)
                if isinstance(assignment, Assignment):
                    return NextItem(State.ITEM, assignment, completed=completed)
                busy = busy or assignment is _LOCKED
                tried.append(item_id)
        return NextItem(State.BUSY)


def _related(fk: str) -> list[str]:
    if fk == "comparison":
        return ["comparison__brief", "comparison__candidate_a", "comparison__candidate_b"]
    return ["candidate__brief"]


_LOCKED = object()  # _try_lease: the item is being leased or judged by another request


def _try_lease(rater, study, fk, item_id, now, rng, is_check: bool) -> Assignment | object | None:
    """Lease ``item_id`` if its row lock is free (else ``_LOCKED``) and it still has room (else
    None). Call inside atomic()."""
    locked = _QUEUE_SQL[fk].lock(item_id, rater.panel_id, now)
    if locked is None:
        return _LOCKED  # another rater is leasing it right now: try the next one
    item, load, stale = locked
    if stale:
        _recount(load, fk, now)
    if not is_check and load.load >= study.target_per_item:
        if stale:
            _QUEUE_SQL[fk].write(load)  # the recount is kept: the next request reads it as it is
        return None
    if load.left_a == load.left_b:
        left_is_a = rng.random() < 0.5
    else:
        left_is_a = load.left_a < load.left_b
    expires = now + timedelta(minutes=study.lease_minutes)
    assignment = Assignment.objects.create(
        rater=rater, left_is_a=left_is_a, status=Assignment.Status.LEASED, shown_at=now,
        lease_expires_at=expires, **{fk: item})
    load.load += 1
    load.left_a += left_is_a
    load.left_b += not left_is_a
    load.valid_until = min(load.valid_until or expires, expires)
    _QUEUE_SQL[fk].write(load)
    return assignment


def _recount(load: ItemLoad, fk: str, now, mark_lapsed: bool = True) -> None:
    """Recount a panel's load row of an item from its assignments. Hold the item's lock.

    Leases whose time ran out are first marked expired, each under its row lock, skipping
    rows locked by a submission in progress (they keep their slot: whichever commits first
    wins, and a judged lease is never also given away). Most recounts find none, so they are
    counted first and locked only if there are any.
    """
    item_id = getattr(load, f"{fk}_id")
    counts = _QUEUE_SQL[fk].count(item_id, load.panel_id, now)
    if counts.pop("lapsed") and mark_lapsed:
        lapsed = list(Assignment.objects.filter(**{f"{fk}_id": item_id}, rater__panel_id=load.panel_id,
                                                status=Assignment.Status.LEASED, lease_expires_at__lte=now)
                      .select_for_update(skip_locked=True, of=("self",)).values_list("pk", flat=True))
        if lapsed:
            Assignment.objects.filter(pk__in=lapsed).update(status=Assignment.Status.EXPIRED)
            return _recount(load, fk, now, mark_lapsed=False)
    load.load, load.left_a, load.left_b, load.valid_until = (
        counts["load"], counts["left_a"], counts["left_b"], counts["valid_until"])


class _QueueSql:
    """The queue's hottest statements, written out as SQL (PostgreSQL and SQLite alike).

    Built through the ORM (an outer join on a FilteredRelation, a locking select_related, a
    filtered aggregate), composing and compiling these took about a third of a rater
    request's CPU, measured with bench/serve.py; their shape never changes, so they are
    written once per kind of item from the models' table names, and rows come back as the
    ORM would build them (``annotations.written_sql``). The rest of the queue uses the ORM.
    """

    def __init__(self, fk: str):
        self.fk = fk
        pairwise = fk == "comparison"
        model = Comparison if pairwise else Candidate
        items, loads, assignments = model._meta.db_table, ItemLoad._meta.db_table, Assignment._meta.db_table
        briefs, candidates, raters = Brief._meta.db_table, Candidate._meta.db_table, Rater._meta.db_table
        self.is_check = "i.attention_check" if pairwise else "i.decoy_of_id IS NOT NULL"
        join_load = f"LEFT JOIN {loads} l ON l.{fk}_id = i.id AND l.panel_id = %s"
        self.giving = f"SELECT id, status, lease_expires_at, {fk}_id FROM {assignments} WHERE rater_id = %s"
        # Items of the study this rater was never given, with the panel's load (0 without a row).
        self.candidates = (
            f"SELECT i.id, COALESCE(l.load, 0) FROM {items} i {join_load} "
            f"WHERE i.study_id = %s AND NOT EXISTS "
            f"(SELECT 1 FROM {assignments} a WHERE a.{fk}_id = i.id AND a.rater_id = %s)")
        # The item with what a rater is shown of it, and the panel's load row.
        self.item = Columns(model, "i", ("brief", "candidate_a", "candidate_b") if pairwise else ("brief", "text"))
        self.brief = Columns(Brief, "b", ("title", "text"))
        self.texts = [Columns(Candidate, alias, ("text",)) for alias in ("ca", "cb")] if pairwise else []
        self.load = Columns(ItemLoad, "l")
        join_texts = "".join(f"JOIN {candidates} {c.alias} ON {c.alias}.id = i.{side}_id "
                             for c, side in zip(self.texts, ("candidate_a", "candidate_b")))
        self.locking = (
            f"SELECT {', '.join(c.sql for c in (self.item, self.brief, *self.texts, self.load))} "
            f"FROM {items} i JOIN {briefs} b ON b.id = i.brief_id {join_texts}{join_load} WHERE i.id = %s")
        if connection.features.has_select_for_update_skip_locked:  # SQLite serializes writers instead
            self.locking += " " + connection.ops.for_update_sql(skip_locked=True, of=("i",))
        # The panel's load of the item counted from its assignments (see ItemLoad), and how many
        # of its leases have lapsed.
        self.counting = (
            "SELECT COALESCE(SUM(CASE WHEN a.status IN (%s, %s) THEN 1 ELSE 0 END), 0), "
            "COALESCE(SUM(CASE WHEN a.left_is_a AND a.status <> %s THEN 1 ELSE 0 END), 0), "
            "COALESCE(SUM(CASE WHEN NOT a.left_is_a AND a.status <> %s THEN 1 ELSE 0 END), 0), "
            "MIN(CASE WHEN a.status = %s THEN a.lease_expires_at END), "
            "COALESCE(SUM(CASE WHEN a.status = %s AND a.lease_expires_at <= %s THEN 1 ELSE 0 END), 0) "
            f"FROM {assignments} a JOIN {raters} r ON r.id = a.rater_id WHERE a.{fk}_id = %s AND r.panel_id = %s")
        self.inserting = (f"INSERT INTO {loads} (panel_id, {fk}_id, load, left_a, left_b, valid_until) "
                          "VALUES (%s, %s, %s, %s, %s, %s)")

    def given(self, rater_id: int) -> list[dict]:
        """The rater's assignments: ``assignment`` (id), ``status``, ``expires``, ``item`` (id)."""
        with connection.cursor() as cursor:
            cursor.execute(self.giving, [rater_id])
            return [{"assignment": pk, "status": status, "expires": value(Assignment, "lease_expires_at", expires),
                     "item": item} for pk, status, expires, item in cursor.fetchall()]

    def shortlist(self, study, rater, now, exclude, *, checks: bool, limit: int) -> list[tuple[int, int]]:
        """(item id, load), least loaded first then random: the study's attention checks, or its
        real items that may have room (below the target, or counted with a lease that may have
        lapsed), among those the rater was never given and not in ``exclude``."""
        sql = [self.candidates, "AND " + (self.is_check if checks else f"NOT ({self.is_check})")]
        params = [rater.panel_id, study.pk, rater.pk]
        if not checks:
            sql.append("AND (COALESCE(l.load, 0) < %s OR l.valid_until <= %s)")
            params += [study.target_per_item, param(ItemLoad, "valid_until", now)]
        if exclude:
            sql.append(f"AND i.id NOT IN ({', '.join(['%s'] * len(exclude))})")
            params += list(exclude)
        sql.append("ORDER BY 2, RANDOM() LIMIT %s")
        with connection.cursor() as cursor:
            cursor.execute(" ".join(sql), params + [limit])
            return [tuple(row) for row in cursor.fetchall()]

    def lock(self, item_id: int, panel_id: int, now):
        """Lock the item's row, skipping it if another request holds it (then None), and read
        it with what a rater is shown of it (the other fields are deferred) and the panel's
        load row: ``(item, load row, stale)``; stale: missing (a new, unsaved row) or past its
        ``valid_until``, to be recounted before use."""
        with connection.cursor() as cursor:
            cursor.execute(self.locking, [panel_id, item_id])
            row = cursor.fetchone()
        if row is None:
            return None
        item, at = self.item.take(row)
        item.brief, at = self.brief.take(row, at)
        for column, side in zip(self.texts, ("candidate_a", "candidate_b")):
            text, at = column.take(row, at)
            setattr(item, side, text)
        stored, _ = self.load.take(row, at)
        if stored is None:
            return item, ItemLoad(panel_id=panel_id, **{f"{self.fk}_id": item_id}), True
        return item, stored, stored.valid_until is not None and stored.valid_until <= now

    def count(self, item_id: int, panel_id: int, now) -> dict:
        status = Assignment.Status
        with connection.cursor() as cursor:
            cursor.execute(self.counting, [status.DONE, status.LEASED, status.EXPIRED, status.EXPIRED, status.LEASED,
                                           status.LEASED, param(Assignment, "lease_expires_at", now),
                                           item_id, panel_id])
            load, left_a, left_b, valid_until, lapsed = cursor.fetchone()
        return {"load": load, "left_a": left_a, "left_b": left_b, "lapsed": lapsed,
                "valid_until": value(Assignment, "lease_expires_at", valid_until)}

    def write(self, load: ItemLoad) -> None:
        """Save the load row as read (or made) by ``lock``, holding the item's lock."""
        counts = {"load": load.load, "left_a": load.left_a, "left_b": load.left_b, "valid_until": load.valid_until}
        if load.pk is not None:
            update(ItemLoad, load.pk, **counts)
            return
        with connection.cursor() as cursor:
            cursor.execute(self.inserting, [load.panel_id, getattr(load, f"{self.fk}_id"),
                                            *(param(ItemLoad, name, v) for name, v in counts.items())])


_QUEUE_SQL = {fk: _QueueSql(fk) for fk in ("comparison", "candidate")}


def item_loads_invalidate(*, study: Study, item_ids=None) -> None:
    """Make the queue recount these items (all of the study's by default) from their assignments.

    For writers of assignments other than the queue (imports). Locks the items in id order,
    waiting, like every writer of a load row; call inside the writer's transaction.
    """
    model, fk, _ = _item_spec(study)
    items = model.objects.filter(study=study)
    if item_ids is not None:
        items = items.filter(pk__in=item_ids)
    locked = list(items.select_for_update().order_by("pk").values_list("pk", flat=True))
    ItemLoad.objects.filter(**{f"{fk}_id__in": locked}).update(valid_until=timezone.now() - timedelta(seconds=1))


def item_load_release(*, panel_id: int, assignment: Assignment, now) -> None:
    """A lease ended early (skipped): the item's load row is recounted at its next lease.

    Hold the item's lock (services/judging.py does).
    """
    fk = "comparison" if assignment.comparison_id else "candidate"
    ItemLoad.objects.filter(panel_id=panel_id, **{f"{fk}_id": getattr(assignment, f"{fk}_id")}).update(valid_until=now)


def _with_load(study: Study, panel_id: int):
    """The study's items with the panel's ``load`` (and ``valid_until``) from the load index, by
    an outer join on its unique (panel, item) index: no counting of assignments. A missing row
    is an item nobody in the panel was given yet."""
    return (_items(study).annotate(panel_load=FilteredRelation("loads", condition=Q(loads__panel_id=panel_id)))
            .annotate(load=Coalesce("panel_load__load", 0), valid_until=F("panel_load__valid_until")))


def panel_is_full(*, panel, now=None) -> bool:
    """No real item has room left in this panel (exact: rows that may be stale are counted)."""
    study = panel.study
    now = now or timezone.now()
    model, _, check_q = _item_spec(study)
    items = _with_load(study, panel.pk).exclude(check_q)
    current = Q(valid_until__isnull=True) | Q(valid_until__gt=now)
    if items.filter(current, load__lt=study.target_per_item).exists():
        return False
    occupying = Q(assignments__status=Assignment.Status.DONE) | Q(
        assignments__status=Assignment.Status.LEASED, assignments__lease_expires_at__gt=now)
    return not (model.objects.filter(pk__in=items.filter(valid_until__lte=now).values("pk"))
                .annotate(load=Count("assignments", filter=Q(assignments__rater__panel_id=panel.pk) & occupying))
                .filter(load__lt=study.target_per_item).exists())


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
