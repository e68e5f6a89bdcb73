"""The creativity direction: extraction, layer report, saving, and steering hooks.

Method (Olson et al. 2024, arXiv 2412.06060): ask the model the same request creatively and
boringly; the difference of the hidden states at the last prompt token, averaged over pairs and
normalized, is a direction per decoder layer ("mean"). ``pca`` takes instead the first singular
vector of the (uncentred) matrix of differences, i.e. the axis most differences line up with.
Either way the sign is fixed so that creative prompts project higher.

A second, response-based extraction reads plain and creative *answers* to the same brief (mean
hidden state over the answer tokens) and takes the normalized mean difference. The layer report
compares both on held-out data:

* ``auc``: ROC AUC of the projection separating held-out creative from boring prompts;
* ``paired_accuracy``: share of held-out answer pairs whose creative answer gets the higher
  creativity score (:func:`models_runtime.scoring.creativity_scores`): the score's validity check.

Layer indices are decoder-block indices (0 = output of the first block), the same indices the
steering hooks use. Steering adds ``alpha * scale[layer] * unit_direction`` to the block's output
at every real (non-padding) position, where ``scale[layer]`` is the median norm of that layer's
hidden states on the extraction prompts divided by 100: alpha is a shift of *alpha percent of a
typical hidden state's length*, comparable across layers and models (raw hidden-state norms grow
from ~50 to ~700 across SmolLM2's layers).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import torch

from .chat import answer_batch, prompt_ids
from .loading import Runtime, decoder_layers

SCALE_DIVISOR = 100.0
SOURCES = ("prompt", "response")
FORMAT_VERSION = "1"


# --- hooks ------------------------------------------------------------------------------------

class SteeringHandle:
    """Returned by :func:`steer`. Set ``positions`` to a (batch, seq) mask of real tokens before
    each forward pass that contains padding; ``None`` steers every position."""

    def __init__(self):
        self.positions: torch.Tensor | None = None


@contextlib.contextmanager
def steer(model, direction_by_layer: Mapping[int, torch.Tensor], alpha: float = 1.0,
          layers_attr: str | None = None):
    """Add ``alpha * direction_by_layer[l]`` to the output of decoder layer ``l`` inside the block.

    The hooks are always removed on exit (``try/finally``): a long-lived worker must never
    carry one job's steering into the next.
    """
    blocks = decoder_layers(model, layers_attr)
    handle = SteeringHandle()
    removers = []
    try:
        for layer, vector in direction_by_layer.items():
            if not 0 <= layer < len(blocks):
                raise ValueError(f"layer {layer} out of range: the model has {len(blocks)} decoder layers (0-{len(blocks) - 1})")
            param = next(blocks[layer].parameters())
            delta = (float(alpha) * vector.detach().float()).to(device=param.device, dtype=param.dtype)  # (hidden,)
            removers.append(blocks[layer].register_forward_hook(_make_hook(delta, handle)))
        yield handle
    finally:
        for remover in removers:
            remover.remove()


def _make_hook(delta: torch.Tensor, handle: SteeringHandle):
    def hook(module, args, output):
        hidden = output[0] if isinstance(output, tuple) else output  # (batch, seq, hidden)
        if handle.positions is None:
            hidden = hidden + delta
        else:
            hidden = hidden + handle.positions.to(hidden.dtype).unsqueeze(-1) * delta
        return (hidden,) + tuple(output[1:]) if isinstance(output, tuple) else hidden

    return hook


@contextlib.contextmanager
def capture_layers(model, layers: Iterable[int], layers_attr: str | None = None):
    """Record the output of the given decoder layers: yields a dict filled on each forward pass."""
    blocks = decoder_layers(model, layers_attr)
    captured: dict[int, torch.Tensor] = {}
    removers = []

    def make(layer):
        def hook(module, args, output):
            captured[layer] = output[0] if isinstance(output, tuple) else output

        return hook

    try:
        for layer in layers:
            removers.append(blocks[layer].register_forward_hook(make(layer)))
        yield captured
    finally:
        for remover in removers:
            remover.remove()


# --- hidden states ----------------------------------------------------------------------------

@torch.no_grad()
def prompt_states(runtime: Runtime, prompts: Sequence[str], layers: Sequence[int],
                  batch_size: int = 16) -> torch.Tensor:
    """Hidden state at the last prompt token (chat-formatted, generation prompt added).

    Returns (n_prompts, n_layers, hidden) float32 on CPU.
    """
    tok = runtime.tokenizer
    encoded = [prompt_ids(tok, p) for p in prompts]
    order = sorted(range(len(prompts)), key=lambda i: len(encoded[i]))  # less padding per batch
    out = []
    with capture_layers(runtime.model, layers) as captured:
        for start in range(0, len(prompts), batch_size):
            rows = [encoded[i] for i in order[start: start + batch_size]]
            width = max(len(r) for r in rows)
            ids = torch.full((len(rows), width), tok.pad_token_id, dtype=torch.long)
            mask = torch.zeros_like(ids)
            for i, r in enumerate(rows):  # right padding: real positions keep their ids
                ids[i, : len(r)] = torch.tensor(r)
                mask[i, : len(r)] = 1
            _trunk(runtime)(input_ids=ids.to(runtime.device), attention_mask=mask.to(runtime.device))
            last = torch.tensor([len(r) - 1 for r in rows])
            rows_idx = torch.arange(len(rows))
            out.append(torch.stack([captured[l][rows_idx, last].float().cpu() for l in layers], 1))
    return _unsort(torch.cat(out), order)


def _unsort(states: torch.Tensor, order: list[int]) -> torch.Tensor:
    restored = torch.empty_like(states)
    restored[torch.tensor(order)] = states
    return restored


@torch.no_grad()
def answer_states(runtime: Runtime, briefs: Sequence[str | None], answers: Sequence[str],
                  layers: Sequence[int], batch_size: int = 16, max_length: int = 512) -> torch.Tensor:
    """Mean hidden state over each answer's tokens, the answer read as the assistant's reply to
    its brief. Returns (n_answers, n_layers, hidden) float32 on CPU."""
    lengths = [len(b or "") + len(a) for b, a in zip(briefs, answers)]
    order = sorted(range(len(answers)), key=lambda i: lengths[i])  # less padding per batch
    out = []
    with capture_layers(runtime.model, layers) as captured:
        for start in range(0, len(answers), batch_size):
            idx = order[start: start + batch_size]
            batch = answer_batch(runtime.tokenizer, [briefs[i] for i in idx], [answers[i] for i in idx],
                                 max_length).to(runtime.device)
            _trunk(runtime)(input_ids=batch.input_ids, attention_mask=batch.attention_mask)
            weights = batch.answer_mask.float().unsqueeze(-1)  # (batch, seq, 1)
            count = weights.sum(1).clamp(min=1)  # (batch, 1)
            out.append(torch.stack(
                [((captured[l].float() * weights).sum(1) / count).cpu() for l in layers], 1))
    return _unsort(torch.cat(out), order)


def _trunk(runtime: Runtime):
    """The decoder stack without the LM head: hidden states only, skipping the vocab projection."""
    return getattr(runtime.model, runtime.model.base_model_prefix, runtime.model)


# --- directions -------------------------------------------------------------------------------

def direction_from_differences(diffs: torch.Tensor, method: str = "mean") -> torch.Tensor:
    """Unit direction per layer from paired differences (creative - boring).

    diffs: (n_pairs, n_layers, hidden) -> (n_layers, hidden), sign such that the mean
    difference projects positively.
    """
    if method == "mean":
        vec = diffs.mean(0)
    elif method == "pca":
        # First right-singular vector of the uncentred difference matrix per layer.
        vec = torch.stack([torch.linalg.svd(diffs[:, l], full_matrices=False).Vh[0]
                           for l in range(diffs.shape[1])])
    else:
        raise ValueError(f"unknown method {method!r}: use 'mean' or 'pca'")
    vec = vec / vec.norm(dim=-1, keepdim=True).clamp(min=1e-12)
    sign = torch.sign((diffs.mean(0) * vec).sum(-1, keepdim=True))
    sign[sign == 0] = 1
    return vec * sign


def roc_auc(positive: Sequence[float], negative: Sequence[float]) -> float:
    """P(positive > negative) + 0.5 P(tie): the Mann-Whitney form of the ROC AUC."""
    pos = torch.as_tensor(positive, dtype=torch.float64).reshape(-1, 1)
    neg = torch.as_tensor(negative, dtype=torch.float64).reshape(1, -1)
    if pos.numel() == 0 or neg.numel() == 0:
        return float("nan")
    return float(((pos > neg).double() + 0.5 * (pos == neg).double()).mean())


@dataclass
class Direction:
    """Unit creativity directions per layer plus what is needed to use and trust them."""

    vectors: dict[int, torch.Tensor]  # layer -> (hidden,) unit vector
    scales: dict[int, float]  # layer -> median hidden-state norm / 100 (alpha unit)
    recommended_layer: int
    method: str = "mean"
    model_fingerprint: str = ""
    data_hash: str = ""
    report: list[dict] = field(default_factory=list)
    response_vectors: dict[int, torch.Tensor] = field(default_factory=dict)

    @property
    def layers(self) -> list[int]:
        return sorted(self.vectors)

    @property
    def sha256(self) -> str:
        """Content hash of the vectors, scales and metadata that change behaviour."""
        digest = hashlib.sha256()
        for key in ("method", "model_fingerprint", "data_hash"):
            digest.update(f"{key}={getattr(self, key)};".encode())
        for layer in self.layers:
            digest.update(f"{layer}:{self.scales[layer]!r};".encode())
            digest.update(self.vectors[layer].detach().float().contiguous().numpy().tobytes())
        for layer in sorted(self.response_vectors):
            digest.update(f"response:{layer};".encode())
            digest.update(self.response_vectors[layer].detach().float().contiguous().numpy().tobytes())
        return digest.hexdigest()

    def best_scoring_source(self, layer: int | None = None) -> str | None:
        """The vectors ("prompt" or "response") whose creativity score ranked held-out creative
        answers higher more often at ``layer`` (default: the recommended one); None if unmeasured."""
        layer = self.recommended_layer if layer is None else layer
        row = next((r for r in self.report if r["layer"] == layer), None)
        if row is None or row.get("paired_accuracy") is None:
            return None
        response = row.get("response_paired_accuracy")
        return "response" if response is not None and response > row["paired_accuracy"] else "prompt"

    def vector(self, layer: int, source: str = "prompt") -> torch.Tensor:
        """The unit vector of ``layer``; ``source`` "prompt" (contrastive prompts, the default)
        or "response" (plain vs creative answers)."""
        if source not in SOURCES:
            raise ValueError(f"unknown direction source {source!r}: use 'prompt' or 'response'")
        vectors = self.vectors if source == "prompt" else self.response_vectors
        if layer not in vectors:
            raise ValueError(f"the direction has no {source} vector for layer {layer}: "
                             f"available layers {sorted(vectors)}")
        return vectors[layer]

    def save(self, path: str | os.PathLike) -> str:
        """Write a safetensors file; returns the direction's sha256."""
        from safetensors.torch import save_file

        tensors = {f"prompt.{l}": v.contiguous().float() for l, v in self.vectors.items()}
        tensors.update({f"response.{l}": v.contiguous().float() for l, v in self.response_vectors.items()})
        sha = self.sha256
        metadata = {
            "format": "models_runtime.direction", "version": FORMAT_VERSION,
            "method": self.method, "model_fingerprint": self.model_fingerprint,
            "data_hash": self.data_hash, "recommended_layer": str(self.recommended_layer),
            "layers": json.dumps(self.layers), "scales": json.dumps({str(k): v for k, v in self.scales.items()}),
            "alpha_unit": "percent of the layer's median hidden-state norm",
            "report": json.dumps(self.report), "sha256": sha,
        }
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        save_file(tensors, str(path), metadata=metadata)
        return sha

    @classmethod
    def load(cls, path: str | os.PathLike) -> "Direction":
        from safetensors import safe_open

        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"direction file {path} does not exist: create it with "
                                    "`python -m models_runtime extract-direction --out FILE`")
        try:
            with safe_open(str(path), framework="pt") as fh:
                meta = fh.metadata() or {}
                tensors = {k: fh.get_tensor(k) for k in fh.keys()}
        except Exception as exc:  # safetensors raises its own error types
            raise ValueError(f"{path} is not a safetensors direction file: {exc}") from exc
        if meta.get("format") != "models_runtime.direction":
            raise ValueError(f"{path} is a safetensors file but not a direction made by models_runtime")
        vectors = {int(k.split(".")[1]): v for k, v in tensors.items() if k.startswith("prompt.")}
        response = {int(k.split(".")[1]): v for k, v in tensors.items() if k.startswith("response.")}
        return cls(vectors=vectors, scales={int(k): float(v) for k, v in json.loads(meta["scales"]).items()},
                   recommended_layer=int(meta["recommended_layer"]), method=meta.get("method", "mean"),
                   model_fingerprint=meta.get("model_fingerprint", ""), data_hash=meta.get("data_hash", ""),
                   report=json.loads(meta.get("report", "[]")), response_vectors=response)


