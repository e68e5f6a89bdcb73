"""The report through the command and the API is build_report on the study's data, cached
until judgments arrive."""

import json
from io import StringIO
from unittest import mock

import pytest
from django.core.management import call_command

from annotations.analysis.report import build_report
from annotations.selectors import study_analysis_frames
from annotations.services import reports
from annotations.services.reports import report_for_study, report_mark_raters

from .conftest import judge

pytestmark = pytest.mark.django_db

SERVICE_KEYS = ("build_seconds", "data_version")


def expected_report(study):
    """build_report called directly on the selectors' frames, as the service promises."""
    f = study_analysis_frames(study=study)
    report = build_report(study=study.slug, task=study.task, criteria=study.criterion_names, pj=f.pj, rj=f.rj,
                          scores=f.scores, conditions=f.conditions, judge=f.judge, seed=0, n_boot=1000)
    return report_mark_raters(report=report, raters=f.raters)


def without_service_keys(report):
    return {k: v for k, v in report.items() if k not in SERVICE_KEYS}


def command_report(slug, *args):
    out = StringIO()
    call_command("study_report", slug, "--json", *args, stdout=out)
    return json.loads(out.getvalue())


@pytest.mark.parametrize("fixture", ["pairwise_study", "rating_study"])
def test_the_command_prints_build_report_on_the_same_data(fixture, request):
    study = request.getfixturevalue(fixture)["study"]
    assert without_service_keys(command_report(study.slug)) == json.loads(json.dumps(expected_report(study)))


def test_the_command_prints_only_json_on_stdout(pairwise_study):
    out = StringIO()
    call_command("study_report", "ads", "--json", stdout=out)
    json.loads(out.getvalue())  # the whole of stdout parses


def test_the_api_returns_the_same_report_as_the_command(pairwise_study, api_client, researcher):
    api_client.force_authenticate(researcher)
    response = api_client.get("/api/studies/ads/report/")
    assert response.status_code == 200
    assert response.json() == command_report("ads")


def test_the_report_covers_every_panel_and_criterion_and_counts_exclusions(pairwise_study):
    report = report_for_study(pairwise_study["study"])
    assert {(a["panel"], a["criterion"]) for a in report["agreement"]} == {
        (p, c) for p in ("all", "experts", "crowd") for c in ("novelty", "overall")}
    assert report["excluded"] == {"flagged_raters": 1, "attention_checks": 16, "judgments": 16 + 12}
    assert report["simulated"]["judgments"] == 16
    marks = {r["rater"]: r for r in report["raters"]}
    raters = pairwise_study["raters"]
    assert marks[raters["s1"].pseudonym]["simulated"] is True
    assert marks[raters["c3"].pseudonym]["exclusion_reason"] == "failed 2 of 2 attention checks"
    steered = [r for r in report["ranking"] if r["panel"] == "all" and r["criterion"] == "novelty"
               and r["condition"] == "steered"][0]
    assert steered["bt_strength"] > 0  # steered is canonical A and always picked in "novelty"
    assert {c["score"] for c in report["correlation"]} == {"creativity"}
    assert "candidates" not in report


def test_a_study_without_judgments_still_reports(db):
    from annotations.services.studies import study_create

    study = study_create(slug="empty", task="pairwise")
    report = report_for_study(study)
    assert report["n_judgments"] == 0 and report["ranking"] == []


def test_the_report_is_cached_until_a_judgment_arrives(pairwise_study):
    study = pairwise_study["study"]
    with mock.patch.object(reports, "report_build", wraps=reports.report_build) as build:
        first = report_for_study(study)
        assert report_for_study(study) == first
        assert build.call_count == 1
        new_rater = pairwise_study["raters"]["e2"].panel.raters.create(external_id="expert-cleo")
        judge(new_rater, comparison=pairwise_study["comparisons"][0], novelty="b")
        assert report_for_study(study)["n_judgments"] == first["n_judgments"] + 1
        assert build.call_count == 2


def test_a_new_judgment_changes_the_cached_report(pairwise_study):
    study = pairwise_study["study"]
    first = report_for_study(study)
    new_rater = pairwise_study["raters"]["e2"].panel.raters.create(external_id="expert-cleo")
    judge(new_rater, comparison=pairwise_study["comparisons"][0], novelty="b", overall="b")
    second = report_for_study(study)
    assert second["n_judgments"] == first["n_judgments"] + 2
    assert second["data_version"] != first["data_version"]


def test_excluding_a_rater_changes_the_cached_report(pairwise_study):
    study = pairwise_study["study"]
    assert report_for_study(study)["excluded"]["flagged_raters"] == 1
    rater = pairwise_study["raters"]["c1"]
    rater.excluded = True
    rater.save(update_fields=["excluded"])
    assert report_for_study(study)["excluded"]["flagged_raters"] == 2


def test_refresh_rebuilds_a_current_report(pairwise_study):
    study = pairwise_study["study"]
    with mock.patch.object(reports, "report_build", wraps=reports.report_build) as build:
        report_for_study(study)
        report_for_study(study, refresh=True)
        command_report("ads", "--refresh")
    assert build.call_count == 3


def test_the_cached_report_answers_without_rebuilding(pairwise_study, django_assert_max_num_queries):
    study = pairwise_study["study"]
    report_for_study(study)
    with django_assert_max_num_queries(1):
        report_for_study(study)


def test_the_summary_without_json_names_exclusions_and_simulated_data(pairwise_study):
    out = StringIO()
    call_command("study_report", "ads", stdout=out)
    text = out.getvalue()
    assert "1 excluded rater(s)" in text and "SIMULATED" in text


def test_an_unknown_study_is_a_clear_error(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="no study with slug 'nope'"):
        call_command("study_report", "nope", "--json")
