import json

import pytest

from models_runtime.finetune import FinetuneConfig, load_examples, train_adapter
from models_runtime.generation import DecodingConfig, generate_batch
from models_runtime.loading import adapter_hash

EXAMPLES = [{"brief": f"Name cafe {i}.", "output": f"The Kettle Moon {i}."} for i in range(6)]


def test_training_reports_progress_and_saves_a_hashed_adapter(tiny, tmp_path):
    steps = []
    info = train_adapter(tiny, EXAMPLES, tmp_path / "adapter", config=FinetuneConfig(steps=4, batch_size=2),
                         progress=lambda step, loss: steps.append((step, loss)))
    assert [s for s, _ in steps] == [1, 2, 3, 4]
    assert all(loss > 0 for _, loss in steps)
    assert info.sha256 == adapter_hash(tmp_path / "adapter")
    assert info.base_fingerprint == tiny.fingerprint
    saved = json.loads((tmp_path / "adapter" / "training.json").read_text())
    assert saved["sha256"] == info.sha256 and saved["n_examples"] == 6


def test_the_shared_base_is_untouched_by_training_and_serves_both_conditions(tiny, tmp_path):
    config = DecodingConfig(greedy=True, max_new_tokens=8)
    before = generate_batch(tiny, ["Name a cafe."], config=config)[0].text
    info = train_adapter(tiny, EXAMPLES, tmp_path / "adapter",
                         config=FinetuneConfig(steps=6, batch_size=3, learning_rate=5e-2))
    assert generate_batch(tiny, ["Name a cafe."], config=config)[0].text == before
    tuned = generate_batch(tiny, ["Name a cafe."], config=config, adapter=str(tmp_path / "adapter"))[0]
    assert tuned.provenance["adapter_hash"] == info.sha256
    assert generate_batch(tiny, ["Name a cafe."], config=config)[0].text == before


def test_uploaded_data_errors_name_the_example(tmp_path):
    path = tmp_path / "data.jsonl"
    path.write_text('{"brief": "a", "output": "b"}\n{"brief": "a"}\n')
    with pytest.raises(ValueError, match="example 2"):
        load_examples(path)
    with pytest.raises(FileNotFoundError, match="JSONL"):
        load_examples(tmp_path / "missing.jsonl")


def test_the_bundled_set_is_large_enough():
    examples = load_examples()
    assert len(examples) >= 150


def test_an_adapter_trained_on_another_base_is_refused(tiny, tmp_path):
    from models_runtime.loading import ModelLoadError, load_adapter

    from .conftest import make_tiny_runtime

    train_adapter(make_tiny_runtime(seed=3), EXAMPLES, tmp_path / "adapter", config=FinetuneConfig(steps=1, batch_size=2))
    with pytest.raises(ModelLoadError, match="train it again on this base model"):
        load_adapter(tiny, tmp_path / "adapter")