@dataclass(frozen=True)
class Steering:
    """A steered condition: which direction, at which layer(s), how strongly.

    ``alpha`` is in percent of the layer's median hidden-state norm (see module docstring);
    ``layers`` None = the direction's recommended layer; ``source`` picks the prompt-based
    (default, Olson et al.) or the response-based vectors.
    """

    direction: Direction
    alpha: float
    layers: tuple[int, ...] | None = None
    source: str = "prompt"

    def resolved_layers(self) -> tuple[int, ...]:
        return tuple(self.layers) if self.layers else (self.direction.recommended_layer,)

    def direction_by_layer(self) -> dict[int, torch.Tensor]:
        """Vectors scaled to the alpha unit, ready for :func:`steer` (which multiplies by alpha)."""
        return {l: self.direction.vector(l, self.source) * self.direction.scales[l] for l in self.resolved_layers()}

    def provenance(self) -> dict:
        return {"direction_hash": self.direction.sha256, "layers": list(self.resolved_layers()),
                "alpha": float(self.alpha), "alpha_unit": "percent_of_median_hidden_norm",
                "direction_source": self.source}


# --- data -------------------------------------------------------------------------------------

DATA_DIR = Path(__file__).resolve().parent / "data"


def read_jsonl(path: str | os.PathLike, required: Sequence[str]) -> list[dict]:
    """Read JSON lines, checking required keys; errors name the line."""
    records = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as exc:
                raise ValueError(f"{path}, line {number}: not valid JSON ({exc})") from exc
            if not isinstance(record, dict):
                raise ValueError(f"{path}, line {number}: expected a JSON object, got {type(record).__name__}")
            missing = [k for k in required if not isinstance(record.get(k), str) or not record[k].strip()]
            if missing:
                raise ValueError(f"{path}, line {number}: missing or empty {', '.join(missing)}")
            records.append(record)
    if not records:
        raise ValueError(f"{path} holds no records")
    return records


