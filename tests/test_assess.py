"""nlpkit evaluate / nlpkit.evaluate_file: a real trained predictor, real files, a real sqlite MLflow store."""

from __future__ import annotations

import csv
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import f1_score

from conftest import LABELS, readme_command, tiny_rows, train_tiny_tracked
from nlpkit import DataError, Predictor, evaluate_file
from nlpkit.cli import main
from nlpkit.errors import ConfigError
from nlpkit.store import open_store

GOLD_NAMES = {"escalatory": "conflict", "de_escalatory": "cooperation", "neutral": "statement"}


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory):
    """One tracked tiny escalation predictor (sqlite store) for the whole module."""
    folder = tmp_path_factory.mktemp("assess")
    return train_tiny_tracked(folder, f"sqlite:///{folder / 'mlflow.db'}")


def other_corpus(path: Path, keep: tuple[str, ...] = ("escalatory", "de_escalatory")) -> Path:
    """A CSV with its own column names (body, frame) and label names, without the neutral class."""
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["body", "frame", "outlet"])
        for row in tiny_rows(2):
            if row["label"] in keep:
                writer.writerow([row["text"].replace("item", "case"), GOLD_NAMES[row["label"]], row["source"]])
    return path


def test_present_labels_by_default_and_all_labels_on_request(trained, tmp_path: Path):
    data = other_corpus(tmp_path / "other.csv")
    kwargs = dict(text_column="body", label_column="frame", label_map="conflict=escalatory,cooperation=de_escalatory")
    present = evaluate_file(str(trained.predictor_dir), data, **kwargs)
    every = evaluate_file(str(trained.predictor_dir), data, labels="all", **kwargs)
    rows = list(csv.DictReader(data.open()))
    gold = [{"conflict": "escalatory", "cooperation": "de_escalatory"}[r["frame"]] for r in rows]
    predicted = Predictor.load(trained.predictor_dir).predict([r["body"] for r in rows])
    assert present.predicted == predicted and present.gold == gold
    assert present.averaged == ["escalatory", "de_escalatory"] and present.absent == ["neutral"]
    assert present.macro_f1 == pytest.approx(f1_score(gold, predicted, labels=present.averaged, average="macro"))
    assert every.macro_f1 == pytest.approx(f1_score(gold, predicted, labels=LABELS, average="macro", zero_division=0))
    per_class = {r["label"]: r for r in present.per_class}
    assert per_class["neutral"]["support"] == 0 and per_class["escalatory"]["support"] == gold.count("escalatory")
    assert np.array(present.confusion).sum() == len(rows) == present.n
    assert present.ci[0] <= present.macro_f1 <= present.ci[1]
    assert "over the 2 gold-present labels (escalatory, de_escalatory)" in present.format()
    assert "over all 3 model labels" in every.format()


def test_cli_logs_an_evaluation_run_linked_to_the_model_run(trained, tmp_path: Path, capsys):
    data = other_corpus(tmp_path / "other.csv")
    uri = f"runs:/{trained.run_id}/model"
    code = main(["evaluate", uri, "--data", str(data), "--text-column", "body", "--label-column", "frame",
                 "--label-map", "conflict=escalatory,cooperation=de_escalatory", "--out", str(tmp_path / "res"),
                 "--tracking-uri", trained.tracking_uri, "--bootstrap", "200"])
    out = capsys.readouterr().out
    assert code == 0, out
    saved = json.loads((tmp_path / "res" / "evaluation.json").read_text())
    assert f"macro-F1 {saved['macro_f1']:.3f} [95% CI {saved['ci'][0]:.3f}, {saved['ci'][1]:.3f}]" in out
    run_id = out.split("MLflow evaluation run: ")[1].split()[0]
    client = open_store(trained.tracking_uri)
    run, model_run = client.get_run(run_id), client.get_run(trained.run_id)
    assert run.data.tags["nlpkit.model_run_id"] == trained.run_id == saved["model_run_id"]
    assert run.data.tags["nlpkit.evaluation"] == "true" and run.data.tags["nlpkit.data_digest"] == saved["data_digest"]
    assert run.info.experiment_id == model_run.info.experiment_id
    assert run.info.run_name == f"evaluate/other/{model_run.info.run_name}"
    assert run.data.metrics["eval/macro_f1"] == pytest.approx(saved["macro_f1"])
    assert run.data.metrics["eval/support/neutral"] == 0.0
    assert [d.dataset.digest for d in run.inputs.dataset_inputs] == [saved["data_digest"]]
    artifacts = {f.path for f in client.list_artifacts(run_id)}
    assert {"evaluation.json", "per_class.csv", "confusion_matrix.csv", "predictions.csv"} <= artifacts


