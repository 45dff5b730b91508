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


def leaky_files(tmp_path, target: bool = False) -> list[str]:
    """One copy of the tiny set to train on; a test file with two new documents, an exact copy (re-cased,
    re-spaced), and a near copy (a sentence added) of training documents."""
    rows = tiny_rows(1)
    fresh = [dict(rows[0], id="n0", title="", text="Rockets hit the airfield as the offensive widened"),
             dict(rows[4], id="n1", title="", text="Envoys signed a framework accord to end the fighting")]
    exact = dict(rows[1], title=rows[1]["title"].upper(), text="  " + rows[1]["text"].upper().replace(" ", "   "))
    near = dict(rows[5], text=rows[5]["text"] + " Officials confirmed the account on Monday.")
    if target:
        exact["target"] = "the talks"  # the same text about another target is not a duplicate for stance
    write_jsonl(tmp_path / "tr.jsonl", rows)
    write_jsonl(tmp_path / "va.jsonl", [dict(rows[8], id="v0", title="", text="The committee approved the agenda")])
    write_jsonl(tmp_path / "te.jsonl", fresh + [exact, near])
    return ["data=file", f"+data.files.train={tmp_path / 'tr.jsonl'}", f"+data.files.validation={tmp_path / 'va.jsonl'}",
            f"+data.files.test={tmp_path / 'te.jsonl'}", "data.columns.escalation=label", "data.split.policy=predefined"]


def test_duplicates_of_training_documents_are_dropped_by_default_and_counted(tmp_path):
    report: dict = {}
    splits = load(*leaky_files(tmp_path), report=report)
    assert report["duplicates_exact"] == 1 and report["duplicates_near"] == 1 and report["duplicates_dropped"] == 2
    assert report["duplicates/test"] == 2 and report["duplicates/validation"] == 0
    assert sorted(splits["test"]["id"]) == ["n0", "n1"]


@pytest.mark.parametrize("policy", ["keep", "false"])
def test_keep_counts_and_warns_but_keeps(tmp_path, caplog, policy):
    report: dict = {}
    splits = load(*leaky_files(tmp_path), f"data.split.dedupe={policy}", report=report)
    assert len(splits["test"]) == 4 and report["duplicates_dropped"] == 0
    assert report["duplicates_exact"] + report["duplicates_near"] == 2
    assert "2 evaluation document(s) duplicate a training document (1 exact, 1 near" in caplog.text


def test_error_policy_refuses_with_counts_and_an_example(tmp_path):
    with pytest.raises(DataError, match=r"2 evaluation document\(s\) duplicate a training document \(1 exact, 1 near "
                                        r"with TF-IDF cosine > 0\.8.*e\.g\. test row 2 ~ train row 1"):
        load(*leaky_files(tmp_path), "data.split.dedupe=error")
    with pytest.raises(DataError, match=r"1 evaluation document\(s\) duplicate a training document \(1 exact, 0 near"):
        load(*leaky_files(tmp_path), "data.split.dedupe=error", "data.split.dedupe_threshold=0.99")


def test_stance_duplicates_need_the_same_target(tmp_path):
    report: dict = {}
    load(*leaky_files(tmp_path, target=True), "task=stance", "data.columns.escalation=null", "data.columns.stance=label",
         "task.labels=[escalatory,de_escalatory,neutral]", "data.split.dedupe=keep", report=report)
    assert report["duplicates_exact"] == 0 and report["duplicates_near"] == 1


def test_the_embedded_corpus_has_no_duplicates_across_its_splits():
    report: dict = {}
    splits = load(report=report)
    assert report["duplicates_exact"] == report["duplicates_near"] == report["duplicates_dropped"] == 0
    assert {name: len(part) for name, part in splits.items()} == {"train": 378, "validation": 72, "test": 90, "test_ood": 140}


def test_near_duplicate_search_matches_the_all_pairs_product():
    import numpy as np
    from sklearn.feature_extraction.text import TfidfVectorizer

    from nlpkit.duplicates import _Vectors

    splits = load("data.split.dedupe=keep")
    train, other = list(splits["train"]["text"]), list(splits["test"]["text"]) + list(splits["test_ood"]["text"])
    other += [" ".join(t.split()[::2]) for t in train[:20]] + [t + " Reuters." for t in train[20:40]]
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True).fit(train)
    sims = (vectorizer.transform(other) @ vectorizer.transform(train).T).toarray().max(axis=1)
    for threshold in (0.3, 0.6, 0.8, 0.95):
        found = _Vectors(train, threshold).matches(other, None, None) >= 0
        assert np.array_equal(found, sims > threshold), threshold
        assert found.sum() > 0


def test_dedupe_threshold_is_checked():
    with pytest.raises(ConfigError, match=r"data\.split\.dedupe_threshold must be a float in \(0, 1\]; got 1\.5"):
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
    with pytest.raises(ConfigError, match=r"cv\.folds must be 0 \(off\) or an integer >= 2; got 1"):
        validate(compose(["cv.folds=1"]))


def test_cross_validation_logs_a_child_per_fold_and_aggregates_on_the_parent(make_cfg, tracking_uri):
    result = train(make_cfg("cv.folds=3", "model.char_ngrams=false", "tracking.log_model=false"))
    client = MlflowClient(tracking_uri)
    parent = client.get_run(result.run_id)
    children = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{result.run_id}'")
    assert sorted(c.info.run_name for c in children) == [f"newswire/tfidf_logreg/s0/fold{k}" for k in range(3)]
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