def records_hash(records: Sequence[dict]) -> str:
    return hashlib.sha256(json.dumps(list(records), sort_keys=True, ensure_ascii=False).encode()).hexdigest()


def split_pairs(pairs: Sequence[dict], every: int = 4) -> tuple[list[dict], list[dict]]:
    """Deterministic train / held-out split: every ``every``-th pair (1-based) is held out."""
    train = [p for i, p in enumerate(pairs) if (i + 1) % every]
    heldout = [p for i, p in enumerate(pairs) if (i + 1) % every == 0]
    return train, heldout


def parse_layers(spec: str | None, n_layers: int) -> list[int]:
    """``None`` = all layers; ``"A-B"`` inclusive; ``"3,5,7"``; mixes allowed."""
    if not spec:
        return list(range(n_layers))
    layers: set[int] = set()
    for part in spec.split(","):
        part = part.strip()
        try:
            if "-" in part:
                a, b = part.split("-", 1)
                layers.update(range(int(a), int(b) + 1))
            else:
                layers.add(int(part))
        except ValueError:
            raise ValueError(f"bad layer spec {spec!r}: use A-B or a comma list like 8,12,16") from None
    bad = [l for l in layers if not 0 <= l < n_layers]
    if bad:
        raise ValueError(f"layers {sorted(bad)} out of range: the model has layers 0-{n_layers - 1}")
    return sorted(layers)


