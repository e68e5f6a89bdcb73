import json

import pytest
import torch

from models_runtime.generation import DecodingConfig, generate_batch
from models_runtime.steering import (Direction, Steering, capture_layers, direction_from_differences,
                                     extract_direction, parse_layers, read_jsonl, roc_auc, split_pairs, steer)

from .conftest import ANSWERS, PAIRS

IDS = torch.tensor([[5, 6, 7, 8, 9], [2, 2, 7, 8, 9]])  # second row: two left-padding positions


def _layer_output(runtime, layer, **steer_args):
    """Output of ``layer`` after the steering hook (which is registered first, so runs first)."""
    with steer(runtime.model, **(steer_args or {"direction_by_layer": {}})) as handle:
        handle.positions = torch.tensor([[1, 1, 1, 1, 1], [0, 0, 1, 1, 1]]).bool()
        with capture_layers(runtime.model, [layer]) as captured:
            runtime.model(input_ids=IDS)
    return captured[layer].clone()


def test_alpha_zero_changes_nothing(tiny_shared):
    vec = torch.randn(32)
    before = tiny_shared.model(input_ids=IDS).logits
    with steer(tiny_shared.model, {1: vec}, alpha=0.0):
        assert torch.equal(tiny_shared.model(input_ids=IDS).logits, before)


def test_doubling_alpha_doubles_the_shift_at_real_positions_only(tiny_shared):
    vec = torch.randn(32)
    plain = _layer_output(tiny_shared, 2)
    once = _layer_output(tiny_shared, 2, direction_by_layer={2: vec}, alpha=1.5) - plain
    twice = _layer_output(tiny_shared, 2, direction_by_layer={2: vec}, alpha=3.0) - plain
    assert torch.allclose(twice, 2 * once, atol=1e-5)
    assert torch.allclose(once[0, 0], 1.5 * vec, atol=1e-5)
    assert torch.equal(once[1, :2], torch.zeros(2, 32))  # padding untouched


def test_hooks_are_removed_even_when_the_block_fails(tiny_shared):
    blocks = tiny_shared.model.model.layers
    with pytest.raises(RuntimeError):
        with steer(tiny_shared.model, {0: torch.ones(32), 3: torch.ones(32)}, alpha=5):
            raise RuntimeError("job failed")
    assert all(not b._forward_hooks for b in blocks)


def test_an_out_of_range_layer_is_refused(tiny_shared):
    with pytest.raises(ValueError, match="0-3"):
        with steer(tiny_shared.model, {7: torch.ones(32)}):
            pass
    assert all(not b._forward_hooks for b in tiny_shared.model.model.layers)


def test_directions_are_unit_vectors_pointing_from_boring_to_creative():
    torch.manual_seed(0)
    true = torch.zeros(2, 8)
    true[:, 0] = 1
    diffs = true * 3 + 0.3 * torch.randn(20, 2, 8)  # (pairs, layers, hidden)
    for method in ("mean", "pca"):
        vec = direction_from_differences(diffs, method)
        assert torch.allclose(vec.norm(dim=-1), torch.ones(2))
        assert (vec[:, 0] > 0.9).all()


def test_roc_auc_counts_ties_as_half():
    assert roc_auc([3, 4], [1, 2]) == 1.0
    assert roc_auc([1], [2]) == 0.0
    assert roc_auc([1, 2], [1, 2]) == 0.5


def test_layer_specs():
    assert parse_layers("2-4", 30) == [2, 3, 4]
    assert parse_layers("1,5,9-10", 30) == [1, 5, 9, 10]
    assert parse_layers(None, 3) == [0, 1, 2]
    with pytest.raises(ValueError, match="0-29"):
        parse_layers("28-31", 30)


def test_every_fourth_pair_is_held_out():
    train, held = split_pairs(list(range(8)), 4)
    assert held == [3, 7] and len(train) == 6


def test_extraction_report_and_file_round_trip(tiny_shared, tmp_path):
    direction = extract_direction(tiny_shared, PAIRS, answer_pairs=ANSWERS)
    assert direction.layers == [0, 1, 2, 3]
    assert 1 <= direction.recommended_layer <= 3
    row = direction.report[0]
    assert {"layer", "auc", "paired_accuracy", "response_auc", "response_paired_accuracy"} <= set(row)
    assert all(0 <= r["auc"] <= 1 for r in direction.report)
    assert all(s > 0 for s in direction.scales.values())

    sha = direction.save(tmp_path / "d.safetensors")
    loaded = Direction.load(tmp_path / "d.safetensors")
    assert loaded.sha256 == sha == direction.sha256
    assert loaded.recommended_layer == direction.recommended_layer
    assert loaded.model_fingerprint == tiny_shared.fingerprint and loaded.data_hash == direction.data_hash
    assert torch.equal(loaded.vector(2), direction.vector(2))
    assert torch.equal(loaded.vector(2, "response"), direction.vector(2, "response"))
    assert loaded.report == json.loads(json.dumps(direction.report))
    assert loaded.best_scoring_source() in ("prompt", "response")


def test_pca_extraction_records_its_method(tiny_shared):
    direction = extract_direction(tiny_shared, PAIRS, layers=[1, 2], method="pca")
    assert direction.method == "pca" and direction.layers == [1, 2]


def test_too_few_pairs_are_refused(tiny_shared):
    with pytest.raises(ValueError, match="at least 4 contrastive pairs"):
        extract_direction(tiny_shared, PAIRS[:2])


def test_steered_generation_alpha_zero_is_unsteered_and_large_alpha_changes_text(tiny_shared):
    direction = extract_direction(tiny_shared, PAIRS, layers=[1, 2])
    config = DecodingConfig(greedy=True, max_new_tokens=10)
    prompts = ["Write a slogan.", "Name a cafe."]
    plain = generate_batch(tiny_shared, prompts, config=config)
    zero = generate_batch(tiny_shared, prompts, config=config, steering=Steering(direction, 0.0))
    assert [r.text for r in zero] == [r.text for r in plain]
    loud = generate_batch(tiny_shared, prompts, config=config, steering=Steering(direction, 400.0, (1,)))
    assert [r.text for r in loud] != [r.text for r in plain]
    p = loud[0].provenance
    assert p["direction_hash"] == direction.sha256 and p["layers"] == [1] and p["alpha"] == 400.0
    assert zero[0].provenance["layers"] == [direction.recommended_layer]


def test_a_bad_jsonl_line_is_named(tmp_path):
    path = tmp_path / "pairs.jsonl"
    path.write_text('{"creative": "a", "boring": "b"}\n{"creative": "a"}\n')
    with pytest.raises(ValueError, match="line 2: missing or empty boring"):
        read_jsonl(path, ["creative", "boring"])


def test_a_foreign_file_is_not_taken_for_a_direction(tmp_path):
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(2)}, str(tmp_path / "x.safetensors"))
    with pytest.raises(ValueError, match="not a direction"):
        Direction.load(tmp_path / "x.safetensors")
    with pytest.raises(FileNotFoundError, match="extract-direction"):
        Direction.load(tmp_path / "missing.safetensors")
