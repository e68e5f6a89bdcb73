"""Judgments are append-only (the database refuses UPDATE and DELETE); deleting a study needs
confirmation and writes an export first."""

import json
import uuid

import pytest
from django.db import IntegrityError, connection, transaction
from django.test import Client

from annotations.models import Assignment, Judgment, Rater, Study
from annotations.services.assignment import assignment_next
from annotations.services.deletion import StudyDeleteRefused, study_delete
from annotations.services.judging import judgment_record
from annotations.services.studies import panel_create
from tests.rater.conftest import make_study

from .conftest import needs_postgres

pytestmark = pytest.mark.django_db


def judge_some(study, raters=2, items=3):
    panel = panel_create(study=study, name=f"crowd-{study.slug}")
    for r in range(raters):
        rater = Rater.objects.create(panel=panel, external_id=f"{study.slug}-w{r}", consent_at="2026-01-01T00:00Z")
        for _ in range(items):
            item = assignment_next(rater=rater)
            judgment_record(assignment=item.assignment, rater=rater, choices={"overall": "left"},
                            client_key=uuid.uuid4().hex, rationale="because", seconds=4)
    return Judgment.objects.filter(assignment__rater__panel__study=study)


@pytest.fixture
def export_dir(settings, tmp_path):
    settings.STUDY_DELETE_EXPORT_DIR = tmp_path / "deleted"
    return settings.STUDY_DELETE_EXPORT_DIR


@needs_postgres
def test_the_database_refuses_to_change_a_judgment():
    judgments = judge_some(make_study(slug="frozen"))
    first = judgments.first()
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        Judgment.objects.filter(pk=first.pk).update(choice="b")
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("UPDATE annotations_judgment SET rationale = 'edited' WHERE id = %s", [first.pk])
    first.refresh_from_db()
    assert (first.choice, first.rationale) == ("a" if first.assignment.left_is_a else "b", "because")


@needs_postgres
def test_the_database_refuses_to_delete_a_judgment_even_by_cascade():
    study = make_study(slug="nodelete")
    judgments = judge_some(study)
    n = judgments.count()
    with pytest.raises(IntegrityError, match="append-only"), transaction.atomic():
        Judgment.objects.filter(pk=judgments.first().pk).delete()
    with pytest.raises(IntegrityError), transaction.atomic():
        Rater.objects.filter(panel__study=study).first().delete()  # cascades to its judgments
    with pytest.raises(IntegrityError), transaction.atomic():
        study.delete()  # not through the service: no export, no permission
    assert judgments.count() == n


@needs_postgres
def test_deleting_one_study_cannot_take_another_studys_judgments():
    keep, doomed = make_study(slug="keep"), make_study(slug="doomed")
    kept = judge_some(keep)
    judge_some(doomed)
    with pytest.raises(IntegrityError), transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT set_config('annotations.deleting_study', %s, true)", [str(doomed.pk)])
        Judgment.objects.filter(pk=kept.first().pk).delete()
    assert kept.count() == 6


def test_deleting_a_study_needs_its_slug_and_changes_nothing_without_it(export_dir):
    study = make_study(slug="careful")
    n = judge_some(study).count()
    for confirm in ("", "yes", "careful2", "CAREFUL"):
        with pytest.raises(StudyDeleteRefused, match="confirm with its slug"):
            study_delete(study=study, confirm=confirm)
    assert Study.objects.filter(slug="careful").exists() and Judgment.objects.count() == n
    assert not export_dir.exists()


def test_deleting_a_study_writes_every_judgment_and_its_setup_first(export_dir):
    study, other = make_study(slug="gone"), make_study(slug="stays")
    n = judge_some(study).count()
    m = judge_some(other).count()
    result = study_delete(study=study, confirm="gone")
    assert result.judgments == n == 6
    lines = (result.export_dir / "judgments.jsonl").read_text().splitlines()
    assert len(lines) == n and {json.loads(line)["study"] for line in lines} == {"gone"}
    assert all(json.loads(line)["rationale"] == "because" for line in lines)
    setup = json.loads((result.export_dir / "study.json").read_text())
    assert setup["study"]["slug"] == "gone" and len(setup["candidates"]) == 2 * 3 * 2
    assert {c["name"] for c in setup["conditions"]} == {"zzbasecond", "zztunedcond", "zzsteercond"}
    assert not Study.objects.filter(slug="gone").exists()
    assert Judgment.objects.count() == m and not Assignment.objects.filter(rater__panel__study_id=study.pk).exists()


class TestDeletingThroughTheApiAndAdmin:
    def test_only_admins_may_delete_and_only_with_the_slug(self, api_client, researcher, admin_user, export_dir):
        study = make_study(slug="apidel")
        judge_some(study)
        url = "/api/studies/apidel/"
        assert api_client.delete(url, {"confirm": "apidel"}, format="json").status_code in (401, 403)
        api_client.force_authenticate(researcher)
        assert api_client.delete(url, {"confirm": "apidel"}, format="json").status_code == 403
        api_client.force_authenticate(admin_user)
        assert api_client.delete(url, {}, format="json").status_code == 400
        wrong = api_client.delete(url, {"confirm": "other"}, format="json")
        assert wrong.status_code == 400 and "confirm" in wrong.json()["detail"]
        assert Study.objects.filter(slug="apidel").exists()
        done = api_client.delete(url, {"confirm": "apidel"}, format="json")
        assert done.status_code == 200, done.content
        assert done.json()["judgments"] == 6
        assert len((export_dir / done.json()["export_dir"].rsplit("/", 1)[1] / "judgments.jsonl")
                   .read_text().splitlines()) == 6
        assert not Study.objects.filter(slug="apidel").exists()

    def test_the_admin_asks_for_confirmation_then_exports_and_deletes(self, admin_user, export_dir):
        study = make_study(slug="admindel")
        judge_some(study)
        client = Client()
        client.force_login(admin_user)
        url = f"/admin/annotations/study/{study.pk}/delete/"
        page = client.get(url)
        assert page.status_code == 200 and b"Are you sure" in page.content
        assert Study.objects.filter(pk=study.pk).exists()
        response = client.post(url, {"post": "yes"}, follow=True)
        assert response.status_code == 200
        assert not Study.objects.filter(pk=study.pk).exists()
        exports = list(export_dir.glob("admindel-*/judgments.jsonl"))
        assert len(exports) == 1 and len(exports[0].read_text().splitlines()) == 6
        assert b"exported to" in response.content

    def test_the_command_needs_the_slug_too(self, export_dir):
        from django.core.management import CommandError, call_command

        make_study(slug="cmddel")
        with pytest.raises(CommandError, match="confirm"):
            call_command("delete_study", "cmddel", "--confirm", "nope")
        call_command("delete_study", "cmddel", "--confirm", "cmddel")
        assert not Study.objects.filter(slug="cmddel").exists()
