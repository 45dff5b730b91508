"""Your own data, first time right: the README's and file.yaml's own-data commands run as written (real
``nlpkit-train`` processes, a real CSV, a real sqlite MLflow store in the launch folder), ``task=custom`` names
the experiment and runs after the task, and every label-map hint nlpkit prints is a form Hydra accepts."""

from __future__ import annotations

import csv
import json
import os
import random
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from omegaconf import OmegaConf

from conftest import ROOT, readme_command
from nlpkit.config import compose, validate
from nlpkit.data import label_map_hint, load_data
from nlpkit.errors import ConfigError, DataError

WORDS = {  # one vocabulary per raw label, plus shared words: distinct documents, no near-duplicates
    "conflict": "shelling strike missiles offensive mobilised ultimatum artillery raid troops attack threat border",
    "cooperation": "ceasefire talks agreement truce negotiators hotline exchange accord withdrawal dialogue calm",
    "statement": "ministry schedule budget session statistics published annual quarter officials debate report",
}
SHARED = "the a of and in on to said today region government".split()


def own_rows(n_per_label: int = 14, seed: int = 0) -> list[dict]:
    """Synthetic documents (columns ``body``, ``frame``, ``source``) drawn from per-label vocabularies."""
    rng = random.Random(seed)
    rows = []
    for label, vocab in WORDS.items():
        for i in range(n_per_label):
            words = rng.sample(vocab.split(), 6) + rng.sample(SHARED, 4)
            rng.shuffle(words)
            rows.append({"body": " ".join(words) + f" {label[:3]}{i}x{rng.randint(0, 10**6)}", "frame": label,
                         "source": f"outlet{i % 7}"})
    return rows


def write_csv(path: Path, rows: list[dict]) -> Path:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return path


def shell_commands(text: str) -> list[list[str]]:
    """The ``nlpkit-train`` commands in ``text`` (backslash continuations joined; ``#`` comments removed)."""
    joined = re.sub(r"\\\n\s*(#\s*)?", " ", text)
    lines = [line.strip().lstrip("# ") for line in joined.splitlines()]  # a YAML comment's command too
    return [shlex.split(line, comments=True) for line in lines if line.startswith("nlpkit-train ")]


def readme_block(after: str) -> str:
    """The first ```bash block of README.md after the line containing ``after``."""
    readme = (ROOT / "README.md").read_text()
    start = readme.index(after)
    block = re.search(r"```bash\n(.*?)```", readme[start:], re.S)
    return block.group(1)


