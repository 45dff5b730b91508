"""What a person meets in the MLflow UI and on the console, checked through MLflow's API on real stores with the
real commands (``nlpkit-train``, ``nlpkit``) in real processes. The screenshots themselves come from
``experiments/mlflow_ui/screenshots.py`` (headless Chromium)."""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from conftest import tiny_rows, write_jsonl
from nlpkit.config import compose
from nlpkit.tracking import run_name as job_run_name
from nlpkit.tracking_ui import (KIND_TAG, MODEL_TRAINING, PRIMARY_TAG, VIEW_TAG, data_label, dataset_source, run_name, saved_view,
                                swept_keys, view_url)

BIN = Path(sys.executable).parent
FAST = ["model.char_ngrams=false", "data.split.dedupe=keep"]
CHATTER = re.compile(r"INFO mlflow|WARNING mlflow|Warning:|warnings.warn|Downloading artifacts|\d+%\|")


def command(args: list[str], cwd: Path, uri: str | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("MLFLOW_TRACKING_URI", "MLFLOW_LOGGING_LEVEL")}
    env |= {"PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "MLFLOW_DISABLE_TELEMETRY": "true"}
    if uri:
        env["MLFLOW_TRACKING_URI"] = uri
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def csv_file(folder: Path) -> Path:
    path = folder / "speeches.csv"
    lines = ["text,label"] + [f"\"{r['text']}\",{r['label']}" for r in tiny_rows()]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_single_run_is_named_tagged_and_has_dataset_inputs_and_a_quiet_console(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    data = csv_file(tmp_path)
    out = command([str(BIN / "nlpkit-train"), "data=file", f"data.path={data}", "data.columns.escalation=label",
                   "model.C=2", *FAST], tmp_path, uri)
    assert out.returncode == 0, out.stderr[-3000:]
    assert not CHATTER.search(out.stderr + out.stdout), out.stderr[-3000:]  # quiet by default
    client = MlflowClient(uri)
    [run] = client.search_runs([client.get_experiment_by_name("escalation").experiment_id])
    experiment = client.get_experiment(run.info.experiment_id)
    # data, model, the overrides, seed: all visible, the data first
    assert run.info.run_name == "speeches/tfidf_logreg/C=2/char_ngrams=false/dedupe=keep/s0"
    assert experiment.tags[KIND_TAG] == MODEL_TRAINING
    view = json.loads(experiment.tags[VIEW_TAG])
    assert "metrics.`test/macro_f1`" in view["selectedColumns"] and "attributes.`Dataset`" in view["selectedColumns"]
    assert experiment.tags[PRIMARY_TAG] == "test/macro_f1"  # the chart (compare) view starts from it
    url = view_url(uri, experiment.experiment_id)
    assert "workflowType=machine_learning" in url and f"then open {url}" in out.stdout
    inputs = {i.tags[0].value: i.dataset for i in run.inputs.dataset_inputs}
    assert sorted(inputs) == ["test", "train", "validation"]
    assert {d.name for d in inputs.values()} == {"speeches"}
    assert all(json.loads(d.source)["uri"] == str(data) and d.source_type == "local" for d in inputs.values())
    assert len({d.digest for d in inputs.values()}) == 3  # one digest per split
    assert run.data.tags["dataset.source"] == str(data)


def test_predict_and_report_never_create_a_stray_store(tmp_path):
    from conftest import train_tiny_tracked

    store = tmp_path / "project"
    store.mkdir()
    uri = f"sqlite:///{store / 'mlflow.db'}"
    result = train_tiny_tracked(store, uri)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "docs.txt").write_text("Artillery shelled the border town overnight.\n")
    model = f"runs:/{result.run_id}/model"
    refused = command([str(BIN / "nlpkit"), "predict", "--model", model, "docs.txt"], elsewhere)
    assert refused.returncode == 1 and "--tracking-uri" in refused.stderr and len(refused.stderr.splitlines()) == 1
    ok = command([str(BIN / "nlpkit"), "predict", "--model", model, "--tracking-uri", uri, "--json", "docs.txt"], elsewhere)
    assert ok.returncode == 0, ok.stderr[-3000:]
    assert json.loads(ok.stdout)["label"] in ("escalatory", "de_escalatory", "neutral")
    assert not CHATTER.search(ok.stderr), ok.stderr  # no INFO lines, warnings or "Downloading artifacts" bars
    report = command([str(BIN / "nlpkit"), "report"], elsewhere)
    assert report.returncode == 1 and "Expected an MLflow store" in report.stderr
    assert "None" not in report.stderr and len(report.stderr.splitlines()) == 1
    no_sweep = command([str(BIN / "nlpkit"), "report", "--tracking-uri", uri], elsewhere)
    assert no_sweep.returncode == 1 and "expected a sweep parent run" in no_sweep.stderr
    assert sorted(p.name for p in elsewhere.iterdir()) == ["docs.txt"]  # no ./mlflow.db, no mlruns/
    verbose = command([str(BIN / "nlpkit"), "-v", "predict", "--model", model, "--tracking-uri", uri, "docs.txt"],
                      elsewhere)
    assert verbose.returncode == 0 and "Downloading artifacts" in verbose.stderr  # -v brings MLflow's output back


def test_multirun_prints_its_parent_and_the_report_command(tmp_path):
    data = write_jsonl(tmp_path / "tiny.jsonl", tiny_rows())
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = command([str(BIN / "nlpkit-train"), "-m", "seed=0,1", "data=file", f"data.path={data}",
                   "data.columns.escalation=label", "tracking.log_model=false", *FAST], tmp_path, uri)
    assert out.returncode == 0, out.stderr[-3000:]
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("escalation")
    runs = client.search_runs([experiment.experiment_id])
    [parent] = [r for r in runs if r.data.tags.get("nlpkit.sweep") == "true"]
    parent_id = parent.info.run_id
    assert f"MLflow sweep parent run: {parent_id}" in out.stdout
    report_line = next(line for line in out.stdout.splitlines() if line.startswith("aggregate: nlpkit report"))
    assert report_line == f"aggregate: nlpkit report {parent_id} --tracking-uri {uri}"
    assert f"nlpkit compare --sweep {parent_id}" in out.stdout
    children = sorted(r.info.run_name for r in runs if r.info.run_id != parent_id)
    assert children == ["s0/tiny/tfidf_logreg", "s1/tiny/tfidf_logreg"]  # the swept seed comes first
    report = command(report_line.removeprefix("aggregate: ").split(), tmp_path)
    assert report.returncode == 0 and "| (default) | 2 | 0 |" in report.stdout, report.stderr
    latest = command([str(BIN / "nlpkit"), "report"], tmp_path, uri)  # no argument: the store's one sweep
    assert latest.returncode == 0 and latest.stdout == report.stdout
    compare_line = next(line for line in out.stdout.splitlines() if line.startswith("compare two configurations: "))
    compare = command(shlex.split(compare_line.removeprefix("compare two configurations: ")), tmp_path)
    # one configuration only (the sweep varies the seed): the printed command runs and names the problem
    assert compare.returncode == 1 and "A=..." in compare.stderr and "matches 0 configurations" in compare.stderr


def test_verbose_training_shows_mlflow_output(tmp_path):
    data = write_jsonl(tmp_path / "tiny.jsonl", tiny_rows())
    out = command([str(BIN / "nlpkit-train"), "data=file", f"data.path={data}", "data.columns.escalation=label",
                   "tracking.verbose=true", *FAST], tmp_path, f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert out.returncode == 0, out.stderr[-3000:]
    assert "INFO mlflow" in out.stderr  # tracking.verbose=true brings MLflow's lines back


def test_config_and_data_errors_open_no_run(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    out = command([str(BIN / "nlpkit-train"), "data=file", f"data.path={tmp_path / 'missing.csv'}", *FAST], tmp_path, uri)
    assert out.returncode == 1 and out.stderr.startswith("error: ") and "missing.csv" in out.stderr
    client = MlflowClient(uri)
    assert [r for e in client.search_experiments() for r in client.search_runs([e.experiment_id])] == []


def test_run_names_put_what_differs_first():
    cfg = compose(["seed=3"])
    assert run_name(cfg, [], None) == "newswire/tfidf_logreg/s3"
    overrides = ["model=tfidf_svm", "model.C=0.5", "seed=3", "tracking.uri=sqlite:///x.db", "data.split.policy=group",
                 "runtime.threads=1"]
    assert run_name(compose(overrides), overrides, None) == "newswire/tfidf_svm/C=0.5/policy=group/s3"
    swept = swept_keys(["model=tfidf_logreg,tfidf_svm", "seed=range(0,3)", "model.char_ngrams=false"])
    assert swept == ["model", "seed"]
    assert run_name(compose(overrides), overrides, swept) == "tfidf_svm/s3/newswire"
    assert job_run_name(compose(["tracking.run_name=mine"])) == "mine"  # the config's own name wins
    own = compose(["data=file", "data.path=/data/un_speeches.csv"])
    assert data_label(own.data) == "un_speeches" and run_name(own, [], None) == "un_speeches/tfidf_logreg/s0"


def test_dataset_sources_and_saved_view():
    hub = dataset_source("hub:ag_news")
    assert type(hub).__name__ == "HuggingFaceDatasetSource" and hub.path == "ag_news"
    assert json.loads(dataset_source("/data/x.csv").to_json()) == {"uri": "/data/x.csv"}
    view = saved_view()  # newest first: MLflow nests a sweep's children under their parent only in this order
    assert view["orderByKey"] == "attributes.start_time" and not view["orderByAsc"]
    assert view_url("http://127.0.0.1:5005/", "7") == (
        "http://127.0.0.1:5005/#/experiments/7/runs?workflowType=machine_learning&viewStateShareKey=nlpkit")
    assert OmegaConf.select(compose([]), "tracking.verbose") is False
    with pytest.raises(ConfigCompositionException, match="tracking.verbose"):  # a typed bool
        compose(["tracking.verbose=maybe"])


@pytest.mark.slow
def test_screenshot_script_renders_the_three_views(tmp_path):
    """README, "For people comparing runs in the MLflow UI": the script trains, serves and shoots in Chromium
    (needs `apt-get install -y chromium`; about 4 minutes on 2 shared cores)."""
    from PIL import Image

    script = Path(__file__).parents[1] / "experiments" / "mlflow_ui" / "screenshots.py"
    out = subprocess.run([sys.executable, str(script), "--out", str(tmp_path)], capture_output=True, text=True,
                         timeout=1200, env={**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"})
    assert out.returncode == 0, out.stderr[-3000:] + out.stdout[-3000:]
    for name in ("runs_table.png", "run_page.png", "compare_view.png"):
        png = tmp_path / name
        assert png.stat().st_size < 300_000 and Image.open(png).size == (1500, 900)
        assert len(Image.open(png).convert("RGB").getcolors(maxcolors=1 << 16) or []) > 20  # drawn, not blank


def test_racing_retries_only_the_insert_collisions_of_jobs_starting_together():
    from mlflow.exceptions import MlflowException

    from nlpkit.tracking_ui import racing

    calls = []

    def collides_twice() -> str:
        calls.append(1)
        if len(calls) < 3:  # what PostgreSQL says when two jobs insert the same dataset row at once
            raise MlflowException('(psycopg2.errors.UniqueViolation) duplicate key value violates unique constraint "dataset_pk"')
        return "logged"

    assert racing(collides_twice) == "logged" and len(calls) == 3
    calls.clear()

    def other_error() -> None:
        calls.append(1)
        raise MlflowException("RESOURCE_DOES_NOT_EXIST: run not found")

    with pytest.raises(MlflowException, match="run not found"):
        racing(other_error)
    assert len(calls) == 1  # not retried

    def always() -> None:
        raise MlflowException("UNIQUE constraint failed: experiment_tags.key")

    with pytest.raises(MlflowException, match="UNIQUE constraint failed"):
        racing(always, attempts=2)
