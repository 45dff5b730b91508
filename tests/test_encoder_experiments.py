"""The encoder studies (experiments/encoders/) skip, saying why, where the benchmark data sets are absent."""

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
