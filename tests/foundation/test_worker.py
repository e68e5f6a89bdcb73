"""A real Celery worker runs tasks against either broker: Redis, or the embedded filesystem one."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.worker

ROUND_TRIP = """
import django, os
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "evalplatform.settings")
django.setup()
from annotations.tasks import ping
print("answer:", ping.delay(41).get(timeout=60) + 1)
"""


def start_worker(env):
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "evalplatform", "worker", "-Q", "default,gpu", "--pool", "solo",
         "-l", "warning", "--without-heartbeat", "--without-mingle", "--without-gossip"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def stop(worker):
    worker.terminate()
    try:
        return worker.communicate(timeout=20)[0]
    except subprocess.TimeoutExpired:
        worker.kill()
        return worker.communicate()[0]


def round_trip(env):
    worker = start_worker(env)
    try:
        done = subprocess.run([sys.executable, "-c", ROUND_TRIP], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=90)
    finally:
        log = stop(worker)
    assert "answer: 42" in done.stdout, f"client: {done.stdout}{done.stderr}\nworker: {log}"


def test_a_worker_runs_tasks_from_the_embedded_filesystem_broker(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("CELERY_BROKER_URL", "CELERY_RESULT_BACKEND")}
    env |= {"VAR_DIR": str(tmp_path), "DATABASE_URL": f"sqlite:///{tmp_path}/db.sqlite3"}
    round_trip(env)
    assert (tmp_path / "broker" / "queue").is_dir()


def test_a_worker_runs_tasks_from_redis():
    url = os.environ.get("CELERY_BROKER_URL", "")
    if not url.startswith("redis"):
        pytest.skip("CELERY_BROKER_URL is not Redis (make test sets it)")
    round_trip(dict(os.environ))


def test_model_work_is_routed_to_the_gpu_queue():
    from evalplatform.celery import app

    from annotations import tasks

    router = app.amqp.router
    assert router.route({}, tasks.gpu_generate.name)["queue"].name == "gpu"
    assert router.route({}, tasks.ping.name)["queue"].name == "default"
