"""`mlflow models serve` of nlpkit's logged models in a fresh virtual environment (not the dev venv).

The venv gets only the model's own ``requirements.txt`` (MLflow, nlpkit's runtime, the family's packages, and
nlpkit's wheel from inside the model), installed with pip from the package index and its cache. As in the
README, the escalation model is downloaded by its alias URI with the mlflow CLI and served from that folder;
the stance model is served by its alias URI straight from the sqlite store. Answers must equal
``Predictor.load`` in this (dev) environment.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import mlflow
import numpy as np
import pytest

from conftest import free_port, readme_command, train_tiny_tracked, wait_until_up
from nlpkit import Predictor
from nlpkit.mlflow_schema import output_columns

TEXTS = ["Artillery shelled the border town overnight.", "Negotiators welcomed progress in the ceasefire talks.",
         "Parliament will debate the budget on Tuesday."]
TITLES = ["Night of shelling", None, "Budget week"]
ESC_URI = "models:/nlpkit-escalation@champion"
STANCE_URI = "models:/nlpkit-stance@champion"
README_ARTICLE = {"title": "Talks resume in Geneva",
                  "text": "Negotiators agreed to extend the ceasefire and reopen the border crossing."}
README_CURL = readme_command("curl -s http://127.0.0.1:5001/invocations")
# README, "Serve a model over HTTP": run as written, in one shell (the export holds for the commands after it)
README_REGISTER = "\n".join([
    readme_command("export MLFLOW_TRACKING_URI=sqlite:///mlflow.db"),
    readme_command("nlpkit-train tracking.registered_model_name=nlpkit-escalation tracking.registered_model_alias=champion"),
    readme_command("mlflow artifacts download -u models:/nlpkit-escalation@champion -d served-model")])
README_VENV = readme_command("python3 -m venv serve-venv")
README_SERVE = readme_command("PATH=$PWD/serve-venv/bin:$PATH mlflow models serve -m served-model")
# Training packages the serving venv must not get (MLflow itself brings pandas and matplotlib).
FORBIDDEN = ("hydra", "omegaconf", "datasets", "torch", "transformers", "filelock")


class Store:
    """The sqlite store with both models registered (alias ``champion``), and the escalation model's folder."""

    def __init__(self, root: Path) -> None:
        self.root, self.uri = root, f"sqlite:///{root / 'mlflow.db'}"
        train_tiny_tracked(root, self.uri, "tracking.registered_model_name=nlpkit-stance",
                           "tracking.registered_model_alias=champion", stance=True)
        env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true",
               "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
        out = subprocess.run(["bash", "-ec", README_REGISTER], cwd=root, env=env, capture_output=True, text=True,
                             timeout=900)  # trains on the embedded corpus, registers, downloads by the alias URI
        assert out.returncode == 0, out.stderr[-3000:]
        self.esc_dir = root / "served-model"


@pytest.fixture(scope="session")
def store(tmp_path_factory) -> Store:
    return Store(tmp_path_factory.mktemp("serving-store"))


@pytest.fixture(scope="session")
def serving_venv(tmp_path_factory, store: Store) -> Path:
    """A fresh venv with the model's requirements.txt installed from inside the model folder (as MLflow's
    virtualenv/uv env managers install it), for every test of this module."""
    start = time.monotonic()
    env = {**_clean_env(), "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    out = subprocess.run(["bash", "-ec", README_VENV], cwd=store.root, capture_output=True, text=True, timeout=900,
                         env=env)  # the README's command: python3 -m venv serve-venv && (cd served-model && pip -r)
    assert out.returncode == 0, out.stderr[-3000:]
    print(f"serving venv installed in {time.monotonic() - start:.0f} s")
    return store.root / "serve-venv"


@contextlib.contextmanager
def served(bin_dir: Path, model: str, log: Path, tracking_uri: str, startup_s: float = 180,
           readme: bool = False) -> Iterator[str]:
    """``mlflow models serve -m MODEL --env-manager local`` from ``bin_dir`` on a free port; yield its URL.
    ``readme``: the README's serve command as written (run in ``log``'s folder, which holds serve-venv and
    served-model), on the free port instead of 5001."""
    port = free_port()
    env = {**_clean_env(), "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
           "MLFLOW_TRACKING_URI": tracking_uri}
    cmd = [str(bin_dir / "mlflow"), "models", "serve", "-m", model, "--env-manager", "local", "-h", "127.0.0.1",
           "-p", str(port)]
    if readme:
        cmd = ["bash", "-c", README_SERVE.replace("-p 5001", f"-p {port}")]
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=log.parent,
                                start_new_session=True)  # its own process group: the server's workers stop with it
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(proc, f"{url}/ping", startup_s, f"`{' '.join(cmd)}`", log)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def _clean_env() -> dict[str, str]:
    """This environment without PYTHONPATH: the fresh venv must import nlpkit from the model's wheel."""
    return {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, "MLFLOW_DISABLE_TELEMETRY": "true"}


