"""Shared fixtures: named users for permission tests, and a small study."""

from pathlib import Path

import pytest
from django.contrib.auth.models import Group

from annotations.api.permissions import RESEARCHERS_GROUP

from .factories import UserFactory


@pytest.fixture(autouse=True)
def _fresh_cache():
    """Every test starts with an empty cache: rate-limit counters and cached reports of one
    test must not leak into the next."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def admin_user(db):
    return UserFactory(username="ada-admin", is_staff=True, is_superuser=True)


@pytest.fixture
def researcher(db):
    user = UserFactory(username="rosa-researcher")
    user.groups.add(Group.objects.get_or_create(name=RESEARCHERS_GROUP)[0])
    return user


@pytest.fixture
def outsider(db):
    return UserFactory(username="otto-outsider")


@pytest.fixture
def api_client():
    from rest_framework.test import APIClient

    return APIClient()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory):
    """A 2-layer random-weight Llama with the real SmolLM2 tokenizer, saved as a model folder,
    for tests whose subject is the job machinery rather than the model."""
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


@pytest.fixture
def worker_process():
    """Start real Celery worker processes on the test database; stopped at the end of the test."""
    import os
    import signal
    import subprocess
    import sys

    from django.conf import settings
    from django.db import connection

    started = []

    def start(**env):
        db = connection.settings_dict
        url = (f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
               if connection.vendor == "postgresql" else f"sqlite:///{db['NAME']}")
        proc = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "evalplatform", "worker", "-Q", "default,gpu", "--pool", "solo",
             "-l", "warning", "--without-heartbeat", "--without-mingle", "--without-gossip"],
            cwd=settings.BASE_DIR, env={**os.environ, "DATABASE_URL": url, **env},
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    for proc in started:
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
def browser(monkeypatch):
    """Debian's Chromium, headless, driven by Playwright's sync API; skipped where not installed.

    The sync API runs an event loop in the test's thread, so Django's guard against database
    calls from async code is lifted, for this test only.
    """
    sync_api = pytest.importorskip("playwright.sync_api")
    if not CHROMIUM.exists():
        pytest.skip(f"no Chromium at {CHROMIUM}")
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        yield launched
        launched.close()
