"""Creating and changing studies, conditions and panels."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import transaction

from annotations.models import DEFAULT_CRITERIA, Panel, Study

CRITERION_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


def criteria_from_names(names: list[str] | None) -> list[dict]:
    """Criteria records from names; known names get their standard description."""
    if not names:
        return [dict(c) for c in DEFAULT_CRITERIA]
    known = {c["name"]: c["description"] for c in DEFAULT_CRITERIA}
    out, seen = [], set()
    for raw in names:
        name = raw.strip().lower()
        if not CRITERION_NAME.match(name):
            raise ValidationError(f"criterion '{raw}' must be lowercase letters, digits or _ and start with a letter")
        if name in seen:
            raise ValidationError(f"criterion '{name}' is listed twice")
        seen.add(name)
        out.append({"name": name, "description": known.get(name, name.replace("_", " ").capitalize() + ".")})
    return out


def study_create(*, slug: str, title: str = "", task: str = Study.Task.PAIRWISE, criteria: list[str] | None = None,
                 created_by=None, **options) -> Study:
    if task not in Study.Task.values:
        raise ValidationError(f"task must be one of {', '.join(Study.Task.values)}, not '{task}'")
    if Study.objects.filter(slug=slug).exists():
        raise ValidationError(f"a study with slug '{slug}' already exists")
    study = Study(slug=slug, title=title or slug.replace("-", " ").capitalize(), task=task,
                  criteria=criteria_from_names(criteria), created_by=created_by, **options)
    study.full_clean()
    study.save()
    return study


def panel_create(*, study: Study, name: str, kind: str = Panel.Kind.CROWD, **options) -> Panel:
    if kind not in Panel.Kind.values:
        raise ValidationError(f"panel kind must be expert or crowd, not '{kind}'")
    if Panel.objects.filter(study=study, name=name).exists():
        raise ValidationError(f"study '{study.slug}' already has a panel named '{name}'")
    if kind == Panel.Kind.CROWD:
        options.setdefault("extra_params", ["STUDY_ID", "SESSION_ID"])
    panel = Panel(study=study, name=name, kind=kind, **options)
    panel.full_clean()
    with transaction.atomic():
        panel.save()
    return panel
