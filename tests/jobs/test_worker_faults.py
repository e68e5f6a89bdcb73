"""A worker killed mid-generation: after a restart the job finishes with no duplicate and no
missing candidate. Real worker processes, real Redis, real PostgreSQL; a tiny random-weight
model on disk stands in for the base model (the subject here is the job, not the model)."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from annotations.models import Candidate, Condition, Job, Study
from annotations.services import jobs
from annotations.services.imports import briefs_import
from annotations.services.studies import study_create

ROOT = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.worker, pytest.mark.slow]


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory):
    """A 2-layer random Llama with the real SmolLM2 tokenizer, saved as a model folder."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    from models_runtime.loading import load_base

    tokenizer = load_base().tokenizer
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    path = tmp_path_factory.mktemp("tiny-model")
    LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def worker(env):
    return subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "evalplatform", "worker", "-Q", "default,gpu", "--pool", "solo",
         "-l", "warning", "--without-heartbeat", "--without-mingle", "--without-gossip"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.django_db(transaction=True)
def test_a_killed_worker_s_job_finishes_after_restart_without_duplicates(tiny_model_dir, settings):
    if not os.environ.get("CELERY_BROKER_URL", "").startswith("redis"):
        pytest.skip("needs the Redis broker (make test sets CELERY_BROKER_URL)")
    study = study_create(slug="faults", task="pairwise", samples_per_condition=6)
    briefs_import(study=study, data=("id,text\n" + "".join(f"b{i},Write a headline number {i}\n" for i in range(10))).encode(),
                  filename="b.csv")
    Condition.objects.create(study=study, name="base", kind="base", settings={"decoding": {"max_new_tokens": 48}})
    Condition.objects.create(study=study, name="hot", kind="base",
                             settings={"decoding": {"max_new_tokens": 48, "temperature": 1.5}})
    expected = 10 * 6 * 2
    env = {**os.environ, "BASE_MODEL": str(tiny_model_dir), "JOB_STALE_SECONDS": "3",
           "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{connection.settings_dict['NAME']}"}
    settings.JOB_STALE_SECONDS = 3
    first = worker(env)
    try:
        job = jobs.job_enqueue(kind=Job.Kind.GENERATE, study=study)
        made = lambda: Candidate.objects.filter(study=study).count()  # noqa: E731
        wait_for(lambda: made() > 0, 240, "the first candidates")
        os.killpg(first.pid, signal.SIGKILL)  # no warm shutdown: the worker dies mid-job
        first.wait(timeout=10)
        partial = made()
        assert 0 < partial < expected, f"kill landed at {partial} of {expected}: make the job longer"
        assert Job.objects.get(id=job.id).status == Job.Status.RUNNING
        time.sleep(3.5)  # the dead worker's heartbeat goes stale
        second = worker(env)
        try:
            wait_for(lambda: Job.objects.get(id=job.id).status == Job.Status.SUCCEEDED, 240, "the job to finish")
        finally:
            os.killpg(second.pid, signal.SIGTERM)
            second.wait(timeout=30)
    finally:
        if first.poll() is None:
            os.killpg(first.pid, signal.SIGKILL)
    job = Job.objects.get(id=job.id)
    assert job.attempts == 2
    rows = list(Candidate.objects.filter(study=study).values_list("brief_id", "condition_id", "sample_index"))
    assert len(rows) == len(set(rows)) == expected, "no duplicate and no missing candidate"
