"""The analysis frames built from the database follow the input contract of annotations.analysis."""

import numpy as np
import pytest

from annotations.analysis import CONDITION_COLUMNS, PAIRWISE_COLUMNS, RATING_COLUMNS, SCORE_COLUMNS
from annotations.models import Judgment
from annotations.selectors import study_analysis_frames, study_data_version, study_summary

from .conftest import judge

pytestmark = pytest.mark.django_db


def test_pairwise_frames_have_the_contract_columns_and_one_row_per_judgment(pairwise_study):
    frames = study_analysis_frames(study=pairwise_study["study"])
    assert list(frames.pj.columns) == list(PAIRWISE_COLUMNS)
    assert len(frames.pj) == Judgment.objects.count() == (6 * 6 + 4 * 2) * 2
    assert frames.rj.empty and list(frames.rj.columns) == list(RATING_COLUMNS)
    assert list(frames.scores.columns) == list(SCORE_COLUMNS)
    assert list(frames.conditions.columns) == list(CONDITION_COLUMNS)


def test_choices_stay_canonical_whatever_side_was_shown(pairwise_study):
    pj = study_analysis_frames(study=pairwise_study["study"]).pj
    e1 = pairwise_study["raters"]["e1"].pseudonym
    rows = pj[(pj["rater"] == e1) & ~pj["attention_check"] & (pj["criterion"] == "novelty")]
    # e1 picked canonical A everywhere, shown left on some items and right on others
    assert set(rows["choice"]) == {"a"}
    assert set(rows["left_is_a"]) == {True, False}
    assert (rows["cond_a"] != rows["cond_b"]).all()
    comp = pairwise_study["comparisons"][0]
    row = rows[rows["item"] == comp.pk].iloc[0]
    assert (row["cand_a"], row["cand_b"]) == (comp.candidate_a_id, comp.candidate_b_id)
    assert (row["cond_a"], row["cond_b"]) == ("steered", "base")
    assert row["brief"] == comp.brief_id


def test_raters_appear_under_their_pseudonym_with_flags(pairwise_study):
    pj = study_analysis_frames(study=pairwise_study["study"]).pj
    raters = pairwise_study["raters"]
    assert not set(pj["rater"]) & {r.external_id for r in raters.values()}
    flagged = pj[pj["rater_flagged"]]
    assert set(flagged["rater"]) == {raters["c3"].pseudonym}
    assert set(pj.loc[pj["simulated"], "rater"]) == {raters["s1"].pseudonym}
    assert set(pj.loc[pj["rater"] == raters["e1"].pseudonym, "panel"]) == {"experts"}


def test_attention_checks_are_marked_and_only_they_carry_a_pass(pairwise_study):
    pj = study_analysis_frames(study=pairwise_study["study"]).pj
    checks = pj[pj["attention_check"]]
    assert len(checks) == 4 * 2 * 2
    assert checks["cond_b"].isna().all()  # the decoy has no condition
    c3 = pairwise_study["raters"]["c3"].pseudonym
    assert set(checks.loc[checks["rater"] == c3, "attention_passed"]) == {False}
    assert set(checks.loc[checks["rater"] != c3, "attention_passed"]) == {True}
    assert pj.loc[~pj["attention_check"], "attention_passed"].isna().all()


def test_an_imported_attention_check_without_a_pass_is_scored_from_the_expected_side(pairwise_study):
    check = next(c for c in pairwise_study["comparisons"] if c.attention_check)
    rater = pairwise_study["raters"]["c2"]
    judge(rater, comparison=check, novelty="b", overall="a", source="import")
    pj = study_analysis_frames(study=pairwise_study["study"]).pj
    mine = pj[(pj["rater"] == rater.pseudonym) & pj["attention_check"]].set_index("criterion")
    assert mine.loc["novelty", "attention_passed"] == False  # noqa: E712
    assert mine.loc["overall", "attention_passed"] == True  # noqa: E712


def test_rating_frames_carry_conditions_values_and_decoys(rating_study):
    frames = study_analysis_frames(study=rating_study["study"])
    rj = frames.rj
    assert frames.pj.empty
    assert list(rj.columns) == list(RATING_COLUMNS)
    assert len(rj) == (9 + 1) * 2
    steered = rj[(rj["condition"] == "steered") & (rj["criterion"] == "surprise")]
    assert sorted(steered["value"]) == [4.0, 4.0, 5.0]
    decoy = rj[rj["item"] == rating_study["decoy"].pk]
    assert decoy["attention_check"].all() and decoy["condition"].isna().all()
    assert set(frames.scores["condition"]) == {"base", "steered", "human"}
    assert frames.conditions.set_index("name").loc["human", "reference"] == True  # noqa: E712


def test_scores_leave_decoys_out_and_name_brief_and_condition(pairwise_study):
    scores = study_analysis_frames(study=pairwise_study["study"]).scores
    assert len(scores) == 6 and set(scores["name"]) == {"creativity"}
    c = pairwise_study["candidates"][("steered", 1)]
    row = scores[scores["candidate"] == c.pk].iloc[0]
    assert (row["brief"], row["condition"]) == (c.brief_id, "steered")
    assert np.isclose(row["value"], 1.0)


def test_the_frames_take_a_fixed_number_of_queries_however_many_judgments(pairwise_study, django_assert_max_num_queries):
    with django_assert_max_num_queries(7):
        study_analysis_frames(study=pairwise_study["study"])


def test_the_data_version_changes_when_a_judgment_arrives_or_a_rater_is_excluded(pairwise_study):
    study = pairwise_study["study"]
    v1 = study_data_version(study=study)
    assert study_data_version(study=study) == v1
    judge(pairwise_study["raters"]["c2"], comparison=pairwise_study["comparisons"][3], novelty="a")
    v2 = study_data_version(study=study)
    assert v2 != v1
    rater = pairwise_study["raters"]["c1"]
    rater.excluded = True
    rater.save()
    assert study_data_version(study=study) != v2


def test_the_summary_counts_exclusions_and_simulated_data(pairwise_study):
    summary = study_summary(study=pairwise_study["study"])
    assert summary["raters"] == 6 and summary["excluded_raters"] == 1 and summary["simulated_raters"] == 1
    assert summary["judgments_by_excluded_raters"] == (6 + 2) * 2
    assert summary["judgments_by_simulated_raters"] == (6 + 2) * 2
    assert summary["attention_check_judgments"] == 4 * 2 * 2
