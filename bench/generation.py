"""Generation benchmark (not a test): prints numbers measured in one run.

    .venv/bin/python bench/generation.py [--max-new-tokens 32] [--model PATH]

* aggregate tokens/s at batch 1, 8 and 16 (sampling, one prompt repeated, per-row seeds);
* steered / unsteered throughput ratio at batch 8 (target >= 0.95);
* scoring texts/s (creativity + entropy + perplexity + surface scores, batch 16);
* peak RSS of a worker process holding base + adapter + direction vs base alone, each measured
  in a fresh subprocess that loads, generates and reports ``ru_maxrss`` (target <= 1.10).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

PROMPT = "Write a one-sentence ad idea for a bicycle shop."


def _generate_tokens_per_s(runtime, batch, max_new_tokens, steering=None, repeats=2):
    from models_runtime.generation import DecodingConfig, generate_batch

    config = DecodingConfig(temperature=0.8, max_new_tokens=max_new_tokens)
    best = 0.0
    for r in range(repeats):  # best of N: the machine may be shared
        started = time.perf_counter()
        results = generate_batch(runtime, [PROMPT] * batch, config=config, seeds=range(r * 100, r * 100 + batch),
                                 steering=steering, batch_size=batch)
        elapsed = time.perf_counter() - started
        best = max(best, sum(x.n_tokens for x in results) / elapsed)
    return best


def _rss_child(mode: str, model: str | None, adapter: str, direction: str, max_new_tokens: int) -> None:
    """Runs in a subprocess: load what a worker holds, generate, print peak RSS in MB."""
    from models_runtime.generation import DecodingConfig, generate_batch
    from models_runtime.loading import load_adapter, load_base
    from models_runtime.steering import Direction, Steering

    runtime = load_base(model)
    config = DecodingConfig(temperature=0.8, max_new_tokens=max_new_tokens)
    generate_batch(runtime, [PROMPT] * 8, config=config)
    if mode == "full":
        sha = load_adapter(runtime, adapter)
        steering = Steering(Direction.load(direction), 8.0)
        generate_batch(runtime, [PROMPT] * 8, config=config, adapter=sha)
        generate_batch(runtime, [PROMPT] * 8, config=config, steering=steering)
    import psutil

    print(json.dumps({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                      "rss_mb": psutil.Process().memory_info().rss / 2**20}))


def _rss(mode, args, adapter, direction) -> float:
    cmd = [sys.executable, __file__, "--rss-child", mode, "--adapter", adapter, "--direction", direction,
           "--max-new-tokens", str(args.max_new_tokens)] + (["--model", args.model] if args.model else [])
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=None)
    parser.add_argument("--max-new-tokens", type=int, default=32)
    parser.add_argument("--rss-child", choices=["base", "full"], default=None)
    parser.add_argument("--adapter", default=None)
    parser.add_argument("--direction", default=None)
    args = parser.parse_args()
    if args.rss_child:
        _rss_child(args.rss_child, args.model, args.adapter, args.direction, args.max_new_tokens)
        return

    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    import torch

    from models_runtime.finetune import FinetuneConfig, train_adapter
    from models_runtime.loading import load_base
    from models_runtime.scoring import score_texts
    from models_runtime.steering import DATA_DIR, Steering, extract_direction, read_jsonl

    runtime = load_base(args.model)
    print(f"model {runtime.name} ({runtime.fingerprint[:12]}), device {runtime.device}, "
          f"{torch.get_num_threads()} threads, max_new_tokens {args.max_new_tokens}")
    _generate_tokens_per_s(runtime, 1, 4, repeats=1)  # warm-up

    for batch in (1, 8, 16):
        print(f"generation batch {batch:2d}: {_generate_tokens_per_s(runtime, batch, args.max_new_tokens):7.1f} tokens/s")

    pairs = read_jsonl(DATA_DIR / "contrastive_pairs.jsonl", ["creative", "boring"])[:16]
    direction = extract_direction(runtime, pairs, answer_pairs=[])
    steering = Steering(direction, 8.0)
    plain = _generate_tokens_per_s(runtime, 8, args.max_new_tokens, repeats=3)
    steered = _generate_tokens_per_s(runtime, 8, args.max_new_tokens, steering=steering, repeats=3)
    print(f"steered / unsteered throughput (batch 8, layer {direction.recommended_layer}, alpha 8): "
          f"{steered / plain:.3f}  ({steered:.1f} vs {plain:.1f} tokens/s; target >= 0.95)")

    answers = read_jsonl(DATA_DIR / "answer_pairs.jsonl", ["brief", "plain", "creative"])[:16]
    texts = [a["creative"] for a in answers] + [a["plain"] for a in answers]
    briefs = [a["brief"] for a in answers] * 2
    score_texts(runtime, texts[:4], briefs=briefs[:4], direction=direction)
    started = time.perf_counter()
    score_texts(runtime, texts, briefs=briefs, direction=direction)
    print(f"scoring: {len(texts) / (time.perf_counter() - started):.1f} texts/s (batch 16, {len(texts)} texts)")

    with tempfile.TemporaryDirectory() as tmp:
        examples = read_jsonl(DATA_DIR / "creative_finetune.jsonl", ["brief", "output"])[:4]
        adapter = train_adapter(runtime, examples, Path(tmp) / "adapter",
                                config=FinetuneConfig(steps=1, batch_size=2)).path
        direction_file = str(Path(tmp) / "direction.safetensors")
        direction.save(direction_file)
        base = _rss("base", args, adapter, direction_file)
        full = _rss("full", args, adapter, direction_file)
    print(f"peak RSS: base {base['peak_rss_mb']:.0f} MB, base + adapter + direction {full['peak_rss_mb']:.0f} MB, "
          f"ratio {full['peak_rss_mb'] / base['peak_rss_mb']:.3f} (target <= 1.10)")
    print(f"RSS after generating: base {base['rss_mb']:.0f} MB, base + adapter + direction {full['rss_mb']:.0f} MB, "
          f"ratio {full['rss_mb'] / base['rss_mb']:.3f}")


if __name__ == "__main__":
    main()
