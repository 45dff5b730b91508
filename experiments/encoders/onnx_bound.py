"""Goal 4's 1.8x, per core: what one CPU-second buys torch, ONNX Runtime as nlpkit ran it before and as it runs
it now, against the bound set by the encoder's matrix products alone.

Fixed inputs (``--batch`` x ``--tokens``, every token real), one thread, CPU time per sequence
(``time.process_time``), so the figures hold on a machine shared with other jobs; variants interleaved over
``--rounds`` rounds, best round kept. Rows:

- ``torch``: the encoder in eager PyTorch (nlpkit's torch runner runs this);
- ``onnx before``: the graph as nlpkit exported it until issue 15 (ONNX Runtime's transformer optimizer with its
  defaults: residual Add + LayerNormalization fused into SkipLayerNormalization);
- ``onnx now``: the graph nlpkit ships now and the session nlpkit makes (``nlpkit.models.onnx_runtime``);
- ``GEMM-only bound``: the encoder's multiply-add FLOPs (``profile_parts.flops_per_sequence``) at the best
  single-core GEMM rate measured here (torch and ONNX Runtime MatMul of the model's feed-forward shape): the
  sequences per CPU-second if attention's softmax, GELU, LayerNorm and everything else cost nothing.

It also times ONNX Runtime's SkipLayerNormalization kernel against the Add + LayerNormalization it replaces.
Needs the transformers and onnx extras. Run from the repository root:

    python experiments/encoders/onnx_bound.py [--encoder all-MiniLM-L6-v2] [--rounds 3] [--seconds 4]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

import numpy as np
from common import table, uptime
from profile_parts import flops_per_sequence

from nlpkit.models import encoders, onnx_runtime

NAMES = ["input_ids", "attention_mask", "token_type_ids"]


def per_cpu_second(step: Callable[[], Any], items: int, seconds: float) -> float:
    """Items per CPU-second of ``step`` (after one warm-up call), run for about ``seconds`` of CPU time."""
    step()
    calls, start = 0, time.process_time()
    while time.process_time() - start < seconds or calls == 0:
        step()
        calls += 1
    return items * calls / (time.process_time() - start)


def inputs(batch: int, tokens: int, vocabulary: int) -> dict[str, np.ndarray]:
    ids = np.random.default_rng(0).integers(vocabulary // 2, vocabulary, (batch, tokens))
    return {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids)}


def graphs(model: Any, folder: Path) -> dict[str, Path]:
    """The raw export, the optimizer's default fusion (before) and nlpkit's graph (now), written in ``folder``."""
    from onnxruntime.transformers.optimizer import optimize_model

    raw, before, now = folder / "raw.onnx", folder / "before.onnx", folder / "now.onnx"
    onnx_runtime.export(model, NAMES, "embedding", raw)
    optimize_model(str(raw), model_type="bert", num_heads=model.config.num_attention_heads,
                   hidden_size=model.config.hidden_size).save_model_to_file(str(before))
    onnx_runtime.optimise(model, raw, now)
    return {"before": before, "now": now}


def runners(model: Any, paths: dict[str, Path], feeds: dict[str, np.ndarray]) -> dict[str, Callable[[], Any]]:
    """One-thread steps: torch, ONNX Runtime on the 'before' graph (plain session), nlpkit's session now."""
    import onnxruntime as ort
    import torch

    torch.set_num_threads(1)
    tensors = {k: torch.from_numpy(v) for k, v in feeds.items()}
    before = ort.InferenceSession(str(paths["before"]), onnx_runtime.session_options(ort, threads=1),
                                  providers=["CPUExecutionProvider"])
    now = onnx_runtime.new_session(ort, str(paths["now"]))

    def torch_step() -> Any:
        with torch.inference_mode():
            return model(**tensors)

    return {"torch": torch_step, "onnx before": lambda: before.run(None, feeds),
            "onnx now": lambda: now.run(None, feeds)}


