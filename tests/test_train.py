"""End-to-end training on the embedded corpus, through the Python API and the `nlpkit-train` command."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from conftest import readme_command
from nlpkit.train import format_results, train

BIN = Path(sys.executable).parent


@pytest.mark.parametrize("task", ["topic", "stance", "escalation"])
def test_end_to_end_on_the_embedded_corpus(make_cfg, task):
    result = train(make_cfg(f"task={task}", "model=tfidf_svm", tracking=False))
    labels = result.predictor.labels
    for split in ("validation", "test", "test_ood"):
        assert 0.0 <= result.metrics[f"{split}/macro_f1"] <= 1.0
        assert result.metrics[f"{split}/n"] > 0
    # better than always answering the majority class: its F1 is 2p/(1+p) (p its share), the others' 0
    p = max(result.metrics[f"test/support/{label}"] for label in labels) / result.metrics["test/n"]
    majority_macro = 2 * p / (1 + p) / len(labels)
    assert result.metrics["test/macro_f1"] > majority_macro
    assert (result.output_dir / "misclassified_test.csv").is_file()
    assert (result.output_dir / "plots" / "confusion_matrix_test.png").stat().st_size > 1000
    table = format_results(result)
    assert "test_ood" in table and "macro_f1" in table and str(result.predictor_dir) in table


def test_same_seed_same_numbers(make_cfg, tmp_path):
    a = train(make_cfg("model=tfidf_svm", "seed=1", f"output_dir={tmp_path / 'a'}", tracking=False))
    b = train(make_cfg("model=tfidf_svm", "seed=1", f"output_dir={tmp_path / 'b'}", tracking=False))
    assert a.metrics["test/macro_f1"] == b.metrics["test/macro_f1"]


def run_cli(args: list[str], cwd: Path, env_uri: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MLFLOW_TRACKING_URI": env_uri, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    return subprocess.run([str(BIN / "nlpkit-train"), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_nlpkit_train_command_prints_results_and_logs_a_run(tmp_path):
    uri = f"sqlite:///{tmp_path / 'cli.db'}"
    command = readme_command("nlpkit-train task=stance model=tfidf_logreg model.C=3 seed=2")
    out = run_cli(shlex.split(command)[1:], tmp_path, uri)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "macro_f1" in out.stdout and "MLflow run:" in out.stdout and "runs:/" in out.stdout
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("stance").experiment_id])
    assert len(runs) == 1 and runs[0].data.params["model.C"] == "3.0" and runs[0].data.params["seed"] == "2"
    assert (tmp_path / "outputs").is_dir()


def test_multirun_over_models_and_seeds_gives_one_run_per_job(tmp_path):
    uri = f"sqlite:///{tmp_path / 'sweep.db'}"
    out = run_cli(["-m", "model=tfidf_logreg,tfidf_svm", "seed=0,1", "model.char_ngrams=false"], tmp_path, uri)
    assert out.returncode == 0, out.stderr[-3000:]
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("escalation").experiment_id])
    parents = [r for r in runs if r.data.tags.get("nlpkit.sweep") == "true"]
    children = [r for r in runs if r not in parents]
    assert len(parents) == 1
    assert sorted(r.info.run_name for r in children) == [
        "tfidf_logreg/s0/newswire", "tfidf_logreg/s1/newswire", "tfidf_svm/s0/newswire", "tfidf_svm/s1/newswire"]
    assert all(r.data.tags["mlflow.parentRunId"] == parents[0].info.run_id for r in children)
    assert all(r.info.status == "FINISHED" for r in runs)


def test_cli_typo_fails_at_start_up_naming_the_key(tmp_path):
    out = run_cli(["model.Cc=1"], tmp_path, f"sqlite:///{tmp_path / 'x.db'}")
    assert out.returncode != 0
    assert "model.Cc" in out.stderr
    assert not (tmp_path / "x.db").exists()  # nothing started


def test_readme_cfg_job_prints_the_resolved_config(tmp_path):
    out = run_cli(shlex.split(readme_command("nlpkit-train --cfg job"))[1:], tmp_path, f"sqlite:///{tmp_path / 'x.db'}")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "task:" in out.stdout and "kind: tfidf_logreg.v1" in out.stdout and not (tmp_path / "x.db").exists()


README_TRAINING = [  # README, "For researchers": each command as written (cv: with and without its optional part)
    (readme_command("nlpkit-train task=escalation model=tfidf_svm"), 1),
    (readme_command("nlpkit-train data.split.policy=group data.split.group_column=source"), 1),
    (readme_command("nlpkit-train data.split.policy=time data.split.dedupe=error"), 1),
    (readme_command("nlpkit-train cv.folds=5").replace(" [cv.group_column=source]", ""), 6),
    (readme_command("nlpkit-train cv.folds=5").replace("[", "").replace("]", ""), 6),
    (readme_command("nlpkit-train -m task=topic,stance,escalation model=tfidf_logreg,tfidf_svm"), 7),
]


@pytest.mark.slow
@pytest.mark.parametrize(("command", "n_runs"), README_TRAINING, ids=[c[13:45] for c, _ in README_TRAINING])
def test_readme_training_commands_run_as_written(tmp_path, command, n_runs):
    """Every run they open FINISHES (cv: a parent and 5 folds; the multirun: a parent and 6 jobs)."""
    uri = f"sqlite:///{tmp_path / 'readme.db'}"
    out = run_cli(shlex.split(command)[1:], tmp_path, uri)
    assert out.returncode == 0, out.stderr[-3000:]
    client = MlflowClient(uri)
    runs = [r for e in client.search_experiments() for r in client.search_runs([e.experiment_id])]
    assert len(runs) == n_runs and all(r.info.status == "FINISHED" for r in runs), [r.info.run_name for r in runs]
