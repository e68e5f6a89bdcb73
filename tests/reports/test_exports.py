"""Exports: one row per judgment with its provenance, in CSV, JSONL and Parquet; spreadsheet
formulas neutralised; external ids only when asked."""

import csv
import io
import json
from io import StringIO

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from django.core.management import call_command

from annotations.models import Judgment
from annotations.services.exports import (
    csv_safe,
    export_columns,
    judgment_export_rows,
    judgments_export,
    report_table_csv,
    write_parquet,
)
from annotations.services.reports import report_for_study

from .conftest import judge

pytestmark = pytest.mark.django_db


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_the_csv_export_has_one_row_per_judgment_with_canonical_and_shown_choices(pairwise_study, tmp_path):
    path = tmp_path / "j.csv"
    assert judgments_export(study=pairwise_study["study"], fmt="csv", target=path) == Judgment.objects.count()
    rows = read_csv(path)
    assert len(rows) == Judgment.objects.count()
    assert list(rows[0]) == [name for name, _ in export_columns()]
    for row in rows:
        if row["choice"] in ("a", "b"):
            left_won = (row["choice"] == "a") == (row["left_is_a"] == "true")
            assert row["choice_shown"] == ("left" if left_won else "right")
            shown_left = row["candidate_a_id"] if row["left_is_a"] == "true" else row["candidate_b_id"]
            assert row["shown_left_candidate_id"] == shown_left
        else:
            assert row["choice_shown"] == row["choice"] == "tie"
    assert {r["choice_shown"] for r in rows} == {"left", "right", "tie"}


def test_a_row_carries_the_item_its_conditions_and_provenance(pairwise_study, tmp_path):
    path = tmp_path / "j.csv"
    judgments_export(study=pairwise_study["study"], fmt="csv", target=path)
    comp = pairwise_study["comparisons"][0]
    e1 = pairwise_study["raters"]["e1"]
    row = next(r for r in read_csv(path) if r["comparison_id"] == str(comp.pk) and r["rater"] == e1.pseudonym
               and r["criterion"] == "novelty")
    assert (row["study"], row["task"], row["panel"], row["panel_kind"]) == ("ads", "pairwise", "experts", "expert")
    assert (row["candidate_a_external_id"], row["candidate_b_external_id"]) == ("steered0", "base0")
    assert (row["condition_a"], row["condition_b"], row["brief_external_id"]) == ("steered", "base", "brief0")
    assert json.loads(row["provenance_a"]) == {"model": "steered", "seed": 0}
    assert (row["attention_check"], row["attention_passed"], row["source"]) == ("false", "", "web")
    assert row["seconds"] == "10.0" and row["created_at"].endswith("+00:00")


def test_rater_flags_and_attention_checks_are_in_the_export(pairwise_study, tmp_path):
    path = tmp_path / "j.csv"
    judgments_export(study=pairwise_study["study"], fmt="csv", target=path)
    rows = read_csv(path)
    c3, s1 = pairwise_study["raters"]["c3"], pairwise_study["raters"]["s1"]
    c3_rows = [r for r in rows if r["rater"] == c3.pseudonym]
    assert {(r["rater_excluded"], r["rater_exclusion_reason"]) for r in c3_rows} == {
        ("true", "failed 2 of 2 attention checks")}
    assert {r["too_fast"] for r in c3_rows if r["attention_check"] == "false"} == {"true"}
    assert {r["attention_passed"] for r in c3_rows if r["attention_check"] == "true"} == {"false"}
    assert {r["rater_simulated"] for r in rows if r["rater"] == s1.pseudonym} == {"true"}
    assert {r["rater_simulated"] for r in rows if r["rater"] != s1.pseudonym} == {"false"}


def test_external_ids_are_left_out_unless_asked_for(pairwise_study, tmp_path):
    plain, full = tmp_path / "plain.csv", tmp_path / "full.csv"
    judgments_export(study=pairwise_study["study"], fmt="csv", target=plain)
    judgments_export(study=pairwise_study["study"], fmt="csv", target=full, with_external_ids=True)
    assert "PROLIFIC-111" not in plain.read_text() and "rater_external_id" not in plain.read_text()
    rows = read_csv(full)
    c1 = pairwise_study["raters"]["c1"]
    assert {r["rater_external_id"] for r in rows if r["rater"] == c1.pseudonym} == {"PROLIFIC-111"}


def test_the_jsonl_export_keeps_provenance_as_objects(pairwise_study, tmp_path):
    path = tmp_path / "j.jsonl"
    judgments_export(study=pairwise_study["study"], fmt="jsonl", target=path)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(lines) == Judgment.objects.count()
    first = lines[0]
    assert list(first) == [name for name, _ in export_columns()]
    assert isinstance(first["provenance_a"], dict) and first["provenance"] is None
    assert isinstance(first["left_is_a"], bool) and isinstance(first["judgment_id"], int)


