"""Settings come from the environment: embedded defaults, real services, production hardening."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SHOW = ("import django, json; django.setup(); from django.conf import settings as s; "
        "print(json.dumps([s.DATABASES['default']['ENGINE'], s.DATABASES['default']['NAME'], s.CELERY_BROKER_URL, "
        "s.DEBUG, s.SESSION_COOKIE_SECURE]))")


def run(env, *args):
    base = {k: v for k, v in os.environ.items()
            if k not in ("DATABASE_URL", "CELERY_BROKER_URL", "SECRET_KEY", "DEBUG", "ALLOWED_HOSTS",
                         "DJANGO_ALLOW_ASYNC_UNSAFE")}  # set by the browser tests for Playwright
    return subprocess.run([sys.executable, *args], cwd=ROOT, env={**base, "DJANGO_SETTINGS_MODULE": "evalplatform.settings",
                                                                  **env}, capture_output=True, text=True, timeout=120)


def test_with_nothing_set_it_runs_embedded_under_var(tmp_path):
    out = run({"VAR_DIR": str(tmp_path)}, "-c", SHOW)
    engine, name, broker, debug, secure = json.loads(out.stdout)
    assert engine == "django.db.backends.sqlite3" and name == str(tmp_path / "db.sqlite3")
    assert broker == "filesystem://" and (tmp_path / "broker" / "queue").is_dir()
    assert (debug, secure) == (False, False)
    assert (tmp_path / "secret_key").read_text().strip(), "a random secret key is kept under var/"


def test_urls_select_postgresql_and_redis(tmp_path):
    out = run({"VAR_DIR": str(tmp_path), "DATABASE_URL": "postgres://u@db.example:5432/ev",
               "CELERY_BROKER_URL": "redis://cache.example:6379/0"}, "-c", SHOW)
    engine, name, broker, _, _ = json.loads(out.stdout)
    assert (engine, name, broker) == ("django.db.backends.postgresql", "ev", "redis://cache.example:6379/0")


def test_postgresql_uses_prepared_statements_unless_switched_off(tmp_path):
    show = ("import django, json; django.setup(); from django.conf import settings as s; "
            "print(json.dumps(s.DATABASES['default']['OPTIONS']))")
    env = {"VAR_DIR": str(tmp_path), "DATABASE_URL": "postgres://u@db.example:5432/ev"}
    options = json.loads(run(env, "-c", show).stdout)
    assert options["server_side_binding"] is True and options["prepare_threshold"] == 5
    options = json.loads(run({**env, "DB_PREPARED_STATEMENTS": "0"}, "-c", show).stdout)
    assert "server_side_binding" not in options and "prepare_threshold" not in options


@pytest.mark.django_db
def test_a_repeated_statement_is_planned_once_per_connection():
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are a PostgreSQL setting")
    marker = f"prepared_{secrets.token_hex(4)}"
    for _ in range(6):
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT %s AS {marker}", [1])
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s", [f"%{marker}%"])
        assert cursor.fetchone()[0] == 1


def test_production_settings_pass_the_deployment_checks(tmp_path):
    env = {"VAR_DIR": str(tmp_path), "DEBUG": "0", "SECRET_KEY": secrets.token_urlsafe(50),
           "ALLOWED_HOSTS": "eval.example.org"}
    out = run(env, "manage.py", "check", "--deploy", "--fail-level", "WARNING")
    assert out.returncode == 0, out.stdout + out.stderr
