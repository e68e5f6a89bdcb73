"""All-or-nothing imports of briefs, candidates and judgments.

Every row is validated first and every problem collected (row number, column, problem); only
a file without problems is written, in one transaction. Rows are 1-based, header excluded.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from annotations.models import (
    Assignment,
    Brief,
    Candidate,
    Comparison,
    Condition,
    Judgment,
    Panel,
    Rater,
    Score,
    Study,
)

from .assignment import item_loads_invalidate, study_items_changed
from .tables import ImportFailed, RowError, Table, cell, parse_bool, parse_float, read_table, require_columns

KIND_ALIASES = {k.replace("_", " "): k for k in Brief.Kind.values} | {k.replace("_", "-"): k for k in Brief.Kind.values}
CHOICE_ALIASES = {"a": "a", "b": "b", "tie": "tie", "left": None, "right": None}
STRENGTH_WORDS = {"slight": 1, "clear": 2, "strong": 3, "1": 1, "2": 2, "3": 3}
IMPORTED_PANEL = "imported"


@dataclass
class ImportResult:
    created: dict

    def __str__(self) -> str:
        return ", ".join(f"{n} {what}" for what, n in self.created.items())


class _Errors:
    def __init__(self) -> None:
        self.items: list[RowError] = []

    def add(self, row: int, column: str | None, problem: str) -> None:
        self.items.append(RowError(row, column, problem))

    def raise_if_any(self) -> None:
        if self.items:
            raise ImportFailed(self.items)


def _load(data: bytes | Table, filename: str) -> Table:
    return data if isinstance(data, Table) else read_table(data, filename)


def _check_unique(errors: _Errors, rows: list[dict], column: str, existing: set[str], what: str) -> None:
    first_seen: dict[str, int] = {}
    for number, row in enumerate(rows, start=1):
        value = cell(row, column)
        if not value:
            continue
        if value in first_seen:
            errors.add(number, column, f"duplicate {what} id '{value}' (first on row {first_seen[value]})")
        elif value in existing:
            errors.add(number, column, f"{what} id '{value}' already exists in this study")
        else:
            first_seen[value] = number


# --- briefs -------------------------------------------------------------------------------

BRIEF_COLUMNS = {"id", "text", "title", "kind"}


def briefs_import(*, study: Study, data: bytes | Table, filename: str = "briefs.csv") -> ImportResult:
    """Import briefs: ``id, text`` and optional ``title``, ``kind``; other columns become metadata."""
    table = _load(data, filename)
    require_columns(table, ["id", "text"], "a briefs file")
    errors = _Errors()
    existing = set(Brief.objects.filter(study=study).values_list("external_id", flat=True))
    _check_unique(errors, table.rows, "id", existing, "brief")
    briefs = []
    for number, row in enumerate(table.rows, start=1):
        external_id, text = cell(row, "id"), cell(row, "text")
        if not external_id:
            errors.add(number, "id", "is empty")
        elif len(external_id) > 128:
            errors.add(number, "id", "is longer than 128 characters")
        if not text:
            errors.add(number, "text", "is empty")
        kind = cell(row, "kind").lower() or Brief.Kind.IDEA
        kind = KIND_ALIASES.get(kind, kind)
        if kind not in Brief.Kind.values:
            errors.add(number, "kind", f"unknown kind '{cell(row, 'kind')}'; use one of {', '.join(Brief.Kind.values)}")
        title = cell(row, "title")
        if len(title) > 200:
            errors.add(number, "title", "is longer than 200 characters")
        metadata = {k: v for k, v in row.items() if k not in BRIEF_COLUMNS}
        briefs.append(Brief(study=study, external_id=external_id, text=text, title=title, kind=kind, metadata=metadata))
    errors.raise_if_any()
    with transaction.atomic():
        Brief.objects.bulk_create(briefs, batch_size=1000)
    return ImportResult({"briefs": len(briefs)})


# --- candidates ---------------------------------------------------------------------------

SCORE_PREFIX = "score:"


def candidates_import(*, study: Study, data: bytes | Table, filename: str = "candidates.csv") -> ImportResult:
    """Import outputs made elsewhere: ``id, brief, condition, text``, optional ``reference``
    (true for human-written) and ``score:<name>`` columns.

    A condition name not yet in the study creates an ``imported`` condition; its ``reference``
    flag comes from the file and must agree across its rows.
    """
    table = _load(data, filename)
    require_columns(table, ["id", "brief", "condition", "text"], "a candidates file")
    errors = _Errors()
    score_columns = [c for c in table.columns if c.startswith(SCORE_PREFIX)]
    for column in score_columns:
        if not column[len(SCORE_PREFIX):].strip():
            errors.add(1, column, "a score column needs a name after 'score:'")
    briefs = {b.external_id: b for b in Brief.objects.filter(study=study)}
    conditions = {c.name: c for c in Condition.objects.filter(study=study)}
    existing = set(Candidate.objects.filter(study=study).exclude(external_id="").values_list("external_id", flat=True))
    _check_unique(errors, table.rows, "id", existing, "candidate")

    reference_of: dict[str, tuple[bool, int]] = {}
    next_sample: dict[tuple[str, str], int] = defaultdict(int)
    for brief_id, cond_name, index in Candidate.objects.filter(study=study, condition__isnull=False).values_list(
        "brief__external_id", "condition__name", "sample_index"
    ):
        next_sample[(brief_id, cond_name)] = max(next_sample[(brief_id, cond_name)], index + 1)

    parsed = []
    for number, row in enumerate(table.rows, start=1):
        external_id, brief_id, cond_name, text = (cell(row, c) for c in ("id", "brief", "condition", "text"))
        if not external_id:
            errors.add(number, "id", "is empty")
        if not text:
            errors.add(number, "text", "is empty")
        if not brief_id:
            errors.add(number, "brief", "is empty")
        elif brief_id not in briefs:
            errors.add(number, "brief", f"unknown brief '{brief_id}': import it with import_briefs first")
        if not cond_name:
            errors.add(number, "condition", "is empty")
        elif len(cond_name) > 100:
            errors.add(number, "condition", "is longer than 100 characters")
        reference = parse_bool(cell(row, "reference"))
        if reference is None:
            errors.add(number, "reference", f"'{cell(row, 'reference')}' is not true/false")
            reference = False
        if cond_name:
            if cond_name in conditions and "reference" in row and conditions[cond_name].reference != reference:
                errors.add(number, "reference", f"condition '{cond_name}' already has reference={conditions[cond_name].reference}")
            seen = reference_of.setdefault(cond_name, (reference, number))
            if seen[0] != reference:
                errors.add(number, "reference", f"condition '{cond_name}' has reference={seen[0]} on row {seen[1]}")
        scores = {}
        for column in score_columns:
            raw = cell(row, column)
            if raw == "":
                continue
            value = parse_float(raw)
            if value is None:
                errors.add(number, column, f"'{raw}' is not a number")
            else:
                scores[column[len(SCORE_PREFIX):].strip()] = value
        parsed.append((external_id, brief_id, cond_name, text, scores))
    errors.raise_if_any()

    with transaction.atomic():
        for name, (reference, _) in reference_of.items():
            if name not in conditions:
                conditions[name] = Condition.objects.create(
                    study=study, name=name, kind=Condition.Kind.IMPORTED, reference=reference
                )
        candidates = []
        for external_id, brief_id, cond_name, text, _ in parsed:
            key = (brief_id, cond_name)
            candidates.append(Candidate(
                study=study, brief=briefs[brief_id], condition=conditions[cond_name], sample_index=next_sample[key],
                external_id=external_id, text=text, provenance={"source": "import", "file": filename},
            ))
            next_sample[key] += 1
        Candidate.objects.bulk_create(candidates, batch_size=1000)
        saved = dict(Candidate.objects.filter(study=study, external_id__in=[p[0] for p in parsed])
                     .values_list("external_id", "id"))
        scores = [Score(candidate_id=saved[p[0]], name=name, value=value) for p in parsed for name, value in p[4].items()]
        Score.objects.bulk_create(scores, batch_size=5000)
    study_items_changed(study)
    return ImportResult({"candidates": len(candidates), "scores": len(scores),
                         "new conditions": sum(1 for n in reference_of if n in conditions)})


# --- judgments ----------------------------------------------------------------------------


def judgments_import(*, study: Study, data: bytes | Table, filename: str = "judgments.csv") -> ImportResult:
    """Import judgments collected elsewhere.

    Columns: ``rater, criterion`` and either ``item, value`` (rating studies) or
    ``item_a, item_b, choice`` (pairwise; choice ``a``/``b``/``tie``); optional ``panel``
    (default: the study's only panel, else a crowd panel named "imported"), ``strength``
    (1-3 or slight/clear/strong), ``rationale``, ``seconds``. Items are candidate ids.
    """
    table = _load(data, filename)
    pairwise = study.task == Study.Task.PAIRWISE
    if pairwise:
        require_columns(table, ["rater", "criterion", "item_a", "item_b", "choice"], "a pairwise judgments file")
    else:
        require_columns(table, ["rater", "criterion", "item", "value"], "a rating judgments file")
    errors = _Errors()
    criteria = set(study.criterion_names)
    candidates = {c.external_id: c for c in Candidate.objects.filter(study=study).exclude(external_id="")}
    panels = {p.name: p for p in Panel.objects.filter(study=study)}
    default_panel = next(iter(panels)) if len(panels) == 1 else IMPORTED_PANEL
    raters_in_db = {r.external_id: r for r in Rater.objects.filter(panel__study=study).exclude(external_id="")
                    .select_related("panel")}
    comparisons = {
        (a, b): comp
        for comp in Comparison.objects.filter(study=study).select_related("candidate_a", "candidate_b")
        for a, b in [(comp.candidate_a.external_id, comp.candidate_b.external_id)]
    }

    rater_panel: dict[str, tuple[str, int]] = {}
    seen_keys: dict[tuple, int] = {}
    parsed = []
    for number, row in enumerate(table.rows, start=1):
        rater_id, criterion = cell(row, "rater"), cell(row, "criterion")
        panel_name = cell(row, "panel") or default_panel
        if not rater_id:
            errors.add(number, "rater", "is empty")
        if criterion not in criteria:
            errors.add(number, "criterion", f"unknown criterion '{criterion}'; the study has {', '.join(sorted(criteria))}")
        if rater_id:
            known = raters_in_db.get(rater_id)
            if known is not None and known.panel.name != panel_name:
                errors.add(number, "panel", f"rater '{rater_id}' belongs to panel '{known.panel.name}', not '{panel_name}'")
            first = rater_panel.setdefault(rater_id, (panel_name, number))
            if first[0] != panel_name:
                errors.add(number, "panel", f"rater '{rater_id}' is in panel '{first[0]}' on row {first[1]}")
        strength = None
        raw_strength = cell(row, "strength").lower()
        if raw_strength:
            strength = STRENGTH_WORDS.get(raw_strength)
            if strength is None:
                errors.add(number, "strength", f"'{raw_strength}' is not 1-3 or slight/clear/strong")
        seconds = None
        if cell(row, "seconds"):
            seconds = parse_float(cell(row, "seconds"))
            if seconds is None or seconds < 0:
                errors.add(number, "seconds", f"'{cell(row, 'seconds')}' is not a non-negative number")
        record = {"row": number, "rater": rater_id, "panel": panel_name, "criterion": criterion,
                  "strength": strength, "rationale": cell(row, "rationale"), "seconds": seconds}
        if pairwise:
            a, b, choice = cell(row, "item_a"), cell(row, "item_b"), cell(row, "choice").lower()
            for column, value in (("item_a", a), ("item_b", b)):
                if value not in candidates:
                    errors.add(number, column, f"unknown candidate '{value}'" if value else "is empty")
            if a and a == b:
                errors.add(number, "item_b", "is the same candidate as item_a")
            elif a in candidates and b in candidates and candidates[a].brief_id != candidates[b].brief_id:
                errors.add(number, "item_b", f"'{b}' answers a different brief than '{a}'")
            if choice not in ("a", "b", "tie"):
                errors.add(number, "choice", f"'{cell(row, 'choice')}' is not a, b or tie")
            item = tuple(sorted((a, b)))
            record |= {"a": a, "b": b, "choice": choice}
        else:
            item = cell(row, "item")
            if item not in candidates:
                errors.add(number, "item", f"unknown candidate '{item}'" if item else "is empty")
            value = parse_float(cell(row, "value"))
            if value is None:
                errors.add(number, "value", f"'{cell(row, 'value')}' is not a number")
            elif not study.likert_min <= value <= study.likert_max:
                errors.add(number, "value", f"{value:g} is outside the study's scale {study.likert_min}-{study.likert_max}")
            record |= {"item": item, "value": value}
        key = (rater_id, item, criterion)
        if key in seen_keys:
            errors.add(number, None, f"duplicate judgment: rater '{rater_id}' already judged this item on "
                                     f"'{criterion}' on row {seen_keys[key]}")
        else:
            seen_keys[key] = number
        parsed.append(record)
    errors.raise_if_any()
    _check_not_already_judged(study, parsed, pairwise, raters_in_db, candidates, comparisons, errors)
    errors.raise_if_any()
    return _write_judgments(study, parsed, pairwise, panels, raters_in_db, candidates, comparisons)


def _check_not_already_judged(study, parsed, pairwise, raters_in_db, candidates, comparisons, errors) -> None:
    existing = set()
    rater_ids = [r.id for ext, r in raters_in_db.items()]
    if not rater_ids:
        return
    for rater_ext, item_a, item_b, crit in Judgment.objects.filter(assignment__rater_id__in=rater_ids).values_list(
        "assignment__rater__external_id",
        "assignment__comparison__candidate_a__external_id" if pairwise else "assignment__candidate__external_id",
        "assignment__comparison__candidate_b__external_id" if pairwise else "assignment__candidate__external_id",
        "criterion",
    ):
        item = tuple(sorted((item_a, item_b))) if pairwise else item_a
        existing.add((rater_ext, item, crit))
    for record in parsed:
        item = tuple(sorted((record["a"], record["b"]))) if pairwise else record["item"]
        if (record["rater"], item, record["criterion"]) in existing:
            errors.add(record["row"], None, f"rater '{record['rater']}' already has a judgment of this item on "
                                            f"'{record['criterion']}' in the study")


def _write_judgments(study, parsed, pairwise, panels, raters_in_db, candidates, comparisons) -> ImportResult:
    now = timezone.now()
    created = defaultdict(int)
    with transaction.atomic():
        for name in {r["panel"] for r in parsed} - set(panels):
            panels[name] = Panel.objects.create(study=study, name=name, kind=Panel.Kind.CROWD)
            created["panels"] += 1
        raters = dict(raters_in_db)
        new_raters = [Rater(panel=panels[r["panel"]], external_id=r["rater"], consent_at=now)
                      for r in {r["rater"]: r for r in parsed if r["rater"] not in raters}.values()]
        Rater.objects.bulk_create(new_raters, batch_size=1000)
        created["raters"] = len(new_raters)
        raters.update({r.external_id: r for r in Rater.objects.filter(panel__study=study, external_id__in=[
            r.external_id for r in new_raters])})

        if pairwise:
            new_pairs = {}
            for r in parsed:
                if (r["a"], r["b"]) not in comparisons and (r["b"], r["a"]) not in comparisons:
                    new_pairs.setdefault(tuple(sorted((r["a"], r["b"]))), r)
            Comparison.objects.bulk_create(
                [Comparison(study=study, brief_id=candidates[a].brief_id, candidate_a=candidates[a],
                            candidate_b=candidates[b]) for a, b in new_pairs], batch_size=1000)
            created["comparisons"] = len(new_pairs)
            for comp in Comparison.objects.filter(study=study).select_related("candidate_a", "candidate_b"):
                comparisons[(comp.candidate_a.external_id, comp.candidate_b.external_id)] = comp

        def item_of(r):
            if not pairwise:
                return candidates[r["item"]], False
            comp = comparisons.get((r["a"], r["b"]))
            return (comp, False) if comp is not None else (comparisons[(r["b"], r["a"])], True)

        assignments: dict[tuple, Assignment] = {}
        for r in parsed:
            item, flipped = item_of(r)
            key = (r["rater"], item.pk)
            if key not in assignments:
                assignments[key] = Assignment(
                    rater=raters[r["rater"]], status=Assignment.Status.DONE, completed_at=now,
                    left_is_a=not flipped, client_key=f"import:{r['row']}",
                    **({"comparison": item} if pairwise else {"candidate": item}),
                )
        Assignment.objects.bulk_create(list(assignments.values()), batch_size=1000)
        created["assignments"] = len(assignments)
        item_loads_invalidate(study=study, item_ids={a.comparison_id or a.candidate_id for a in assignments.values()})
        judgments = []
        for r in parsed:
            item, flipped = item_of(r)
            choice = r.get("choice", "")
            if flipped and choice in ("a", "b"):
                choice = "b" if choice == "a" else "a"
            judgments.append(Judgment(
                assignment=assignments[(r["rater"], item.pk)], criterion=r["criterion"], choice=choice,
                value=r.get("value"), strength=r["strength"], rationale=r["rationale"], seconds=r["seconds"],
                source="import",
            ))
        Judgment.objects.bulk_create(judgments, batch_size=2000)
        created["judgments"] = len(judgments)
    study_items_changed(study)
    return ImportResult(dict(created))
