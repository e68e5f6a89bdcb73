"""Batched generation with per-candidate seeds, optional adapter and steering, and entropy.

A custom decoding loop over the KV cache (rather than ``model.generate``) so that:

* every row draws from its own ``torch.Generator`` seeded with the candidate's seed: a
  candidate's random stream does not depend on which other candidates share its batch, so the
  same seed + settings give the same text whether it is generated alone or in a batch of 16
  (up to float rounding of batched matrix products, which can only flip a near-tie);
* the next-token entropy of every emitted token comes from the logits the step computes anyway
  (no extra forward pass). It is the entropy of the model's own distribution (temperature 1,
  before top-p), the quantity Mohammadi 2024 (arXiv 2406.05587) compares across alignment;
* steering knows which positions are padding (left padding: the prompt's pad tokens are never
  steered).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import asdict, dataclass, field
from typing import Sequence

import torch

from .chat import prompt_ids
from .loading import Runtime, adapter_active
from .steering import Steering, steer


@dataclass(frozen=True)
class DecodingConfig:
    """Decoding settings of a condition. ``greedy`` ignores temperature / top-p / top-k."""

    greedy: bool = False
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0  # 0 = off
    max_new_tokens: int = 64
    system_prompt: str | None = None  # None = the chat template's default

    def __post_init__(self):
        if not self.greedy and self.temperature <= 0:
            raise ValueError("temperature must be > 0 (use greedy=True for argmax decoding)")
        if not 0 < self.top_p <= 1:
            raise ValueError("top_p must be in (0, 1]")
        if self.max_new_tokens < 1:
            raise ValueError("max_new_tokens must be at least 1")

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class GenerationResult:
    """One candidate. ``token_entropies[i]`` is the entropy (nats) of the distribution
    ``token_ids[i]`` was drawn from; EOS is not part of the text or the lists."""

    text: str
    token_ids: list[int]
    token_entropies: list[float]
    mean_entropy: float | None
    seed: int
    finish_reason: str  # "eos" | "length"
    provenance: dict = field(default_factory=dict)

    @property
    def n_tokens(self) -> int:
        return len(self.token_ids)

    def to_dict(self) -> dict:
        return {"text": self.text, "tokens": self.n_tokens, "mean_entropy": self.mean_entropy,
                "seed": self.seed, "finish_reason": self.finish_reason,
                "token_entropies": self.token_entropies, "provenance": self.provenance}


def eos_token_ids(runtime: Runtime) -> set[int]:
    ids = set()
    gen_eos = getattr(getattr(runtime.model, "generation_config", None), "eos_token_id", None)
    for value in (gen_eos, runtime.model.config.eos_token_id, runtime.tokenizer.eos_token_id):
        if isinstance(value, int):
            ids.add(value)
        elif value:
            ids.update(int(v) for v in value)
    return ids


def generate_batch(runtime: Runtime, prompts: Sequence[str], *, config: DecodingConfig = DecodingConfig(),
                   seeds: Sequence[int] | None = None, adapter: str | None = None,
                   steering: Steering | None = None, batch_size: int = 16) -> list[GenerationResult]:
    """Generate one candidate per prompt (repeat a prompt to get several samples).

    ``seeds`` default to 0..n-1. ``adapter``: hash or folder of a LoRA adapter (None = base).
    ``steering``: a :class:`~models_runtime.steering.Steering` (None = unsteered). Results come
    back in prompt order; long lists are split into batches of ``batch_size``.
    """
    prompts = list(prompts)
    seeds = list(range(len(prompts))) if seeds is None else [int(s) for s in seeds]
    if len(seeds) != len(prompts):
        raise ValueError(f"got {len(seeds)} seeds for {len(prompts)} prompts: give one seed per prompt")
    tok = runtime.tokenizer
    encoded = [prompt_ids(tok, p, config.system_prompt) for p in prompts]
    # Similar lengths together: less padding. Rows are independent, so order changes nothing.
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))
    results: list[GenerationResult | None] = [None] * len(prompts)

    steer_ctx = (steer(runtime.model, steering.direction_by_layer(), steering.alpha)
                 if steering is not None else contextlib.nullcontext(None))
    with adapter_active(runtime, adapter) as adapter_hash, steer_ctx as handle:
        provenance = {
            "model": runtime.name, "model_fingerprint": runtime.fingerprint,
            "adapter_hash": adapter_hash, "direction_hash": None, "layers": None, "alpha": None,
            "decoding": config.to_dict(),
        }
        if steering is not None:
            provenance.update(steering.provenance())
        for start in range(0, len(order), batch_size):
            idx = order[start: start + batch_size]
            rows = _decode(runtime, [encoded[i] for i in idx], [seeds[i] for i in idx], config, handle)
            for i, (ids, ents, reason) in zip(idx, rows):
                results[i] = GenerationResult(
                    text=tok.decode(ids, skip_special_tokens=True).strip(),
                    token_ids=ids, token_entropies=ents,
                    mean_entropy=(sum(ents) / len(ents)) if ents else None,
                    seed=seeds[i], finish_reason=reason,
                    provenance={**provenance, "seed": seeds[i]},
                )
    return results  # type: ignore[return-value]


@torch.inference_mode()
def _decode(runtime: Runtime, rows: list[list[int]], seeds: list[int], config: DecodingConfig,
            handle) -> list[tuple[list[int], list[float], str]]:
    model, device = runtime.model, runtime.device
    pad = runtime.tokenizer.pad_token_id
    eos = eos_token_ids(runtime)
    eos_t = torch.tensor(sorted(eos), device=device)
    batch, width = len(rows), max(len(r) for r in rows)

    input_ids = torch.full((batch, width), pad, dtype=torch.long)
    attention = torch.zeros((batch, width), dtype=torch.long)
    for i, r in enumerate(rows):  # left padding: every row's next token is at the last column
        input_ids[i, width - len(r):] = torch.tensor(r)
        attention[i, width - len(r):] = 1
    input_ids, attention = input_ids.to(device), attention.to(device)
    positions = (attention.cumsum(-1) - 1).clamp(min=0)  # real tokens numbered from 0 in each row
    generators = [torch.Generator().manual_seed(s) for s in seeds]

    from transformers import DynamicCache

    cache = DynamicCache(config=model.config)
    out_ids: list[list[int]] = [[] for _ in rows]
    out_ent: list[list[float]] = [[] for _ in rows]
    finished = torch.zeros(batch, dtype=torch.bool, device=device)
    reasons = ["length"] * batch
    step_ids, step_pos = input_ids, positions
    if handle is not None:
        handle.positions = attention.bool()

    for _ in range(config.max_new_tokens):
        logits = model(input_ids=step_ids, attention_mask=attention, position_ids=step_pos,
                       past_key_values=cache, use_cache=True, logits_to_keep=1).logits[:, -1].float()  # (batch, vocab)
        logp = torch.log_softmax(logits, -1)
        entropy = -(logp.exp() * logp).sum(-1)  # (batch,)
        next_ids = _choose(logits, config, generators, finished)  # (batch,)
        is_eos = torch.isin(next_ids, eos_t) & ~finished
        for i in torch.nonzero(~finished).flatten().tolist():
            if is_eos[i]:
                reasons[i] = "eos"
            else:
                out_ids[i].append(int(next_ids[i]))
                out_ent[i].append(float(entropy[i]))
        finished = finished | is_eos
        if bool(finished.all()):
            break
        next_ids = torch.where(finished, torch.full_like(next_ids, pad), next_ids)
        step_ids = next_ids.unsqueeze(-1)  # (batch, 1)
        step_pos = step_pos[:, -1:] + 1
        attention = torch.cat([attention, torch.ones((batch, 1), dtype=attention.dtype, device=device)], -1)
        if handle is not None:
            handle.positions = (~finished).unsqueeze(-1)  # (batch, 1)
    if handle is not None:
        handle.positions = None
    return list(zip(out_ids, out_ent, reasons))


def _choose(logits: torch.Tensor, config: DecodingConfig, generators: list[torch.Generator],
            finished: torch.Tensor) -> torch.Tensor:
    """Next token per row: argmax, or a draw from the temperature / top-k / top-p distribution
    using the row's own generator (inverse CDF over the sorted kept tokens)."""
    if config.greedy:
        return logits.argmax(-1)
    probs = torch.softmax(logits / config.temperature, -1)
    sorted_p, sorted_idx = probs.sort(-1, descending=True)  # (batch, vocab)
    keep = torch.ones_like(sorted_p, dtype=torch.bool)
    if config.top_k > 0:
        keep[:, config.top_k:] = False
    if config.top_p < 1:
        # keep the smallest prefix whose mass reaches top_p (the first token always survives)
        keep &= (sorted_p.cumsum(-1) - sorted_p) < config.top_p
    sorted_p = sorted_p * keep
    cdf = sorted_p.cumsum(-1)  # (batch, vocab)
    draws = torch.tensor([float(torch.rand((), generator=g)) for g in generators],
                         dtype=cdf.dtype, device=cdf.device)  # every row draws, finished or not
    picked = torch.searchsorted(cdf, (draws * cdf[:, -1]).unsqueeze(-1), right=True)
    picked = picked.clamp(max=cdf.shape[-1] - 1)
    return sorted_idx.gather(-1, picked).squeeze(-1)


def mean_or_none(values: Sequence[float]) -> float | None:
    values = [v for v in values if v is not None and not math.isnan(v)]
    return sum(values) / len(values) if values else None
