"""``python -m models_runtime``: the runtime without the web app (for GPU boxes), JSON lines out.

Subcommands: ``extract-direction``, ``generate``, ``score``, ``finetune``, ``judge``, ``validity``. Every
result is one JSON object per line on stdout; errors go to stderr as one line saying what to do,
with exit status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import warnings


def _print(record: dict) -> None:
    print(json.dumps(record, ensure_ascii=False), flush=True)


def _runtime(args):
    from .loading import load_base

    return load_base(args.model, cache_dir=args.cache_dir, device=args.device)


def _direction(path, runtime=None):
    from .steering import Direction

    direction = Direction.load(path)
    if runtime is not None:
        check_direction(runtime, direction, path)
    return direction


def check_direction(runtime, direction, path="direction") -> None:
    size = next(iter(direction.vectors.values())).shape[-1]
    if size != runtime.hidden_size:
        raise ValueError(f"{path} was extracted from a model with hidden size {size}, this model has "
                         f"{runtime.hidden_size}: extract a direction for this model")
    if direction.model_fingerprint and direction.model_fingerprint != runtime.fingerprint:
        print(f"warning: {path} was extracted from another model (fingerprint "
              f"{direction.model_fingerprint[:12]}, this one {runtime.fingerprint[:12]})", file=sys.stderr)


def cmd_extract_direction(args) -> None:
    from .steering import extract_direction, parse_layers

    runtime = _runtime(args)
    direction = extract_direction(
        runtime, args.pairs, answer_pairs=args.answer_pairs,
        layers=parse_layers(args.layers, runtime.n_layers), method=args.method,
        heldout_every=args.heldout_every, batch_size=args.batch_size)
    sha = direction.save(args.out)
    for row in direction.report:
        _print({**row, "recommended": row["layer"] == direction.recommended_layer})
    _print({"out": str(args.out), "sha256": sha, "recommended_layer": direction.recommended_layer,
            "method": direction.method, "model_fingerprint": runtime.fingerprint,
            "best_scoring_source": direction.best_scoring_source()})


def cmd_generate(args) -> None:
    from .generation import DecodingConfig, generate_batch
    from .steering import Steering

    if (args.direction is None) != (args.alpha is None):
        raise ValueError("--direction and --alpha go together: give both to steer, neither for plain generation")
    runtime = _runtime(args)
    steering = None
    if args.direction is not None:
        direction = _direction(args.direction, runtime)
        steering = Steering(direction, args.alpha, (args.layer,) if args.layer is not None else None, args.source)
    config = DecodingConfig(greedy=args.greedy, temperature=args.temperature or 1.0, top_p=args.top_p,
                            top_k=args.top_k, max_new_tokens=args.max_new_tokens)
    seeds = [args.seed + k for k in range(args.n)]
    results = generate_batch(runtime, [args.prompt] * args.n, config=config, seeds=seeds,
                             adapter=args.adapter, steering=steering, batch_size=args.batch_size)
    for result in results:
        record = result.to_dict()
        if not args.entropies:
            record.pop("token_entropies")
        _print(record)


def _read_texts(path) -> tuple[list[str], list[str | None]]:
    """One text per line, or JSON lines with ``text`` (and optional ``brief``)."""
    fh = sys.stdin if path in (None, "-") else open(path, encoding="utf-8")
    texts, briefs = [], []
    with fh:
        for number, line in enumerate(fh, 1):
            line = line.rstrip("\n")
            if not line.strip():
                continue
            record = None
            if line.lstrip().startswith("{"):
                try:
                    record = json.loads(line)
                except ValueError:
                    record = None
            if isinstance(record, dict):
                if not isinstance(record.get("text"), str):
                    raise ValueError(f"{path or 'stdin'}, line {number}: JSON line without a 'text' string")
                texts.append(record["text"])
                briefs.append(record.get("brief"))
            else:
                texts.append(line)
                briefs.append(None)
    if not texts:
        raise ValueError(f"no texts in {path or 'stdin'}: give one text per line or JSON lines with 'text'")
    return texts, briefs


def cmd_score(args) -> None:
    from .scoring import score_texts

    texts, briefs = _read_texts(args.texts)
    runtime = _runtime(args)
    direction = _direction(args.direction, runtime) if args.direction else None
    for row in score_texts(runtime, texts, briefs=briefs, direction=direction, layer=args.layer,
                           source=args.source, batch_size=args.batch_size):
        _print(row)


def cmd_finetune(args) -> None:
    from .finetune import FinetuneConfig, train_adapter

    runtime = _runtime(args)
    config = FinetuneConfig(steps=args.steps, batch_size=args.batch_size, learning_rate=args.learning_rate,
                            rank=args.rank, seed=args.seed)
    info = train_adapter(runtime, args.data, args.out, config=config,
                         progress=lambda step, loss: _print({"step": step, "steps": config.steps, "loss": loss}))
    record = info.to_dict()
    record.pop("losses")
    _print({"adapter": record.pop("path"), **record})


def cmd_judge(args) -> None:
    from .judge import direction_judge_pairs, judge_pair

    runtime = _runtime(args)
    _print(judge_pair(runtime, args.a, args.b, brief=args.brief, adapter=args.adapter))
    if args.direction:
        _print(direction_judge_pairs(runtime, _direction(args.direction, runtime), [(args.a, args.b, args.brief)],
                                     layer=args.layer, source=args.source)[0])


def cmd_validity(args) -> None:
    from .judge import judge_validity
    from .steering import DATA_DIR, read_jsonl

    pairs = read_jsonl(args.answer_pairs or DATA_DIR / "answer_pairs.jsonl", ["brief", "plain", "creative"])
    heldout = [p for p in pairs if p.get("split", "heldout") == "heldout"]
    runtime = _runtime(args)
    direction = _direction(args.direction, runtime) if args.direction else None
    _print(judge_validity(runtime, heldout, direction=direction, adapter=args.adapter, layer=args.layer,
                          source=args.source))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m models_runtime", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)

    def common(p):
        p.add_argument("--model", default=None, help="model folder or .gguf file (default: SmolLM2-135M-Instruct)")
        p.add_argument("--cache-dir", default=None, help="converted-model cache (default: $MODELS_CACHE or var/models)")
        p.add_argument("--device", default="auto", help="auto | cpu | cuda")
        p.add_argument("--batch-size", type=int, default=16)
        return p

    p = common(sub.add_parser("extract-direction", help="extract the creativity direction and print the layer report"))
    p.add_argument("--out", required=True, help="direction file to write (.safetensors)")
    p.add_argument("--pairs", default=None, help="contrastive pairs JSONL (default: bundled)")
    p.add_argument("--answer-pairs", default=None, help="answer pairs JSONL (default: bundled)")
    p.add_argument("--layers", default=None, help="A-B or a comma list (default: all)")
    p.add_argument("--method", choices=["mean", "pca"], default="mean")
    p.add_argument("--heldout-every", type=int, default=4, help="hold out every N-th pair for the AUC")
    p.set_defaults(func=cmd_extract_direction)

    p = common(sub.add_parser("generate", help="generate samples for one prompt"))
    p.add_argument("--prompt", required=True)
    p.add_argument("--adapter", default=None, help="LoRA adapter folder")
    p.add_argument("--direction", default=None, help="direction file to steer with (needs --alpha)")
    p.add_argument("--layer", type=int, default=None, help="steering layer (default: the file's recommended layer)")
    p.add_argument("--alpha", type=float, default=None, help="steering strength, percent of the layer's median hidden-state norm")
    p.add_argument("--source", choices=["prompt", "response"], default="prompt",
                   help="which vectors of the direction file: contrastive prompts (default) or answers")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--greedy", action="store_true")
    mode.add_argument("--temperature", type=float, default=None)
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--top-k", type=int, default=0)
    p.add_argument("--seed", type=int, default=0, help="seed of the first sample; sample k uses seed + k")
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--n", type=int, default=1, help="number of samples")
    p.add_argument("--entropies", action="store_true", help="also print each token's entropy")
    p.set_defaults(func=cmd_generate)

    p = common(sub.add_parser("score", help="score texts (one per line, or JSON lines with brief and text)"))
    p.add_argument("--direction", default=None, help="direction file (creativity score)")
    p.add_argument("--layer", type=int, default=None, help="default: the file's recommended layer")
    p.add_argument("--texts", default="-", help="file, or - for stdin")
    p.add_argument("--source", choices=["prompt", "response"], default="prompt",
                   help="which vectors of the direction file: contrastive prompts (default) or answers")
    p.set_defaults(func=cmd_score)

    p = common(sub.add_parser("finetune", help="train a LoRA adapter"))
    p.set_defaults(batch_size=4)
    p.add_argument("--data", default=None, help="JSONL with brief and output (default: bundled creative set)")
    p.add_argument("--out", required=True, help="adapter folder to write")
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--rank", type=int, default=8)
    p.add_argument("--seed", type=int, default=0)
    p.set_defaults(func=cmd_finetune)

    p = common(sub.add_parser("judge", help="ask the model which of two texts is more creative"))
    p.add_argument("--a", required=True)
    p.add_argument("--b", required=True)
    p.add_argument("--brief", default=None)
    p.add_argument("--adapter", default=None)
    p.add_argument("--direction", default=None, help="also run the direction judge")
    p.add_argument("--layer", type=int, default=None)
    p.add_argument("--source", choices=["prompt", "response"], default="prompt",
                   help="which vectors of the direction file: contrastive prompts (default) or answers")
    p.set_defaults(func=cmd_judge)

    p = common(sub.add_parser("validity", help="accuracy of the model and direction judges on held-out answer pairs"))
    p.add_argument("--answer-pairs", default=None, help="answer pairs JSONL (default: bundled; heldout split)")
    p.add_argument("--adapter", default=None, help="judge with this adapter on")
    p.add_argument("--direction", default=None, help="also measure the direction judge")
    p.add_argument("--layer", type=int, default=None)
    p.add_argument("--source", choices=["prompt", "response"], default="prompt")
    p.set_defaults(func=cmd_validity)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    warnings.filterwarnings("ignore", category=FutureWarning)
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    except ImportError:
        pass
    from .loading import ModelLoadError

    try:
        args.func(args)
    except (ModelLoadError, ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
