"""Deleting a study: confirmed by its slug, and never before its data is written out.

Judgments are append-only (a PostgreSQL trigger refuses UPDATE and DELETE on them; see
migration 0004). Deleting a study is the one way they go, and it goes like this:

1. The caller confirms by repeating the study's slug (admin page, API, command).
2. Every judgment (JSON Lines, the export format with full provenance) and the study's
   set-up (settings, briefs, conditions, candidates with texts and provenance, panels) are
   written to ``STUDY_DELETE_EXPORT_DIR/<slug>-<UTC time>/`` first, outside the transaction.
3. In one transaction: the study row is locked, the transaction-local setting
   ``annotations.deleting_study`` is set to its id (the trigger lets that study's judgments,
   and only those, be deleted) and the study is deleted with everything that hangs off it.
   If more judgments are deleted than were exported (a rater submitted in between), the
   transaction is rolled back and nothing is deleted: the caller asks again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from annotations.models import Judgment, Study

from .exports import judgments_export


class StudyDeleteRefused(Exception):
    """The study was not deleted; ``message`` says why and what to do. ``code``: confirm
    (the confirmation was not the slug) or conflict (judgments arrived meanwhile)."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class StudyDeleted:
    slug: str
    export_dir: Path
    judgments: int
    deleted: dict


def study_setup_dict(*, study: Study) -> dict:
    """Everything needed to understand the exported judgments: study, briefs, conditions,
    candidates (texts and provenance) and panels."""
    study_fields = {f.name: getattr(study, f.name) for f in Study._meta.concrete_fields if f.name != "created_by"}
    return {
        "study": study_fields,
        "briefs": list(study.briefs.values("id", "external_id", "title", "text", "kind", "metadata")),
        "conditions": list(study.conditions.values("id", "name", "kind", "reference", "settings", "description")),
        "candidates": list(study.candidates.values("id", "external_id", "brief_id", "condition__name", "sample_index",
                                                   "text", "provenance", "decoy_of_id")),
        "panels": list(study.panels.values("id", "name", "kind", "completion_code")),
    }


def study_export_for_deletion(*, study: Study, directory: Path | None = None) -> tuple[Path, int]:
    """Write the study's judgments and set-up to a new directory; returns (directory, judgments)."""
    base = Path(directory or settings.STUDY_DELETE_EXPORT_DIR)
    stamp = timezone.now().strftime("%Y%m%dT%H%M%S%fZ")
    target = base / f"{study.slug}-{stamp}"
    target.mkdir(parents=True, exist_ok=False)
    n = judgments_export(study=study, fmt="jsonl", target=target / "judgments.jsonl", with_external_ids=True)
    (target / "study.json").write_text(json.dumps(study_setup_dict(study=study), cls=DjangoJSONEncoder, indent=1,
                                                  ensure_ascii=False), encoding="utf-8")
    return target, n


def study_delete(*, study: Study, confirm: str) -> StudyDeleted:
    """Delete ``study`` after exporting it; ``confirm`` must be the study's slug."""
    if (confirm or "").strip() != study.slug:
        raise StudyDeleteRefused("confirm", f"to delete study '{study.slug}' and all its judgments, confirm with its slug "
                                 f"(confirm: \"{study.slug}\"); an export is written first")
    export_dir, exported = study_export_for_deletion(study=study)
    with transaction.atomic():
        locked = Study.objects.select_for_update().filter(pk=study.pk).first()
        if locked is None:
            raise StudyDeleteRefused("conflict", f"study '{study.slug}' no longer exists")
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT set_config('annotations.deleting_study', %s, true)", [str(study.pk)])
        _, deleted = locked.delete()
        n_deleted = deleted.get(Judgment._meta.label, 0)
        if n_deleted != exported:  # raising inside atomic() rolls the deletion back
            raise StudyDeleteRefused("conflict", f"{n_deleted - exported} judgment(s) arrived while '{study.slug}' was being "
                                     "exported; nothing was deleted. Close the study and try again.")
    return StudyDeleted(slug=study.slug, export_dir=export_dir, judgments=exported, deleted=deleted)

