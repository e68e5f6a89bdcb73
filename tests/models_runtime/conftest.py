"""Fixtures: a tiny random-weight Llama (fast tests) and the real SmolLM2 (``@pytest.mark.model``)."""

import pytest
import torch


def pytest_configure(config):
    config.addinivalue_line("markers", "model: loads the real SmolLM2-135M model (slower; run in CI)")


def tiny_tokenizer():
    """Byte-level tokenizer without merges (one token per byte) and a ChatML template."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    vocab = {token: i for i, token in enumerate(specials)}
    for char in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab[char] = len(vocab)
    inner = Tokenizer(models.BPE(vocab=vocab, merges=[]))
    inner.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    inner.decoder = decoders.ByteLevel()
    inner.add_special_tokens(specials)
    tok = PreTrainedTokenizerFast(tokenizer_object=inner, eos_token="<|im_end|>", pad_token="<|im_end|>",
                                  bos_token="<|im_start|>", unk_token="<|endoftext|>")
    tok.chat_template = (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")
    return tok


def tiny_model(seed=0, layers=4):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=264, hidden_size=32, intermediate_size=64, num_hidden_layers=layers,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                         bos_token_id=1, eos_token_id=2, pad_token_id=2, tie_word_embeddings=True)
    model = LlamaForCausalLM(config)
    # Random init at std 0.02 gives near-uniform next-token distributions; sharpen them a bit so
    # greedy and sampled texts differ in interesting ways.
    with torch.no_grad():
        model.model.embed_tokens.weight.mul_(20)
    return model


def make_tiny_runtime(seed=0):
    from models_runtime.loading import runtime_from_model

    return runtime_from_model(tiny_model(seed), tiny_tokenizer(), model_path="")


@pytest.fixture
def tiny():
    """A fresh tiny runtime per test (cheap: ~50k parameters); tests may attach adapters to it."""
    return make_tiny_runtime()


@pytest.fixture(scope="session")
def tiny_shared():
    return make_tiny_runtime()


@pytest.fixture(scope="session")
def smollm():
    from models_runtime.loading import load_base

    return load_base()


PAIRS = [
    {"creative": f"Write a {adj} slogan for {thing}. Be bold, surprising and original.",
     "boring": f"Write a {adj} slogan for {thing}. Keep it plain and predictable."}
    for adj, thing in [("short", "a bakery"), ("new", "a bike shop"), ("warm", "a library"),
                       ("fresh", "a florist"), ("quick", "a taxi firm"), ("bright", "a paint shop"),
                       ("calm", "a spa"), ("loud", "a music shop")]
]

ANSWERS = [
    {"brief": "Name a cafe.", "plain": "The Coffee Shop.", "creative": "The Kettle That Sang at Midnight.", "split": "train"},
    {"brief": "A headline for a zoo.", "plain": "Visit our zoo today.", "creative": "The lions would like a word.", "split": "train"},
    {"brief": "An idea for a gym.", "plain": "Offer a discount.", "creative": "Pay with push-ups, not pounds.", "split": "train"},
    {"brief": "Name a bakery.", "plain": "Best Bread.", "creative": "Crumb Constellation.", "split": "heldout"},
    {"brief": "A poster for a park.", "plain": "Come to the park.", "creative": "Trees are open late tonight.", "split": "heldout"},
]
