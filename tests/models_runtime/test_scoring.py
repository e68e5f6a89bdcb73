import math

import pytest
import torch

from models_runtime.chat import answer_batch
from models_runtime.scoring import score_texts
from models_runtime.steering import extract_direction

from .conftest import PAIRS

TEXTS = ["A kettle that sings at midnight.", "Buy bread.", "the the the the the the the the", "Trees open late."]


def test_scores_have_every_field(tiny_shared):
    direction = extract_direction(tiny_shared, PAIRS, layers=[1, 2])
    rows = score_texts(tiny_shared, TEXTS, briefs=["Name a cafe.", None, None, "A poster."], direction=direction)
    assert [r["index"] for r in rows] == [0, 1, 2, 3]
    for row in rows:
        assert -1 <= row["creativity"] <= 1
        assert row["entropy"] > 0 and row["perplexity"] > 1
        assert row["layer"] == direction.recommended_layer
        assert {"distinct_1", "distinct_2", "compression_ratio", "n_tokens"} <= set(row)


def test_perplexity_is_the_exp_of_the_mean_answer_nll(tiny_shared):
    row = score_texts(tiny_shared, ["Buy bread."], briefs=["Ad?"])[0]
    batch = answer_batch(tiny_shared.tokenizer, ["Ad?"], ["Buy bread."])
    logp = torch.log_softmax(tiny_shared.model(input_ids=batch.input_ids).logits[0, :-1].float(), -1)
    targets = batch.input_ids[0, 1:]
    answer = batch.answer_mask[0, 1:]
    nll = -logp[torch.arange(len(targets)), targets][answer].mean()
    assert row["perplexity"] == pytest.approx(math.exp(float(nll)), rel=1e-4)
    assert row["n_tokens"] == int(answer.sum())
    assert row["creativity"] is None


def test_scores_do_not_depend_on_the_batch(tiny_shared):
    together = score_texts(tiny_shared, TEXTS, batch_size=4)
    alone = [score_texts(tiny_shared, [t])[0] for t in TEXTS]
    for a, b in zip(together, alone):
        assert a["perplexity"] == pytest.approx(b["perplexity"], rel=1e-4)


def test_the_brief_changes_the_reading(tiny_shared):
    with_brief = score_texts(tiny_shared, ["Buy bread."], briefs=["Write an ad for a bakery."])[0]
    without = score_texts(tiny_shared, ["Buy bread."])[0]
    assert with_brief["perplexity"] != without["perplexity"]


def test_one_brief_per_text(tiny_shared):
    with pytest.raises(ValueError, match="one brief"):
        score_texts(tiny_shared, ["a", "b"], briefs=["x"])
