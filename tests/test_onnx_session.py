"""ONNX Runtime sessions of encoder predictors: every graph optimisation, threads that follow the idle CPUs."""

from __future__ import annotations

import pytest

ort = pytest.importorskip("onnxruntime", reason="the onnx extra: pip install -e .[onnx]")

from nlpkit.models.onnx_runtime import session_options  # noqa: E402
from nlpkit.threads import default_threads  # noqa: E402


def test_session_options_use_all_optimisations_and_the_idle_cpus_by_default():
    options = session_options(ort)
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    assert options.intra_op_num_threads == default_threads() >= 1
    assert options.inter_op_num_threads == 1


def test_a_thread_count_is_applied_as_given():
    assert session_options(ort, threads=3).intra_op_num_threads == 3
