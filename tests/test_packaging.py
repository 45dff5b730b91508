"""A built wheel carries the config tree and the corpus, and works outside the checkout (the runtime-only install
of the wheel: test_runtime.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile

import pytest
from conftest import NETWORK_ERRORS, ROOT, readme_command, venv_env


def test_wheel_ships_configs_and_corpus_and_trains_outside_the_checkout(tmp_path, built_wheel):
    wheel = built_wheel
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in ("nlpkit/configs/train.yaml", "nlpkit/configs/task/stance.yaml", "nlpkit/configs/model/tfidf_svm.yaml",
                     "nlpkit/corpus/newswire.jsonl", "nlpkit/corpus/CODEBOOK.md", "nlpkit/mlflow_model.py"):
        assert expected in names, expected
    shipped_data = sorted(n.split("/")[-1] for n in names if n.startswith("nlpkit/configs/data/"))
    assert shipped_data == ["disk.yaml", "file.yaml", "hub.yaml", "newswire.yaml"]  # benchmark data: experiments/
    site = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    code = ("import nlpkit, nlpkit.config as c; from nlpkit import compose, train; "
            "assert c.config_dir().startswith(%r), c.config_dir(); "
            "r = train(compose(['tracking=off', 'task=topic', 'model.char_ngrams=false', 'output_dir=out'])); "
            "print(nlpkit.__file__, round(r.metrics['test/macro_f1'], 3))") % str(site)
    env = {**os.environ, "PYTHONPATH": str(site)}
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.startswith(str(site))


@pytest.mark.slow
def test_readme_quick_start_command_1_in_a_copy_of_the_checkout(tmp_path):
    """README, quick start, command 1, as written, in a copy of the checkout's tracked files (its .venv must not
    land in the developer's checkout): a fresh venv, the train extra from the package index, a default training
    run that prints its results table and saves a predictor."""
    command = readme_command('python3 -m venv .venv && .venv/bin/pip install ".[train]"')
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    for name in filter(None, (f.decode() for f in files)):
        if (ROOT / name).is_file():
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, tmp_path / name)
    out = subprocess.run(["bash", "-ec", command], cwd=tmp_path, env={**venv_env(), "MLFLOW_DISABLE_TELEMETRY": "true"},
                         capture_output=True, text=True, timeout=1800)
    if out.returncode and NETWORK_ERRORS.search(out.stderr):
        pytest.skip(f"the quick start installs from the package index: {out.stderr[-300:]}")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "split            n  accuracy  macro_f1" in out.stdout and "predictor saved to:" in out.stdout
    assert (tmp_path / "mlflow.db").is_file()
