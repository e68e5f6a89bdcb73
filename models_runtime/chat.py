"""Turning briefs and answers into token ids with the model's chat template.

Everything that reads a text "as the assistant's answer to its brief" (scoring, response-based
directions, fine-tuning) uses :func:`answer_batch`, so the answer tokens are always the same
ids generation would have produced after the same prompt.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch


def prompt_text(tokenizer, user: str, system: str | None = None) -> str:
    """The chat-formatted prompt for one user message, ending where the assistant's answer starts."""
    messages = [{"role": "user", "content": user}]
    if system is not None:
        messages.insert(0, {"role": "system", "content": system})
    if getattr(tokenizer, "chat_template", None):
        return tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    # A tokenizer without a template (a plain base model): a minimal readable format.
    head = f"{system}\n\n" if system else ""
    return f"{head}User: {user}\nAssistant: "


def prompt_ids(tokenizer, user: str, system: str | None = None) -> list[int]:
    return tokenizer(prompt_text(tokenizer, user, system), add_special_tokens=False)["input_ids"]


def text_ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


@dataclass
class AnswerBatch:
    """Right-padded prompt+answer ids; ``answer_mask`` marks the answer tokens."""

    input_ids: torch.Tensor  # (batch, seq)
    attention_mask: torch.Tensor  # (batch, seq)
    answer_mask: torch.Tensor  # (batch, seq) bool

    def to(self, device) -> "AnswerBatch":
        return AnswerBatch(self.input_ids.to(device), self.attention_mask.to(device),
                           self.answer_mask.to(device))


def answer_batch(tokenizer, briefs: Sequence[str | None], answers: Sequence[str],
                 max_length: int | None = None) -> AnswerBatch:
    """Each answer placed as the assistant's reply to its brief (``None`` = an empty user turn).

    Right padding: positions of real tokens are unaffected, so no position ids are needed.
    ``max_length`` truncates the answer (never the prompt) to bound memory.
    """
    rows, masks = [], []
    for brief, answer in zip(briefs, answers, strict=True):
        p_ids = prompt_ids(tokenizer, brief or "")
        a_ids = text_ids(tokenizer, answer)
        if max_length is not None:
            a_ids = a_ids[: max(1, max_length - len(p_ids))]
        rows.append(p_ids + a_ids)
        masks.append([False] * len(p_ids) + [True] * len(a_ids))
    width = max(len(r) for r in rows)
    pad = tokenizer.pad_token_id
    input_ids = torch.full((len(rows), width), pad, dtype=torch.long)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    answer = torch.zeros((len(rows), width), dtype=torch.bool)
    for i, (r, m) in enumerate(zip(rows, masks)):
        input_ids[i, : len(r)] = torch.tensor(r)
        attention[i, : len(r)] = 1
        answer[i, : len(m)] = torch.tensor(m)
    return AnswerBatch(input_ids, attention, answer)