def test_the_parquet_export_reads_back_with_its_types(pairwise_study, tmp_path):
    path = tmp_path / "j.parquet"
    judgments_export(study=pairwise_study["study"], fmt="parquet", target=path, with_external_ids=True)
    table = pq.read_table(path)
    assert table.num_rows == Judgment.objects.count()
    assert table.schema.field("judgment_id").type == pa.int64()
    assert table.schema.field("left_is_a").type == pa.bool_()
    assert table.schema.field("created_at").type == pa.timestamp("us", tz="UTC")
    assert "rater_external_id" in table.column_names
    rows = table.to_pylist()
    assert sorted(r["judgment_id"] for r in rows) == sorted(Judgment.objects.values_list("id", flat=True))
    assert json.loads(rows[0]["provenance_a"])["model"] in {"steered", "human"}


def test_parquet_is_written_in_row_groups(pairwise_study, tmp_path):
    path = tmp_path / "j.parquet"
    rows = judgment_export_rows(study=pairwise_study["study"], chunk_size=7)
    n = write_parquet(rows, path, export_columns(), row_group_size=10)
    assert n == 88
    assert pq.ParquetFile(path).metadata.num_row_groups == 9


def test_a_study_without_judgments_exports_a_header_only(db, tmp_path):
    from annotations.services.studies import study_create

    study = study_create(slug="empty", task="rating")
    judgments_export(study=study, fmt="csv", target=tmp_path / "e.csv")
    judgments_export(study=study, fmt="parquet", target=tmp_path / "e.parquet")
    assert read_csv(tmp_path / "e.csv") == []
    assert pq.read_table(tmp_path / "e.parquet").num_rows == 0


def test_rating_judgments_export_their_candidate_and_value(rating_study, tmp_path):
    path = tmp_path / "r.csv"
    judgments_export(study=rating_study["study"], fmt="csv", target=path)
    rows = read_csv(path)
    steered = [r for r in rows if r["condition"] == "steered" and r["criterion"] == "surprise"]
    assert sorted(float(r["value"]) for r in steered) == [4.0, 4.0, 5.0]
    assert {r["task"] for r in rows} == {"rating"}
    decoy = [r for r in rows if r["candidate_external_id"] == "decoy"]
    assert {(r["attention_check"], r["attention_passed"]) for r in decoy} == {("true", "true")}


@pytest.mark.parametrize("text", ["=HYPERLINK(\"http://x\")", "+1+2", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"])
def test_formula_like_text_is_quoted_in_csv(pairwise_study, tmp_path, text):
    rater = pairwise_study["raters"]["e1"].panel.raters.create(external_id="=cmd|' /C calc'!A0")
    judge(rater, comparison=pairwise_study["comparisons"][0], novelty="a", rationale=text)
    path = tmp_path / "j.csv"
    judgments_export(study=pairwise_study["study"], fmt="csv", target=path, with_external_ids=True)
    row = next(r for r in read_csv(path) if r["rater"] == rater.pseudonym)
    assert row["rationale"] == "'" + text
    assert row["rater_external_id"] == "'=cmd|' /C calc'!A0"


def test_plain_text_and_numbers_are_not_quoted():
    assert csv_safe("a fine idea") == "a fine idea"
    assert csv_safe(-1.5) == -1.5
    assert csv_safe("") == ""


def test_the_command_writes_each_format(pairwise_study, tmp_path):
    for fmt in ("csv", "jsonl", "parquet"):
        path = tmp_path / f"out.{fmt}"
        out, err = StringIO(), StringIO()
        call_command("export_judgments", "ads", "--format", fmt, "-o", str(path), stdout=out, stderr=err)
        assert path.stat().st_size > 0
        assert "exported 88 judgments" in err.getvalue()
    assert pq.read_table(tmp_path / "out.parquet").num_rows == 88


def test_the_command_writes_csv_to_stdout_with_a_dash(pairwise_study):
    out = StringIO()
    call_command("export_judgments", "ads", "--format", "csv", "-o", "-", stdout=out)
    assert len(list(csv.DictReader(io.StringIO(out.getvalue())))) == 88


def test_the_ranking_table_splits_intervals_into_columns(pairwise_study):
    text = report_table_csv(report=report_for_study(pairwise_study["study"]), section="ranking")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {"panel", "criterion", "condition", "bt_strength", "bt_ci95_low", "bt_ci95_high",
            "win_rate_ci95_low"} <= set(rows[0])
    assert {r["condition"] for r in rows} >= {"base", "steered", "human"}
