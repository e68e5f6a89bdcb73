import math

import pytest
import torch

from models_runtime.generation import DecodingConfig, generate_batch

PROMPTS = ["Write a slogan.", "Name a cafe for night owls who read.", "Hi", "A poster for a jazz night"]


def test_greedy_text_is_the_same_alone_or_in_a_batch(tiny_shared):
    config = DecodingConfig(greedy=True, max_new_tokens=12)
    batched = generate_batch(tiny_shared, PROMPTS, config=config)
    alone = [generate_batch(tiny_shared, [p], config=config)[0] for p in PROMPTS]
    assert [r.token_ids for r in batched] == [r.token_ids for r in alone]


def test_a_sample_depends_on_its_seed_not_on_its_batch(tiny_shared):
    config = DecodingConfig(temperature=1.0, top_p=0.9, max_new_tokens=12)
    batched = generate_batch(tiny_shared, PROMPTS, config=config, seeds=[11, 12, 13, 14])
    alone = [generate_batch(tiny_shared, [p], config=config, seeds=[s])[0]
             for p, s in zip(PROMPTS, [11, 12, 13, 14])]
    assert [r.text for r in batched] == [r.text for r in alone]
    reordered = generate_batch(tiny_shared, PROMPTS[::-1], config=config, seeds=[14, 13, 12, 11])
    assert [r.text for r in reordered[::-1]] == [r.text for r in batched]


def test_different_seeds_give_different_samples(tiny_shared):
    config = DecodingConfig(temperature=1.0, max_new_tokens=12)
    results = generate_batch(tiny_shared, ["Write a slogan."] * 4, config=config, seeds=[1, 2, 3, 4])
    assert len({r.text for r in results}) > 1
    assert [r.seed for r in results] == [1, 2, 3, 4]


def test_each_token_has_the_entropy_of_the_distribution_it_came_from(tiny_shared):
    result = generate_batch(tiny_shared, ["Write a slogan."], config=DecodingConfig(greedy=True, max_new_tokens=6))[0]
    assert len(result.token_entropies) == len(result.token_ids) == 6
    assert result.mean_entropy == pytest.approx(sum(result.token_entropies) / 6)
    # Recompute the first token's entropy with a separate forward pass.
    from models_runtime.chat import prompt_ids

    ids = torch.tensor([prompt_ids(tiny_shared.tokenizer, "Write a slogan.")])
    logp = torch.log_softmax(tiny_shared.model(input_ids=ids).logits[0, -1].float(), -1)
    expected = float(-(logp.exp() * logp).sum())
    assert result.token_entropies[0] == pytest.approx(expected, rel=1e-4)
    assert all(0 <= e <= math.log(264) + 1e-4 for e in result.token_entropies)


def _force_eos_after(model, n_steps):
    calls = {"n": 0}

    def hook(module, args, output):
        calls["n"] += 1
        if calls["n"] > n_steps:
            output[..., 2] = 1e4
        return output

    return model.lm_head.register_forward_hook(hook)


def test_generation_stops_at_eos(tiny):
    handle = _force_eos_after(tiny.model, 3)
    try:
        result = generate_batch(tiny, ["Write a slogan."], config=DecodingConfig(greedy=True, max_new_tokens=20))[0]
    finally:
        handle.remove()
    assert result.finish_reason == "eos"
    assert len(result.token_ids) == 3 and 2 not in result.token_ids


def test_an_immediate_eos_gives_an_empty_text(tiny):
    handle = _force_eos_after(tiny.model, 0)
    try:
        result = generate_batch(tiny, ["Hi"], config=DecodingConfig(greedy=True))[0]
    finally:
        handle.remove()
    assert result.text == "" and result.mean_entropy is None and result.finish_reason == "eos"


def test_length_limit_and_provenance(tiny_shared):
    config = DecodingConfig(temperature=0.7, top_k=20, max_new_tokens=5)
    result = generate_batch(tiny_shared, ["Hi"], config=config, seeds=[9])[0]
    assert result.finish_reason == "length" and result.n_tokens == 5
    p = result.provenance
    assert p["model_fingerprint"] == tiny_shared.fingerprint
    assert p["seed"] == 9 and p["decoding"]["temperature"] == 0.7 and p["decoding"]["top_k"] == 20
    assert p["adapter_hash"] is None and p["direction_hash"] is None and p["alpha"] is None


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="greedy=True"):
        DecodingConfig(temperature=0)
    with pytest.raises(ValueError, match="top_p"):
        DecodingConfig(top_p=1.5)


def test_one_seed_per_prompt_is_required(tiny_shared):
    with pytest.raises(ValueError, match="one seed per prompt"):
        generate_batch(tiny_shared, ["a", "b"], seeds=[1])
