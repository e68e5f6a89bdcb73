"""Reads used by views, the API, reports and exports.

The analysis frames follow the input contract of ``annotations.analysis`` (see its package
docstring for the column names). They are built with one ``values_list`` query per table and
joined in pandas: a study of 100,000 judgments is a handful of queries, never one per row,
and each panel name, pseudonym or condition name travels from the database once per row of
its own table instead of once per judgment.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from django.db.models import CharField, Count, Max, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Cast, Coalesce, Concat

from annotations.analysis import (
    CONDITION_COLUMNS,
    JUDGE_COLUMNS,
    PAIRWISE_COLUMNS,
    RATING_COLUMNS,
    SCORE_COLUMNS,
)
from annotations.models import (
    Candidate,
    Comparison,
    Condition,
    JudgeVerdict,
    Judgment,
    Panel,
    Rater,
    Score,
    Study,
)


@dataclass
class StudyFrames:
    """Everything ``build_report`` reads about one study."""

    pj: pd.DataFrame
    rj: pd.DataFrame
    scores: pd.DataFrame
    conditions: pd.DataFrame
    judge: pd.DataFrame
    raters: pd.DataFrame = field(default_factory=pd.DataFrame)


# --- small tables ------------------------------------------------------------------------


def study_raters_frame(*, study: Study) -> pd.DataFrame:
    """One row per rater: id, pseudonym, panel, panel_kind, excluded, exclusion_reason, simulated."""
    rows = Rater.objects.filter(panel__study=study).values_list(
        "id", "pseudonym", "panel__name", "panel__kind", "excluded", "exclusion_reason", "simulated"
    )
    return pd.DataFrame.from_records(
        list(rows),
        columns=["id", "pseudonym", "panel", "panel_kind", "excluded", "exclusion_reason", "simulated"],
    )


def study_candidates_frame(*, study: Study) -> pd.DataFrame:
    """One row per candidate (decoys included): id, brief, condition (None for decoys), is_decoy."""
    rows = Candidate.objects.filter(study=study).values_list("id", "brief_id", "condition__name", "decoy_of_id")
    df = pd.DataFrame.from_records(list(rows), columns=["id", "brief", "condition", "decoy_of"])
    df["is_decoy"] = df["decoy_of"].notna() | df["condition"].isna()
    return df.drop(columns="decoy_of")


def study_conditions_frame(*, study: Study) -> pd.DataFrame:
    rows = Condition.objects.filter(study=study).values_list("name", "kind", "reference")
    return pd.DataFrame.from_records(list(rows), columns=list(CONDITION_COLUMNS))


def study_scores_frame(*, study: Study) -> pd.DataFrame:
    """Automatic scores of the study's candidates (decoys left out: they have no condition)."""
    rows = Score.objects.filter(candidate__study=study, candidate__condition__isnull=False).values_list(
        "candidate_id", "candidate__brief_id", "candidate__condition__name", "name", "value"
    )
    return pd.DataFrame.from_records(list(rows), columns=list(SCORE_COLUMNS))


def study_judge_frame(*, study: Study) -> pd.DataFrame:
    rows = JudgeVerdict.objects.filter(comparison__study=study).values_list("comparison_id", "judge", "choice")
    return pd.DataFrame.from_records(list(rows), columns=list(JUDGE_COLUMNS))


# --- judgments ---------------------------------------------------------------------------

_JUDGMENT_FIELDS = (
    "id", "assignment__rater_id", "criterion", "assignment__comparison_id", "assignment__candidate_id",
    "choice", "value", "strength", "assignment__left_is_a", "seconds", "attention_passed",
)
_JUDGMENT_NAMES = (
    "judgment", "rater_id", "criterion", "comparison", "candidate",
    "choice", "value", "strength", "left_is_a", "seconds", "attention_passed",
)


