"""Pairwise judges: which of two texts is more creative.

* Model judge: the base (or a fine-tuned) model is shown both texts and asked to answer with one
  letter; the log-probabilities of ``A`` and ``B`` as the first answer token are read from one
  forward pass. Each pair is asked in both orders and the two probabilities averaged, which
  cancels the model's preference for a position (small models often always say "A").
* Direction judge: the text with the higher creativity score wins.

:func:`judge_validity` runs both on answer pairs whose creative side is known (the held-out
pairs of ``data/answer_pairs.jsonl``): the judges' baseline accuracy.
"""

from __future__ import annotations

from typing import Sequence

import torch

from .chat import prompt_ids
from .loading import Runtime, adapter_active
from .scoring import creativity_scores
from .steering import Direction, _trunk

CRITERIA = {
    "creativity": "more creative (more original and surprising, while still answering the brief)",
    "originality": "more original",
    "surprise": "more surprising",
    "value": "more useful and fitting for the brief",
}


def judge_prompt(first: str, second: str, brief: str | None = None, criterion: str = "creativity") -> str:
    quality = CRITERIA.get(criterion, f"better on {criterion}")
    head = f'Two answers were written for this brief: "{brief}"\n\n' if brief else "Here are two texts.\n\n"
    return (f"{head}Text A: {first}\n\nText B: {second}\n\n"
            f"Which text is {quality}? Answer with one letter, A or B.")


def _letter_ids(tokenizer) -> tuple[int, int]:
    a, b = tokenizer("A", add_special_tokens=False)["input_ids"], tokenizer("B", add_special_tokens=False)["input_ids"]
    return a[0], b[0]


@torch.no_grad()
def _letter_logprobs(runtime: Runtime, prompts: list[str], batch_size: int) -> torch.Tensor:
    """log p(A), log p(B) as the first answer token: (n, 2)."""
    tok = runtime.tokenizer
    a_id, b_id = _letter_ids(tok)
    lm_head = runtime.model.get_output_embeddings()
    out = []
    for start in range(0, len(prompts), batch_size):
        rows = [prompt_ids(tok, p) for p in prompts[start: start + batch_size]]
        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), tok.pad_token_id, dtype=torch.long)
        mask = torch.zeros_like(ids)
        for i, r in enumerate(rows):
            ids[i, : len(r)] = torch.tensor(r)
            mask[i, : len(r)] = 1
        hidden = _trunk(runtime)(input_ids=ids.to(runtime.device),
                                 attention_mask=mask.to(runtime.device)).last_hidden_state
        last = hidden[torch.arange(len(rows)), torch.tensor([len(r) - 1 for r in rows])]  # (b, H)
        logp = torch.log_softmax(lm_head(last).float(), -1)
        out.append(logp[:, [a_id, b_id]].cpu())
    return torch.cat(out)


def judge_pairs(runtime: Runtime, pairs: Sequence[tuple[str, str, str | None]], *,
                adapter: str | None = None, criterion: str = "creativity",
                batch_size: int = 8) -> list[dict]:
    """Model judge for many ``(text_a, text_b, brief)`` pairs. Per pair::

        {"winner": "a"|"b"|"tie", "prob_a", "consistent", "orders": [{"shown", "logp_A", "logp_B"}] x 2,
         "judge": "model", "model_fingerprint", "adapter_hash", "criterion"}

    ``prob_a`` = mean over both orders of P(text_a chosen), with A/B renormalized to sum to 1;
    ``consistent`` = both orders picked the same text.
    """
    prompts = []
    for a, b, brief in pairs:
        prompts += [judge_prompt(a, b, brief, criterion), judge_prompt(b, a, brief, criterion)]
    with adapter_active(runtime, adapter) as adapter_hash:
        lp = _letter_logprobs(runtime, prompts, batch_size)  # (2n, 2)
    p_first = torch.softmax(lp, -1)[:, 0]  # P("A") renormalized over {A, B}
    results = []
    for k in range(len(pairs)):
        p_ab, p_ba = float(p_first[2 * k]), float(p_first[2 * k + 1])
        prob_a = (p_ab + (1 - p_ba)) / 2  # a shown first chosen "A"; a shown second chosen "B"
        results.append({
            "winner": "a" if prob_a > 0.5 else "b" if prob_a < 0.5 else "tie",
            "prob_a": prob_a,
            "consistent": (p_ab > 0.5) == (p_ba < 0.5),
            "orders": [{"shown": "ab", "logp_A": float(lp[2 * k, 0]), "logp_B": float(lp[2 * k, 1])},
                       {"shown": "ba", "logp_A": float(lp[2 * k + 1, 0]), "logp_B": float(lp[2 * k + 1, 1])}],
            "judge": "model", "model_fingerprint": runtime.fingerprint, "adapter_hash": adapter_hash,
            "criterion": criterion,
        })
    return results


def judge_pair(runtime: Runtime, text_a: str, text_b: str, *, brief: str | None = None,
               adapter: str | None = None, criterion: str = "creativity") -> dict:
    """Model judge for one pair (see :func:`judge_pairs`)."""
    return judge_pairs(runtime, [(text_a, text_b, brief)], adapter=adapter, criterion=criterion)[0]


def direction_judge(score_a: float, score_b: float) -> str:
    """The higher creativity score wins."""
    return "a" if score_a > score_b else "b" if score_b > score_a else "tie"


def direction_judge_pairs(runtime: Runtime, direction: Direction,
                          pairs: Sequence[tuple[str, str, str | None]], *, layer: int | None = None,
                          source: str = "prompt") -> list[dict]:
    """Direction judge for ``(text_a, text_b, brief)`` pairs: ``{"winner", "score_a", "score_b",
    "judge": "direction", "direction_hash", "layer"}``."""
    layer = direction.recommended_layer if layer is None else layer
    texts = [t for a, b, _ in pairs for t in (a, b)]
    briefs = [brief for _, _, brief in pairs for _ in (0, 1)]
    scores = creativity_scores(runtime, direction, texts, briefs, layer, source)
    return [{"winner": direction_judge(scores[2 * k], scores[2 * k + 1]), "score_a": scores[2 * k],
             "score_b": scores[2 * k + 1], "judge": "direction", "direction_hash": direction.sha256,
             "layer": layer, "source": source} for k in range(len(pairs))]


def judge_validity(runtime: Runtime, answer_pairs: Sequence[dict], *, direction: Direction | None = None,
                   adapter: str | None = None, layer: int | None = None, source: str = "prompt") -> dict:
    """Accuracy of the judges on pairs with a known creative side (``{"brief", "plain", "creative"}``).

    Half the pairs are presented creative-first, half plain-first, so a judge that always says
    "a" scores 0.5.
    """
    pairs, creative_side = [], []
    for k, p in enumerate(answer_pairs):
        if k % 2 == 0:
            pairs.append((p["creative"], p["plain"], p["brief"])); creative_side.append("a")
        else:
            pairs.append((p["plain"], p["creative"], p["brief"])); creative_side.append("b")
    out = {"n": len(pairs)}
    model = judge_pairs(runtime, pairs, adapter=adapter)
    out["model_judge_accuracy"] = sum(r["winner"] == s for r, s in zip(model, creative_side)) / max(1, len(pairs))
    out["model_judge_consistency"] = sum(r["consistent"] for r in model) / max(1, len(pairs))
    if direction is not None:
        by_dir = direction_judge_pairs(runtime, direction, pairs, layer=layer, source=source)
        out["direction_judge_accuracy"] = sum(r["winner"] == s for r, s in zip(by_dir, creative_side)) / max(1, len(pairs))
    return out
