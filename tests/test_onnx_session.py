"""ONNX Runtime sessions of encoder predictors: every graph optimisation but the SkipLayerNormalization fusion
(slower on CPU than the Add + LayerNormalization it replaces), and runners that spread each batch's rows over
one-thread runs side by side, giving the outputs of one run of the whole batch."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest

ort = pytest.importorskip("onnxruntime", reason="the onnx extra: pip install -e .[onnx]")

from nlpkit.models.onnx_runtime import new_session, session_options, spread_runner  # noqa: E402
from nlpkit.threads import default_threads  # noqa: E402


def test_session_options_use_all_optimisations_and_the_idle_cpus_by_default():
    options = session_options(ort)
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert options.intra_op_num_threads == default_threads() >= 1
    assert options.inter_op_num_threads == 1


def test_a_thread_count_is_applied_as_given():
    assert session_options(ort, threads=3).intra_op_num_threads == 3


@pytest.fixture(scope="module")
def graph(tmp_path_factory) -> Path:
    """The FP32 graph nlpkit ships for a tiny random BERT (hidden 32, 2 layers), written by a real save."""
    pytest.importorskip("transformers", reason="the encoder families need `pip install -e .[transformers]`")
    from conftest import DE_ESCALATORY, ESCALATORY, NEUTRAL, tiny_model_overrides

    from nlpkit import Predictor
    from nlpkit.models.embed import EmbedLogregClassifier

    texts, labels = ESCALATORY + DE_ESCALATORY + NEUTRAL, ["e"] * 4 + ["d"] * 4 + ["n"] * 4
    model = EmbedLogregClassifier(**tiny_model_overrides("embed_logreg.v1")).fit(texts, labels)
    meta = {"model_kind": "embed_logreg.v1", "labels": ["d", "e", "n"], "task": "escalation", "text_fields": ["text"]}
    return Predictor(model, meta).save(tmp_path_factory.mktemp("embed")) / "model.onnx"


def _op_types(path: Path) -> set[str]:
    import onnx

    return {node.op_type for node in onnx.load(str(path)).graph.node}


def test_the_shipped_graph_fuses_attention_but_keeps_add_and_layernorm_apart(graph):
    ops = _op_types(graph)
    assert {"Attention", "LayerNormalization"} <= ops, ops
    assert "SkipLayerNormalization" not in ops


def test_the_session_does_not_fuse_them_at_load(graph, tmp_path):
    options = session_options(ort, threads=1)
    options.optimized_model_filepath = str(tmp_path / "as_run.onnx")
    new_session(ort, str(graph), options)
    ops = _op_types(tmp_path / "as_run.onnx")
    assert "LayerNormalization" in ops and "SkipLayerNormalization" not in ops, ops


def _batch(rows: int, width: int = 12) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(rows)
    lengths = rng.integers(2, width + 1, rows)
    mask = (np.arange(width)[None, :] < lengths[:, None]).astype(np.int64)
    ids = rng.integers(5, 100, (rows, width)) * mask
    return {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}


@pytest.mark.parametrize("rows", [1, 2, 5, 16])
def test_row_blocks_run_side_by_side_give_one_runs_outputs_in_order(graph, rows):
    batch = _batch(rows)
    whole = spread_runner(new_session(ort, str(graph)), workers=1)(batch)
    assert whole.shape[0] == rows and whole.dtype == np.float32
    for workers in (2, 3, 8):
        spread = spread_runner(new_session(ort, str(graph)), workers=workers)(batch)
        np.testing.assert_allclose(spread, whole, atol=1e-6)
    single = spread_runner(new_session(ort, str(graph)), workers=1)
    one_by_one = np.vstack([single({k: v[i:i + 1] for k, v in batch.items()}) for i in range(rows)])
    np.testing.assert_allclose(whole, one_by_one, atol=1e-5)


def _in_a_forked_child(run, batch: dict[str, np.ndarray], timeout_s: float = 120) -> np.ndarray:
    """``run(batch)`` in a child process made by os.fork (as pre-forking servers do); its output bytes."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: run, send the output, leave without the parent's cleanup
        try:
            os.write(write, run(batch).tobytes())
        finally:
            os._exit(0)
    os.close(write)
    deadline = time.monotonic() + timeout_s
    while os.waitpid(pid, os.WNOHANG) == (0, 0):
        if time.monotonic() > deadline:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
            pytest.fail(f"the forked child did not finish within {timeout_s} s")
        time.sleep(0.05)
    with os.fdopen(read, "rb") as pipe:
        return np.frombuffer(pipe.read(), dtype=np.float32)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork exists on POSIX systems only")
def test_a_forked_process_runs_the_runner_it_inherited(graph):
    run = spread_runner(new_session(ort, str(graph)), workers=2)
    batch = _batch(6)
    in_parent = run(batch)  # the parent's row-block threads exist before the fork
    np.testing.assert_allclose(_in_a_forked_child(run, batch), in_parent.ravel(), atol=1e-6)
