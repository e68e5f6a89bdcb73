"""Recording what a rater decided about an assignment: judgments, or "can't judge".

Choices arrive *as shown* (``left`` / ``right`` / ``tie`` for pairs, a number per criterion
for ratings) and are stored in canonical A/B terms using the side recorded on the
assignment. Submission is idempotent by ``client_key``: the same key again answers the
stored result and writes nothing; a different key for an item already judged is refused.
Everything is written in one transaction, so a refused or failed submission changes nothing.
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from annotations.models import Assignment, Candidate, Comparison, Judgment, Rater, Study
from annotations.written_sql import Columns, param, update

from .assignment import item_load_release
from .quality import rater_quality_update
from .raters import RaterRead, rater_may_continue

SHOWN_CHOICES = {"left", "right", "tie"}
MAX_RATIONALE = 5000
MAX_SECONDS = 24 * 3600
SKIP_REASONS = {
    "unreadable": "The text is unreadable or broken",
    "offensive": "The content is offensive or unsafe",
    "identical": "The two texts are the same",
    "expertise": "I lack the knowledge to judge this",
    "other": "Other",
}


class JudgingRefused(Exception):
    """A submission that was refused; nothing was written. ``code`` maps to an HTTP status."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class Recorded:
    assignment: Assignment
    judgments: list[Judgment]
    replayed: bool  # True when the same client key had already been recorded


class _AssignmentRead:
    """An assignment locked and read with its rater (panel, study, invite) and its pair's
    check fields, in written SQL (every submission reads one; see ``annotations.written_sql``)."""

    assignment = Columns(Assignment, "a")
    comparison = Columns(Comparison, "c", ("attention_check", "expected_choice"))
    sql = (f"SELECT {assignment.sql}, {RaterRead.select}, {comparison.sql} FROM {Assignment._meta.db_table} a "
           f"JOIN {Rater._meta.db_table} r ON r.id = a.rater_id {RaterRead.joins} "
           f"LEFT JOIN {Comparison._meta.db_table} c ON c.id = a.comparison_id")

    @classmethod
    def lock(cls, field: str, value, rater_ids) -> Assignment | None:
        ids = [int(i) for i in rater_ids]
        if not ids:
            return None
        try:
            value = param(Assignment, field, value)
        except ValidationError:
            return None  # not an id at all
        sql = (f"{cls.sql} WHERE a.{Assignment._meta.get_field(field).column} = %s "
               f"AND a.rater_id IN ({', '.join(['%s'] * len(ids))})")
        if connection.features.has_select_for_update_of:
            sql += " " + connection.ops.for_update_sql(of=("a",))
        with connection.cursor() as cursor:
            cursor.execute(sql, [value, *ids])
            row = cursor.fetchone()
        if row is None:
            return None
        assignment, at = cls.assignment.take(row)
        assignment.rater, at = RaterRead.take(row, at)
        comparison, _ = cls.comparison.take(row, at)
        if comparison is not None:
            assignment.comparison = comparison
        return assignment


def _check_assignment(lookup: tuple[str, object], rater_ids, client_key: str, lock_item: bool = False):
    """Lock the assignment, then check it may be completed now.

    ``lookup`` (a field of Assignment and its value: ``("id", 7)``, ``("public_id", uuid)``)
    finds the assignment, which must belong to one of ``rater_ids``. Returns
    ``(assignment, replay)``; ``replay`` is True when this client key already completed it.
    Call inside atomic(). The assignment's row lock is what the queue's recount respects
    before it gives a lapsed lease's slot away (see services/assignment.py). ``lock_item``
    also takes the item's lock, which writers of its load row need.
    """
    assignment = _AssignmentRead.lock(*lookup, rater_ids)
    if assignment is None:
        raise JudgingRefused("not_yours", "No assignment with this id among yours.")
    rater_may_continue(assignment.rater)
    if assignment.client_key and assignment.client_key == client_key:
        return assignment, True
    if assignment.status == Assignment.Status.DONE:
        raise JudgingRefused("already_judged", "This item was already judged; the first answer stands.")
    if assignment.status == Assignment.Status.SKIPPED:
        raise JudgingRefused("already_judged", "This item was already marked as impossible to judge.")
    if lock_item:
        item_model, item_id = ((Comparison, assignment.comparison_id) if assignment.comparison_id
                               else (Candidate, assignment.candidate_id))
        list(item_model.objects.select_for_update().filter(pk=item_id).values_list("pk"))
    now = timezone.now()
    if assignment.status == Assignment.Status.EXPIRED or (
            assignment.lease_expires_at is not None and assignment.lease_expires_at <= now):
        # No write here: a refusal changes nothing. The queue frees a lapsed lease's slot
        # (marking it expired) when the item is next leased, and the rater's next request marks it.
        raise JudgingRefused("expired", "The time for this item ran out and it went back to the pool; "
                                        "ask for the next item.")
    return assignment, False


