"""Raters arriving: crowd workers by a public link, experts by a personal invite.

A crowd worker is identified by the external id the crowd platform puts in the link (the
panel's ``id_param``); coming back with the same id resumes the same rater, never a new one.
An invite is for one person: its first use creates the rater and binds the invite to it;
later uses (the same person on another device) return that rater; a revoked invite lets
nobody in.
"""

from __future__ import annotations

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from annotations.models import Invite, Panel, Rater, Study
from annotations.written_sql import Columns

from .assignment import panel_is_full

MAX_EXTERNAL_ID = 128
MAX_PARAM = 200


class JoinRefused(Exception):
    """A rater may not (or may no longer) take part. ``code``: not_found, closed, not_open, full,
    revoked, invalid, not_qualified."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class RaterRead:
    """A rater read with their panel, study and invite in written SQL (every rater request
    reads one; see ``annotations.written_sql``). ``sql`` selects from ``{table} r``."""

    rater = Columns(Rater, "r")
    panel = Columns(Panel, "p")
    study = Columns(Study, "s")
    invite = Columns(Invite, "v")
    select = ", ".join(c.sql for c in (rater, panel, study, invite))
    joins = (f"JOIN {Panel._meta.db_table} p ON p.id = r.panel_id JOIN {Study._meta.db_table} s ON s.id = p.study_id "
             f"LEFT JOIN {Invite._meta.db_table} v ON v.rater_id = r.id")

    @classmethod
    def take(cls, row, at: int = 0) -> tuple[Rater, int]:
        rater, at = cls.rater.take(row, at)
        rater.panel, at = cls.panel.take(row, at)
        rater.panel.study, at = cls.study.take(row, at)
        invite, at = cls.invite.take(row, at)
        Rater.invite.related.set_cached_value(rater, invite)  # None: known to have none
        return rater, at


def rater_in_study(rater_ids, slug: str) -> Rater | None:
    """The rater among ``rater_ids`` who takes part in the study ``slug`` (panel, study and
    invite loaded), or None."""
    ids = [int(i) for i in rater_ids]
    if not ids:
        return None
    sql = (f"SELECT {RaterRead.select} FROM {Rater._meta.db_table} r {RaterRead.joins} "
           f"WHERE r.id IN ({', '.join(['%s'] * len(ids))}) AND s.slug = %s ORDER BY r.id LIMIT 1")
    with connection.cursor() as cursor:
        cursor.execute(sql, [*ids, slug])
        row = cursor.fetchone()
    return RaterRead.take(row)[0] if row else None


def study_status_check(study: Study) -> None:
    if study.status == Study.Status.CLOSED:
        raise JoinRefused("closed", "This study is closed. Thank you for your interest.")
    if study.status != Study.Status.OPEN:
        raise JoinRefused("not_open", "This study is not open yet. Please come back later.")


def crowd_panel(*, study: Study, name: str = "") -> Panel:
    """The crowd panel a public link joins: the named one, or the study's first crowd panel."""
    panels = Panel.objects.filter(study=study, kind=Panel.Kind.CROWD).select_related("study")
    panel = (panels.filter(name=name) if name else panels).order_by("id").first()
    if panel is None:
        raise JoinRefused("not_found", "There is no public link for this study.")
    return panel


def crowd_params(panel: Panel, data) -> tuple[str, dict]:
    """The external id and the kept crowd parameters from a query string or a JSON body."""
    external_id = str(data.get("external_id") or data.get(panel.id_param) or "").strip()
    if not external_id:
        raise JoinRefused("invalid", f"The link is missing your id ({panel.id_param}). "
                                     "Please open the study from the crowd platform again.")
    if len(external_id) > MAX_EXTERNAL_ID or not external_id.isprintable():
        raise JoinRefused("invalid", f"The id must be at most {MAX_EXTERNAL_ID} printable characters.")
    params = {}
    for name in [panel.id_param, *panel.extra_params]:
        value = data.get(name)
        if value not in (None, ""):
            params[name] = str(value)[:MAX_PARAM]
    return external_id, params


def crowd_join(*, panel: Panel, external_id: str, params: dict | None = None,
               consent: bool = False) -> tuple[Rater, bool]:
    """Start or resume the crowd rater ``external_id`` in ``panel``. Returns (rater, created)."""
    study = panel.study
    study_status_check(study)
    rater = Rater.objects.filter(panel=panel, external_id=external_id).first()
    created = False
    if rater is None:
        if panel_is_full(panel=panel):
            raise JoinRefused("full", "This study has all the judgments it needs. Thank you for your interest.")
        try:
            with transaction.atomic():
                rater = Rater.objects.create(panel=panel, external_id=external_id, params=params or {})
                created = True
        except IntegrityError:
            # The same worker joined twice at the same moment: the other request created it.
            rater = Rater.objects.get(panel=panel, external_id=external_id)
    elif params:
        merged = {**rater.params, **params}
        if merged != rater.params:
            with transaction.atomic():
                Rater.objects.filter(pk=rater.pk).update(params=merged)
            rater.params = merged
    if consent:
        rater_consent(rater=rater)
    rater.panel = panel
    return rater, created


