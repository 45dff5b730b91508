"""ONNX Runtime inference for the encoder families: export, fuse, optionally quantise, run.

``torch.onnx.export`` (TorchScript exporter) traces the eager-attention encoder; the ONNX Runtime transformer
optimizer fuses its attention, LayerNorm and GELU subgraphs; ``quantize_dynamic`` makes an int8 variant. The
exported graph ends with the family's output (mean-pooled embedding or logits), so the runner is a drop-in
replacement for the PyTorch one.

Two measured choices (experiments/encoders/README.md, Q2): residual Add + LayerNormalization stay unfused
(ONNX Runtime's SkipLayerNormalization CPU kernel took ~4.8x their time on MiniLM's shapes), and a runner spreads
the rows of each batch over ``nlpkit.threads.default_threads()`` one-thread runs at once instead of giving one
run several intra-op threads (which synchronise at every operator and spin while they wait).

Saving (``write_graph``) ships the fused FP32 graph in the predictor folder; ``session_runner`` runs it (and
quantises it in memory on request) with onnxruntime alone: no torch, no transformers. ``onnx_runner`` is the
older path for predictors saved without a graph: export from the torch model at load time into a cache folder.
"""

from __future__ import annotations

import logging
import os
import tempfile
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from nlpkit.errors import ConfigError, MissingExtraError
from nlpkit.extras import install_hint
from nlpkit.models.encoders import INSTALL_HINT, Runner, mean_pool

log = logging.getLogger(__name__)
OPSET = 17
FUSABLE = ("bert", "roberta", "distilbert", "albert", "electra", "xlm-roberta", "deberta-v2")
# ONNX Runtime's SkipLayerNormalization CPU kernel: 4.6 ms per 16x128x384 call on 1 thread, where the Add and
# LayerNormalization it replaces take 0.95 ms (12 calls per MiniLM batch): neither optimizer may fuse them.
UNFUSED = ("SkipLayerNormFusion",)


def onnx_runner(model: Any, names: list[str], output: str, directory: Path, quantize: bool = False) -> Runner:
    """Export ``model`` (once, cached in ``directory``) and return a runner over an ONNX Runtime session."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise ConfigError(f'runtime="onnx" needs onnxruntime and onnx. {INSTALL_HINT}') from None
    path = prepare(model, names, output, directory, quantize)
    return spread_runner(new_session(ort, str(path)))


def session_runner(graph: bytes, quantize: bool = False) -> Runner:
    """A runner over an ONNX Runtime session on ``graph`` (the serialised model), quantised to int8 if asked."""
    ort = _onnxruntime()
    if quantize:
        graph = quantized(graph)
    return spread_runner(new_session(ort, graph))


def new_session(ort: Any, graph: bytes | str, options: Any = None) -> Any:
    """A CPU session on ``graph`` (bytes or a path) with every optimisation but those in ``UNFUSED``; ``options``
    default to ``session_options(ort, threads=1)``."""
    options = session_options(ort, threads=1) if options is None else options
    return ort.InferenceSession(graph, options, providers=["CPUExecutionProvider"], disabled_optimizers=list(UNFUSED))


def spread_runner(session: Any, workers: int | None = None) -> Runner:
    """A runner whose batches are split into up to ``workers`` row blocks run at once on one-thread ``session``
    (None: ``nlpkit.threads.default_threads()``, the idle CPUs when it is made). Rows are independent, so the
    outputs equal one run of the whole batch (to float rounding); a batch of one row runs whole."""
    from nlpkit.threads import default_threads

    workers = default_threads() if workers is None else workers
    wanted = [i.name for i in session.get_inputs()]
    pools: dict[int, ThreadPoolExecutor] = {}  # by process: a forked child inherits no worker threads, makes its own

    def block(batch: dict[str, np.ndarray], rows: slice) -> np.ndarray:
        return session.run(None, {n: batch[n][rows] for n in wanted})[0]

    def run(batch: dict[str, np.ndarray]) -> np.ndarray:
        n = len(batch[wanted[0]])
        if workers < 2 or n < 2:
            return block(batch, slice(None)).astype(np.float32, copy=False)
        pool = pools.get(os.getpid()) or pools.setdefault(os.getpid(), ThreadPoolExecutor(workers, "nlpkit-onnx"))
        edges = np.linspace(0, n, min(workers, n) + 1).astype(int)
        parts = pool.map(lambda rows: block(batch, rows), [slice(a, b) for a, b in zip(edges[:-1], edges[1:])])
        return np.concatenate(list(parts)).astype(np.float32, copy=False)

    return run


def session_options(ort: Any, threads: int | None = None) -> Any:
    """All graph optimisations; ``threads`` intra-op threads (None: ``nlpkit.threads.default_threads()``, the
    CPUs idle when the session is made), one inter-op thread. nlpkit's runners take one thread per session run
    and run row blocks side by side (``spread_runner``).

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
    """Fuse attention, embedding LayerNorm and bias+GELU with the ONNX Runtime transformer optimizer; the residual
    Add + LayerNormalization stay apart (``UNFUSED``). Unknown model types are optimised as BERT."""
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    config = model.config
    model_type = config.model_type if config.model_type in FUSABLE else "bert"
    choices = FusionOptions(model_type)
    choices.enable_skip_layer_norm = choices.enable_bias_skip_layer_norm = False
    logging.getLogger("onnxruntime.transformers").setLevel(logging.ERROR)
    optimised = optimize_model(str(raw), model_type=model_type, num_heads=config.num_attention_heads,
                               hidden_size=config.hidden_size, optimization_options=choices)
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
