import numpy as np
import pytest

from models_runtime.diversity import (attractor_rate, compression_ratio, distinct_n, mean_pairwise_distance,
                                      semantic_scores)


def test_distinct_n_counts_unique_ngrams():
    assert distinct_n("a b a b", 1) == 0.5
    assert distinct_n("a b a b", 2) == pytest.approx(2 / 3)
    assert distinct_n("one", 2) == 0.0


def test_repetitive_text_compresses_more():
    assert compression_ratio("la " * 100) > compression_ratio("A kettle that sings at midnight, then forgets the tune.")
    assert compression_ratio("") == 0.0


def _unit(*rows):
    v = np.array(rows, dtype=np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def test_identical_samples_are_attractors_and_have_no_diversity():
    same = _unit([1, 0], [1, 0], [1, 0])
    assert attractor_rate(same) == 1.0
    assert mean_pairwise_distance(same) == pytest.approx(0.0, abs=1e-6)
    spread = _unit([1, 0], [0, 1], [-1, 0])
    assert attractor_rate(spread) == 0.0
    assert mean_pairwise_distance(spread) == pytest.approx((1 + 2 + 1) / 3)
    assert mean_pairwise_distance(same[:1]) is None


def test_semantic_scores_by_brief_and_condition():
    items = [
        {"id": "b1", "brief": "x", "condition": "base", "text": "t"},
        {"id": "b2", "brief": "x", "condition": "base", "text": "t"},
        {"id": "s1", "brief": "x", "condition": "steered", "text": "t"},
        {"id": "o1", "brief": "y", "condition": "steered", "text": "t"},
    ]
    vectors = _unit([1, 0], [1, 0.1], [0, 1], [1, 0])
    out = semantic_scores(items, vectors=vectors)
    by_id = {r["id"]: r for r in out["items"]}
    assert by_id["b1"]["novelty_vs_base"] is None
    assert by_id["s1"]["novelty_vs_base"] == pytest.approx(1 - 0.1 / np.sqrt(1.01), abs=1e-5)
    assert by_id["o1"]["novelty_within"] is None  # the only candidate of its brief
    groups = {(g["condition"], g["brief"]): g for g in out["groups"]}
    assert groups[("base", "x")]["attractor_rate"] == 1.0
    assert groups[("steered", "y")]["semantic_diversity"] is None


@pytest.mark.model
def test_the_offline_embedder_ranks_paraphrases_closer():
    items = [{"id": i, "brief": "b", "condition": "base", "text": t} for i, t in enumerate(
        ["A cosy cafe for readers.", "A comfortable coffee shop for people who read.", "Volcanoes erupt lava."])]
    out = semantic_scores(items)["items"]
    assert out[0]["novelty_within"] < out[2]["novelty_within"]