def rater_consent(*, rater: Rater) -> Rater:
    if rater.consent_at is None:
        now = timezone.now()
        with transaction.atomic():
            Rater.objects.filter(pk=rater.pk, consent_at__isnull=True).update(consent_at=now)
        rater.consent_at = now
    return rater


def needs_qualification(rater: Rater) -> bool:
    return bool(rater.panel.qualification) and rater.qualified_at is None


def qualification_items(panel: Panel) -> list[dict]:
    """The qualification as shown: brief and the two texts; never the answers."""
    return [{"number": i, "brief": q.get("brief", ""), "left": q.get("left", ""), "right": q.get("right", "")}
            for i, q in enumerate(panel.qualification, start=1)]


def rater_qualify(*, rater: Rater, answers: dict | list) -> bool:
    """Check the qualification answers (``left``/``right`` per item). One attempt only."""
    items = rater.panel.qualification
    if rater.qualification_failed_at:
        raise JoinRefused("not_qualified", "The qualification was not passed; thank you for your time.")
    if not items or rater.qualified_at:
        return True
    if isinstance(answers, list):
        answers = {str(i): a for i, a in enumerate(answers, start=1)}
    given = {str(k): str(v).strip().lower() for k, v in (answers or {}).items()}
    missing = [str(i) for i in range(1, len(items) + 1) if given.get(str(i)) not in ("left", "right")]
    if missing:
        raise JoinRefused("invalid", f"Please answer every question (left or right); missing: {', '.join(missing)}.")
    passed = all(given[str(i)] == str(q.get("answer", "")).lower() for i, q in enumerate(items, start=1))
    now = timezone.now()
    with transaction.atomic():
        if passed:
            Rater.objects.filter(pk=rater.pk).update(qualified_at=now)
            rater.qualified_at = now
        else:
            Rater.objects.filter(pk=rater.pk).update(qualification_failed_at=now)
            rater.qualification_failed_at = now
    return passed


def rater_finish(*, rater: Rater) -> Rater:
    if rater.finished_at is None:
        now = timezone.now()
        with transaction.atomic():
            Rater.objects.filter(pk=rater.pk, finished_at__isnull=True).update(finished_at=now)
        rater.finished_at = now
    return rater


def rater_may_continue(rater: Rater) -> None:
    """Raise JoinRefused when the rater's access ended (revoked invite, failed qualification)."""
    invite = getattr(rater, "invite", None)  # the reverse one-to-one raises AttributeError when absent
    if invite is not None and invite.revoked_at is not None:
        raise JoinRefused("revoked", "This invitation has been withdrawn. Please contact the study team.")
    if rater.qualification_failed_at:
        raise JoinRefused("not_qualified", "The qualification was not passed; thank you for your time.")


# --- invites ------------------------------------------------------------------------------

def invite_use(*, token: str) -> Rater:
    """The rater of an invite: created and bound on first use. Raises JoinRefused."""
    with transaction.atomic():
        # Locked so two first uses at once (a double click) bind one rater, not two. The rater
        # is read after the lock, not joined into the locking query: a query that waited for the
        # lock sees the invite's new rater_id but, under READ COMMITTED, not the rater row the
        # other transaction inserted, and would bind a second rater.
        invite = (Invite.objects.select_for_update(of=("self",)).select_related("panel__study")
                  .filter(token=token).first())
        if invite is None:
            raise JoinRefused("not_found", "This invitation link is not valid. Please check the link you were sent.")
        if invite.revoked_at is not None:
            raise JoinRefused("revoked", "This invitation has been withdrawn. Please contact the study team.")
        if invite.rater_id is None:
            invite.rater = Rater.objects.create(panel=invite.panel)
            invite.save(update_fields=["rater"])
        rater = Rater.objects.get(pk=invite.rater_id)
        rater.panel = invite.panel
    return rater


def invites_create(*, panel: Panel, count: int = 0, labels: list[str] | tuple = ()) -> list[Invite]:
    """Create invites in bulk: one per label, plus ``count`` unlabelled ones."""
    labels = [str(label).strip()[:200] for label in labels if str(label).strip()]
    if count < 0 or count + len(labels) > 1000:
        raise JoinRefused("invalid", "create between 1 and 1000 invites at a time")
    if count + len(labels) == 0:
        raise JoinRefused("invalid", "give a number of invites or a list of labels")
    with transaction.atomic():
        invites = [Invite(panel=panel, label=label) for label in labels] + [Invite(panel=panel) for _ in range(count)]
        Invite.objects.bulk_create(invites)
    return invites


def invites_revoke(*, invites) -> int:
    """Revoke invites (a queryset); already revoked ones keep their date. Returns how many changed."""
    with transaction.atomic():
        return invites.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
