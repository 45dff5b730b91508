"""Data loading through `datasets`, validation errors (the bad-input matrix) and split policies."""

from __future__ import annotations


import pandas as pd
import pytest
from datasets import Dataset, DatasetDict

from conftest import file_overrides, tiny_rows, write_jsonl
from nlpkit.config import compose, validate
from nlpkit.data import dataset_digest, load_data, model_inputs
from nlpkit.errors import DataError


def load(*overrides: str):
    """Load with ``data.split.dedupe=keep``: tiny_rows repeats 12 texts three times, near-duplicates by design
    (the dedupe policies have their own tests in test_splits.py; the embedded corpus has no duplicates)."""
    cfg = validate(compose(["data.split.dedupe=keep", *overrides]))
    return load_data(cfg.data, cfg.task)


def test_embedded_corpus_loads_with_its_fixed_splits():
    splits = load()
    assert {"train", "validation", "test", "test_ood"} <= set(splits)
    assert all(set(part["label"]) <= {"escalatory", "de_escalatory", "neutral"} for part in splits.values())
    assert splits["train"]["text"][0].count("\n\n") >= 1  # title and body joined


def test_stance_inputs_are_target_text_pairs():
    splits = load("task=stance")
    pairs = model_inputs(splits["test"])
    assert all(isinstance(p, tuple) and len(p) == 2 and p[0] and p[1] for p in pairs)
    assert isinstance(model_inputs(load("task=topic")["test"])[0], str)


@pytest.mark.parametrize("suffix", ["csv", "jsonl", "parquet"])
def test_file_formats_load_through_datasets(tmp_path, suffix):
    frame = pd.DataFrame(tiny_rows())
    path = tmp_path / f"data.{suffix}"
    {"csv": lambda: frame.to_csv(path, index=False), "jsonl": lambda: write_jsonl(path, tiny_rows()),
     "parquet": lambda: frame.to_parquet(path)}[suffix]()
    splits = load(*file_overrides(path))
    assert sum(len(p) for p in splits.values()) == len(frame)
    assert set(splits) == {"train", "validation", "test"}


def test_label_map_maps_raw_values(tmp_path):
    rows = tiny_rows()
    codes = {"escalatory": 4, "de_escalatory": 1, "neutral": 0}
    for r in rows:
        r["label"] = codes[r["label"]]
    path = write_jsonl(tmp_path / "coded.jsonl", rows)
    splits = load(*file_overrides(path, "+data.label_map.4=escalatory", "+data.label_map.1=de_escalatory",
                                  "+data.label_map.0=neutral"))
    assert set(splits["train"]["label"]) == {"escalatory", "de_escalatory", "neutral"}


def test_saved_to_disk_dataset_uses_its_own_splits(tmp_path):
    rows = tiny_rows()
    DatasetDict(train=Dataset.from_list(rows[:24]), test=Dataset.from_list(rows[24:])).save_to_disk(tmp_path / "ds")
    splits = load("data=disk", f"data.path={tmp_path / 'ds'}", "data.columns.escalation=label")
    assert len(splits["test"]) == 12 and len(splits["train"]) + len(splits["validation"]) == 24


def test_per_split_files(tmp_path):
    rows = tiny_rows()
    train, test = write_jsonl(tmp_path / "tr.jsonl", rows[:24]), write_jsonl(tmp_path / "te.jsonl", rows[24:])
    splits = load("data=file", f"+data.files.train={train}", f"+data.files.test={test}",
                  "data.columns.escalation=label", "data.split.policy=predefined")
    assert len(splits["test"]) == 12


# ---- the bad-input matrix: each error names the file/column/value and the fix -------------------------

def test_missing_text_column(tmp_path):
    path = write_jsonl(tmp_path / "x.jsonl", [{k: v for k, v in r.items() if k != "text"} for r in tiny_rows()])
    with pytest.raises(DataError, match=r"x\.jsonl has no text column 'text'.*Columns found.*data\.columns\.text="):
        load(*file_overrides(path))


def test_missing_label_column(tmp_path, tiny_file):
    with pytest.raises(DataError, match=r"has no label column 'escalation'.*Fix: map your column with data\.columns\.escalation="):
        load("data=file", f"data.path={tiny_file}")


def test_mapped_column_that_does_not_exist(tiny_file):
    with pytest.raises(DataError, match=r"data\.columns\.escalation='lable'.*no column 'lable'.*Columns found"):
        load("data=file", f"data.path={tiny_file}", "data.columns.escalation=lable")


