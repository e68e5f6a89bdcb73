import pytest

from models_runtime.judge import direction_judge, direction_judge_pairs, judge_pairs, judge_prompt, judge_validity
from models_runtime.steering import extract_direction

from .conftest import ANSWERS, PAIRS


def test_the_model_judge_asks_both_orders_and_is_symmetric(tiny_shared):
    ab, ba = judge_pairs(tiny_shared, [("A kettle that sings.", "Buy bread.", "Name a cafe."),
                                       ("Buy bread.", "A kettle that sings.", "Name a cafe.")])
    assert [o["shown"] for o in ab["orders"]] == ["ab", "ba"]
    assert 0 <= ab["prob_a"] <= 1
    assert ab["prob_a"] == pytest.approx(1 - ba["prob_a"], abs=1e-5)
    assert ab["model_fingerprint"] == tiny_shared.fingerprint and ab["judge"] == "model"


def test_the_judge_prompt_carries_both_texts_and_the_brief():
    prompt = judge_prompt("first", "second", "the brief")
    assert "Text A: first" in prompt and "Text B: second" in prompt and "the brief" in prompt


def test_the_higher_score_wins():
    assert direction_judge(0.2, 0.1) == "a"
    assert direction_judge(0.1, 0.2) == "b"
    assert direction_judge(0.1, 0.1) == "tie"


def test_direction_judge_and_validity_check(tiny_shared):
    direction = extract_direction(tiny_shared, PAIRS, layers=[1, 2])
    row = direction_judge_pairs(tiny_shared, direction, [("x y z", "a", None)])[0]
    assert row["winner"] in ("a", "b", "tie") and row["direction_hash"] == direction.sha256
    check = judge_validity(tiny_shared, ANSWERS, direction=direction)
    assert check["n"] == len(ANSWERS)
    assert 0 <= check["model_judge_accuracy"] <= 1 and 0 <= check["direction_judge_accuracy"] <= 1
