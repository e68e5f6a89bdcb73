"""Automatic scores of candidate texts under the base model.

One forward pass per batch gives, for every text read as the assistant's answer to its brief:

* ``creativity``: cosine of the creativity direction with the mean hidden state over the
  answer's tokens at the chosen layer (Olson et al. 2024). The brief matters: a text read in its
  brief's context separates creative from plain answers better than the bare text;
* ``entropy``: mean next-token entropy (nats) over the answer's tokens;
* ``perplexity``: exp of the mean negative log-likelihood of the answer's tokens;

plus the model-free surface scores of :mod:`models_runtime.diversity`. Always scored with the
plain base model (adapters off), so scores of all conditions are on one scale.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch

from .chat import answer_batch
from .diversity import surface_scores
from .loading import Runtime, adapter_active
from .steering import Direction, capture_layers, _trunk


@torch.no_grad()
def score_texts(runtime: Runtime, texts: Sequence[str], *, briefs: Sequence[str | None] | None = None,
                direction: Direction | None = None, layer: int | None = None, source: str = "prompt",
                batch_size: int = 16, max_length: int = 512) -> list[dict]:
    """Scores per text, in order: ``{"index", "creativity", "entropy", "perplexity", "n_tokens",
    "distinct_1", "distinct_2", "compression_ratio", "layer"}``.

    ``briefs`` (one per text, None entries allowed) give each text its context. ``creativity``
    is None without a direction; ``layer`` defaults to the direction's recommended layer;
    ``source`` = which of the direction's vectors ("prompt" or "response"; the layer report's
    paired accuracy says which one ranks creative answers better for this model).
    """
    texts = list(texts)
    briefs = list(briefs) if briefs is not None else [None] * len(texts)
    if len(briefs) != len(texts):
        raise ValueError(f"got {len(briefs)} briefs for {len(texts)} texts: give one brief (or None) per text")
    if direction is not None and layer is None:
        layer = direction.recommended_layer
    vector = direction.vector(layer, source).to(runtime.device) if direction is not None else None
    model = runtime.model
    lm_head = model.get_output_embeddings()
    results = []
    with adapter_active(runtime, None), capture_layers(model, [layer] if vector is not None else []) as captured:
        for start in range(0, len(texts), batch_size):
            chunk = texts[start: start + batch_size]
            batch = answer_batch(runtime.tokenizer, briefs[start: start + batch_size], chunk,
                                 max_length).to(runtime.device)
            hidden = _trunk(runtime)(input_ids=batch.input_ids,
                                     attention_mask=batch.attention_mask).last_hidden_state  # (b, seq, H)
            # Token t is predicted at position t-1: score only the answer tokens.
            target = batch.answer_mask[:, 1:]  # (b, seq-1)
            rows, cols = torch.nonzero(target, as_tuple=True)
            logits = lm_head(hidden[:, :-1][rows, cols]).float()  # (n_answer_tokens, vocab)
            logp = torch.log_softmax(logits, -1)
            entropy = -(logp.exp() * logp).sum(-1)
            nll = -logp.gather(-1, batch.input_ids[:, 1:][rows, cols].unsqueeze(-1)).squeeze(-1)
            if vector is not None:
                weights = batch.answer_mask.float().unsqueeze(-1)
                mean_state = (captured[layer].float() * weights).sum(1) / weights.sum(1).clamp(min=1)  # (b, H)
                creativity = torch.nn.functional.cosine_similarity(mean_state, vector.float().unsqueeze(0), dim=-1)
            for i, text in enumerate(chunk):
                sel = rows == i
                n = int(sel.sum())
                results.append({
                    "index": start + i,
                    "creativity": float(creativity[i]) if vector is not None and n else None,
                    "entropy": float(entropy[sel].mean()) if n else None,
                    "perplexity": math.exp(float(nll[sel].mean())) if n else None,
                    "n_tokens": n,
                    **surface_scores(text),
                    "layer": layer,
                    "source": source if vector is not None else None,
                })
    return results


def creativity_scores(runtime: Runtime, direction: Direction, texts: Sequence[str],
                      briefs: Sequence[str | None] | None = None, layer: int | None = None,
                      source: str = "prompt") -> list[float | None]:
    """Just the creativity score per text (see :func:`score_texts`)."""
    return [r["creativity"] for r in score_texts(runtime, texts, briefs=briefs, direction=direction,
                                                 layer=layer, source=source)]
