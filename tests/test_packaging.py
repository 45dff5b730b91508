"""A built wheel carries the config tree and the corpus, and works outside the checkout (the runtime-only install
of the wheel: test_runtime.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile


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