def run_train(argv: list[str], cwd: Path, replace: dict[str, str]) -> subprocess.CompletedProcess:
    """Run ``nlpkit-train`` with ``argv`` as written, only the example paths replaced, in ``cwd``."""
    args = []
    for arg in argv[1:]:
        key, _, value = arg.partition("=")
        args.append(f"{key}={replace[value]}" if value in replace else arg)
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true", "PYTHONPATH": str(ROOT)}
    env.pop("MLFLOW_TRACKING_URI", None)
    code = "import sys; from nlpkit.train import main; sys.argv[0] = 'nlpkit-train'; main()"
    return subprocess.run([sys.executable, "-c", code, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def only_run(store: Path) -> tuple[MlflowClient, object, object]:
    client = MlflowClient(f"sqlite:///{store}")
    experiments = [e for e in client.search_experiments() if e.name != "Default"]
    assert len(experiments) == 1, [e.name for e in experiments]
    runs = client.search_runs([experiments[0].experiment_id])
    assert len(runs) == 1 and runs[0].info.status == "FINISHED"
    return client, experiments[0], runs[0]


def test_readme_own_data_command_runs_as_written(tmp_path):
    [argv] = shell_commands(readme_block("Your own data, with a column and label mapping"))
    assert argv == shlex.split(readme_command("nlpkit-train data=file data.path=/data/news.csv"))  # test_readme's registry
    assert "data.label_map={conflict: escalatory, cooperation: de_escalatory, statement: neutral}" in argv
    data = write_csv(tmp_path / "news.csv", own_rows())
    done = run_train(argv, tmp_path, {"/data/news.csv": str(data)})
    assert done.returncode == 0, done.stderr[-3000:]
    assert re.search(r"data: train \d+ \(\d+\.\d%\) \| validation \d+ \(1\d\.\d%\) \| test \d+ \(\d+\.\d%\)", done.stdout)
    _, experiment, run = only_run(tmp_path / "mlflow.db")
    assert experiment.name == "escalation" and run.data.params["data.label_map.conflict"] == "escalatory"
    assert 0.15 <= run.data.metrics["data/share/test"] <= 0.25 and run.data.metrics["test/n"] > 0


def test_file_yaml_example_command_runs_as_written(tmp_path):
    [argv] = shell_commands((ROOT / "configs" / "data" / "file.yaml").read_text())
    assert "data.label_map.conflict=escalatory" in argv  # the dotted form, without '+'
    data = write_csv(tmp_path / "news.csv", own_rows(seed=1))
    done = run_train(argv, tmp_path, {"/data/news.csv": str(data)})
    assert done.returncode == 0, done.stderr[-3000:]
    _, _, run = only_run(tmp_path / "mlflow.db")
    assert run.data.params["data.label_map.statement"] == "neutral" and run.data.params["data.columns.text"] == "body"


def test_readme_custom_task_command_names_the_experiment_and_tags_the_run(tmp_path):
    [argv] = shell_commands(readme_block("Your own labels"))
    assert argv == shlex.split(readme_command("nlpkit-train task=custom task.name=un_confrontation"))
    codes = {"conflict": 1, "cooperation": 2, "statement": 3}
    rows = [{"speech": r["body"], "code": codes[r["frame"]]} for r in own_rows(seed=2)]
    data = write_csv(tmp_path / "speeches.csv", rows)
    done = run_train(argv, tmp_path, {"/data/speeches.csv": str(data)})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "task=un_confrontation" in done.stdout
    _, experiment, run = only_run(tmp_path / "mlflow.db")
    assert experiment.name == "un_confrontation"
    # the experiment names the task; the run's name leads with what tells runs apart in it (data, model)
    assert run.info.run_name.startswith("speeches/tfidf_logreg") and "escalation" not in run.info.run_name
    assert run.data.params["task.name"] == "un_confrontation" and run.data.tags["task"] == "un_confrontation"
    assert run.data.params["task.labels"] == '["confrontational", "cooperative", "neutral"]'


def test_custom_task_needs_a_name_and_labels_and_says_how():
    with pytest.raises(ConfigError, match=r"Missing required config value\(s\): \['task\.labels', 'task\.name'\]\. "
                                          r"Fix: set them on the command line, e\.g\. `nlpkit-train task=custom") as err:
        validate(compose(["task=custom", "data=file", "data.path=x.csv"]))
    hinted = shlex.split(re.search(r"`nlpkit-train (.*)`", str(err.value)).group(1))
    cfg = validate(compose(["data=file", "data.path=x.csv", *hinted]))  # the hint composes as printed
    assert (cfg.task.name, list(cfg.task.labels)) == ("my_task", ["label_a", "label_b"])
    with pytest.raises(ConfigError, match=r"task\.name must be a short name .*; got 'my task'"):
        validate(compose(["task=custom", "task.name=my task", "task.labels=[a,b]"]))


def test_both_label_map_and_columns_forms_compose():
    forms = [
        ["data.label_map.conflict=escalatory", "data.columns.text=body"],
        ["data.label_map={conflict: escalatory}", "data.columns={text: body}"],
        ["+data.label_map.conflict=escalatory", "+data.columns.text=body"],  # the old form keeps working
    ]
    for overrides in forms:
        cfg = validate(compose(["data=file", "data.path=x.csv", *overrides]))
        assert dict(cfg.data.label_map) == {"conflict": "escalatory"} and dict(cfg.data.columns) == {"text": "body"}


def test_a_misspelt_column_field_fails_naming_the_closest_field():
    with pytest.raises(ConfigError, match=r"data\.columns\.txet names no field nlpkit reads; expected one of .*"
                                          r"Fix: did you mean data\.columns\.text=<your column>\?"):
        validate(compose(["data=file", "data.path=x.csv", "data.columns.txet=body"]))


@pytest.mark.parametrize("raw", ["conflict", "Left-Center", "4", "material conflict", "a.b", "2.5", "1e3", "true"])
def test_every_label_map_hint_is_an_override_that_composes(tmp_path, raw):
    rows = [{"text": f"document {i} {w}", "label": lab} for i, (w, lab) in
            enumerate([("x", "escalatory"), ("y", "neutral"), ("z", raw)] * 4)]
    data = tmp_path / "d.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))  # JSON keeps every label a string
    base = ["data=file", f"data.path={data}", "data.columns.escalation=label", "data.split.dedupe=keep"]
    cfg = validate(compose(base))
    with pytest.raises(DataError, match=r"outside the task's labels") as err:
        load_data(cfg.data, cfg.task)
    hint = re.search(r"Fix: map them, e\.g\. (.*?), or set data\.drop_unmapped", str(err.value)).group(1)
    assert hint == label_map_hint(raw, "escalatory")
    if hint.startswith("label_map: "):  # no override keeps this label as text: the data config file's form
        snippet = re.match(r"label_map: (\{.*\}) in a data config file", hint).group(1)
        cfg = validate(OmegaConf.merge(compose(base), {"data": {"label_map": OmegaConf.create(snippet)}}))
    else:
        [override] = shlex.split(hint)  # as a shell passes it
        cfg = validate(compose([*base, override]))
    assert {str(k): v for k, v in cfg.data.label_map.items()} == {raw: "escalatory"}
    assert set(load_data(cfg.data, cfg.task)["train"]["label"]) <= {"escalatory", "neutral"}


@pytest.mark.parametrize("which", [0, 1], ids=["group-over-two-columns", "no-validation-split"])
def test_readme_split_commands_run_as_written(tmp_path, which):
    commands = shell_commands(readme_block("Every run prints and logs"))
    assert len(commands) == 2
    registered = [readme_command("nlpkit-train data.split.policy=group 'data.split.group_column=[source,date]'"),
                  readme_command("nlpkit-train data.split.policy=random data.split.validation_size=0")]
    assert commands[which] == shlex.split(registered[which])  # test_readme's registry
    done = run_train(commands[which], tmp_path, {})
    assert done.returncode == 0, done.stderr[-3000:]
    _, _, run = only_run(tmp_path / "mlflow.db")
    shares = {name: run.data.metrics.get(f"data/share/{name}") for name in ("train", "validation", "test")}
    if which == 0:
        assert run.data.params["data.split.group_column"] == '["source", "date"]'
        assert abs(shares["test"] - 0.2) < 0.02 and abs(shares["validation"] - 0.15) < 0.02
    else:
        assert shares["validation"] is None and abs(shares["test"] - 0.2) < 0.01
        assert "validation/macro_f1" not in run.data.metrics and "data.n_validation" not in run.data.params
    assert re.search(r"data: train \d+ \(\d+\.\d%\) \|", done.stdout)