def _completing(assignment: Assignment, key: str, **fields) -> None:
    """Mark the locked assignment completed with ``key``; the database refuses a key already used
    by the rater for another item (see ``_key_reused``)."""
    fields = {"client_key": key, **fields}
    for name, value in fields.items():
        setattr(assignment, name, value)
    # Written SQL, like the lock before it: through the ORM this one update cost a tenth of a
    # submission's CPU.
    update(Assignment, assignment.pk, **fields)


@contextmanager
def _key_reused(rater_ids, key: str):
    """Turn the unique (rater, client_key) violation into a clear refusal; the transaction,
    entered inside this block, has rolled back by then, so nothing was written."""
    try:
        yield
    except IntegrityError:
        if Assignment.objects.filter(rater_id__in=list(rater_ids), client_key=key).exists():
            raise JudgingRefused("key_reused", "This client_key was already used for another item; "
                                               "send a new key.") from None
        raise


def _parse_strength(strength, criterion: str):
    value = strength.get(criterion) if isinstance(strength, dict) else strength
    if value in (None, ""):
        return None
    words = {"slight": 1, "clear": 2, "strong": 3}
    if isinstance(value, str):
        value = words.get(value.lower(), value)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise JudgingRefused("invalid", f"strength for '{criterion}' must be 1-3 (slight, clear, strong)") from None
    if number not in (1, 2, 3):
        raise JudgingRefused("invalid", f"strength for '{criterion}' must be 1-3 (slight, clear, strong)")
    return number


def _parse_choices(study: Study, assignment: Assignment, choices) -> dict:
    """Validate choices and map them to canonical terms: {criterion: ("a"|"b"|"tie", None) or ("", value)}."""
    if not isinstance(choices, dict) or not choices:
        raise JudgingRefused("invalid", "choices must be an object with one answer per criterion")
    names = study.criterion_names
    unknown = sorted(set(choices) - set(names))
    if unknown:
        raise JudgingRefused("invalid", f"unknown criterion {', '.join(map(repr, unknown))}; "
                                        f"this study judges {', '.join(names)}")
    missing = [n for n in names if n not in choices]
    if missing:
        raise JudgingRefused("invalid", f"missing an answer for {', '.join(map(repr, missing))}")
    out = {}
    for name in names:
        raw = choices[name]
        if assignment.comparison_id:
            shown = str(raw).strip().lower()
            if shown not in SHOWN_CHOICES:
                raise JudgingRefused("invalid", f"choice for '{name}' must be left, right or tie, not {raw!r}")
            if shown == "tie":
                out[name] = ("tie", None)
            else:
                out[name] = ("a" if (shown == "left") == assignment.left_is_a else "b", None)
        else:
            try:
                value = float(raw)
            except (TypeError, ValueError):
                raise JudgingRefused("invalid", f"rating for '{name}' must be a number, not {raw!r}") from None
            if not (math.isfinite(value) and value == int(value) and study.likert_min <= value <= study.likert_max):
                raise JudgingRefused("invalid", f"rating for '{name}' must be a whole number from "
                                                f"{study.likert_min} to {study.likert_max}, not {raw!r}")
            out[name] = ("", value)
    return out


def _clean_seconds(seconds):
    if seconds in (None, ""):
        return None
    try:
        value = float(seconds)
    except (TypeError, ValueError):
        raise JudgingRefused("invalid", "seconds must be a number") from None
    if not math.isfinite(value) or value < 0:
        raise JudgingRefused("invalid", "seconds must be zero or more")
    return min(value, MAX_SECONDS)


def _clean_key(client_key) -> str:
    key = str(client_key or "").strip()
    if not key or len(key) > 64:
        raise JudgingRefused("invalid", "client_key is required (1-64 characters, e.g. a UUID made by the client)")
    return key


def judgment_record(*, assignment: Assignment, rater: Rater, **submission) -> Recorded:
    """Store one judgment per criterion for ``assignment``, which must be ``rater``'s.

    ``submission``: choices, client_key, and optionally strength, rationale, seconds, source.
    Raises ``JudgingRefused`` (codes: invalid, not_yours, expired, already_judged, key_reused)
    or ``JoinRefused`` when the rater's access ended.
    """
    return _judge(("id", assignment.pk), [rater.pk], **submission)


