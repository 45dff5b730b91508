"""The encoder studies (experiments/encoders/) skip, saying why, where the benchmark data sets are absent; the
per-core bound study runs end to end on a tiny encoder (its figures are not asserted: no timed assertions)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("script", ["speed.py", "embed_head.py"])
def test_a_study_without_its_data_skips_with_the_reason(script, tmp_path):
    out = subprocess.run([sys.executable, str(ROOT / "experiments" / "encoders" / script), "--data", str(tmp_path)],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    assert f"SKIPPED: the benchmark data sets are not at {tmp_path}" in out.stdout
    assert "conflibert_cameo/test.csv" in out.stdout and "--data" in out.stdout


def test_the_per_core_bound_study_runs_on_a_tiny_encoder(tiny_encoder_dir):
    pytest.importorskip("onnxruntime", reason="the onnx extra: pip install -e .[onnx]")
    script = ROOT / "experiments" / "encoders" / "onnx_bound.py"
    out = subprocess.run([sys.executable, str(script), "--encoder", tiny_encoder_dir, "--batch", "2", "--tokens", "8",
                          "--rounds", "1", "--seconds", "0.05"], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = [line.split("|")[1].strip() for line in out.stdout.splitlines() if line.startswith("| ")]
    assert rows[1:4] == ["torch", "onnx before", "onnx now"] and rows[4].startswith("GEMM-only bound ("), rows
    assert "SkipLayerNormalization" in out.stdout and "Add + LayerNormalization" in out.stdout
