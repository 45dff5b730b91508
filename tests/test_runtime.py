"""The prediction runtime is small: loading and running a TF-IDF predictor needs no training stack.

Two checks: in this environment (every extra installed), ``from nlpkit import Predictor`` + load + predict
imports none of the training stack, nor scikit-learn or skops; and the wheel,
installed without extras into a fresh virtual environment, loads the same predictor and gives the same
probabilities, while ``nlpkit-train`` there fails with one line naming the ``train`` extra.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nlpkit import Predictor, compose, train

TEXTS = ["Artillery shelled the border town overnight.", "Negotiators welcomed progress in the ceasefire talks.",
         "Parliament will debate the budget on Tuesday."]
FORBIDDEN = ("hydra", "omegaconf", "datasets", "mlflow", "pandas", "matplotlib", "torch", "transformers",
             "nlpkit.train", "nlpkit.data", "nlpkit.config", "nlpkit.tracking", "nlpkit.sweep", "nlpkit.evaluate",
             "nlpkit.splits", "nlpkit.store", "nlpkit.outputs", "nlpkit.compare", "nlpkit.datafiles")
# What a process imports, printed as JSON: modules (top-level names and nlpkit.*) and the probabilities.
PROBE = """
import json, sys
{setup}
print(json.dumps({{"modules": sorted({{m if m.startswith("nlpkit") else m.split(".")[0] for m in sys.modules}}),
                   "proba": {proba}}}))
"""
PREDICT = ("from nlpkit import Predictor\n"
           "p = Predictor.load(sys.argv[1])\n"
           "p.predict(sys.argv[2:])")


@pytest.fixture(scope="module")
def predictor_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runtime")
    return train(compose([f"output_dir={out}", "tracking=off", "model.char_ngrams=false"])).predictor_dir


def _probe(python: str, setup: str, proba: str = "None", *args: str) -> dict:
    code = PROBE.format(setup=setup, proba=proba)
    # a fresh venv must not see this checkout through PYTHONPATH; this interpreter keeps it (the code under test)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH" or python == sys.executable}
    out = subprocess.run([python, "-c", code, *args], capture_output=True, text=True, timeout=120, cwd="/", env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.splitlines()[-1])


def test_loading_and_predicting_imports_no_training_stack(predictor_dir):
    """A fresh process in this environment (every extra installed): a TF-IDF predictor is read as plain arrays
    and applied with NumPy/SciPy, so not even scikit-learn or skops is imported."""
    used = _probe(sys.executable, PREDICT, "None", str(predictor_dir), *TEXTS)["modules"]
    imported = sorted(m for m in (*FORBIDDEN, "sklearn", "skops") if m in used)
    assert not imported, f"Predictor.load + predict imported {imported} (forbidden: {FORBIDDEN}, sklearn, skops)"
    assert "nlpkit.predict" in used and "nlpkit.models.tfidf_arrays" in used  # the probe did load and predict


def test_analyzing_an_article_imports_no_training_stack(predictor_dir, tmp_path):
    """``nlpkit.analyze`` is runtime too: importing it, loading a bundle and analyzing an article (with sentence
    occlusion) imports nothing more of the training stack than scikit-learn and skops do by themselves."""
    from nlpkit.analyze import save_bundle

    bundle = save_bundle(tmp_path / "bundle", **{Predictor.load(predictor_dir).task: predictor_dir})
    analyze = ("from nlpkit.analyze import Analyzer\n"
               "result = Analyzer.load(sys.argv[1]).analyze(' '.join(sys.argv[2:]))")
    baseline = set(_probe(sys.executable, "import sklearn.base, skops.io")["modules"])
    used = _probe(sys.executable, analyze, "result['escalation']['drivers']", str(bundle), *TEXTS)
    imported = sorted(m for m in FORBIDDEN if m in used["modules"] and m not in baseline)
    assert not imported, f"nlpkit.analyze imported {imported} (forbidden: {FORBIDDEN})"
    assert "nlpkit.analyze" in used["modules"] and used["proba"], used  # it did analyze and find drivers


def test_importing_the_package_root_loads_nothing_but_the_version():
    modules = set(_probe(sys.executable, "import nlpkit; v = nlpkit.__version__")["modules"])
    assert sorted(m for m in modules if m.startswith("nlpkit")) == ["nlpkit", "nlpkit._version"]
    assert not modules & {"sklearn", "numpy", "skops", *FORBIDDEN}


def test_package_root_exports_the_training_function_even_after_the_train_module_is_imported():
    import nlpkit
    import nlpkit.train as train_module  # noqa: F401  binds the submodule, which must not shadow the function

    assert callable(nlpkit.train) and nlpkit.train.__module__ == "nlpkit.train"
    assert set(nlpkit.__all__) <= set(dir(nlpkit))
    for name in nlpkit.__all__:
        assert getattr(nlpkit, name) is not None
    with pytest.raises(AttributeError, match="has no attribute 'Predicter'; public names"):
        nlpkit.Predicter  # noqa: B018


def test_runtime_only_install_predicts_the_same_probabilities(runtime_venv, predictor_dir):
    expected = Predictor.load(predictor_dir).predict_proba(TEXTS)
    setup = PREDICT.replace("p.predict(sys.argv[2:])", "proba = p.predict_proba(sys.argv[2:]).tolist()")
    got = _probe(str(runtime_venv / "bin" / "python"), setup, "proba", str(predictor_dir), *TEXTS)
    np.testing.assert_allclose(np.asarray(got["proba"]), expected, rtol=0, atol=1e-12)
    imported = sorted(m for m in (*FORBIDDEN, "sklearn", "skops") if m in got["modules"])
    assert not imported, f"the runtime-only install imported {imported}"


def test_runtime_only_install_refuses_training_in_one_line(runtime_venv):
    out = subprocess.run([str(runtime_venv / "bin" / "nlpkit-train")], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr, out.stderr
    assert "needs the 'train' extra" in out.stderr and 'pip install "nlpkit-conflict[train]"' in out.stderr
    code = "from nlpkit import Predictor; Predictor.load('runs:/0123/model')"
    out = subprocess.run([str(runtime_venv / "bin" / "python"), "-c", code], capture_output=True, text=True, timeout=60)
    assert "ModelLoadError: Loading 'runs:/0123/model' needs MLflow" in out.stderr, out.stderr[-2000:]
    assert 'pip install "nlpkit-conflict[mlflow]"' in out.stderr
