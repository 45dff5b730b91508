"""MLflow logging against real stores: a sqlite file under tmp_path, and a real `mlflow server`."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import mlflow
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from conftest import file_overrides, mlflow_server_at
from nlpkit import Predictor
from nlpkit.models import REGISTRY, Family, family_of
from nlpkit.models.tfidf import TfidfClassifier
from nlpkit.models.tfidf_family import TfidfLogregConfig
from nlpkit.tracking import flatten, resolve_uri
from nlpkit.train import NO_RUN, train

SAMPLE = ["Rockets hit the airbase and the defence minister vowed retaliation.",
          "Delegations agreed to extend the truce and reopen the crossing."]


def artifact_paths(client: MlflowClient, run_id: str, path: str | None = None) -> set[str]:
    out = set()
    for item in client.list_artifacts(run_id, path):
        out |= artifact_paths(client, run_id, item.path) if item.is_dir else {item.path}
    return out


def test_run_logs_params_metrics_artifacts_tags_and_round_trips_the_model(make_cfg, tracking_uri, tmp_path):
    result = train(make_cfg("model=tfidf_svm", "seed=3"))
    client = MlflowClient(tracking_uri)
    run = client.get_run(result.run_id)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "newswire/tfidf_svm/s3"
    assert client.get_experiment(run.info.experiment_id).name == "escalation"
    params = run.data.params
    assert params["model.kind"] == "tfidf_svm.v1" and params["seed"] == "3" and params["model.C"] == "0.5"
    assert params["task.labels"] == '["escalatory", "de_escalatory", "neutral"]'
    assert params["data.split.policy"] == "predefined" and int(params["data.n_test"]) > 0
    metrics = run.data.metrics
    for key in ("test/macro_f1", "test/accuracy", "validation/macro_f1", "test/f1/escalatory",
                "test/precision/de_escalatory", "test/recall/neutral", "test_ood/macro_f1"):
        assert 0.0 <= metrics[key] <= 1.0, key
    assert metrics["test/macro_f1"] == pytest.approx(result.metrics["test/macro_f1"])
    tags = run.data.tags
    assert tags["nlpkit.version"] and len(tags["dataset.digest"]) == 16 and tags["mlflow.source.git.commit"]
    files = artifact_paths(client, result.run_id)
    for expected in ("config.yaml", "reports/classification_report_test.txt", "plots/confusion_matrix_test.png",
                     "misclassified_test.csv", "predictions/test.csv", "predictor/nlpkit.json"):
        assert expected in files, expected
    assert not any(f.endswith((".pkl", ".pickle")) for f in files)

    mlflow.set_tracking_uri(tracking_uri)
    info = mlflow.models.get_model_info(f"runs:/{result.run_id}/model")
    assert "python_function" in info.flavors and info.run_id == result.run_id
    model_dir = Path(mlflow.artifacts.download_artifacts(f"runs:/{result.run_id}/model", dst_path=str(tmp_path / "m")))
    assert not [p for p in model_dir.rglob("*") if p.suffix in (".pkl", ".pickle")]
    assert (model_dir / "artifacts" / "predictor" / "tfidf.npz").is_file()
    loaded = Predictor.load(f"runs:/{result.run_id}/model")
    assert loaded.labels == ["escalatory", "de_escalatory", "neutral"]
    assert loaded.predict(SAMPLE) == result.predictor.predict(SAMPLE)
    assert loaded.metrics["test/macro_f1"] == pytest.approx(result.metrics["test/macro_f1"])
    pyfunc = mlflow.pyfunc.load_model(f"runs:/{result.run_id}/model")
    assert list(pyfunc.predict(pd.DataFrame({"text": SAMPLE}))["label"]) == result.predictor.predict(SAMPLE)


def test_registered_model_loads_by_name_and_version(make_cfg, tracking_uri):
    train(make_cfg("task=stance", "tracking.registered_model_name=nlpkit-stance"))
    mlflow.set_tracking_uri(tracking_uri)
    p = Predictor.load("models:/nlpkit-stance/1")
    assert p.task == "stance" and p.labels == ["favor", "against", "none"]
    assert p.predict([{"target": "the truce", "text": SAMPLE[1]}])[0] in p.labels


class CrashingFit(TfidfClassifier):
    def fit(self, X, y):
        raise RuntimeError("the model crashed while fitting")


@dataclasses.dataclass
class CrashingConfig(TfidfLogregConfig):
    kind: str = "tfidf_crashing.v1"


def test_exception_inside_training_ends_the_run_failed(make_cfg, tracking_uri, monkeypatch):
    tfidf = family_of("tfidf_logreg.v1")
    crashing = Family("tfidf_crashing.v1", CrashingConfig, lambda params, seed: CrashingFit(), tfidf.save, tfidf.load)
    monkeypatch.setitem(REGISTRY, crashing.kind, crashing)
    with pytest.raises(RuntimeError, match="crashed while fitting"):
        train(make_cfg("model.kind=tfidf_crashing.v1"))
    runs = MlflowClient(tracking_uri).search_runs([MlflowClient(tracking_uri).get_experiment_by_name("escalation").experiment_id])
    assert [r.info.status for r in runs] == ["FAILED"]
    assert "RuntimeError: the model crashed" in runs[0].data.tags["nlpkit.error"]


def test_bad_data_raises_before_any_run_opens(make_cfg, tracking_uri, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "only one row", "label": "escalatory"}\n')
    with pytest.raises(Exception, match="stratified") as raised:
        train(make_cfg(*file_overrides(bad)))
    assert getattr(raised.value, NO_RUN) is True
    client = MlflowClient(tracking_uri)
    assert [r for e in client.search_experiments() for r in client.search_runs([e.experiment_id])] == []


class InterruptedFit(TfidfClassifier):
    def fit(self, X, y):
        raise KeyboardInterrupt


@dataclasses.dataclass
class InterruptedConfig(TfidfLogregConfig):
    kind: str = "tfidf_interrupted.v1"


def test_ctrl_c_during_training_ends_the_run_killed(make_cfg, tracking_uri, monkeypatch):
    tfidf = family_of("tfidf_logreg.v1")
    interrupted = Family("tfidf_interrupted.v1", InterruptedConfig, lambda params, seed: InterruptedFit(), tfidf.save,
                         tfidf.load)
    monkeypatch.setitem(REGISTRY, interrupted.kind, interrupted)
    with pytest.raises(KeyboardInterrupt):
        train(make_cfg("model.kind=tfidf_interrupted.v1"))
    client = MlflowClient(tracking_uri)
    runs = client.search_runs([client.get_experiment_by_name("escalation").experiment_id])
    assert [r.info.status for r in runs] == ["KILLED"]


def test_relative_sqlite_uri_becomes_absolute_and_env_var_overrides(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert resolve_uri(None) == f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:5999")
    assert resolve_uri(None) == "http://127.0.0.1:5999"
    assert resolve_uri("sqlite:///x/y.db") == f"sqlite:///{tmp_path / 'x/y.db'}"
    with pytest.raises(ValueError, match="file store is in maintenance mode"):
        resolve_uri("./mlruns")


def test_params_are_flat_with_stable_names(make_cfg):
    from nlpkit.config import validate

    flat = flatten(validate(make_cfg("task=topic")))
    assert flat["task.name"] == "topic" and flat["data.split.extra_eval"] == '["test_ood"]'
    assert all(len(k) <= 250 and len(v) <= 6000 for k, v in flat.items())


@pytest.fixture
def mlflow_server(tmp_path):
    with mlflow_server_at(f"sqlite:///{tmp_path / 'server.db'}", tmp_path / "art") as url:
        yield url


def test_training_against_a_real_tracking_server(make_cfg, mlflow_server):
    result = train(make_cfg("tracking=server", f"tracking.uri={mlflow_server}", "task=topic"))
    client = MlflowClient(mlflow_server)
    assert client.get_run(result.run_id).info.status == "FINISHED"
    mlflow.set_tracking_uri(mlflow_server)
    assert mlflow.models.get_model_info(f"runs:/{result.run_id}/model").run_id == result.run_id
    assert Predictor.load(f"runs:/{result.run_id}/model").predict(SAMPLE) == result.predictor.predict(SAMPLE)
