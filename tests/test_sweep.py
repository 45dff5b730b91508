"""Sweeps as MLflow trees, read back from a real sqlite store: basic, joblib, submitit and optuna."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from conftest import require_extra
from nlpkit.stats import summarize
from nlpkit.sweep import config_key, markdown_table, slug, varying_keys

BIN = Path(sys.executable).parent
FAST = ["model.char_ngrams=false", "tracking.log_model=false"]


def sweep(tmp_path: Path, *args: str) -> tuple[MlflowClient, list, list]:
    uri = f"sqlite:///{tmp_path / 'sweep.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    out = subprocess.run([str(BIN / "nlpkit-train"), "-m", *args, *FAST], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-4000:]
    client = MlflowClient(uri)
    runs = [r for e in client.search_experiments() for r in client.search_runs([e.experiment_id])]
    parents = [r for r in runs if r.data.tags.get("nlpkit.sweep") == "true"]
    return client, parents, [r for r in runs if r not in parents]


def test_joblib_sweep_is_one_tree_with_seed_aggregates(tmp_path):
    require_extra("research", "hydra_plugins.hydra_joblib_launcher")
    # each seed also re-draws the random split, so seeds differ and the aggregate has a spread
    client, parents, children = sweep(tmp_path, "hydra/launcher=joblib", "hydra.launcher.n_jobs=2",
                                      "model=tfidf_logreg,tfidf_svm", "seed=0,1", "data.split.policy=random",
                                      "data.split.seed=${seed}")
    assert len(parents) == 1 and len(children) == 4
    parent = client.get_run(parents[0].info.run_id)
    assert parent.info.status == "FINISHED"
    assert "model=tfidf_logreg,tfidf_svm" in parent.data.params["sweep.overrides"]
    assert "joblib" in parent.data.tags["nlpkit.launcher"]
    assert {c.data.tags["mlflow.parentRunId"] for c in children} == {parent.info.run_id}
    keys = {c.data.tags["nlpkit.config_key"] for c in children}
    assert len(keys) == 2 and all("seed=0" not in k and "seed=1" not in k for k in keys)  # seeds grouped
    m = parent.data.metrics
    assert m["sweep/n_jobs"] == 4 and m["sweep/n_failed"] == 0
    svm = "model=tfidf_svm"  # the aggregate names what the sweep varies; shared overrides drop out
    group = [c.data.metrics["test/macro_f1"] for c in children if "model=tfidf_svm" in c.data.tags["nlpkit.config_key"]]
    expected = summarize(group)
    assert expected.sd > 0
    assert m[f"{slug(svm)}/test/macro_f1/mean"] == pytest.approx(expected.mean)
    assert m[f"{slug(svm)}/test/macro_f1/ci_low"] == pytest.approx(expected.ci_low)
    assert m[f"{slug(svm)}/test/accuracy/n"] == 2
    table = client.download_artifacts(parent.info.run_id, "aggregate.md", str(tmp_path))
    assert f"| {svm} | 2 | 0 | {expected.mean:.3f} ± {expected.sd:.3f}" in Path(table).read_text()


def test_config_and_data_errors_open_no_run_and_are_counted(tmp_path):
    client, parents, children = sweep(tmp_path, "data.split.policy=group", "data.split.group_column=source,nope",
                                      "data.split.test_size=0.2,0.9")
    parent = client.get_run(parents[0].info.run_id)
    assert parent.info.status == "FINISHED"
    # test_size=0.9 is invalid config: those two jobs open no run; group_column=nope fails on the data, which is
    # loaded before the run opens: no run either. Only the valid job has a run.
    assert [c.info.status for c in children] == ["FINISHED"]
    m = parent.data.metrics
    assert m["sweep/n_failed"] == 0 and m["sweep/n_config_errors"] == 3 and m["sweep/n_jobs"] == 4
    errors = json.loads(Path(client.download_artifacts(parent.info.run_id, "config_errors.json", str(tmp_path))).read_text())
    invalid = [e for e in errors if "data.split.test_size=0.9" in e["overrides"]]
    assert len(invalid) == 2 and all(e["error"].startswith("ConfigError: ") and "test_size" in e["error"] for e in invalid)
    [bad_data] = [e for e in errors if e not in invalid]
    assert "data.split.group_column=nope" in bad_data["overrides"] and bad_data["error"].startswith("DataError: ")
    assert "3 job(s) had an invalid config" in Path(
        client.download_artifacts(parent.info.run_id, "aggregate.md", str(tmp_path))).read_text()


def test_optuna_trials_are_children_of_the_sweep_parent(tmp_path):
    require_extra("research", "hydra_plugins.hydra_optuna_sweeper")
    client, parents, children = sweep(tmp_path, "hydra/sweeper=optuna", "hydra.sweeper.n_trials=3",
                                      "hydra.sweeper.direction=maximize", "model.C=interval(0.1,10)")
    assert len(parents) == 1 and len(children) == 3
    assert all(c.data.tags["mlflow.parentRunId"] == parents[0].info.run_id for c in children)
    assert client.get_run(parents[0].info.run_id).data.metrics["sweep/n_jobs"] == 3


@pytest.mark.slow
def test_submitit_local_launcher_sweep(tmp_path):
    require_extra("research", "hydra_plugins.hydra_submitit_launcher")
    client, parents, children = sweep(tmp_path, "hydra/launcher=submitit_local", "seed=0,1")
    assert len(parents) == 1 and len(children) == 2
    assert all(c.data.tags["mlflow.parentRunId"] == parents[0].info.run_id for c in children)


def test_config_key_and_slug():
    assert config_key(["seed=3", "model=tfidf_svm", "task=stance"]) == "model=tfidf_svm task=stance"
    assert config_key(["seed=1"]) == "(default)"
    assert slug("model=tfidf_svm task=stance") == "model-tfidf_svm.task-stance"
    assert "/" not in slug("tracking.uri=sqlite:////tmp/x.db")
    jobs = [["model=a", "seed=0", "x=1"], ["model=a", "seed=1", "x=1"], ["model=b", "seed=0", "x=1"]]
    assert varying_keys(jobs) == ["model=a", "model=a", "model=b"]


def test_markdown_table_shows_mean_sd_ci():
    rows = [{"config": "model=a", "n_ok": 2, "n_failed": 1, "metrics": {
        "test/macro_f1/mean": 0.5, "test/macro_f1/sd": 0.1, "test/macro_f1/ci_low": 0.4, "test/macro_f1/ci_high": 0.6}}]
    assert "| model=a | 2 | 1 | 0.500 ± 0.100 [0.400, 0.600] | n/a |" in markdown_table(rows)


def test_a_sweep_dir_claimed_by_another_sweep_is_refused(tmp_path):
    from nlpkit.errors import ConfigError
    from nlpkit.sweep import SWEEP_FILE, _claim_sweep_dir

    assert _claim_sweep_dir(tmp_path / "sweep") == tmp_path / "sweep" / SWEEP_FILE
    with pytest.raises(ConfigError, match="already belongs to another sweep.*Fix: leave hydra.sweep.dir unset"):
        _claim_sweep_dir(tmp_path / "sweep")
