"""Stratified group splits (one or several group columns) reach their target shares; ``validation_size=0``
keeps no validation split and is refused where a run needs one; the achieved shares are printed and logged."""

from __future__ import annotations

import random

import numpy as np
import pytest
from mlflow.tracking import MlflowClient

from conftest import file_overrides, tiny_rows, write_jsonl
from nlpkit.config import compose, validate
from nlpkit.data import load_data
from nlpkit.errors import ConfigError, DataError
from nlpkit.group_split import assign
from nlpkit.predict import Predictor
from nlpkit.prevalence_data import VALIDATION_FILE
from nlpkit.splits import cv_folds
from nlpkit.train import format_results, train

TARGET = {"train": 0.65, "validation": 0.15, "test": 0.2}  # the default validation_size/test_size


def load(*overrides: str, report: dict | None = None):
    cfg = validate(compose(list(overrides)))
    return load_data(cfg.data, cfg.task, report)


def synthetic(n_groups: int = 80, seed: int = 0) -> tuple[list[str], list[str]]:
    """Groups of very different sizes (1 to ~60 documents) whose class mix differs from group to group."""
    rng = random.Random(seed)
    groups, labels = [], []
    for g in range(n_groups):
        size = int(rng.paretovariate(1.2)) + rng.randint(0, 5)
        mix = [rng.random() ** 2 for _ in range(3)]
        for _ in range(min(size, 60)):
            groups.append(f"g{g}")
            labels.append(rng.choices(["a", "b", "c"], weights=mix)[0])
    return groups, labels


def worst_gap(rows: dict[str, np.ndarray], labels: list[str]) -> float:
    """The largest distance of a split's document share or per-class share from its target."""
    y = np.asarray(labels)
    gaps = []
    for name, index in rows.items():
        gaps.append(abs(len(index) / len(y) - TARGET[name]))
        gaps += [abs(np.sum(y[index] == c) / np.sum(y == c) - TARGET[name]) for c in set(labels)]
    return max(gaps)


def test_stratified_group_assignment_reaches_the_target_shares_on_synthetic_data():
    groups, labels = synthetic()
    for seed in range(3):
        rows = assign(groups, labels, TARGET, seed)
        owner = {}
        for name, index in rows.items():
            for i in index:
                assert owner.setdefault(groups[i], name) == name  # a group lies in one split only
        assert sorted(np.concatenate(list(rows.values()))) == list(range(len(groups)))
        assert worst_gap(rows, labels) < 0.03, seed
    assert set(assign(groups, labels, TARGET, 0)["test"]) != set(assign(groups, labels, TARGET, 1)["test"])


def test_group_split_on_the_embedded_corpus_is_close_to_target_by_source():
    for seed in (0, 1):
        report: dict = {}
        splits = load("data.split.policy=group", "data.split.group_column=source", f"data.split.seed={seed}",
                      report=report)
        sources = [set(splits[name]["source"]) for name in TARGET]
        assert not (sources[0] & sources[1] or sources[0] & sources[2] or sources[1] & sources[2])
        assert abs(report["share/test"] - 0.2) < 0.015 and abs(report["share/validation"] - 0.15) < 0.015
        for label in ("escalatory", "de_escalatory", "neutral"):
            assert abs(report[f"share/test/{label}"] - 0.2) < 0.035, (seed, label)
        pool = sum(len(splits[name]) for name in TARGET)  # test_ood is held out as it is, not divided
        assert report["share/test"] == pytest.approx(len(splits["test"]) / pool)


def test_group_split_over_several_columns_keeps_each_joint_group_in_one_split(tmp_path):
    rows = [{**r, "text": f"{r['text']} {random.Random(i).random()}", "period": f"q{i % 4}"}
            for i, r in enumerate(tiny_rows(8))]
    data = write_jsonl(tmp_path / "d.jsonl", rows)
    splits = load(*file_overrides(data, "data.split.policy=group", "data.split.group_column=[source,period]"))
    joint = {name: {(s, p) for s, p in zip(part["source"], part["period"])} for name, part in splits.items()}
    assert not (joint["train"] & joint["test"] or joint["train"] & joint["validation"]
                or joint["validation"] & joint["test"])
    assert len(set().union(*(set(part["source"]) for part in splits.values()))) == 6
    assert set(splits["train"]["source"]) & set(splits["test"]["source"])  # a source alone is not the group
    folds = list(cv_folds(splits["train"], 3, seed=0, group_column=["source", "period"]))
    part = splits["train"]
    for train_idx, val_idx in folds:
        seen = {(part[i]["source"], part[i]["period"]) for i in train_idx}
        assert not seen & {(part[i]["source"], part[i]["period"]) for i in val_idx}


def test_group_column_must_be_a_column_or_a_list_of_them(tiny_file):
    with pytest.raises(ConfigError, match=r"data\.split\.group_column must be a column name or a non-empty list"):
        validate(compose(["data.split.group_column=[]"]))
    with pytest.raises(DataError, match=r"needs a group column 'outlet'"):
        load(*file_overrides(tiny_file, "data.split.policy=group", "data.split.group_column=[source,outlet]"))


@pytest.mark.parametrize("policy", ["random", "group", "time"])
def test_validation_size_zero_keeps_no_validation_split(policy):
    report: dict = {}
    splits = load(f"data.split.policy={policy}", "data.split.validation_size=0", report=report)
    assert "validation" not in splits and {"train", "test", "test_ood"} <= set(splits)
    assert abs(report["share/test"] - 0.2) < 0.02 and abs(report["share/train"] - 0.8) < 0.02


def test_validation_size_zero_is_refused_where_the_run_needs_validation_data():
    with pytest.raises(ConfigError, match=r"data\.split\.validation_size must be > 0 with model\.calibration=isotonic "
                                          r"\(the calibrator is fitted on the validation split\); got 0\. Fix: "):
        validate(compose(["data.split.policy=random", "data.split.validation_size=0", "model.calibration=isotonic"]))
    with pytest.raises(ConfigError, match=r"> 0 for early stopping when model\.validation_fraction=0.*"
                                          r"Fix: set model\.validation_fraction=0\.1"):
        validate(compose(["data.split.policy=random", "data.split.validation_size=0", "model=finetune",
                          "model.validation_fraction=0"]))
    validate(compose(["data.split.policy=random", "data.split.validation_size=0", "model=finetune"]))  # holds out 10%


def test_a_run_without_validation_logs_where_the_data_went(make_cfg, tracking_uri, tiny_file):
    result = train(make_cfg(*file_overrides(tiny_file, "data.split.validation_size=0", "tracking.log_model=false")))
    assert not any(key.startswith("validation/") for key in result.metrics)
    assert np.isnan(result.primary)
    assert VALIDATION_FILE not in Predictor.load(result.predictor_dir).data_files  # prevalence needs --validation
    assert "data: train 28 (77.8%) | test 8 (22.2%)" in format_results(result)
    run = MlflowClient(tracking_uri).get_run(result.run_id)
    assert (run.data.params["data.n_train"], run.data.params["data.n_test"]) == ("28", "8")
    assert run.data.metrics["data/share/test"] == pytest.approx(8 / 36)
    for label in ("escalatory", "de_escalatory", "neutral"):  # 12 documents each: shares of a class sum to 1
        test_share = run.data.metrics[f"data/share/test/{label}"]
        assert test_share * 12 == pytest.approx(round(test_share * 12)) and 0 < test_share < 0.5
        assert test_share + run.data.metrics[f"data/share/train/{label}"] == pytest.approx(1.0)
