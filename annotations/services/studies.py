"""Creating and changing studies, conditions and panels."""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError
from django.db import transaction

from annotations.models import DEFAULT_CRITERIA, Brief, Condition, Panel, Study

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


DECODING_KEYS = {"greedy", "temperature", "top_p", "top_k", "max_new_tokens", "system_prompt"}
SETTINGS_KEYS = {"decoding", "adapter", "direction", "layer", "alpha", "seed"}


def _has_nul(value) -> bool:
    """PostgreSQL refuses NUL characters in text and JSON."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_has_nul(v) for v in value)
    return False


def _check_condition_settings(kind: str, options: dict) -> dict:
    """Validate a condition's generation settings; errors name the key."""
    options = dict(options or {})
    unknown = set(options) - SETTINGS_KEYS
    if unknown:
        raise ValidationError(f"settings has unknown key(s) {', '.join(sorted(map(repr, unknown)))}; "
                              f"use {', '.join(sorted(SETTINGS_KEYS))}")
    if _has_nul(options):
        raise ValidationError("settings contain a NUL character")
    decoding = options.get("decoding") or {}
    if not isinstance(decoding, dict):
        raise ValidationError("settings.decoding must be an object")
    unknown = set(decoding) - DECODING_KEYS
    if unknown:
        raise ValidationError(f"settings.decoding has unknown key(s) {', '.join(sorted(unknown))}; "
                              f"use {', '.join(sorted(DECODING_KEYS))}")
    for key in ("temperature", "top_p"):
        if key in decoding and not (isinstance(decoding[key], (int, float)) and decoding[key] > 0):
            raise ValidationError(f"settings.decoding.{key} must be a positive number")
    if "max_new_tokens" in decoding and not (isinstance(decoding["max_new_tokens"], int)
                                             and 1 <= decoding["max_new_tokens"] <= 2048):
        raise ValidationError("settings.decoding.max_new_tokens must be an integer from 1 to 2048")
    if "seed" in options and not isinstance(options["seed"], int):
        raise ValidationError("settings.seed must be an integer")
    if "alpha" in options and not isinstance(options["alpha"], (int, float)):
        raise ValidationError("settings.alpha must be a number")
    if options.get("layer") is not None and not (isinstance(options["layer"], int) and options["layer"] >= 0):
        raise ValidationError("settings.layer must be a non-negative integer (or null for the recommended layer)")
    if kind == Condition.Kind.STEERED:
        options.setdefault("alpha", 8.0)
    if kind != Condition.Kind.STEERED and any(k in options for k in ("direction", "alpha", "layer")):
        raise ValidationError("direction, alpha and layer only apply to steered conditions")
    if kind != Condition.Kind.FINE_TUNED and "adapter" in options:
        raise ValidationError("adapter only applies to fine-tuned conditions")
    return options


def condition_create(*, study: Study, name: str, kind: str = Condition.Kind.BASE, reference: bool = False,
                     settings: dict | None = None, description: str = "") -> Condition:
    if kind not in Condition.Kind.values:
        raise ValidationError(f"condition kind must be one of {', '.join(Condition.Kind.values)}, not '{kind}'")
    if Condition.objects.filter(study=study, name=name).exists():
        raise ValidationError(f"study '{study.slug}' already has a condition named '{name}'")
    condition = Condition(study=study, name=name, kind=kind, reference=reference,
                          settings=_check_condition_settings(kind, settings), description=description)
    condition.full_clean()
    condition.save()
    return condition


def study_clone(*, study: Study, slug: str, title: str = "") -> Study:
    """A new round: same settings, briefs, conditions (with their adapters/directions) and panels;
    no candidates, items or judgments. The clone starts as a draft."""
    if Study.objects.filter(slug=slug).exists():
        raise ValidationError(f"a study with slug '{slug}' already exists")
    fields = {f.name: getattr(study, f.name) for f in Study._meta.concrete_fields
              if f.name not in ("id", "slug", "title", "status", "created_at")}
    with transaction.atomic():
        clone = Study.objects.create(**fields, slug=slug, title=title or f"{study.title} (new round)")
        Brief.objects.bulk_create([Brief(study=clone, external_id=b.external_id, title=b.title, text=b.text,
                                         kind=b.kind, metadata=b.metadata) for b in study.briefs.all()])
        Condition.objects.bulk_create([Condition(study=clone, name=c.name, kind=c.kind, reference=c.reference,
                                                 settings=c.settings, description=c.description)
                                       for c in study.conditions.all()])
        Panel.objects.bulk_create([Panel(study=clone, **{f.name: getattr(p, f.name) for f in Panel._meta.concrete_fields
                                                         if f.name not in ("id", "study", "created_at")})
                                   for p in study.panels.all()])
    return clone
