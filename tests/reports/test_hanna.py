"""HANNA (Chhun et al., COLING 2022), a real rating data set, through conversion, import and report.

96 prompts x 11 sources = 1,056 stories, 72 automatic metric scores each, 3 ratings x 6
criteria per story = 19,008 judgments. Checks the report is complete for all six criteria and
that its figures agree with the published data: per-source mean ratings equal the means of
HANNA's own Relevance..Complexity columns, and system-level correlations equal those computed
from the CSV directly (Human left out, as a reference condition).
"""

import importlib.util
import time
from pathlib import Path

import numpy as np
import pytest
from django.test import override_settings
from scipy import stats

from annotations.models import Candidate, Judgment, Score
from annotations.services.deletion import study_delete
from annotations.services.imports import briefs_import, candidates_import, judgments_import
from annotations.services.reports import report_for_study
from annotations.services.studies import study_create

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("hanna_to_imports", ROOT / "scripts" / "hanna_to_imports.py")
hanna = importlib.util.module_from_spec(spec)
spec.loader.exec_module(hanna)

CRITERIA = list(hanna.CRITERIA)
SOURCES = 11


@pytest.fixture(scope="module")
def hanna_report(django_db_setup, django_db_blocker, tmp_path_factory):
    """Convert, import and report once for the module (it is the slow part)."""
    locmem = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "hanna"}}
    with django_db_blocker.unblock(), override_settings(CACHES=locmem):
        from django.db import connection

        started = time.perf_counter()
        paths = hanna.convert(hanna.DEFAULT_SOURCE, tmp_path_factory.mktemp("hanna"))
        study = study_create(slug="hanna", task="rating", criteria=CRITERIA)
        for service, name in ((briefs_import, "briefs"), (candidates_import, "candidates"),
                              (judgments_import, "judgments")):
            service(study=study, data=paths[name].read_bytes(), filename=paths[name].name)
        counts = {"candidates": Candidate.objects.filter(study=study).count(),
                  "scores": Score.objects.filter(candidate__study=study).count(),
                  "judgments": Judgment.objects.filter(assignment__rater__panel__study=study).count()}
        report = report_for_study(study)
        seconds = time.perf_counter() - started
        yield {"report": report, "counts": counts, "seconds": seconds}
        # Judgments are append-only in the database: a study goes only through the service
        # that exports it first.
        with override_settings(STUDY_DELETE_EXPORT_DIR=tmp_path_factory.mktemp("deleted")):
            study_delete(study=study, confirm=study.slug)
        connection.close()


def test_it_converts_imports_and_reports_in_under_a_minute(hanna_report):
    assert hanna_report["counts"] == {"candidates": 1056, "scores": 1056 * 72, "judgments": 19008}
    assert hanna_report["seconds"] < 60, f"took {hanna_report['seconds']:.1f} s"


def test_the_72_scores_are_the_metric_columns():
    header, _ = hanna.read_hanna()
    columns = hanna.score_columns(header)
    assert columns[0].startswith("BLEU") and columns[-1].startswith("BARTScore-SP")
    assert not [c for c in columns if c.startswith("Human")]


def test_agreement_is_complete_for_all_six_criteria(hanna_report):
    records = {a["criterion"]: a for a in hanna_report["report"]["agreement"] if a["panel"] == "all"}
    assert sorted(records) == sorted(CRITERIA)
    for rec in records.values():
        assert rec["n_items"] == 1056 and rec["n_raters"] == 3 and rec["n_judgments"] == 3168
        assert all(rec["alpha"][level] is not None for level in ("nominal", "ordinal", "interval"))
        assert rec["alpha_ci95"] is not None and rec["icc"] is not None
        assert -1 < rec["alpha"]["interval"] < 1


def test_alpha_equals_krippendorff_on_the_csv_ratings(hanna_report):
    """Alpha only pairs values within a story, so slots can stand for coders here."""
    import krippendorff

    _, rows = hanna.read_hanna()
    records = {a["criterion"]: a for a in hanna_report["report"]["agreement"] if a["panel"] == "all"}
    for criterion in ("relevance", "coherence", "complexity"):
        code = hanna.CRITERIA[criterion][1]
        matrix = np.array([[v for r in rows for v in r[f"Human {slot} {code}"]] for slot in (1, 2, 3)], dtype=float)
        for level in ("nominal", "ordinal", "interval"):
            want = krippendorff.alpha(reliability_data=matrix, level_of_measurement=level)
            assert records[criterion]["alpha"][level] == pytest.approx(want, abs=1e-9)


def test_mean_ratings_per_source_equal_hanna_s_own_means(hanna_report):
    means = hanna.source_means()
    ranking = [r for r in hanna_report["report"]["ranking"] if r["panel"] == "all"]
    assert len(ranking) == SOURCES * len(CRITERIA)
    for r in ranking:
        assert r["mean_rating"] == pytest.approx(means[(r["condition"], r["criterion"])], abs=1e-9)
        assert r["n"] == 96 * 3 and r["mean_rating_ci95"] is not None


def test_human_stories_rank_first_on_every_criterion(hanna_report):
    """Chhun et al. (2022): human-written stories are rated above every system on all criteria."""
    for criterion in CRITERIA:
        rows = [r for r in hanna_report["report"]["ranking"] if r["panel"] == "all" and r["criterion"] == criterion]
        assert max(rows, key=lambda r: r["mean_rating"])["condition"] == "Human"


def test_correlations_are_complete_and_leave_the_human_reference_out(hanna_report):
    records = [c for c in hanna_report["report"]["correlation"] if c["panel"] == "all"]
    header, _ = hanna.read_hanna()
    scores = hanna.score_columns(header)
    keys = {(c["criterion"], c["score"], c["granularity"]) for c in records}
    assert keys == {(k, s, g) for k in CRITERIA for s in scores for g in ("item", "brief", "system")}
    for c in records:
        if c["granularity"] == "brief":  # a brief where a score is constant has no correlation
            assert 1 <= c["n"] <= 96, c
        else:
            assert c["n"] == {"item": 960, "system": 10}[c["granularity"]], c
        assert c["spearman"] is not None


def test_system_level_correlations_match_the_csv(hanna_report):
    _, rows = hanna.read_hanna()
    systems = [r for r in rows if r["Model"] != "Human"]
    records = {(c["criterion"], c["score"]): c for c in hanna_report["report"]["correlation"]
               if c["panel"] == "all" and c["granularity"] == "system"}
    for criterion, score in (("coherence", "BERTScore F1 Ξε"), ("relevance", "BLEU Ξ§"),
                             ("engagement", "Text length ¤§")):
        human = [np.mean(r[hanna.CRITERIA[criterion][0]]) for r in systems]
        metric = [np.mean(r[score]) for r in systems]
        rec = records[(criterion, score)]
        assert rec["kendall_tau_b"] == pytest.approx(stats.kendalltau(human, metric).statistic, abs=1e-9)
        assert rec["pearson"] == pytest.approx(stats.pearsonr(human, metric).statistic, abs=1e-9)
        assert rec["spearman"] == pytest.approx(stats.spearmanr(human, metric).statistic, abs=1e-9)
