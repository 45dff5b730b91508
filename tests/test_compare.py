"""`nlpkit compare` and `nlpkit report` on real runs in a real sqlite store."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from nlpkit.cli import main as cli_main
from nlpkit.errors import DataError
from nlpkit.train import train

BIN = Path(sys.executable).parent
FAST = ["model.char_ngrams=false", "tracking.log_model=false"]


def test_compare_two_runs_paired_and_logged(make_cfg, tracking_uri, capsys):
    a = train(make_cfg("model=tfidf_logreg", *FAST))
    b = train(make_cfg("model=tfidf_svm", *FAST))
    assert cli_main(["compare", a.run_id, b.run_id, "--log", "--tracking-uri", tracking_uri]) == 0
    out = capsys.readouterr().out
    assert "paired comparison on 90 test examples" in out
    diff = b.metrics["test/macro_f1"] - a.metrics["test/macro_f1"]
    assert f"B-A={diff:+.4f}" in out and "McNemar" in out and "logged as MLflow run" in out
    run_id = out.strip().split()[-1]
    logged = MlflowClient(tracking_uri).get_run(run_id)
    assert logged.data.metrics["compare/diff"] == pytest.approx(diff)
    assert logged.data.metrics["compare/ci_low"] <= diff <= logged.data.metrics["compare/ci_high"]


def test_compare_refuses_runs_on_different_examples(make_cfg, tracking_uri, tiny_file):
    a = train(make_cfg(*FAST))
    b = train(make_cfg("data=file", f"data.path={tiny_file}", "data.columns.escalation=label", *FAST))
    from nlpkit.compare import compare_runs

    with pytest.raises(DataError, match="different test examples"):
        compare_runs(MlflowClient(tracking_uri), a.run_id, b.run_id)


def test_compare_seed_groups_and_report_inside_a_sweep(tmp_path, capsys):
    uri = f"sqlite:///{tmp_path / 'sweep.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    run = subprocess.run([str(BIN / "nlpkit-train"), "-m", "model=tfidf_logreg,tfidf_svm", "seed=0,1",
                          "data.split.policy=random", "data.split.seed=${seed}", *FAST],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    client = MlflowClient(uri)
    parent = next(r for r in client.search_runs([client.get_experiment_by_name("escalation").experiment_id])
                  if r.data.tags.get("nlpkit.sweep") == "true")
    pid = parent.info.run_id
    assert cli_main(["compare", "--sweep", pid, "model=tfidf_logreg", "model=tfidf_svm", "--tracking-uri", uri]) == 0
    out = capsys.readouterr().out
    assert "seed groups (test/macro_f1)" in out and "(n=2)" in out and "Welch CI" in out
    assert cli_main(["compare", "--sweep", pid, "model=tfidf_logreg", "model=tfidf_svm", "--seed", "1",
                     "--tracking-uri", uri]) == 0
    assert "paired comparison on" in capsys.readouterr().out
    assert cli_main(["report", pid, "--tracking-uri", uri]) == 0
    table = capsys.readouterr().out
    assert table.startswith("| configuration | jobs ok | jobs failed |") and table.count("| 2 | 0 |") == 2
    assert cli_main(["compare", "--sweep", pid, "seed=0", "model=tfidf_svm", "--tracking-uri", uri]) == 1
    assert "matches 0 configurations" in capsys.readouterr().err
