"""Rows read by written SQL come back as the ORM would build them, on either database.

The rater's hot path reads a few rows with written SQL (``annotations.written_sql``); these
tests hold those rows against the same rows read through the ORM. The last test runs the
queue and judging tests again on the embedded database (SQLite), where timestamps, JSON,
UUIDs and booleans come back from the driver in other types than from PostgreSQL.
"""

import os
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree

import pytest
from django.db import connection
from django.utils import timezone

from annotations.models import Assignment, Brief, Invite, Rater, Study
from annotations.services.assignment import State, assignment_next
from annotations.services.raters import rater_in_study
from annotations.services.studies import panel_create
from annotations.written_sql import Columns, param, value

from .conftest import make_study

ROOT = Path(__file__).resolve().parents[2]


def read(columns: Columns, table: str, pk):
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {columns.sql} FROM {table} {columns.alias} WHERE {columns.alias}.id = %s", [pk])
        return columns.take(cursor.fetchone())[0]


@pytest.mark.django_db
def test_an_instance_read_by_written_sql_equals_the_orm_one_field_by_field():
    study = make_study(slug="written", criteria=("overall", "novelty"), target=3)
    study.refresh_from_db()
    mine = read(Columns(Study, "s"), Study._meta.db_table, study.pk)
    for field in Study._meta.concrete_fields:
        assert getattr(mine, field.attname) == getattr(study, field.attname), field.name
    assert mine.criteria[1]["name"] == "novelty"  # JSON decoded, not a string
    assert timezone.is_aware(mine.created_at)


@pytest.mark.django_db
def test_fields_not_read_are_deferred_and_load_on_access(django_assert_num_queries):
    study = make_study(slug="deferred")
    brief = Brief.objects.filter(study=study).first()
    partial = read(Columns(Brief, "b", ("title",)), Brief._meta.db_table, brief.pk)
    assert partial.get_deferred_fields() >= {"text", "study_id"}
    with django_assert_num_queries(1):
        assert partial.text == brief.text


def test_asking_for_a_field_the_model_does_not_have_is_an_error():
    with pytest.raises(ValueError, match="Brief has no concrete field colour"):
        Columns(Brief, "b", ("title", "colour"))


@pytest.mark.django_db
def test_the_session_rater_is_read_with_panel_study_and_invite():
    study = make_study(slug="whoami")
    other = make_study(slug="elsewhere")
    panel = panel_create(study=study, name="experts", kind="expert")
    invite = Invite.objects.create(panel=panel, label="Ada")
    rater = Rater.objects.create(panel=panel, consent_at=timezone.now())
    invite.rater = rater
    invite.save()
    crowd = Rater.objects.create(panel=panel_create(study=other, name="crowd"), external_id="w1")

    found = rater_in_study([crowd.pk, rater.pk], "whoami")
    assert found.pk == rater.pk and found.panel.name == "experts" and found.panel.study.slug == "whoami"
    assert found.invite.label == "Ada" and found.consent_at == rater.consent_at
    assert rater_in_study([crowd.pk], "whoami") is None
    assert rater_in_study([], "whoami") is None
    without = rater_in_study([crowd.pk], "elsewhere")
    assert getattr(without, "invite", None) is None  # known to have none: no query, no error


@pytest.mark.django_db
def test_a_lease_read_back_by_written_sql_matches_the_stored_one():
    study = make_study(slug="lease")
    rater = Rater.objects.create(panel=panel_create(study=study, name="crowd"), consent_at=timezone.now())
    result = assignment_next(rater=rater)
    assert result.state == State.ITEM
    stored = Assignment.objects.select_related("comparison__brief", "comparison__candidate_a").get(
        pk=result.assignment.pk)
    read_back = result.assignment
    assert (read_back.public_id, read_back.lease_expires_at, read_back.left_is_a) == (
        stored.public_id, stored.lease_expires_at, stored.left_is_a)
    assert read_back.comparison.brief.text == stored.comparison.brief.text
    assert read_back.comparison.candidate_a.text == stored.comparison.candidate_a.text
    assert value(Assignment, "lease_expires_at", None) is None
    assert param(Assignment, "public_id", stored.public_id) is not None


@pytest.mark.skipif(connection.vendor == "sqlite", reason="this run is on the embedded database already")
def test_the_queue_and_judging_tests_pass_on_the_embedded_database(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CACHE_URL")}
    env["VAR_DIR"] = str(tmp_path)
    tests = ["test_assignment.py", "test_load_index.py", "test_judging.py", "test_api.py", "test_written_sql.py"]
    report = tmp_path / "report.xml"
    run = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-x",
                          f"--junitxml={report}", *(f"tests/rater/{name}" for name in tests)],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    suite = ElementTree.parse(report).getroot().find("testsuite")
    assert int(suite.get("tests")) >= 50 and suite.get("failures") == suite.get("errors") == "0"
    # It ran on SQLite: this very test skipped itself there.
    skipped = [case.find("skipped").get("message") for case in suite.iter("testcase") if case.find("skipped") is not None]
    assert any("on the embedded database already" in message for message in skipped)
