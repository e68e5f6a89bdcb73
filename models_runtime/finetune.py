"""LoRA fine-tuning of the base model on brief -> output examples (the fine-tuned condition).

Training runs on a private copy of the base weights, so a worker's shared runtime is never
touched while it trains; the saved adapter is later attached to the shared weights with
:func:`models_runtime.loading.load_adapter`. The loss covers only the answer tokens (and the
end-of-turn token, so the model learns where to stop), never the brief.

The defaults (30 steps of 4 examples, rank 8 on the attention projections) take about two
minutes for SmolLM2-135M on two CPU cores; on a GPU raise ``steps``.
"""

from __future__ import annotations

import copy
import json
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import torch

from .chat import prompt_ids, text_ids
from .loading import Runtime, adapter_hash
from .steering import DATA_DIR, read_jsonl, records_hash

DEFAULT_DATA = DATA_DIR / "creative_finetune.jsonl"


@dataclass(frozen=True)
class FinetuneConfig:
    steps: int = 30
    batch_size: int = 4
    learning_rate: float = 1e-3
    rank: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    target_modules: tuple[str, ...] = ("q_proj", "k_proj", "v_proj", "o_proj")
    max_length: int = 256
    seed: int = 0


@dataclass
class AdapterInfo:
    """What a training run produced: ``path`` holds the adapter; ``sha256`` is its identity."""

    path: str
    sha256: str
    base_fingerprint: str
    data_hash: str
    n_examples: int
    steps: int
    losses: list[float] = field(default_factory=list)
    config: dict = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict:
        return asdict(self)


def load_examples(data: str | os.PathLike | Sequence[dict] | None = None) -> list[dict]:
    """Training examples ``{"brief", "output"}`` from a JSONL file (default: the bundled set) or a list.

    Uploaded files may also name the fields ``prompt``/``text``; errors name the line.
    """
    if data is None:
        data = DEFAULT_DATA
    if isinstance(data, (list, tuple)):
        records = list(data)
    else:
        path = Path(data)
        if not path.is_file():
            raise FileNotFoundError(f"training data {path} does not exist: pass a JSONL file with "
                                    '{"brief": ..., "output": ...} per line')
        records = read_jsonl(path, [])
    examples = []
    for number, r in enumerate(records, 1):
        brief = r.get("brief") or r.get("prompt")
        output = r.get("output") or r.get("text")
        if not isinstance(brief, str) or not brief.strip() or not isinstance(output, str) or not output.strip():
            raise ValueError(f"training example {number}: needs non-empty 'brief' and 'output' strings")
        examples.append({"brief": brief, "output": output})
    if not examples:
        raise ValueError("no training examples")
    return examples


def _encode(tokenizer, example: dict, max_length: int, eos_id: int) -> tuple[list[int], list[int]]:
    p_ids = prompt_ids(tokenizer, example["brief"])
    a_ids = (text_ids(tokenizer, example["output"]) + [eos_id])[: max(1, max_length - len(p_ids))]
    return p_ids + a_ids, [-100] * len(p_ids) + a_ids


def _training_copy(runtime: Runtime):
    """A private copy of the base weights (reloaded from disk if adapters already live on the shared one)."""
    if runtime.adapters and runtime.model_path:
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(runtime.model_path, dtype=runtime.dtype)
    else:
        model = copy.deepcopy(runtime.model)
    return model.to(runtime.device)


def train_adapter(runtime: Runtime, data: str | os.PathLike | Sequence[dict] | None = None,
                  out_dir: str | os.PathLike = "adapter", *, config: FinetuneConfig = FinetuneConfig(),
                  progress: Callable[[int, float], None] | None = None) -> AdapterInfo:
    """Train a LoRA adapter and save it to ``out_dir``; ``progress(step, loss)`` after each step."""
    from peft import LoraConfig, get_peft_model

    examples = load_examples(data)
    started = time.monotonic()
    tok = runtime.tokenizer
    eos_id = tok.convert_tokens_to_ids(tok.eos_token) if tok.eos_token else runtime.model.config.eos_token_id
    encoded = [_encode(tok, ex, config.max_length, eos_id) for ex in examples]
    torch.manual_seed(config.seed)
    rng = random.Random(config.seed)

    model = _training_copy(runtime)
    model.requires_grad_(False)
    present = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    targets = [m for m in config.target_modules if m in present]
    if not targets:
        raise ValueError(f"none of the target modules {list(config.target_modules)} exist in this model: "
                         "set FinetuneConfig(target_modules=...) to its attention projection names")
    peft_model = get_peft_model(model, LoraConfig(
        r=config.rank, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
        target_modules=targets, task_type="CAUSAL_LM"))
    peft_model.train()
    params = [p for p in peft_model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate, weight_decay=0.0)
    # Linear warm-up over the first 10% of steps, then linear decay: stable with few steps.
    warmup = max(1, config.steps // 10)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: min((s + 1) / warmup, max(0.0, (config.steps - s) / max(1, config.steps - warmup))))

    order: list[int] = []
    losses = []
    pad = tok.pad_token_id
    for step in range(1, config.steps + 1):
        batch = []
        for _ in range(min(config.batch_size, len(encoded))):
            if not order:  # a fresh shuffled pass over the data
                order = list(range(len(encoded)))
                rng.shuffle(order)
            batch.append(encoded[order.pop()])
        width = max(len(ids) for ids, _ in batch)
        input_ids = torch.full((len(batch), width), pad, dtype=torch.long)
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        attention = torch.zeros((len(batch), width), dtype=torch.long)
        for i, (ids, lab) in enumerate(batch):
            input_ids[i, : len(ids)] = torch.tensor(ids)
            labels[i, : len(lab)] = torch.tensor(lab)
            attention[i, : len(ids)] = 1
        loss = peft_model(input_ids=input_ids.to(runtime.device), attention_mask=attention.to(runtime.device),
                          labels=labels.to(runtime.device)).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(loss.detach()))
        if progress is not None:
            progress(step, losses[-1])

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    peft_model.save_pretrained(str(out_dir))
    sha = adapter_hash(out_dir)
    info = AdapterInfo(path=str(out_dir), sha256=sha, base_fingerprint=runtime.fingerprint,
                       data_hash=records_hash(examples), n_examples=len(examples), steps=config.steps,
                       losses=losses, config={**asdict(config), "target_modules": targets},
                       seconds=time.monotonic() - started)
    (out_dir / "training.json").write_text(json.dumps(info.to_dict(), indent=2))
    del peft_model, model, optimizer
    return info