def test_a_local_predictor_is_linked_to_its_run_by_digest(trained, tmp_path: Path, capsys):
    data = tmp_path / "same.jsonl"
    data.write_text("".join(json.dumps({"text": r["text"], "label": r["label"]}) + "\n" for r in tiny_rows(1)))
    assert main(["evaluate", str(trained.predictor_dir), "--data", str(data), "--tracking-uri", trained.tracking_uri]) == 0
    out = capsys.readouterr().out
    assert f"linked to model run {trained.run_id}" in out
    assert "over the 3 gold-present labels" in out


@pytest.mark.parametrize(("args", "message"), [
    (["--text-column", "text"], "has no text column 'text'; columns found: ['body', 'frame', 'outlet']. "
                                "Fix: name the text column with --text-column <column>."),
    (["--text-column", "body", "--label-column", "label"], "has no label column 'label'"),
    (["--text-column", "body", "--label-column", "frame"],
     "gold label(s) ['conflict', 'cooperation'] are not among the model's labels ['escalatory', 'de_escalatory', "
     "'neutral']. Fix: map them with --label-map conflict=<label>,cooperation=<label>"),
    (["--text-column", "body", "--label-column", "frame", "--label-map", "conflict=war"],
     "--label-map maps onto ['war'], which are not the model's labels"),
    (["--text-column", "body", "--label-column", "frame", "--label-map", "conflict"],
     "--label-map expects GOLD=MODEL pairs separated by commas; got 'conflict'"),
])
def test_bad_input_is_one_line_naming_the_fix(trained, tmp_path: Path, capsys, args, message):
    data = other_corpus(tmp_path / "other.csv")
    assert main(["evaluate", str(trained.predictor_dir), "--data", str(data), "--no-log", *args]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err, err


def test_api_errors_and_drop_unmapped(trained, tmp_path: Path):
    data = other_corpus(tmp_path / "other.csv")
    with pytest.raises(DataError, match=r"--data '.*missing.csv' does not exist"):
        evaluate_file(str(trained.predictor_dir), tmp_path / "missing.csv")
    with pytest.raises(ConfigError, match=r"--labels must be one of \['present', 'all'\]; got 'some'"):
        evaluate_file(str(trained.predictor_dir), data, labels="some")
    kept = evaluate_file(trained.predictor, data, text_column="body", label_column="frame",
                         label_map={"conflict": "escalatory"}, drop_unmapped=True)
    assert set(kept.gold) == {"escalatory"} and kept.averaged == ["escalatory"]


def test_readme_command_runs_as_written(trained, tmp_path: Path):
    """README, "Score a model on another labelled file": the command as a user types it, in a real process."""
    command = readme_command("nlpkit evaluate runs:/<run id>/model --data un_sentences.csv --text-column sentence")
    other_corpus(tmp_path / "source.csv")
    rows = list(csv.DictReader((tmp_path / "source.csv").open()))
    with (tmp_path / "un_sentences.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sentence", "label_name"])
        names = {"conflict": "verbal_conflict", "cooperation": "material_cooperation"}
        writer.writerows([r["body"], names[r["frame"]]] for r in rows)
    argv = shlex.split(command.replace("<run id>", trained.run_id))
    env = {**os.environ, "MLFLOW_TRACKING_URI": trained.tracking_uri}
    out = subprocess.run([str(Path(sys.executable).parent / argv[0]), *argv[1:]], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "over the 2 gold-present labels (escalatory, de_escalatory)" in out.stdout
    assert f"linked to model run {trained.run_id}" in out.stdout
    assert json.loads((tmp_path / "cross" / "evaluation.json").read_text())["n"] == len(rows)


def test_without_a_store_nothing_is_logged_and_no_store_is_created(trained, tmp_path: Path, capsys, monkeypatch):
    data = other_corpus(tmp_path / "other.csv")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    assert main(["evaluate", str(trained.predictor_dir), "--data", str(data), "--text-column", "body",
                 "--label-column", "frame", "--label-map", "conflict=escalatory,cooperation=de_escalatory"]) == 0
    assert "not logged to MLflow (no store: pass --tracking-uri" in capsys.readouterr().out
    assert not (tmp_path / "mlflow.db").exists()
