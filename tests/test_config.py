"""Every config composes; typos and wrong types fail at start-up naming the key."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hydra.errors import ConfigCompositionException
from omegaconf import OmegaConf

from conftest import require_extra
from nlpkit.config import compose, config_dir, validate
from nlpkit.errors import ConfigError

GROUPS = {g: sorted(p.stem for p in (Path(config_dir()) / g).glob("*.yaml")) for g in ("task", "data", "model", "tracking")}


def test_config_groups_are_complete():
    assert GROUPS["task"] == ["custom", "escalation", "stance", "topic"]
    assert {"tfidf_logreg", "tfidf_svm"} <= set(GROUPS["model"])
    assert {"newswire", "file", "hub", "disk"} <= set(GROUPS["data"])
    assert {"local", "server", "off"} <= set(GROUPS["tracking"])


PRESETS = {"tfidf_fast": "tfidf_svm.v1", "finetune_tfidf": "blend.v1"}  # model configs that are settings of a family, not a family


@pytest.mark.parametrize("task,model,tracking", itertools.product(GROUPS["task"], GROUPS["model"], GROUPS["tracking"]))
def test_every_task_model_tracking_combination_composes_and_validates(task, model, tracking):
    custom = ["task.name=mine", "task.labels=[a,b]"] if task == "custom" else []  # task=custom requires both
    cfg = validate(compose([f"task={task}", f"model={model}", f"tracking={tracking}", *custom]))
    assert cfg.task.label_column == ("label" if custom else task)
    assert cfg.model.kind == PRESETS.get(model, f"{model}.v1")  # a preset names another family's kind
    assert (cfg.task.target_field == "target") == (task == "stance")


@pytest.mark.parametrize("data", GROUPS["data"])
def test_every_data_config_composes(data):
    cfg = compose([f"data={data}"] + (["data.path=/some/where"] if data != "newswire" else []))
    assert validate(cfg).data.name


def test_default_config_is_escalation_on_the_embedded_corpus():
    cfg = validate(compose())
    assert (cfg.task.name, cfg.data.name, cfg.model.kind) == ("escalation", "newswire", "tfidf_logreg.v1")
    assert list(cfg.task.labels) == ["escalatory", "de_escalatory", "neutral"]


def test_misspelt_key_fails_at_composition_naming_the_key():
    with pytest.raises(ConfigCompositionException, match="model.Cc"):
        compose(["model.Cc=2"])


def test_wrong_type_fails_at_composition_naming_the_key():
    with pytest.raises(ConfigCompositionException, match=r"^Error merging override model\.C=lots$") as raised:
        compose(["model.C=lots"])
    cause = str(raised.value.__cause__)
    assert "Value 'lots' of type 'str' could not be converted to Float" in cause and "full_key: model.C\n" in cause


def test_enum_value_outside_choices_fails():
    with pytest.raises(ConfigCompositionException, match=r"^Error merging override data\.split\.policy=sometimes$") as raised:
        compose(["data.split.policy=sometimes"])
    cause = str(raised.value.__cause__)
    assert "Invalid value 'sometimes', expected one of [predefined, random, group, time]" in cause
    assert "full_key: data.split.policy\n" in cause


def test_added_unknown_key_is_rejected_by_validate():
    cfg = compose(["+model.newkey=1"])
    with pytest.raises(ConfigError, match=r"model\.newkey"):
        validate(cfg)


def test_unknown_model_kind_lists_the_available_ones():
    cfg = compose(["model.kind=bert_magic.v1"])
    with pytest.raises(ConfigError, match=r"^model\.kind must be one of \['blend\.v1', 'embed_logreg\.v1', "
                       r"'finetune\.v1', 'tfidf_logreg\.v1', 'tfidf_mlp\.v1', 'tfidf_svm\.v1'\]; got 'bert_magic\.v1'\. Fix: "):
        validate(cfg)


def test_bad_split_fraction_names_the_key():
    with pytest.raises(ConfigError, match=r"validation_size \+ data\.split\.test_size must be < 1.*got 0\.15 \+ 0\.9"):
        validate(compose(["data.split.test_size=0.9"]))
    with pytest.raises(ConfigError, match=r"data\.split\.validation_size must be a float in \[0, 1\); got -0\.1"):
        validate(compose(["data.split.validation_size=-0.1"]))


def test_values_are_range_checked_with_the_full_key_and_a_suggestion():
    with pytest.raises(ConfigError, match=r"^model\.C must be a float > 0; got -3\.0\. Fix: e\.g\. model\.C=1\.0\.$"):
        validate(compose(["model.C=-3"]))
    with pytest.raises(ConfigError, match=r"model\.finetune\.class_weight must be one of balanced, null; got 'balancd'\. "
                                          r"Fix: did you mean model\.finetune\.class_weight=balanced\?"):
        validate(compose(["model=finetune_tfidf", "model.finetune.class_weight=balancd"]))
    assert validate(compose(["model.C=0.01", "model.class_weight=null", "model.max_features=null"])).model.C == 0.01


def test_dedupe_accepts_the_old_booleans():
    assert validate(compose(["data.split.dedupe=true"])).data.split.dedupe == "drop"
    assert validate(compose(["data.split.dedupe=false"])).data.split.dedupe == "keep"
    assert validate(compose([])).data.split.dedupe == "drop"


def test_config_round_trips_through_yaml():
    cfg = validate(compose(["task=stance", "model=tfidf_svm", "seed=4"]))
    again = validate(OmegaConf.create(OmegaConf.to_yaml(cfg)))
    assert again == cfg


def test_missing_required_value_is_named():
    with pytest.raises(ConfigError, match=r"data.source=file needs data.path"):
        validate(compose(["data=file"]))


EXPERIMENTS = sorted(p.stem for p in (Path(config_dir()) / "experiment").glob("*.yaml"))


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_composes(experiment):
    cfg = validate(compose([f"experiment={experiment}"]))
    assert cfg.tracking.experiment.startswith("study-")


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_every_experiment_smoke_runs_with_tiny_caps(experiment, tmp_path):
    import os
    import subprocess
    import sys

    from mlflow.tracking import MlflowClient

    study = OmegaConf.load(Path(config_dir()) / "experiment" / f"{experiment}.yaml")
    swept = str(OmegaConf.select(study, "hydra.sweeper.params.model", default=""))
    if any(kind in swept for kind in ("embed_logreg", "finetune")):  # an encoder family among the swept models
        require_extra("transformers", "torch", "transformers")

    uri = f"sqlite:///{tmp_path / 'smoke.db'}"
    bin_dir = Path(sys.executable).parent
    out = subprocess.run(
        [str(bin_dir / "nlpkit-train"), f"experiment={experiment}", "hydra.sweeper.params.seed=0",
         "data.max_rows=150", f"tracking.uri={uri}"],
        cwd=tmp_path, capture_output=True, text=True, timeout=600,
        env={**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name(f"study-{experiment.replace('_', '-')}").experiment_id])
    assert sum(r.data.tags.get("nlpkit.sweep") == "true" for r in runs) == 1
    assert all(r.info.status == "FINISHED" for r in runs)