def _judgments(study: Study) -> pd.DataFrame:
    """All judgments of the study, joined only with their assignment (one query)."""
    rows = (
        Judgment.objects.filter(assignment__rater__panel__study=study)
        .order_by("id")
        .values_list(*_JUDGMENT_FIELDS)
    )
    return pd.DataFrame.from_records(list(rows), columns=list(_JUDGMENT_NAMES))


def _with_raters(df: pd.DataFrame, raters: pd.DataFrame) -> pd.DataFrame:
    r = raters.set_index("id")
    idx = r.index.get_indexer(df["rater_id"])
    df["panel"] = r["panel"].to_numpy()[idx]
    df["rater"] = r["pseudonym"].to_numpy()[idx]
    df["rater_flagged"] = r["excluded"].to_numpy(dtype=bool)[idx]
    df["simulated"] = r["simulated"].to_numpy(dtype=bool)[idx]
    return df


def _bool_or_nan(values: pd.Series) -> pd.Series:
    """True / False / NaN as an object column (the contract's "bool or NaN")."""
    out = values.astype(object)
    return out.where(values.notna(), np.nan)


def _pairwise_frame(j: pd.DataFrame, study: Study, candidates: pd.DataFrame) -> pd.DataFrame:
    j = j[j["comparison"].notna() & (j["choice"] != "")].copy()
    comps = pd.DataFrame.from_records(
        list(Comparison.objects.filter(study=study).values_list(
            "id", "brief_id", "candidate_a_id", "candidate_b_id", "attention_check", "expected_choice")),
        columns=["id", "brief", "cand_a", "cand_b", "attention_check", "expected_choice"],
    ).set_index("id")
    idx = comps.index.get_indexer(j["comparison"].astype("int64"))
    j["item"] = j["comparison"].astype("int64")
    for col in ("brief", "cand_a", "cand_b", "attention_check", "expected_choice"):
        j[col] = comps[col].to_numpy()[idx]
    cond = candidates.set_index("id")["condition"]
    j["cond_a"] = cond.reindex(j["cand_a"]).to_numpy()
    j["cond_b"] = cond.reindex(j["cand_b"]).to_numpy()
    j["attention_check"] = j["attention_check"].astype(bool)
    # Imported judgments carry no attention_passed: derive it from the expected side.
    derived = j["choice"] == j["expected_choice"]
    passed = j["attention_passed"].where(j["attention_passed"].notna(), derived)
    j["attention_passed"] = _bool_or_nan(passed.where(j["attention_check"]))
    j["strength"] = j["strength"].astype(float)
    j["seconds"] = j["seconds"].astype(float)
    j["left_is_a"] = j["left_is_a"].astype(bool)
    return j[list(PAIRWISE_COLUMNS)].reset_index(drop=True)


def _rating_frame(j: pd.DataFrame, candidates: pd.DataFrame) -> pd.DataFrame:
    j = j[j["candidate"].notna() & j["value"].notna()].copy()
    c = candidates.set_index("id")
    idx = c.index.get_indexer(j["candidate"].astype("int64"))
    j["item"] = j["candidate"].astype("int64")
    j["brief"] = c["brief"].to_numpy()[idx]
    j["condition"] = c["condition"].to_numpy()[idx]
    j["attention_check"] = c["is_decoy"].to_numpy(dtype=bool)[idx]
    j["attention_passed"] = _bool_or_nan(j["attention_passed"].where(j["attention_check"]))
    j["value"] = j["value"].astype(float)
    j["seconds"] = j["seconds"].astype(float)
    return j[list(RATING_COLUMNS)].reset_index(drop=True)


def study_analysis_frames(*, study: Study) -> StudyFrames:
    """The DataFrames ``build_report`` takes, for one study (six queries in all).

    ``rater`` is the rater's pseudonym (stable, never the external id); ``rater_flagged`` is
    the rater's ``excluded`` flag. Judgments of comparisons fill ``pj``, judgments of single
    candidates fill ``rj``; a study normally has only one of the two.
    """
    raters = study_raters_frame(study=study)
    candidates = study_candidates_frame(study=study)
    j = _with_raters(_judgments(study), raters)
    pj = _pairwise_frame(j, study, candidates) if j["comparison"].notna().any() else _empty(PAIRWISE_COLUMNS)
    rj = _rating_frame(j, candidates) if j["candidate"].notna().any() else _empty(RATING_COLUMNS)
    return StudyFrames(
        pj=pj, rj=rj, scores=study_scores_frame(study=study), conditions=study_conditions_frame(study=study),
        judge=study_judge_frame(study=study), raters=raters,
    )


