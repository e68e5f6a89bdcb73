"""Model artifacts made by jobs: LoRA adapters and creativity directions.

Each is addressed by content hash in the ``Artifact`` table and stored under MODELS_CACHE.
A job first looks for an artifact made from the same inputs (data hash, settings, base model)
and reuses it: a second demo run trains and extracts nothing. When the job names a
condition, the artifact is attached to that condition's settings.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from django.conf import settings
from django.db import transaction

from annotations.models import Artifact, Condition, Job

from .jobs import JobError, job_progress
from .runtime import worker_runtime


def _inputs_key(**inputs) -> str:
    return hashlib.sha256(json.dumps(inputs, sort_keys=True, default=str).encode()).hexdigest()


def _data_hash(path: str | None, default: Path) -> str:
    source = Path(path) if path else default
    if not source.is_file():
        raise JobError(f"training data '{source}' does not exist: upload a JSONL file or use the bundled set")
    return hashlib.sha256(source.read_bytes()).hexdigest()


def _reusable(kind: str, inputs_key: str) -> Artifact | None:
    for artifact in Artifact.objects.filter(kind=kind, metadata__inputs_key=inputs_key).order_by("-id"):
        if Path(artifact.path).exists():
            return artifact
    return None


def _attach(job: Job, artifact: Artifact, key: str) -> None:
    if job.condition_id is None:
        return
    with transaction.atomic():
        condition = Condition.objects.select_for_update().get(id=job.condition_id)
        condition.settings = {**(condition.settings or {}), key: artifact.sha256}
        condition.save(update_fields=["settings"])


def _save_artifact(kind: str, name: str, path: Path, sha256: str, metadata: dict) -> Artifact:
    artifact, _ = Artifact.objects.get_or_create(
        kind=kind, sha256=sha256, defaults={"name": name, "path": str(path), "metadata": metadata})
    return artifact


def adapter_train(job: Job) -> dict:
    """Train (or reuse) a LoRA adapter. Params: ``data`` (JSONL path, default bundled), ``steps``."""
    from models_runtime import finetune

    params = job.params or {}
    steps = int(params.get("steps") or finetune.FinetuneConfig.steps)
    data_hash = _data_hash(params.get("data"), finetune.DEFAULT_DATA)
    key = _inputs_key(kind="adapter", data=data_hash, steps=steps, base=settings.BASE_MODEL or "default",
                      seed=params.get("seed", 0))
    artifact = _reusable(Artifact.Kind.ADAPTER, key)
    reused = artifact is not None
    if not reused:
        runtime = worker_runtime()
        out_dir = Path(settings.MODELS_CACHE) / "adapters" / key[:16]
        try:
            result = finetune.train_adapter(
                runtime, params.get("data") or None, out_dir,
                config=finetune.FinetuneConfig(steps=steps, seed=int(params.get("seed", 0))),
                progress=lambda step, loss: job_progress(job, step / steps, step=step, steps=steps,
                                                         loss=round(float(loss), 4)))
        except (ValueError, FileNotFoundError) as exc:
            raise JobError(f"training data problem: {exc}") from exc
        artifact = _save_artifact(Artifact.Kind.ADAPTER, params.get("name") or "creative-lora", out_dir,
                                  result.sha256, {"inputs_key": key, "data_hash": data_hash, "steps": steps,
                                                  "losses": result.losses[-20:],
                                                  "model_fingerprint": runtime.fingerprint})
    _attach(job, artifact, "adapter")
    return {"artifact": artifact.sha256, "path": artifact.path, "reused": reused}


def direction_extract(job: Job) -> dict:
    """Extract (or reuse) the creativity direction. Params: ``pairs`` (JSONL path), ``method``."""
    from models_runtime.steering import DATA_DIR, extract_direction

    params = job.params or {}
    method = params.get("method", "mean")
    data_hash = _data_hash(params.get("pairs"), DATA_DIR / "contrastive_pairs.jsonl")
    key = _inputs_key(kind="direction", data=data_hash, method=method, base=settings.BASE_MODEL or "default")
    artifact = _reusable(Artifact.Kind.DIRECTION, key)
    reused = artifact is not None
    if not reused:
        runtime = worker_runtime()
        try:
            direction = extract_direction(
                runtime, params.get("pairs") or None, method=method,
                progress=lambda stage, done, total: job_progress(job, 0.1 + 0.8 * done / max(total, 1), stage=stage))
        except (ValueError, FileNotFoundError) as exc:
            raise JobError(f"contrastive pairs problem: {exc}") from exc
        path = Path(settings.MODELS_CACHE) / "directions" / f"{key[:16]}.safetensors"
        sha = direction.save(path)
        artifact = _save_artifact(Artifact.Kind.DIRECTION, params.get("name") or "creativity-direction", path, sha,
                                  {"inputs_key": key, "method": method, "data_hash": direction.data_hash,
                                   "recommended_layer": direction.recommended_layer, "report": direction.report,
                                   "model_fingerprint": direction.model_fingerprint})
    _attach(job, artifact, "direction")
    return {"artifact": artifact.sha256, "recommended_layer": artifact.metadata.get("recommended_layer"),
            "reused": reused}