def post(url: str, body: str | dict) -> tuple[int, Any]:
    """POST ``body`` (JSON text or an object) to ``/invocations``; return the status and the decoded answer."""
    data = body if isinstance(body, str) else json.dumps(body)
    request = urllib.request.Request(f"{url}/invocations", data=data.encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


def check_answer(answer: dict, predictor: Predictor, inputs: list[dict]) -> None:
    """Labels and every probability equal ``predictor``'s, columns ``label`` + ``proba_<label>`` in label order."""
    rows = answer["predictions"]
    assert [list(row) for row in rows] == [output_columns(predictor.labels)] * len(inputs)
    assert [row["label"] for row in rows] == predictor.predict(inputs)
    got = np.array([[row[c] for c in output_columns(predictor.labels)[1:]] for row in rows])
    np.testing.assert_allclose(got, predictor.predict_proba(inputs), rtol=0, atol=1e-12)


@pytest.fixture(scope="session")
def escalation_url(serving_venv: Path, store: Store, tmp_path_factory) -> Iterator[str]:
    log = store.root / "serve-esc.log"
    with served(serving_venv / "bin", str(store.esc_dir), log, store.uri, readme=True) as url:
        yield url


def test_requirements_install_outside_the_dev_venv_and_hold_no_training_stack(store, serving_venv):
    lines = (store.esc_dir / "requirements.txt").read_text().split()
    wheel = next(store.esc_dir.glob("artifacts/nlpkit_conflict-*-py3-none-any.whl"))
    assert lines[-1] == f"artifacts/{wheel.name}"
    assert sorted(line.split("==")[0] for line in lines[:-1]) == ["mlflow", "numpy", "packaging", "scikit-learn", "scipy", "skops"]
    probe = f"import importlib.util as u, json, nlpkit; print(json.dumps([nlpkit.__file__, " \
            f"[m for m in {FORBIDDEN!r} if u.find_spec(m)]]))"
    out = subprocess.run([str(serving_venv / "bin" / "python"), "-c", probe], capture_output=True, text=True,
                         timeout=120, env=_clean_env(), cwd="/")
    assert out.returncode == 0, out.stderr[-2000:]
    where, present = json.loads(out.stdout)
    assert where.startswith(str(serving_venv)), where  # nlpkit came from the model's wheel, not this checkout
    assert present == [], f"the serving venv has training packages: {present}"


def test_readme_curl_request_gets_labels_and_probabilities(store, escalation_url):
    """The README's curl command, run as written there (with this server's port)."""
    port = escalation_url.rsplit(":", 1)[1]
    out = subprocess.run(["bash", "-c", README_CURL.replace("5001", port)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    mlflow.set_tracking_uri(store.uri)
    check_answer(json.loads(out.stdout), Predictor.load(ESC_URI), [README_ARTICLE])


def test_served_model_answers_records_and_inputs_like_the_predictor(store, escalation_url):
    mlflow.set_tracking_uri(store.uri)
    predictor = Predictor.load(ESC_URI)
    records = [{"text": t} if title is None else {"title": title, "text": t} for t, title in zip(TEXTS, TITLES)]
    status, answer = post(escalation_url, {"dataframe_records": records})
    assert status == 200, answer
    check_answer(answer, predictor, records)
    status, answer = post(escalation_url, {"inputs": {"text": TEXTS}})
    assert status == 200, answer
    check_answer(answer, predictor, [{"text": t} for t in TEXTS])
    status, answer = post(escalation_url, {"dataframe_split": {"columns": ["text"], "data": [[TEXTS[0]]]}})
    assert status == 200 and answer["predictions"][0]["label"] == predictor.predict(TEXTS[:1])[0], answer


@pytest.mark.parametrize("body, message", [
    ({"dataframe_records": [{"body": TEXTS[0]}]}, "Model is missing inputs ['text']"),
    ({"inputs": TEXTS}, "Model is missing inputs ['text']"),
    ({"dataframe_records": [{"text": TEXTS[0]}, {"text": 42}]}, "Input 1 has no text in field 'text' (got int"),
    ({"dataframe_records": [{"text": "   "}]}, "Input 0 has an empty field 'text'"),
    ('{"dataframe_records": [{"text": "unclosed"', "Ensure that input is a valid JSON formatted string"),
], ids=["missing-text-column", "bare-list", "non-string-text", "blank-text", "invalid-json"])
def test_malformed_requests_get_a_400_saying_what_is_wrong(escalation_url, body, message):
    status, answer = post(escalation_url, body)
    assert status == 400, answer
    assert message in answer["message"], answer["message"]


def test_stance_model_served_by_its_alias_uri_takes_target_and_text(store, serving_venv, tmp_path):
    mlflow.set_tracking_uri(store.uri)
    predictor = Predictor.load(STANCE_URI)
    records = [{"target": "the truce", "text": t} for t in TEXTS]
    with served(serving_venv / "bin", STANCE_URI, tmp_path / "serve.log", store.uri) as url:
        status, answer = post(url, {"dataframe_records": records})
        assert status == 200, answer
        check_answer(answer, predictor, records)
        status, answer = post(url, {"dataframe_records": [{"text": TEXTS[0]}]})
    assert status == 400 and "Model is missing inputs ['target']" in answer["message"], answer
