"""`nlpkit compare` and `nlpkit report` on real runs in a real sqlite store."""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from conftest import readme_command
from nlpkit.cli import main as cli_main
from nlpkit.errors import DataError
from nlpkit.train import train

BIN = Path(sys.executable).parent
FAST = ["model.char_ngrams=false", "tracking.log_model=false"]


def test_compare_two_runs_paired_and_logged(make_cfg, tracking_uri, capsys, monkeypatch):
    a = train(make_cfg("model=tfidf_logreg", *FAST))
    b = train(make_cfg("model=tfidf_svm", *FAST))
    assert cli_main(["compare", a.run_id, b.run_id, "--log", "--tracking-uri", tracking_uri]) == 0
    out = capsys.readouterr().out
    assert "paired comparison on 90 test examples" in out
    diff = b.metrics["test/macro_f1"] - a.metrics["test/macro_f1"]
    assert f"B-A={diff:+.4f}" in out and "McNemar" in out and "logged as MLflow run" in out
    run_id = out.strip().split()[-1]
    readme = readme_command("nlpkit compare RUN_A RUN_B").replace("RUN_A", a.run_id).replace("RUN_B", b.run_id)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", tracking_uri)  # the README's command, both optional parts given
    assert cli_main(shlex.split(readme.replace("[", "").replace("]", ""))[1:]) == 0
    ood = capsys.readouterr().out
    assert "test_ood examples" in ood and f"B-A={b.metrics['test_ood/macro_f1'] - a.metrics['test_ood/macro_f1']:+.4f}" in ood
    logged = MlflowClient(tracking_uri).get_run(run_id)
    assert logged.data.metrics["compare/diff"] == pytest.approx(diff)
    assert logged.data.metrics["compare/ci_low"] <= diff <= logged.data.metrics["compare/ci_high"]


def test_compare_refuses_runs_on_different_examples(make_cfg, tracking_uri, tiny_file):
    a = train(make_cfg(*FAST))
    b = train(make_cfg("data=file", f"data.path={tiny_file}", "data.columns.escalation=label", *FAST))
    from nlpkit.compare import compare_runs

    with pytest.raises(DataError, match="different test examples"):
        compare_runs(MlflowClient(tracking_uri), a.run_id, b.run_id)