def _empty(columns) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


# --- versions and summaries --------------------------------------------------------------


def _fingerprint(qs, *aggregates):
    """A scalar subquery: the aggregates of ``qs`` joined into one text value, so each table is
    scanned once however many figures we take from it."""
    parts = []
    for aggregate in aggregates:
        parts += [Cast(Coalesce(aggregate, 0), CharField()), Value(".")]
    return Subquery(qs.order_by().values(_k=Value(1)).annotate(v=Concat(*parts[:-1], output_field=CharField()))
                    .values("v")[:1], output_field=CharField())


def study_data_version(*, study: Study) -> str:
    """A string that changes whenever the data behind the report changes (one query).

    Built from the largest id and the count of judgments, scores and judge verdicts (rows
    arriving or being deleted), and from the excluded and simulated raters and the reference
    conditions (a rater being excluded changes every aggregate). Ids only grow, so "same max id
    and same count" means "same rows" unless rows were edited in place, which the platform
    does not do for these.
    """
    study_id = OuterRef("pk")
    row = (
        Study.objects.filter(pk=study.pk)
        .annotate(
            j=_fingerprint(Judgment.objects.filter(assignment__rater__panel__study_id=study_id), Max("id"), Count("id")),
            s=_fingerprint(Score.objects.filter(candidate__study_id=study_id), Max("id"), Count("id")),
            v=_fingerprint(JudgeVerdict.objects.filter(comparison__study_id=study_id), Max("id"), Count("id")),
            r=_fingerprint(Rater.objects.filter(panel__study_id=study_id), Count("id"),
                           Sum("id", filter=Q(excluded=True)), Sum("id", filter=Q(simulated=True))),
            c=_fingerprint(Condition.objects.filter(study_id=study_id), Count("id"), Sum("id", filter=Q(reference=True))),
        )
        .values_list("j", "s", "v", "r", "c")
        .get()
    )
    return "-".join(x or "0" for x in row)


def study_summary(*, study: Study) -> dict:
    """Counts for the report page header: judgments, raters, exclusions, simulated data."""
    judgments = Judgment.objects.filter(assignment__rater__panel__study=study)
    counts = judgments.aggregate(
        total=Count("id"),
        by_excluded=Count("id", filter=Q(assignment__rater__excluded=True)),
        by_simulated=Count("id", filter=Q(assignment__rater__simulated=True)),
        attention=Count("id", filter=Q(assignment__comparison__attention_check=True)
                        | Q(assignment__candidate__decoy_of__isnull=False)),
        too_fast=Count("id", filter=Q(too_fast=True)),
    )
    raters = Rater.objects.filter(panel__study=study).aggregate(
        total=Count("id"), excluded=Count("id", filter=Q(excluded=True)),
        simulated=Count("id", filter=Q(simulated=True)),
    )
    return {
        "judgments": counts["total"],
        "judgments_by_excluded_raters": counts["by_excluded"],
        "judgments_by_simulated_raters": counts["by_simulated"],
        "attention_check_judgments": counts["attention"],
        "too_fast_judgments": counts["too_fast"],
        "raters": raters["total"],
        "excluded_raters": raters["excluded"],
        "simulated_raters": raters["simulated"],
        "panels": list(Panel.objects.filter(study=study).values("name", "kind")),
        "conditions": list(Condition.objects.filter(study=study).values("name", "kind", "reference")),
    }


def study_list_for_reports() -> list[Study]:
    """Studies for the researchers' report index, newest first."""
    return list(Study.objects.order_by("-id"))
