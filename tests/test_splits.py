"""Split policies, near-duplicate removal, CV folds and per-slice metrics."""

from __future__ import annotations

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from conftest import tiny_rows, write_jsonl
from nlpkit.config import compose, validate
from nlpkit.data import load_data
from nlpkit.errors import ConfigError, DataError
from nlpkit.splits import cv_folds
from nlpkit.train import train


def load(*overrides: str, report: dict | None = None):
    cfg = validate(compose(list(overrides)))
    return load_data(cfg.data, cfg.task, report)


def test_time_split_trains_on_earlier_documents():
    splits = load("data.split.policy=time")
    assert max(splits["train"]["date"]) <= min(splits["validation"]["date"])
    assert max(splits["validation"]["date"]) <= min(splits["test"]["date"])
    assert "test_ood" in splits and set(splits["test_ood"]["region"]) == {"africa", "latin_america"}


def test_pooled_policies_keep_test_ood_out_of_the_pool():
    for policy in ("random", "group", "time"):
        splits = load(f"data.split.policy={policy}")
        pooled = set().union(*(set(splits[s]["region"]) for s in ("train", "validation", "test")))
        assert not pooled & {"africa", "latin_america"}, policy


def test_time_split_needs_a_date_column(tiny_file):
    with pytest.raises(DataError, match=r"needs a date column 'published'"):
        load("data=file", f"data.path={tiny_file}", "data.columns.escalation=label", "data.split.policy=time",
             "data.split.date_column=published")


def test_near_duplicates_are_removed_and_counted(tmp_path):
    rows = tiny_rows(3)
    copies = [dict(r, id=r["id"] + "-copy", text=r["text"] + " Reuters.") for r in rows[:12]]
    path = write_jsonl(tmp_path / "dup.jsonl", rows + copies)
    base = ["data=file", f"data.path={path}", "data.columns.escalation=label", "data.split.seed=3"]
    report: dict = {}
    cleaned = load(*base, "data.split.dedupe=true", "data.split.dedupe_threshold=0.9", report=report)
    raw = load(*base)
    n_raw = len(raw["validation"]) + len(raw["test"])
    assert report["near_duplicates_removed"] > 0
    assert len(cleaned["validation"]) + len(cleaned["test"]) == n_raw - report["near_duplicates_removed"]


def test_dedupe_threshold_is_checked():
    with pytest.raises(ConfigError, match=r"dedupe_threshold must be in \(0, 1\]; got 1.5"):
        validate(compose(["data.split.dedupe_threshold=1.5"]))


def test_cv_folds_are_stratified_disjoint_and_grouped():
    pool = load()["train"]
    folds = list(cv_folds(pool, 5, seed=0, group_column=None))
    assert len(folds) == 5
    held = [i for _, val in folds for i in val]
    assert sorted(held) == list(range(len(pool)))
    grouped = list(cv_folds(pool, 4, seed=0, group_column="source"))
    for train_idx, val_idx in grouped:
        assert not {pool[i]["source"] for i in train_idx} & {pool[i]["source"] for i in val_idx}
    with pytest.raises(ConfigError, match=r"cv.folds must be 0 \(off\) or >= 2; got 1"):
        validate(compose(["cv.folds=1"]))


def test_cross_validation_logs_a_child_per_fold_and_aggregates_on_the_parent(make_cfg, tracking_uri):
    result = train(make_cfg("cv.folds=3", "model.char_ngrams=false", "tracking.log_model=false"))
    client = MlflowClient(tracking_uri)
    parent = client.get_run(result.run_id)
    children = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{result.run_id}'")
    assert sorted(c.info.run_name for c in children) == [f"escalation/tfidf_logreg/seed0/fold{k}" for k in range(3)]
    folds = [c.data.metrics["validation/macro_f1"] for c in children]
    assert parent.data.metrics["validation/macro_f1"] == pytest.approx(sum(folds) / 3)
    assert any(k.endswith("validation/macro_f1/ci_low") for k in parent.data.metrics)
    assert parent.info.status == "FINISHED"


def test_slice_tables_are_written_and_logged(make_cfg, tracking_uri):
    result = train(make_cfg("model.char_ngrams=false", "tracking.log_model=false"))
    table = pd.read_csv(result.output_dir / "slices" / "test.csv")
    assert set(table["slice"]) == {"source_type", "region", "length"}
    for column in ("source_type", "region", "length"):
        assert table[table.slice == column]["support"].sum() == result.metrics["test/n"]
    assert set(table[table.slice == "length"]["value"]) <= {"<150", "150-249", ">=250"}
    files = {f.path for f in MlflowClient(tracking_uri).list_artifacts(result.run_id, "slices")}
    assert "slices/test_ood.csv" in files