# --- extraction + report ----------------------------------------------------------------------

def _creativity(states: torch.Tensor, vectors: torch.Tensor) -> torch.Tensor:
    """Cosine of each state with each layer's direction: (n, L, H), (L, H) -> (n, L)."""
    return torch.nn.functional.cosine_similarity(states, vectors.unsqueeze(0), dim=-1)


def pick_layer(report: Sequence[dict], n_layers: int) -> int:
    """Best middle layer (a quarter to three quarters deep): early layers degrade text quality,
    late ones barely steer (Olson et al.). Ranked by AUC + paired accuracy, ties to the middle."""
    middle = [r for r in report if n_layers * 0.25 <= r["layer"] <= n_layers * 0.75] or list(report)

    def key(r):
        acc = r.get("paired_accuracy")
        return ((r["auc"] if r["auc"] == r["auc"] else 0) + (acc or 0), -abs(r["layer"] - (n_layers - 1) / 2))

    return max(middle, key=key)["layer"]


def extract_direction(runtime: Runtime, pairs: Sequence[dict] | str | os.PathLike | None = None, *,
                      answer_pairs: Sequence[dict] | str | os.PathLike | None = None,
                      layers: Sequence[int] | None = None, method: str = "mean",
                      heldout_every: int = 4, batch_size: int = 16, progress=None) -> Direction:
    """Extract the creativity direction at every requested layer and build the layer report.

    ``pairs``: contrastive prompt pairs ``{"creative", "boring"}`` (default: the bundled
    ``data/contrastive_pairs.jsonl``); every ``heldout_every``-th pair is held out for the AUC.
    ``answer_pairs``: ``{"brief", "plain", "creative", "split"}`` (default: the bundled
    ``data/answer_pairs.jsonl`` when present); ``train`` ones give the response-based direction,
    ``heldout`` ones the paired accuracy. ``progress(stage, done, total)`` is called as it goes.
    """
    if pairs is None:
        pairs = DATA_DIR / "contrastive_pairs.jsonl"
    if not isinstance(pairs, (list, tuple)):
        pairs = read_jsonl(pairs, ["creative", "boring"])
    if answer_pairs is None and (DATA_DIR / "answer_pairs.jsonl").is_file():
        answer_pairs = DATA_DIR / "answer_pairs.jsonl"
    if answer_pairs is not None and not isinstance(answer_pairs, (list, tuple)):
        answer_pairs = read_jsonl(answer_pairs, ["brief", "plain", "creative"])
    answer_pairs = list(answer_pairs or [])
    layers = list(layers) if layers is not None else list(range(runtime.n_layers))
    train, heldout = split_pairs(list(pairs), heldout_every)
    if len(train) < 2 or not heldout:
        raise ValueError(f"need at least {heldout_every} contrastive pairs (got {len(pairs)}): "
                         "some are held out to measure the separation")
    report_progress = progress or (lambda *a: None)

    with _base_only(runtime):
        report_progress("prompts", 0, 1)
        n_train = len(train)
        texts = [p["creative"] for p in train + heldout] + [p["boring"] for p in train + heldout]
        states = prompt_states(runtime, texts, layers, batch_size)  # (2n, L, H)
        n_all = len(train) + len(heldout)
        creative, boring = states[:n_all], states[n_all:]
        vectors = direction_from_differences(creative[:n_train] - boring[:n_train], method)  # (L, H)
        norms = torch.cat([creative[:n_train], boring[:n_train]]).norm(dim=-1).median(0).values  # (L,)
        proj_c = (creative[n_train:] * vectors).sum(-1)  # (held, L)
        proj_b = (boring[n_train:] * vectors).sum(-1)
        report_progress("prompts", 1, 1)

        response_vectors = None
        ans_train = [a for a in answer_pairs if a.get("split", "train") == "train"]
        ans_held = [a for a in answer_pairs if a.get("split") == "heldout"]
        if ans_train:
            report_progress("answers", 0, 1)
            briefs = [a["brief"] for a in ans_train]
            diffs = (answer_states(runtime, briefs, [a["creative"] for a in ans_train], layers, batch_size)
                     - answer_states(runtime, briefs, [a["plain"] for a in ans_train], layers, batch_size))
            response_vectors = direction_from_differences(diffs, "mean")
            r_proj_c = (creative[n_train:] * response_vectors).sum(-1)
            r_proj_b = (boring[n_train:] * response_vectors).sum(-1)
        paired = {}
        if ans_held:
            briefs = [a["brief"] for a in ans_held]
            held_c = answer_states(runtime, briefs, [a["creative"] for a in ans_held], layers, batch_size)
            held_p = answer_states(runtime, briefs, [a["plain"] for a in ans_held], layers, batch_size)
            paired["prompt"] = (_creativity(held_c, vectors) > _creativity(held_p, vectors)).float().mean(0)
            if response_vectors is not None:
                paired["response"] = (_creativity(held_c, response_vectors)
                                      > _creativity(held_p, response_vectors)).float().mean(0)
            report_progress("answers", 1, 1)

    report = []
    for i, layer in enumerate(layers):
        row = {"layer": layer, "auc": roc_auc(proj_c[:, i], proj_b[:, i]),
               "paired_accuracy": float(paired["prompt"][i]) if "prompt" in paired else None}
        if response_vectors is not None:
            row["response_auc"] = roc_auc(r_proj_c[:, i], r_proj_b[:, i])
            row["response_paired_accuracy"] = float(paired["response"][i]) if "response" in paired else None
            row["cosine_prompt_response"] = float(torch.dot(vectors[i], response_vectors[i]))
        report.append({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()})

    return Direction(
        vectors={l: vectors[i].clone() for i, l in enumerate(layers)},
        scales={l: float(norms[i]) / SCALE_DIVISOR for i, l in enumerate(layers)},
        recommended_layer=pick_layer(report, runtime.n_layers),
        method=method,
        model_fingerprint=runtime.fingerprint,
        data_hash=records_hash([{"creative": p["creative"], "boring": p["boring"]} for p in pairs]
                               + [{k: a.get(k) for k in ("brief", "plain", "creative", "split")} for a in answer_pairs]),
        report=report,
        response_vectors=({l: response_vectors[i].clone() for i, l in enumerate(layers)}
                          if response_vectors is not None else {}),
    )


@contextlib.contextmanager
def _base_only(runtime: Runtime):
    from .loading import adapter_active

    with adapter_active(runtime, None):
        yield
