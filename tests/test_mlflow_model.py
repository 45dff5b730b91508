"""The logged MLflow model (signature, input example, nlpkit's wheel) and registered-model aliases, end to end
against a real sqlite store."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from conftest import train_tiny_tracked
from nlpkit import Predictor
from nlpkit.cli import main as cli_main
from nlpkit.config import compose, validate
from nlpkit.errors import ConfigError, ModelLoadError
from nlpkit.mlflow_schema import output_columns
from nlpkit.model_env import build_wheel

TEXTS = ["Artillery shelled the border town overnight.", "Negotiators welcomed progress in the ceasefire talks."]
CHAMPION = "models:/nlpkit-escalation@champion"


def test_logged_model_has_a_signature_an_input_example_and_answers_with_probabilities(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = train_tiny_tracked(tmp_path, uri)
    mlflow.set_tracking_uri(uri)
    info = mlflow.models.get_model_info(result.model_uri)
    inputs = [(c.name, c.type.name, c.required) for c in info.signature.inputs.inputs]
    assert inputs == [("text", "string", True), ("title", "string", False)]
    outputs = [(c.name, c.type.name) for c in info.signature.outputs.inputs]
    labels = result.predictor.labels
    assert outputs == [("label", "string"), *((f"proba_{label}", "double") for label in labels)]
    model_dir = Path(mlflow.artifacts.download_artifacts(result.model_uri, dst_path=str(tmp_path / "m")))
    example = json.loads((model_dir / "serving_input_example.json").read_text())
    assert set(example["dataframe_split"]["columns"]) == {"text", "title"}

    frame = mlflow.pyfunc.load_model(result.model_uri).predict(pd.DataFrame({"text": TEXTS}))
    assert list(frame.columns) == output_columns(labels)
    assert list(frame["label"]) == result.predictor.predict(TEXTS)
    np.testing.assert_allclose(frame[output_columns(labels)[1:]].to_numpy(), result.predictor.predict_proba(TEXTS),
                               rtol=0, atol=1e-12)


def test_the_model_carries_nlpkit_as_a_reproducible_wheel_of_its_modules(tmp_path):
    first, second = build_wheel(tmp_path / "a"), build_wheel(tmp_path / "b")
    assert first.read_bytes() == second.read_bytes()  # same modules, same bytes
    with zipfile.ZipFile(first) as wheel:
        names = set(wheel.namelist())
        dist_info = first.name.split("-py3")[0] + ".dist-info"
        meta = wheel.read(f"{dist_info}/METADATA").decode()
        record = wheel.read(f"{dist_info}/RECORD").decode()
    assert {"nlpkit/predict.py", "nlpkit/mlflow_schema.py", "nlpkit/models/tfidf_io.py"} <= names
    assert not [n for n in names if n.endswith((".pyc", ".jsonl", ".yaml"))]
    assert "Name: nlpkit-conflict" in meta and "Requires-Dist: skops" in meta and "hydra" not in meta
    assert len(record.splitlines()) == len(names)


def test_an_alias_set_by_training_follows_the_latest_version_everywhere_a_uri_is_taken(tmp_path, monkeypatch,
                                                                                        capsys):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    register = ("tracking.registered_model_name=nlpkit-escalation", "tracking.registered_model_alias=champion")
    first = train_tiny_tracked(tmp_path, uri, *register)
    second = train_tiny_tracked(tmp_path, uri, *register, "model=tfidf_svm")
    client = MlflowClient(uri)
    assert str(client.get_model_version_by_alias("nlpkit-escalation", "champion").version) == "2"
    assert {k: str(v) for k, v in client.get_registered_model("nlpkit-escalation").aliases.items()} == {"champion": "2"}

    mlflow.set_tracking_uri(uri)
    loaded = Predictor.load(CHAMPION)
    assert loaded.metadata["digest"] == second.predictor.metadata["digest"] != first.predictor.metadata["digest"]
    assert loaded.metadata["model_kind"] == "tfidf_svm.v1"
    np.testing.assert_array_equal(loaded.predict_proba(TEXTS), second.predictor.predict_proba(TEXTS))

    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    (tmp_path / "in.txt").write_text(TEXTS[0])
    assert cli_main(["predict", "--model", CHAMPION, "--json", str(tmp_path / "in.txt")]) == 0
    row = json.loads(capsys.readouterr().out)
    assert row["label"] == second.predictor.predict(TEXTS[:1])[0]
    with pytest.raises(ModelLoadError, match=r"Could not fetch 'models:/nlpkit-escalation@nobody'.*Fix:"):
        Predictor.load("models:/nlpkit-escalation@nobody")


@pytest.mark.parametrize("overrides, message", [
    (["tracking.registered_model_alias=champion"], "tracking.registered_model_alias must be set together with "
                                                   "tracking.registered_model_name; got 'champion'"),
    (["tracking.registered_model_name=m", "tracking.registered_model_alias=v2"], "not 'latest' nor v<number>"),
    (["tracking.registered_model_name=m", "tracking.registered_model_alias=latest"], "got 'latest'"),
    (["tracking.registered_model_name=m", "tracking.registered_model_alias='top model'"], "letters, digits"),
], ids=["alias-without-name", "version-like", "latest", "space"])
def test_bad_aliases_fail_before_training_with_the_key_named(overrides, message, tmp_path):
    with pytest.raises(ConfigError, match="Fix: ") as err:
        validate(compose([f"output_dir={tmp_path}", *overrides]))
    assert message in str(err.value)
