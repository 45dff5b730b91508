"""ONNX Runtime inference for the encoder families: export, fuse, optionally quantise, run.

``torch.onnx.export`` (TorchScript exporter) traces the eager-attention encoder; the ONNX Runtime transformer
optimizer fuses its attention, LayerNorm and GELU subgraphs; ``quantize_dynamic`` makes an int8 variant. The
exported graph ends with the family's output (mean-pooled embedding or logits), so the runner is a drop-in
replacement for the PyTorch one.

Saving (``write_graph``) ships the fused FP32 graph in the predictor folder; ``session_runner`` runs it (and
quantises it in memory on request) with onnxruntime alone: no torch, no transformers. ``onnx_runner`` is the
older path for predictors saved without a graph: export from the torch model at load time into a cache folder.
"""

from __future__ import annotations

import logging
import tempfile
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from nlpkit.errors import ConfigError, MissingExtraError
from nlpkit.extras import install_hint
from nlpkit.models.encoders import INSTALL_HINT, Runner, mean_pool

log = logging.getLogger(__name__)
OPSET = 17
FUSABLE = ("bert", "roberta", "distilbert", "albert", "electra", "xlm-roberta", "deberta-v2")


def onnx_runner(model: Any, names: list[str], output: str, directory: Path, quantize: bool = False) -> Runner:
    """Export ``model`` (once, cached in ``directory``) and return a runner over an ONNX Runtime session."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise ConfigError(f'runtime="onnx" needs onnxruntime and onnx. {INSTALL_HINT}') from None
    path = prepare(model, names, output, directory, quantize)
    session = ort.InferenceSession(str(path), session_options(ort), providers=["CPUExecutionProvider"])
    wanted = [i.name for i in session.get_inputs()]

    def run(batch: dict[str, np.ndarray]) -> np.ndarray:
        return session.run(None, {n: batch[n] for n in wanted})[0].astype(np.float32)

    return run


def session_runner(graph: bytes, quantize: bool = False) -> Runner:
    """A runner over an ONNX Runtime session on ``graph`` (the serialised model), quantised to int8 if asked."""
    ort = _onnxruntime()
    if quantize:
        graph = quantized(graph)
    session = ort.InferenceSession(graph, session_options(ort), providers=["CPUExecutionProvider"])
    wanted = [i.name for i in session.get_inputs()]

    def run(batch: dict[str, np.ndarray]) -> np.ndarray:
        return session.run(None, {n: batch[n] for n in wanted})[0].astype(np.float32)

    return run


def session_options(ort: Any, threads: int | None = None) -> Any:
    """All graph optimisations; ``threads`` intra-op threads (None: ``nlpkit.threads.default_threads()``, the
    CPUs idle when the session is made), one inter-op thread.

    ONNX Runtime's own default is one thread per physical core whatever the load: on a 2-core machine at load
    ~5, two threads ran MiniLM at 54-59 sentences/s and one at 87 (experiments/encoders/README.md)."""
    from nlpkit.threads import default_threads

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = default_threads() if threads is None else threads
    options.inter_op_num_threads = 1
    return options


def quantized(graph: bytes) -> bytes:
    """``graph`` with int8 dynamic quantisation of its weights (needs the ``onnx`` package), in memory."""
    try:
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic
    except ImportError as err:
        raise MissingExtraError(
            f"quantize=True needs the onnx package (got: {err}); expected it next to onnxruntime. Fix: pip install "
            '"onnx>=1.16", or load without quantize=True.'
        ) from None
    with tempfile.TemporaryDirectory(prefix="nlpkit-int8-") as tmp:
        out = Path(tmp) / "int8.onnx"
        # The fused graph holds com.microsoft ops that ONNX shape inference cannot type: say they are float.
        quantize_dynamic(onnx.load_model_from_string(graph), str(out), weight_type=QuantType.QInt8,
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
        return out.read_bytes()


def write_graph(model: Any, names: list[str], output: str, path: Path) -> None:
    """Export ``model`` and write its optimised FP32 graph to ``path`` (saving: needs torch, onnxruntime, onnx)."""
    _onnxruntime()
    with tempfile.TemporaryDirectory(prefix="nlpkit-export-") as tmp:
        raw = Path(tmp) / f"{output}.onnx"
        export(model, names, output, raw)
        optimise(model, raw, Path(path))


def _onnxruntime() -> Any:
    try:
        import onnxruntime as ort
    except ImportError:
        raise MissingExtraError(
            f'runtime="onnx" needs onnxruntime, which is not installed here; expected the onnx extra. Fix: '
            f'{install_hint("onnx")}.'
        ) from None
    return ort


def prepare(model: Any, names: list[str], output: str, directory: Path, quantize: bool) -> Path:
    """The path of the (optimised, maybe quantised) ONNX graph in ``directory``, exporting it if needed."""
    directory.mkdir(parents=True, exist_ok=True)
    raw, fused = directory / f"{output}.onnx", directory / f"{output}.opt.onnx"
    final = directory / f"{output}.opt.int8.onnx" if quantize else fused
    if final.is_file():
        return final
    if not raw.is_file():
        export(model, names, output, raw)
    if not fused.is_file():
        optimise(model, raw, fused)
    if quantize:
        import onnx
        from onnxruntime.quantization import QuantType, quantize_dynamic

        # The fused graph holds com.microsoft ops that ONNX shape inference cannot type: say they are float.
        quantize_dynamic(str(fused), str(final), weight_type=QuantType.QInt8,
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    return final


def export(model: Any, names: list[str], output: str, path: Path) -> None:
    """Trace ``model`` into an ONNX graph with dynamic batch and sequence axes."""
    import torch

    wrapper = _wrapper(model, names, output).eval()
    example = tuple((torch.zeros if n == "token_type_ids" else torch.ones)((2, 8), dtype=torch.long) for n in names)
    axes = {n: {0: "batch", 1: "sequence"} for n in names} | {output: {0: "batch"}}
    with warnings.catch_warnings(), torch.inference_mode(False), torch.no_grad():
        warnings.simplefilter("ignore")  # tracer and deprecation warnings about the TorchScript exporter
        torch.onnx.export(wrapper, example, str(path), dynamo=False, input_names=names, output_names=[output],
                          dynamic_axes=axes, opset_version=OPSET)
    model.eval()  # the exporter restores the wrapper's (training) mode recursively


def optimise(model: Any, raw: Path, fused: Path) -> None:
    """Fuse attention/LayerNorm/GELU with the ONNX Runtime transformer optimizer (falls back to the raw graph)."""
    from onnxruntime.transformers.optimizer import optimize_model

    config = model.config
    model_type = config.model_type if config.model_type in FUSABLE else "bert"
    logging.getLogger("onnxruntime.transformers").setLevel(logging.ERROR)
    optimised = optimize_model(str(raw), model_type=model_type, num_heads=config.num_attention_heads,
                               hidden_size=config.hidden_size)
    fusions = {k: v for k, v in optimised.get_fused_operator_statistics().items() if v}
    log.info("ONNX Runtime optimizer fused: %s", fusions)
    optimised.save_model_to_file(str(fused))


def _wrapper(model: Any, names: list[str], output: str) -> Any:
    """A torch module taking positional inputs (in ``names`` order) and returning the family's output."""
    import torch

    class Wrapper(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs: Any) -> Any:
            kwargs = dict(zip(names, inputs))
            out = self.model(**kwargs)
            return out.logits if output == "logits" else mean_pool(out.last_hidden_state, kwargs["attention_mask"])

    return Wrapper()