def test_empty_texts(tmp_path):
    rows = tiny_rows()
    rows[3]["text"] = "   "
    path = write_jsonl(tmp_path / "x.jsonl", rows)
    with pytest.raises(DataError, match=r"1 row\(s\) have an empty text in column 'text' \(first rows: \[3\]; 0-based.*Fix"):
        load(*file_overrides(path))


def test_labels_outside_the_configured_set(tmp_path):
    rows = tiny_rows()
    rows[0]["label"] = "escalating"
    path = write_jsonl(tmp_path / "x.jsonl", rows)
    with pytest.raises(DataError, match=r"label\(s\) \['escalating'\] outside the task's labels.*data\.label_map"):
        load(*file_overrides(path))
    splits = load(*file_overrides(path, "data.drop_unmapped=true"))
    assert sum(len(p) for p in splits.values()) == len(rows) - 1


def test_missing_labels(tmp_path):
    rows = tiny_rows()
    rows[5]["label"] = None
    path = write_jsonl(tmp_path / "x.jsonl", rows)
    with pytest.raises(DataError, match=r"1 row\(s\) have no label in column 'escalation' \(first rows: \[5\]\)"):
        load(*file_overrides(path))


def test_fewer_than_two_classes(tmp_path):
    rows = [r for r in tiny_rows() if r["label"] == "neutral"]
    train = write_jsonl(tmp_path / "tr.jsonl", rows)
    test = write_jsonl(tmp_path / "te.jsonl", tiny_rows(1))
    with pytest.raises(DataError, match=r"training split has only 1 class\(es\) \{'neutral': \d+\}.*needs at least two"):
        load("data=file", f"+data.files.train={train}", f"+data.files.test={test}", "data.columns.escalation=label",
             "data.split.policy=predefined")


def test_class_too_small_for_a_stratified_split(tmp_path):
    rows = [r for r in tiny_rows() if r["label"] != "neutral"] + [tiny_rows()[8]]
    path = write_jsonl(tmp_path / "x.jsonl", rows)
    with pytest.raises(DataError, match=r"class 'neutral' has 1 example\(s\); a stratified .* needs at least 3"):
        load(*file_overrides(path))


def test_missing_file_and_unknown_format(tmp_path):
    with pytest.raises(DataError, match=r"does not exist"):
        load("data=file", f"data.path={tmp_path / 'nope.csv'}")
    odd = tmp_path / "data.xlsx"
    odd.write_text("x")
    with pytest.raises(DataError, match=r"data\.xlsx'.*expected one file format.*got suffixes \['\.xlsx'\]"):
        load("data=file", f"data.path={odd}")


def test_unknown_embedded_corpus():
    with pytest.raises(DataError, match=r"No embedded corpus named 'nope'; available: \['newswire'\]"):
        load("data.name=nope")


def test_predefined_policy_without_a_split_column(tiny_file):
    with pytest.raises(DataError, match=r"needs a split column 'split'.*data\.split\.policy=random"):
        load(*file_overrides(tiny_file, "data.split.policy=predefined"))


def test_group_split_needs_its_column(tiny_file):
    with pytest.raises(DataError, match=r"needs a group column 'outlet'"):
        load(*file_overrides(tiny_file, "data.split.policy=group", "data.split.group_column=outlet"))


# ---- split policies -----------------------------------------------------------------------------------

def test_random_split_is_stratified_seeded_and_reproducible(tiny_file):
    a = load(*file_overrides(tiny_file, "data.split.seed=1"))
    b = load(*file_overrides(tiny_file, "data.split.seed=1"))
    c = load(*file_overrides(tiny_file, "data.split.seed=2"))
    assert a["test"]["id"] == b["test"]["id"]
    assert a["test"]["id"] != c["test"]["id"]
    assert set(a["test"]["label"]) == {"escalatory", "de_escalatory", "neutral"}
    ids = [set(part["id"]) for part in a.values()]
    assert not (ids[0] & ids[1] or ids[0] & ids[2] or ids[1] & ids[2])


def test_group_split_keeps_each_source_in_one_split():
    splits = load("data.split.policy=group", "data.split.group_column=source")
    groups = {name: set(part["source"]) for name, part in splits.items()}
    assert not (groups["train"] & groups["test"]) and not (groups["train"] & groups["validation"])
    assert not (groups["validation"] & groups["test"])


def test_dataset_digest_covers_content():
    splits = load()
    whole = splits["train"]
    first = dataset_digest(whole)
    assert first == dataset_digest(whole)
    changed = whole.map(lambda r, i: {"text": r["text"] + ("!" if i == 0 else "")}, with_indices=True)
    assert dataset_digest(changed) != first