def judgment_submit(*, public_id, rater_ids, **submission) -> Recorded:
    """``judgment_record`` for an assignment known by its public id, among a session's raters."""
    return _judge(("public_id", public_id), rater_ids, **submission)


def _judge(lookup: tuple[str, object], rater_ids, *, choices: dict, client_key: str, strength=None, rationale: str = "",
           seconds=None, source: str = "web") -> Recorded:
    key = _clean_key(client_key)
    rationale = str(rationale or "").strip()
    if len(rationale) > MAX_RATIONALE:
        raise JudgingRefused("invalid", f"rationale is limited to {MAX_RATIONALE} characters")
    seconds = _clean_seconds(seconds)
    with _key_reused(rater_ids, key), transaction.atomic():
        locked, replay = _check_assignment(lookup, rater_ids, key)
        if replay:
            return Recorded(locked, list(locked.judgments.order_by("id")), replayed=True)
        study = locked.rater.panel.study
        parsed = _parse_choices(study, locked, choices)
        strengths = {name: _parse_strength(strength, name) for name in parsed}
        now = timezone.now()
        server_seconds = (now - locked.shown_at).total_seconds() if locked.shown_at else None
        shown_seconds = seconds if seconds is not None else server_seconds
        # The client's clock says how long the page was looked at; the server's says at least
        # how long since it was handed out. The smaller one decides "too fast", so neither a
        # fast client nor a slow network hides a hurried judgment.
        fastest = min(x for x in (seconds, server_seconds, math.inf) if x is not None)
        too_fast = fastest < study.min_seconds
        expected = _expected(locked)
        _completing(locked, key, status=Assignment.Status.DONE, completed_at=now)
        judgments = [
            Judgment(assignment=locked, criterion=name, choice=choice, value=value,
                     strength=strengths[name] if choice in ("a", "b") else None,
                     rationale=rationale, seconds=shown_seconds, client_key=key, too_fast=too_fast,
                     attention_passed=_passed(expected, choice, value, study), source=source)
            for name, (choice, value) in parsed.items()
        ]
        Judgment.objects.bulk_create(judgments)
        if expected is not None:
            rater_quality_update(rater=locked.rater)
    return Recorded(locked, judgments, replayed=False)


def assignment_skip(*, assignment: Assignment, rater: Rater, **submission) -> Recorded:
    """"Can't judge": close the assignment with a reason; the item goes back to the pool.

    ``submission``: reason (one of SKIP_REASONS), client_key, optionally detail.
    """
    return _skip(("id", assignment.pk), [rater.pk], **submission)


def skip_submit(*, public_id, rater_ids, **submission) -> Recorded:
    """``assignment_skip`` for an assignment known by its public id, among a session's raters."""
    return _skip(("public_id", public_id), rater_ids, **submission)


def _skip(lookup: tuple[str, object], rater_ids, *, reason: str, client_key: str, detail: str = "") -> Recorded:
    key = _clean_key(client_key)
    reason = str(reason or "").strip()
    if reason not in SKIP_REASONS:
        raise JudgingRefused("invalid", f"reason must be one of {', '.join(SKIP_REASONS)}")
    text = reason if not detail else f"{reason}: {str(detail).strip()}"[:200]
    with _key_reused(rater_ids, key), transaction.atomic():
        locked, replay = _check_assignment(lookup, rater_ids, key, lock_item=True)
        if replay:
            return Recorded(locked, [], replayed=True)
        now = timezone.now()
        _completing(locked, key, status=Assignment.Status.SKIPPED, completed_at=now, skip_reason=text)
        item_load_release(panel_id=locked.rater.panel_id, assignment=locked, now=now)
    return Recorded(locked, [], replayed=False)


def _expected(assignment: Assignment):
    """For attention checks: the canonical side to pick ("a"/"b"), or "low" for a decoy to rate."""
    if assignment.comparison_id:
        comp = assignment.comparison
        return comp.expected_choice if comp.attention_check else None
    is_decoy = Candidate.objects.filter(pk=assignment.candidate_id, decoy_of__isnull=False).exists()
    return "low" if is_decoy else None


def _passed(expected, choice, value, study: Study):
    if expected is None:
        return None
    if expected == "low":
        # A decoy is degenerate: a careful rater puts it in the lower half of the scale.
        return value < (study.likert_min + study.likert_max) / 2
    return choice == expected