def gemm_rate(hidden: int, inner: int, rows: int, seconds: float) -> float:
    """Best single-thread GFLOP per CPU-second of (rows x hidden) @ (hidden x inner): torch and ONNX Runtime."""
    import torch
    from onnx import TensorProto, helper, numpy_helper

    import onnxruntime as ort

    rng = np.random.default_rng(1)
    x, w = rng.normal(size=(rows, hidden)).astype(np.float32), rng.normal(size=(hidden, inner)).astype(np.float32)
    node = helper.make_node("MatMul", ["x", "w"], ["y"])
    graph = helper.make_graph([node], "gemm", [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(x.shape))],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(w, "w")])
    proto = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    session = onnx_runtime.new_session(ort, proto.SerializeToString())
    a, b = torch.from_numpy(x), torch.from_numpy(w)
    flop = 2.0 * rows * hidden * inner / 1e9
    return max(per_cpu_second(lambda: session.run(None, {"x": x}), 1, seconds),
               per_cpu_second(lambda: a @ b, 1, seconds)) * flop


def layer_norm_kernels(rows: int, hidden: int, seconds: float) -> dict[str, float]:
    """Milliseconds per CPU-second-timed call: SkipLayerNormalization vs Add + LayerNormalization (ORT, 1 thread)."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(2)
    x, y = (rng.normal(size=(rows, hidden)).astype(np.float32) for _ in range(2))
    weights = [numpy_helper.from_array(rng.normal(size=hidden).astype(np.float32), n) for n in ("g", "b")]
    skip = [helper.make_node("SkipLayerNormalization", ["x", "y", "g", "b"], ["o"], domain="com.microsoft")]
    plain = [helper.make_node("Add", ["x", "y"], ["s"]), helper.make_node("LayerNormalization", ["s", "g", "b"], ["o"])]
    out = {}
    for name, nodes in (("SkipLayerNormalization", skip), ("Add + LayerNormalization", plain)):
        graph = helper.make_graph(nodes, name, [helper.make_tensor_value_info(n, TensorProto.FLOAT, [rows, hidden])
                                                for n in ("x", "y")],
                                  [helper.make_tensor_value_info("o", TensorProto.FLOAT, None)], weights)
        proto = helper.make_model(graph, ir_version=8, opset_imports=[helper.make_opsetid("", 17),
                                                                       helper.make_opsetid("com.microsoft", 1)])
        options = onnx_runtime.session_options(ort, threads=1)
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC  # time the kernels as given
        session = ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
        out[name] = 1e3 / per_cpu_second(lambda s=session: s.run(None, {"x": x, "y": y}), 1, seconds)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder", default=encoders.DEFAULT_ENCODER, help="packaged name or a local model folder")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=4.0, help="CPU seconds per variant and round")
    args = parser.parse_args()
    before_load = uptime()
    source, local = encoders.resolve(args.encoder)
    model = encoders.load_encoder(source, local).eval()
    config = model.config
    feeds = inputs(args.batch, args.tokens, config.vocab_size)
    with tempfile.TemporaryDirectory(prefix="nlpkit-bound-") as tmp:
        steps = runners(model, graphs(model, Path(tmp)), feeds)
        best: dict[str, float] = {}
        for _ in range(args.rounds):
            for name, step in steps.items():
                best[name] = max(best.get(name, 0.0), per_cpu_second(step, args.batch, args.seconds))
    rows = args.batch * args.tokens
    rate = gemm_rate(config.hidden_size, config.intermediate_size, rows, args.seconds)
    bound = rate / (flops_per_sequence(config, args.tokens) / 1e9)
    report = [{"variant": name, "sequences per CPU-second": f"{value:.1f}", "x torch": f"{value / best['torch']:.2f}",
               "% of GEMM-only bound": f"{100 * value / bound:.0f}%"} for name, value in best.items()]
    report.append({"variant": f"GEMM-only bound ({rate:.0f} GFLOP per CPU-second)",
                   "sequences per CPU-second": f"{bound:.1f}", "x torch": f"{bound / best['torch']:.2f}",
                   "% of GEMM-only bound": "100%"})
    print(table(report, ["variant", "sequences per CPU-second", "x torch", "% of GEMM-only bound"]))
    kernels = layer_norm_kernels(rows, config.hidden_size, args.seconds / 4)
    print("\nONNX Runtime kernels, ms per call (1 thread, " f"{rows} x {config.hidden_size}): "
          + ", ".join(f"{k} {v:.2f}" for k, v in kernels.items()))
    print(f"\nencoder {args.encoder}, {args.batch} x {args.tokens} tokens, 1 thread, best of {args.rounds} "
          f"interleaved rounds; load (1/5/15 min) before: {before_load}, after: {uptime()}")


if __name__ == "__main__":
    main()