def run_sweep(tmp_path, args: list[str]) -> tuple[str, str]:
    """Run ``nlpkit-train ARGS`` (a multirun) into a fresh sqlite store; return the store URI and the sweep's
    parent run id."""
    uri = f"sqlite:///{tmp_path / 'sweep.db'}"
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    run = subprocess.run([str(BIN / "nlpkit-train"), *args], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    client = MlflowClient(uri)
    parent = next(r for r in client.search_runs([client.get_experiment_by_name("escalation").experiment_id])
                  if r.data.tags.get("nlpkit.sweep") == "true")
    return uri, parent.info.run_id


def test_compare_seed_groups_and_report_inside_a_sweep(tmp_path, capsys):
    seed_study = readme_command("nlpkit-train -m model=tfidf_logreg,tfidf_svm").replace("seed=0,1,2", "seed=0,1")
    uri, pid = run_sweep(tmp_path, [*shlex.split(seed_study)[1:], *FAST])  # 2 seeds, fast features
    command = readme_command("nlpkit compare --sweep PARENT model=tfidf_logreg model=tfidf_svm")
    assert cli_main([*shlex.split(command.replace("PARENT", pid))[1:], "--tracking-uri", uri]) == 0
    out = capsys.readouterr().out
    assert "seed groups (test/macro_f1)" in out and "(n=2)" in out and "Welch CI [" in out
    assert cli_main(["compare", "--sweep", pid, "model=tfidf_logreg", "model=tfidf_svm", "--seed", "1",
                     "--tracking-uri", uri]) == 0
    assert "paired comparison on" in capsys.readouterr().out
    assert cli_main(["report", pid, "--tracking-uri", uri]) == 0
    table = capsys.readouterr().out
    assert table.startswith("| configuration | jobs ok | jobs failed |") and table.count("| 2 | 0 |") == 2
    assert cli_main(["compare", "--sweep", pid, "seed=0", "model=tfidf_svm", "--tracking-uri", uri]) == 1
    assert "matches 0 configurations" in capsys.readouterr().err


def seed_tree(uri: str, values: dict[str, list[float]], experiment_name: str = "seeds") -> str:
    """A sweep parent with one FINISHED child per (configuration, seed) in a real sqlite store, tagged as nlpkit's
    sweep callback and jobs tag them, with ``test/macro_f1`` and ``test/accuracy`` = the given values."""
    from nlpkit.store import open_store

    client = open_store(uri)
    experiment = client.create_experiment(experiment_name)
    parent = client.create_run(experiment, tags={"nlpkit.sweep": "true"}).info.run_id
    for config, scores in values.items():
        for seed, score in enumerate(scores):
            overrides = json.dumps([config, f"seed={seed}"])
            child = client.create_run(experiment, tags={"mlflow.parentRunId": parent, "nlpkit.overrides": overrides})
            for key in ("test/macro_f1", "test/accuracy"):
                client.log_metric(child.info.run_id, key, score)
            client.log_param(child.info.run_id, "seed", str(seed))
            client.set_terminated(child.info.run_id, "FINISHED")
    return parent


def test_identical_seeds_show_no_ci_and_a_warning_while_varying_seeds_keep_theirs(tmp_path, capsys, monkeypatch):
    uri = f"sqlite:///{tmp_path / 'seeds.db'}"
    pid = seed_tree(uri, {"model=a": [0.7, 0.7, 0.7], "model=b": [0.6, 0.7, 0.65]}, "study-escalation-families")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)  # the README's report command: the experiment's latest sweep
    assert cli_main(shlex.split(readme_command("nlpkit report --experiment study-escalation-families"))[1:]) == 0
    table = capsys.readouterr().out
    assert "| model=a | 3 | 0 | 0.700 (n/a: all seeds identical) | 0.700 (n/a: all seeds identical) | 1 of 3 |" in table
    assert "| model=b | 3 | 0 | 0.650 ± 0.050 [0.526, 0.774] | 0.650 ± 0.050 [0.526, 0.774] | 3 of 3 |" in table
    assert table.count("warning:") == 1 and "warning: model=a: all 3 seeds gave identical results" in table
    assert "data.split.seed=${seed}" in table and "± 0.000" not in table
    assert cli_main(["compare", "--sweep", pid, "model=a", "model=b", "--tracking-uri", uri]) == 0
    out = capsys.readouterr().out  # one group varies: Welch's CI is defined
    assert "B-A = -0.0500 (95% Welch CI [" in out and "warning" not in out


def test_compare_seed_groups_that_both_never_vary_prints_no_interval(tmp_path, capsys):
    uri = f"sqlite:///{tmp_path / 'seeds.db'}"
    pid = seed_tree(uri, {"model=a": [0.7, 0.7], "model=b": [0.75, 0.75]})
    assert cli_main(["compare", "--sweep", pid, "model=a", "model=b", "--tracking-uri", uri, "--log"]) == 0
    out = capsys.readouterr().out
    assert "B-A = +0.0500 (95% Welch CI n/a: all seeds identical in both groups)" in out
    assert "warning: every seed gave the same result in each group" in out and "[+0.0500, +0.0500]" not in out


@pytest.mark.slow
def test_seeds_that_change_nothing_are_reported_as_such(tmp_path, capsys):
    """A deterministic model under a fixed split: every seed gives the same run. report and compare --sweep say
    so (distinct results 1 of 2, a warning) instead of printing a zero-width CI as if it were certainty."""
    uri, pid = run_sweep(tmp_path, ["-m", "model.C=1,4", "seed=0,1", "data.split.policy=random", *FAST])
    assert cli_main(["report", pid, "--tracking-uri", uri]) == 0
    table = capsys.readouterr().out
    assert table.count("(n/a: all seeds identical)") == 4 and table.count("| 1 of 2 |") == 2, table
    assert "± 0.000" not in table
    assert table.count("warning: model.C=") == 2 and "data.split.seed=${seed}" in table
    assert MlflowClient(uri).get_run(pid).data.metrics["model.C-1/test/macro_f1/distinct"] == 1.0
    assert cli_main(["compare", "--sweep", pid, "model.C=1", "model.C=4", "--tracking-uri", uri]) == 0
    out = capsys.readouterr().out
    assert "Welch CI n/a: all seeds identical in both groups" in out and "warning: every seed gave the same" in out
