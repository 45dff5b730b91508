"""Validation of the embedded newswire corpus: schema, codebook labels, splits, duplicates, OOD, balance."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date
from itertools import combinations
from pathlib import Path

import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics.pairwise import cosine_similarity

from nlpkit.config import compose, validate
from nlpkit.corpus import corpus_path
from nlpkit.corpus.tables import BEGIN, END, read, tables

FIELDS = {"id", "title", "text", "source", "source_type", "region", "date", "target", "actors",
          "topic", "stance", "escalation", "split"}
SPLITS = {"train", "validation", "test", "test_ood"}
SOURCE_TYPES = {"wire_report", "official_statement", "briefing", "analysis", "op_ed"}
CODEBOOK = corpus_path().with_name("CODEBOOK.md").read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def rows():
    return read()


def task_labels(task: str) -> list[str]:
    return list(validate(compose([f"task={task}"])).task.labels)


def test_size_and_split_sizes(rows):
    counts = Counter(r["split"] for r in rows)
    assert len(rows) >= 600
    assert set(counts) == SPLITS
    assert counts["test_ood"] >= 120 and counts["test"] >= 60 and counts["validation"] >= 50


def test_schema(rows):
    for r in rows:
        assert set(r) == FIELDS, r["id"]
        for key in FIELDS - {"actors"}:
            assert isinstance(r[key], str) and r[key].strip(), (r["id"], key)
        assert isinstance(r["actors"], list) and r["actors"] and all(isinstance(a, str) and a for a in r["actors"])
        assert 60 <= len(r["text"].split()) <= 350, (r["id"], len(r["text"].split()))
        assert r["source_type"] in SOURCE_TYPES, r["id"]
        date.fromisoformat(r["date"])
        assert re.fullmatch(r"nw-\d{4}", r["id"])


@pytest.mark.parametrize("task", ["topic", "stance", "escalation"])
def test_labels_are_the_configured_ones_and_defined_in_the_codebook(rows, task):
    labels = task_labels(task)
    assert {r[task] for r in rows} == set(labels)
    for label in labels:
        assert f"`{label}`" in CODEBOOK, f"{label} is not defined in CODEBOOK.md"


@pytest.mark.parametrize("task", ["topic", "stance", "escalation"])
def test_every_class_is_at_least_12_percent(rows, task):
    counts = Counter(r[task] for r in rows)
    assert min(counts.values()) / len(rows) >= 0.12, counts


def test_ids_unique_and_each_document_in_one_split(rows):
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids))
    assert [i for i in ids if not re.fullmatch(r"nw-\d{4}", i)] == []
    assert [r["id"] for r in rows if not (isinstance(r["split"], str) and r["split"] in SPLITS)] == []
    splits_of: dict[tuple[str, str], set[str]] = {}  # one document (title and text) -> the splits it appears in
    for r in rows:
        splits_of.setdefault((r["title"].strip().lower(), r["text"].strip().lower()), set()).add(r["split"])
    assert {doc[0]: s for doc, s in splits_of.items() if len(s) != 1} == {}
    assert len(splits_of) == len(rows)  # and no document twice within a split


def test_no_duplicate_or_near_duplicate_texts_across_splits(rows):
    texts = [r["title"] + "\n" + r["text"] for r in rows]
    assert len({t.lower() for t in texts}) == len(texts)
    vectors = TfidfVectorizer(ngram_range=(1, 3), sublinear_tf=True).fit_transform(texts)
    sim = cosine_similarity(vectors)
    pairs = [(rows[i]["id"], rows[j]["id"], round(float(sim[i, j]), 2))
             for i, j in combinations(range(len(rows)), 2)
             if rows[i]["split"] != rows[j]["split"] and sim[i, j] > 0.6]
    assert not pairs, f"near-duplicate texts across splits: {pairs[:10]}"


def test_test_ood_regions_and_actors_are_absent_from_train(rows):
    train = [r for r in rows if r["split"] == "train"]
    ood = [r for r in rows if r["split"] == "test_ood"]
    assert not {r["region"] for r in ood} & {r["region"] for r in train}
    train_actors = {a.lower() for r in train for a in r["actors"]}
    shared = {a for r in ood for a in r["actors"] if a.lower() in train_actors}
    assert not shared, f"test_ood actors also in train: {sorted(shared)}"


def test_in_distribution_splits_share_regions(rows):
    regions = {s: {r["region"] for r in rows if r["split"] == s} for s in ("train", "validation", "test")}
    assert regions["validation"] <= regions["train"] and regions["test"] <= regions["train"]


def test_label_tables_in_the_docs_are_generated_from_the_data(rows):
    generated = tables(rows)
    for name in ("CODEBOOK.md", "DATASHEET.md"):
        text = Path(corpus_path()).with_name(name).read_text(encoding="utf-8")
        between = text.split(BEGIN, 1)[1].split(END, 1)[0].strip()
        assert between == generated.strip(), f"{name} tables are stale: run python -m nlpkit.corpus.tables --write"


def test_targets_are_reused_with_different_stances(rows):
    by_target: dict[str, set[str]] = {}
    for r in rows:
        by_target.setdefault(r["target"], set()).add(r["stance"])
    reused = [t for t in by_target if len(by_target[t]) >= 2]
    assert len(reused) >= 40, "stance must not be predictable from the target alone"
