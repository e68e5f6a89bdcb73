"""The documented backup and restore path, tested once: pg_dump the database, restore it into
a fresh database, and the study report computed from the copy is identical."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest
from django.db import connection

from annotations.models import Judgment, Rater
from annotations.services.assignment import assignment_next
from annotations.services.judging import judgment_record
from annotations.services.studies import panel_create
from tests.rater.conftest import make_study

from .conftest import ROOT, database_url, needs_postgres

pytestmark = [pytest.mark.slow, needs_postgres]


def pg(*args, **kw):
    db = connection.settings_dict
    env = {**os.environ, "PGHOST": db.get("HOST") or "127.0.0.1", "PGPORT": str(db.get("PORT") or 5432),
           "PGUSER": db.get("USER") or "postgres"}
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = db["PASSWORD"]
    return subprocess.run(args, env=env, check=True, capture_output=True, timeout=120, **kw)


def report(name: str, tmp_path) -> dict:
    env = {**{k: v for k, v in os.environ.items() if k != "DATABASE_URL"}, "DATABASE_URL": database_url(name=name),
           "VAR_DIR": str(tmp_path / f"var-{name}"), "DB_CACHE": "0"}
    out = subprocess.run([sys.executable, "manage.py", "study_report", "backup", "--json"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout)
    result.pop("build_seconds", None)  # how long it took, not what it says
    return result


@pytest.mark.django_db(transaction=True)
def test_a_dump_restored_into_a_fresh_database_gives_the_identical_report(tmp_path):
    study = make_study(slug="backup", briefs=3, samples=2, target=3, criteria=("novelty", "overall"), rate=0.1)
    panel = panel_create(study=study, name="crowd")
    for r in range(6):
        rater = Rater.objects.create(panel=panel, external_id=f"bk-{r}", consent_at="2026-01-01T00:00Z")
        while (item := assignment_next(rater=rater)).assignment is not None:
            choice = ["left", "right", "tie"][(r + item.assignment.pk) % 3]
            judgment_record(assignment=item.assignment, rater=rater, client_key=uuid.uuid4().hex, seconds=6,
                            choices={"novelty": choice, "overall": "left"})
    assert Judgment.objects.count() > 50
    source = connection.settings_dict["NAME"]
    copy = f"{source}_restored"
    dump = tmp_path / "backup.dump"
    pg("pg_dump", "--format=custom", "--no-owner", f"--file={dump}", source)
    pg("dropdb", "--if-exists", copy)
    pg("createdb", copy)
    try:
        pg("pg_restore", "--no-owner", "--exit-on-error", f"--dbname={copy}", str(dump))
        original, restored = report(source, tmp_path), report(copy, tmp_path)
        assert restored == original
        assert original["n_judgments"] == Judgment.objects.count()
        # The restored database still refuses to change a judgment.
        refused = subprocess.run(["psql", "-h", "127.0.0.1", "-U", connection.settings_dict.get("USER") or "postgres",
                                  "-d", copy, "-v", "ON_ERROR_STOP=1", "-c",
                                  "UPDATE annotations_judgment SET choice = 'b'"], capture_output=True, text=True)
        assert refused.returncode != 0 and "append-only" in refused.stderr
    finally:
        pg("dropdb", "--if-exists", copy)
