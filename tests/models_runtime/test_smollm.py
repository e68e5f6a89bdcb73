"""Integration tests on the real SmolLM2-135M-Instruct (one model per session)."""

import pytest

from models_runtime.finetune import FinetuneConfig, train_adapter
from models_runtime.generation import DecodingConfig, generate_batch
from models_runtime.judge import judge_pairs
from models_runtime.loading import load_base
from models_runtime.scoring import score_texts
from models_runtime.steering import DATA_DIR, Steering, extract_direction, read_jsonl

pytestmark = pytest.mark.model

BRIEFS = ["Write a one-sentence ad idea for a bicycle shop.", "Name a new brand of oat milk and say why.",
          "Write a headline for a campaign about recycling.", "Describe a poster for a jazz festival in two sentences."]
GREEDY = DecodingConfig(greedy=True, max_new_tokens=32)


@pytest.fixture(scope="module")
def direction(smollm):
    pairs = read_jsonl(DATA_DIR / "contrastive_pairs.jsonl", ["creative", "boring"])
    return extract_direction(smollm, pairs, answer_pairs=[], layers=[8, 12, 17])


@pytest.fixture(scope="module")
def unsteered(smollm):
    return [r.text for r in generate_batch(smollm, BRIEFS, config=GREEDY)]


def test_the_base_model_is_loaded_once_with_a_fingerprint(smollm):
    assert load_base() is smollm
    assert smollm.n_layers == 30 and len(smollm.fingerprint) == 64


def test_samples_are_reproducible_whatever_the_batch(smollm):
    config = DecodingConfig(temperature=0.9, top_p=0.95, max_new_tokens=24)
    batched = generate_batch(smollm, BRIEFS, config=config, seeds=[3, 4, 5, 6])
    alone = [generate_batch(smollm, [b], config=config, seeds=[s])[0] for b, s in zip(BRIEFS, [3, 4, 5, 6])]
    assert [r.text for r in batched] == [r.text for r in alone]
    assert all(r.text for r in batched) and all(r.mean_entropy > 0 for r in batched)


def test_middle_layers_separate_creative_from_boring_prompts(direction):
    assert max(r["auc"] for r in direction.report if r["layer"] in (12, 17)) >= 0.75
    assert direction.recommended_layer in (12, 17)


def test_alpha_zero_is_exactly_unsteered(smollm, direction, unsteered):
    zero = generate_batch(smollm, BRIEFS, config=GREEDY, steering=Steering(direction, 0.0, (17,)))
    assert [r.text for r in zero] == unsteered


def test_steering_changes_the_text_and_raises_the_creativity_score(smollm, direction, unsteered):
    scores = [sum(r["creativity"] for r in score_texts(smollm, unsteered, direction=direction, layer=17)) / 4]
    for alpha in (8.0, 16.0):
        steered = [r.text for r in generate_batch(smollm, BRIEFS, config=GREEDY,
                                                  steering=Steering(direction, alpha, (17,)))]
        assert sum(a != b for a, b in zip(steered, unsteered)) >= 3
        scores.append(sum(r["creativity"] for r in score_texts(smollm, steered, direction=direction, layer=17)) / 4)
    assert scores[0] < scores[1] < scores[2]


def test_the_model_reads_its_own_text_as_likely(smollm, unsteered):
    rows = score_texts(smollm, unsteered, briefs=BRIEFS)
    assert all(1 < r["perplexity"] < 50 for r in rows)


def test_the_model_judge_answers_with_a_letter(smollm):
    ab, ba = judge_pairs(smollm, [("Crumb Constellation", "Best Bread", "Name a bakery."),
                                  ("Best Bread", "Crumb Constellation", "Name a bakery.")])
    assert ab["prob_a"] == pytest.approx(1 - ba["prob_a"], abs=1e-5)
    # The letters must be likely answers at all, or the judge reads noise.
    assert max(ab["orders"][0]["logp_A"], ab["orders"][0]["logp_B"]) > -5


def test_an_adapter_serves_the_fine_tuned_condition_on_the_shared_weights(smollm, unsteered, tmp_path):
    examples = read_jsonl(DATA_DIR / "creative_finetune.jsonl", ["brief", "output"])[:8]
    info = train_adapter(smollm, examples, tmp_path / "adapter",
                         config=FinetuneConfig(steps=2, batch_size=2, max_length=96))
    tuned = generate_batch(smollm, BRIEFS[:1], config=GREEDY, adapter=info.path)[0]
    assert tuned.provenance["adapter_hash"] == info.sha256
    assert [r.text for r in generate_batch(smollm, BRIEFS, config=GREEDY)] == unsteered
