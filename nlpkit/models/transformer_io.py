"""Save and load the encoder families: no pickle anywhere.

A saved model is a directory with ``encoder/`` (``save_pretrained``: config, safetensors weights, tokenizer
files), ``estimator.json`` (family, hyper-parameters, classes, input kind, fit report, training curve) and,
for ``embed_logreg``, the standardiser + logistic regression head in ``model.skops`` (trusted types only).
Loading is offline (``local_files_only``) and picks the inference runtime: ``torch`` or ``onnx`` (exported on
first use and cached under ``onnx/``), with ``quantize=True`` for int8 dynamic quantisation.

Loading runs no code from the files: ``encoder/`` must hold safetensors weights and no pickle-based weights
(``.bin``, ``.pt``, ...) or Python files, and no JSON file in it may carry an ``auto_map`` (the pointer to custom
code that ``trust_remote_code`` would import; transformers would otherwise prompt for it on a terminal).
Safetensors, tokenizer files and ONNX graphs are data. Everything is read into memory while loading (an ONNX
graph exported into a temporary folder when the predictor folder is read-only, which is removed at once).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from nlpkit.errors import ConfigError, ModelLoadError
from nlpkit.models import encoders, long_text, tfidf_io

ESTIMATOR_FILE = "estimator.json"
ENCODER_DIR = "encoder"
RUNTIMES = ("torch", "onnx")
SAFE_WEIGHTS = ("model.safetensors", "model.safetensors.index.json")
UNSAFE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib", ".npy", ".npz", ".h5", ".msgpack",
                   ".py", ".pyc", ".so")
REQUIREMENTS = ("scikit-learn", "skops", "torch", "transformers", "tokenizers", "safetensors", "onnxruntime", "onnx")


def save(model: Any, directory: Path) -> None:
    """Write a fitted encoder model into ``directory``."""
    directory = Path(directory)
    torch_model = _torch_model(model)
    torch_model.save_pretrained(directory / ENCODER_DIR, safe_serialization=True)
    model.tokenizer_.save_pretrained(directory / ENCODER_DIR)
    if hasattr(model, "head_"):
        tfidf_io.save(model.head_, directory)
    state = {
        "family": _family_name(model),
        "params": {k: getattr(v, "value", v) for k, v in model.get_params().items()},
        "classes": model.classes_.tolist(),
        "pairs": bool(model.pairs_),
        "truncation_stats": model.truncation_stats_,
        "fit_report": model.fit_report_,
        "history": getattr(model, "history_", []),
    }
    (directory / ESTIMATOR_FILE).write_text(json.dumps(state, indent=2))


def load(directory: Path, *, runtime: str = "torch", quantize: bool = False) -> Any:
    """Load a model saved by ``save``; ``runtime`` is ``torch`` or ``onnx`` (``quantize``: int8, onnx only)."""
    _check_options(runtime, quantize)
    directory = Path(directory)
    if not (directory / ESTIMATOR_FILE).is_file():
        raise ModelLoadError(f"No {ESTIMATOR_FILE} in {directory}; expected an encoder model saved by nlpkit.")
    encoders.require_transformers()
    check_encoder_files(directory / ENCODER_DIR)
    state = json.loads((directory / ESTIMATOR_FILE).read_text())
    model = _estimator_class(state["family"])(**state["params"])
    model.classes_ = np.asarray(state["classes"])
    model.pairs_ = state["pairs"]
    model.truncation_stats_, model.fit_report_ = state["truncation_stats"], state["fit_report"]
    model.history_ = state.get("history", [])
    source = str(directory / ENCODER_DIR)
    model.encoder_source_ = source
    model.tokenizer_ = encoders.load_tokenizer(source, local=True)
    model.template_ = long_text.learn_template(model.tokenizer_)
    _attach_network(model, source, directory)
    model.runner_ = _runner(model, directory, runtime, quantize)
    model.runtime_ = f"{runtime}-int8" if quantize else runtime
    return model


def _attach_network(model: Any, source: str, directory: Path) -> None:
    if state_is_embed(model):
        model.encoder_model_ = encoders.load_encoder(source, local=True)
        model.head_ = tfidf_io.load(directory)
    else:
        model.model_ = encoders.load_encoder(source, local=True, num_labels=len(model.classes_))


def _runner(model: Any, directory: Path, runtime: str, quantize: bool) -> encoders.Runner:
    names = encoders.input_names(model.tokenizer_)
    if runtime == "torch":
        return encoders.torch_runner(_torch_model(model), names, model.OUTPUT)
    from nlpkit.models.onnx_runtime import onnx_runner

    cache = directory / "onnx"
    try:
        cache.mkdir(exist_ok=True)
        writable = os.access(cache, os.W_OK)
    except OSError:
        writable = False
    if writable:
        return onnx_runner(_torch_model(model), names, model.OUTPUT, cache, quantize=quantize)
    with tempfile.TemporaryDirectory(prefix="nlpkit-onnx-") as tmp:  # read-only predictor: the session holds the graph
        return onnx_runner(_torch_model(model), names, model.OUTPUT, Path(tmp), quantize=quantize)


def check_encoder_files(encoder_dir: Path) -> None:
    """Refuse an ``encoder/`` folder that could make transformers run code: pickle weights, Python files, or an
    ``auto_map`` (custom code) in a JSON config; require safetensors weights."""
    fix = "Fix: load only predictors saved by nlpkit (save_pretrained with safetensors); get this one again."
    if not any((encoder_dir / name).is_file() for name in SAFE_WEIGHTS):
        raise ModelLoadError(
            f"{encoder_dir} has no safetensors weights; expected {SAFE_WEIGHTS[0]} (nlpkit never loads pickle "
            f"weights). {fix}"
        )
    unsafe = sorted(p.relative_to(encoder_dir).as_posix() for p in encoder_dir.rglob("*")
                    if p.suffix.lower() in UNSAFE_SUFFIXES)
    if unsafe:
        raise ModelLoadError(
            f"{encoder_dir} contains files nlpkit does not load: {unsafe[:5]}; expected safetensors weights, JSON "
            f"configs and tokenizer files only (no pickle weights, no code). {fix}"
        )
    for path in sorted(encoder_dir.glob("*.json")):
        if "auto_map" in _json_object(path):
            raise ModelLoadError(
                f"{path} has an 'auto_map' (custom model code, which trust_remote_code would run); expected a "
                f"standard transformers architecture. {fix}"
            )


def _json_object(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ModelLoadError(f"{path} is not valid JSON ({err}); expected a transformers config. Fix: get "
                             "the predictor again from its source.") from None
    return data if isinstance(data, dict) else {}


def _check_options(runtime: str, quantize: bool) -> None:
    if runtime not in RUNTIMES:
        raise ConfigError(
            f"runtime must be one of {RUNTIMES}; got {runtime!r}. Fix: Predictor.load(uri, runtime='onnx')."
        )
    if quantize and runtime != "onnx":
        raise ConfigError(
            "quantize=True applies to the ONNX runtime only; got runtime='torch'. "
            "Fix: Predictor.load(uri, runtime='onnx', quantize=True)."
        )


def state_is_embed(model: Any) -> bool:
    return _family_name(model) == "embed_logreg"


def _torch_model(model: Any) -> Any:
    return model.encoder_model_ if state_is_embed(model) else model.model_


def _family_name(model: Any) -> str:
    from nlpkit.models.embed import EmbedLogregClassifier

    return "embed_logreg" if isinstance(model, EmbedLogregClassifier) else "finetune"


def _estimator_class(name: str) -> type:
    from nlpkit.models.embed import EmbedLogregClassifier
    from nlpkit.models.finetune import FinetuneClassifier

    classes = {"embed_logreg": EmbedLogregClassifier, "finetune": FinetuneClassifier}
    if name not in classes:
        raise ModelLoadError(f"{ESTIMATOR_FILE} names an unknown family {name!r}; expected one of {sorted(classes)}.")
    return classes[name]
