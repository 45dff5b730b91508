"""Save and load the encoder families: no pickle anywhere.

A saved model is a directory with ``encoder/`` (``save_pretrained``: config, safetensors weights, tokenizer
files), ``model.onnx`` (the same network exported and fused by the ONNX Runtime optimizer, FP32, ending in the
family's output), ``estimator.json`` (family, hyper-parameters, classes, input kind, fit report, training curve,
and the graph's inputs and pad id) and, for ``embed_logreg``, the standardiser + logistic regression head in
``model.skops`` (trusted types only). ``Predictor.save`` seals every one of these files.

Loading is offline (``local_files_only``) and picks the inference runtime:

- ``auto`` (default): ``torch`` where torch and transformers are installed (the exact model that was trained),
  otherwise ``onnx``; ``quantize=True`` means ``onnx``.
- ``torch``: transformers loads ``encoder/``.
- ``onnx``: onnxruntime runs ``model.onnx`` and ``tokenizers`` reads ``encoder/tokenizer.json``: neither torch
  nor transformers is imported. ``quantize=True`` adds int8 dynamic quantisation (in memory; needs ``onnx``).
  A predictor saved before nlpkit shipped the graph has no ``model.onnx``: it is exported from the torch model
  on first use and cached under ``onnx/`` (needs torch).

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

from nlpkit import extras
from nlpkit.errors import ConfigError, ModelLoadError
from nlpkit.models import encoders, long_text, tfidf_io

ESTIMATOR_FILE = "estimator.json"
ENCODER_DIR = "encoder"
GRAPH_FILE = "model.onnx"
RUNTIMES = ("auto", "torch", "onnx")
SAFE_WEIGHTS = ("model.safetensors", "model.safetensors.index.json")
UNSAFE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib", ".npy", ".npz", ".h5", ".msgpack",
                   ".py", ".pyc", ".so")
# What a logged encoder model needs to predict: the shipped graph through ONNX Runtime (runtime="auto" picks it
# where torch is absent). TORCH_REQUIREMENTS: what runtime="torch" needs instead.
REQUIREMENTS = ("scikit-learn", "skops", "onnxruntime", "tokenizers")
TORCH_REQUIREMENTS = ("scikit-learn", "skops", "torch", "transformers", "tokenizers", "safetensors")
RESAVE_FIX = "Predictor.load(path, runtime='torch').save(new_dir)"


def save(model: Any, directory: Path) -> None:
    """Write a fitted encoder model into ``directory`` (the torch weights, the ONNX graph, the head, the state)."""
    from nlpkit.models.onnx_runtime import write_graph

    directory = Path(directory)
    torch_model = _torch_model(model)
    names = encoders.input_names(model.tokenizer_)
    torch_model.save_pretrained(directory / ENCODER_DIR, safe_serialization=True)
    model.tokenizer_.save_pretrained(directory / ENCODER_DIR)
    write_graph(torch_model, names, model.OUTPUT, directory / GRAPH_FILE)
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
        "onnx": {"graph": GRAPH_FILE, "output": model.OUTPUT, "inputs": names,
                 "pad_token_id": model.tokenizer_.pad_token_id},
    }
    (directory / ESTIMATOR_FILE).write_text(json.dumps(state, indent=2))


def load(directory: Path, *, runtime: str = "auto", quantize: bool = False) -> Any:
    """Load a model saved by ``save``; ``runtime`` is ``auto``, ``torch`` or ``onnx`` (``quantize``: int8, onnx)."""
    _check_options(runtime, quantize)
    directory = Path(directory)
    if not (directory / ESTIMATOR_FILE).is_file():
        raise ModelLoadError(f"No {ESTIMATOR_FILE} in {directory}; expected an encoder model saved by nlpkit.")
    check_encoder_files(directory / ENCODER_DIR)
    state = json.loads((directory / ESTIMATOR_FILE).read_text())
    runtime = _resolve(runtime, quantize, directory)
    model = _estimator(state)
    model.encoder_source_ = str(directory / ENCODER_DIR)
    if runtime == "onnx" and (directory / GRAPH_FILE).is_file():
        _attach_graph(model, directory, state, quantize)
    else:
        encoders.require_transformers()
        _attach_torch(model, directory, runtime, quantize)
    model.runtime_ = f"{runtime}-int8" if quantize else runtime
    return model


def _resolve(runtime: str, quantize: bool, directory: Path) -> str:
    """The runtime to use (``auto`` resolved); a one-line error when it cannot run in this environment."""
    shipped = (directory / GRAPH_FILE).is_file()
    if runtime == "auto":
        found = "onnx" if quantize else extras.require_any(("transformers", "onnx"), "An encoder predictor")
        runtime = "torch" if found == "transformers" else "onnx"
    if runtime == "onnx" and shipped:
        extras.require("onnx", "runtime='onnx'")
        return runtime
    absent = extras.missing("transformers")
    if absent:  # the torch runtime, or a predictor without a graph (exported from torch on load)
        why = "runtime='torch' needs torch" if shipped else (
            f"it has no {GRAPH_FILE} (saved before nlpkit shipped ONNX graphs), so only torch can run it")
        alternative = "load it with runtime='onnx'" if shipped else f"where torch is installed, re-save it: {RESAVE_FIX}"
        raise ModelLoadError(
            f"Cannot load the encoder predictor in {directory} here: {why}; expected torch and transformers (the "
            f"'transformers' extra), got no {', '.join(absent)}. Fix: {extras.install_hint('transformers')}, or "
            f"{alternative}."
        )
    return runtime


def _estimator(state: dict[str, Any]) -> Any:
    """An estimator with the saved hyper-parameters and learned state (no network yet)."""
    model = estimator_class(state["family"])(**state["params"])
    model.classes_ = np.asarray(state["classes"])
    model.pairs_ = state["pairs"]
    model.truncation_stats_, model.fit_report_ = state["truncation_stats"], state["fit_report"]
    model.history_ = state.get("history", [])
    return model


def _attach_graph(model: Any, directory: Path, state: dict[str, Any], quantize: bool) -> None:
    """The torch-free path: tokenizers reads tokenizer.json, onnxruntime runs the shipped graph."""
    from nlpkit.models.onnx_runtime import session_runner
    from nlpkit.models.tokenizer_json import TokenizerJson

    graph = state.get("onnx") or {}
    if graph.get("output") != model.OUTPUT or not graph.get("inputs"):
        raise ModelLoadError(
            f"{directory / ESTIMATOR_FILE} does not describe {GRAPH_FILE} (expected 'onnx' with output "
            f"{model.OUTPUT!r} and the input names; got {graph!r:.200}). Fix: load it with runtime='torch' and "
            "re-save it, or get the predictor again."
        )
    model.tokenizer_ = TokenizerJson.from_dir(directory / ENCODER_DIR, model_input_names=graph["inputs"],
                                              pad_token_id=graph.get("pad_token_id"))
    model.template_ = long_text.learn_template(model.tokenizer_)
    if state_is_embed(model):
        model.head_ = tfidf_io.load(directory)
    model.runner_ = session_runner((directory / GRAPH_FILE).read_bytes(), quantize=quantize)


def _attach_torch(model: Any, directory: Path, runtime: str, quantize: bool) -> None:
    """transformers loads the tokenizer and the weights; the runner is torch or a graph exported from them."""
    source = model.encoder_source_
    model.tokenizer_ = encoders.load_tokenizer(source, local=True)
    model.template_ = long_text.learn_template(model.tokenizer_)
    _attach_network(model, source, directory)
    model.runner_ = _runner(model, directory, runtime, quantize)


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
    if quantize and runtime == "torch":
        raise ConfigError(
            "quantize=True applies to the ONNX runtime only; got runtime='torch'. "
            "Fix: Predictor.load(uri, runtime='onnx', quantize=True)."
        )


def state_is_embed(model: Any) -> bool:
    return _family_name(model) == "embed_logreg"


def _torch_model(model: Any) -> Any:
    name = "encoder_model_" if state_is_embed(model) else "model_"
    if not hasattr(model, name):
        raise ModelLoadError(
            f"This {_family_name(model)} model was loaded with runtime={getattr(model, 'runtime_', '?')!r} and holds "
            f"no torch weights to save; expected one fitted or loaded with runtime='torch'. Fix: {RESAVE_FIX}."
        )
    return getattr(model, name)


def _family_name(model: Any) -> str:
    return str(model.FAMILY)


def estimator_class(name: str) -> type:
    """The estimator class of encoder family ``name`` (``embed_logreg`` or ``finetune``, as saved in
    ``estimator.json``)."""
    from nlpkit.models.embed import EmbedLogregClassifier
    from nlpkit.models.finetune import FinetuneClassifier

    classes = {cls.FAMILY: cls for cls in (EmbedLogregClassifier, FinetuneClassifier)}
    if name not in classes:
        raise ModelLoadError(f"{ESTIMATOR_FILE} names an unknown family {name!r}; expected one of {sorted(classes)}.")
    return classes[name]
