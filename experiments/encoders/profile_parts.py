"""speed.py's helpers: the FP32 compute ceiling, the end-to-end time split, ONNX Runtime's operator shares."""

from __future__ import annotations

import collections
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

SEQ = 128
BATCH = 16


def flops_per_sequence(config: Any, seq: int = SEQ) -> float:
    """Multiply-adds x 2 of one encoder pass over ``seq`` tokens: the Q/K/V/output projections, the feed-forward
    layers and the attention products (scores and weighted values); embeddings, norms and softmax are left out."""
    h, i, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    per_token = 4 * h * h + 2 * h * i + 2 * seq * h
    return 2.0 * per_token * seq * layers


def gemm_rate(h: int, i: int, repeats: int = 10) -> tuple[float, int]:
    """GFLOP/s of an ONNX Runtime MatMul (BATCH*SEQ x h) @ (h x i), the model's largest GEMM, default threads."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper

    weight = np.random.default_rng(0).normal(size=(h, i)).astype(np.float32)
    rows = BATCH * SEQ
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "w"], ["y"])], "gemm",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [rows, h])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [rows, i])],
                              [numpy_helper.from_array(weight, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).normal(size=(rows, h)).astype(np.float32)
    session.run(None, {"x": x})
    best = min(_seconds(lambda: session.run(None, {"x": x})) for _ in range(repeats))
    threads = session.get_session_options().intra_op_num_threads
    return 2.0 * rows * h * i / best / 1e9, threads


def _seconds(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def ceiling(model: Any) -> dict[str, float]:
    """The FP32 ceiling of this machine for the model's encoder at 128 tokens (sequences/s)."""
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(model.encoder_source_, local_files_only=True)
    flop = flops_per_sequence(config)
    rate, threads = gemm_rate(config.hidden_size, config.intermediate_size)
    import os

    return {"gflop_per_seq": flop / 1e9, "gflops": rate, "seq_per_s": rate * 1e9 / flop,
            "threads": threads or len(os.sched_getaffinity(0))}


def where_time_goes(loaded: dict[str, Any], texts: list[str]) -> list[dict[str, Any]]:
    """nlpkit's predict_proba path, step by step, padded to 128 (the issue's 'before') and dynamically (now)."""
    from speed import padded_batches

    rows = []
    for name in ("torch", "onnx-fp32"):
        model = loaded[name].model
        for pad in ("128", "dynamic"):
            start = time.perf_counter()
            encoded = model._encode(texts)
            t_encode = time.perf_counter() - start
            batches = padded_batches(model, encoded, SEQ if pad == "128" else None)
            t_batch = time.perf_counter() - start - t_encode
            out = np.empty((len(texts), 0), dtype=np.float32)
            t0 = time.perf_counter()
            for batch, index in batches:
                values = model.runner_(batch)
                out = np.empty((len(texts), values.shape[1]), dtype=np.float32) if out.shape[1] == 0 else out
                out[index] = values
            t_run = time.perf_counter() - t0
            t0 = time.perf_counter()
            model._proba_from_pooled(out)
            t_head = time.perf_counter() - t0
            total = t_encode + t_batch + t_run + t_head
            ms = lambda t: f"{1000 * t / len(texts):.2f}"  # noqa: E731
            rows.append({"runtime": name, "padding": pad, "tokenise": ms(t_encode), "batch+pad": ms(t_batch),
                         "runner": ms(t_run), "head": ms(t_head), "total": ms(total),
                         "ex/s": round(len(texts) / total, 1)})
    return rows


def operator_shares(folder: Path) -> str:
    """Share of kernel time per operator type in the predictor's FP32 graph (ONNX Runtime's profiler, 1 thread,
    the session nlpkit's runner makes)."""
    import onnxruntime as ort

    from nlpkit.models.onnx_runtime import UNFUSED

    graph = next((p for p in (folder / "model.onnx", folder / "finetune" / "model.onnx") if p.is_file()), None)
    if graph is None:
        return "(no model.onnx in the predictor)"
    batch = {"input_ids": np.full((BATCH, SEQ), 1000, dtype=np.int64),
             "attention_mask": np.ones((BATCH, SEQ), dtype=np.int64),
             "token_type_ids": np.zeros((BATCH, SEQ), dtype=np.int64)}
    with tempfile.TemporaryDirectory(prefix="nlpkit-ortprof-") as tmp:
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.enable_profiling = 1, True
        options.profile_file_prefix = str(Path(tmp) / "prof")
        session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"],
                                       disabled_optimizers=list(UNFUSED))
        wanted = {i.name for i in session.get_inputs()}
        for _ in range(3):
            session.run(None, {k: v for k, v in batch.items() if k in wanted})
        events = json.loads(Path(session.end_profiling()).read_text())
    spent: collections.Counter[str] = collections.Counter()
    for event in events:
        if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
            spent[event["args"]["op_name"]] += event["dur"]
    total = sum(spent.values()) or 1
    return ", ".join(f"{op} {100 * us / total:.1f}%" for op, us in spent.most_common(6))
