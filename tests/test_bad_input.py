"""The bad-input table: every bad data file, config value and command line a user is likely to hit gives an
nlpkit error of the right class, on one line, that says what was expected, what was got and the fix.

Most cases run in-process through ``nlpkit.train(nlpkit.compose([...]))`` with a real sqlite MLflow store;
the ``cli`` cases run ``nlpkit-train`` / ``nlpkit predict`` as real subprocesses. A config error must be
raised before any MLflow run opens: the store holds no new run afterwards. (Predictor.load / predict cases
have their own table in test_bad_predictor.py.)
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd
import pytest
from datasets import Dataset
from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient

import nlpkit
from conftest import tiny_rows, train_tiny_predictor, write_jsonl
from nlpkit.errors import ConfigError, DataError, ModelLoadError

BIN = Path(sys.executable).parent
Setup = Callable[[Path], list[str]]  # writes files under a folder, returns the overrides (or CLI args)


@dataclass(frozen=True)
class Case:
    id: str
    setup: Setup
    error: type  # the exception class (cli cases: DataError/ConfigError named in the expectation only)
    patterns: tuple[str, ...]  # regexes the message must match: expected, got, fix, where
    kind: str = "data"  # data | config | train-cli | predict-cli


# ---- data files -------------------------------------------------------------------------------------------

def on_file(name: str, content: str | bytes, *extra: str) -> Setup:
    """A file with this content, trained on as the escalation task (label column 'label')."""
    def setup(tmp: Path) -> list[str]:
        path = tmp / name
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return ["data=file", f"data.path={path}", "data.columns.escalation=label", *extra]
    return setup


def on_rows(edit: Callable[[list[dict]], list[dict]], *extra: str, name: str = "x.jsonl") -> Setup:
    """The tiny labelled set, edited, as a JSONL file."""
    return on_file(name, "".join(json.dumps(r) + "\n" for r in edit(tiny_rows())), *extra)


def set_row(i: int, **values: object) -> Callable[[list[dict]], list[dict]]:
    def edit(rows: list[dict]) -> list[dict]:
        rows[i].update(values)
        return rows
    return edit


def csv_text(rows: list[dict] | None = None) -> str:
    return pd.DataFrame(rows or tiny_rows()).to_csv(index=False)


def per_split(names: tuple[str, ...], *extra: str, fmt: tuple[str, ...] = ()) -> Setup:
    def setup(tmp: Path) -> list[str]:
        rows, out = tiny_rows(), []
        for k, name in enumerate(names):
            suffix = fmt[k] if fmt else "jsonl"
            path = tmp / f"{name}.{suffix}"
            part = rows[k * 12:(k + 1) * 12] or rows[:12]
            write_jsonl(path, part) if suffix == "jsonl" else path.write_text(csv_text(part))
            out.append(f"+data.files.{name}={path}")
        return ["data=file", *out, "data.columns.escalation=label", "data.split.policy=predefined", *extra]
    return setup


def missing_path(name: str, sibling: str | None = None) -> Setup:
    def setup(tmp: Path) -> list[str]:
        if sibling:
            write_jsonl(tmp / sibling, tiny_rows())
        return ["data=file", f"data.path={tmp / name}", "data.columns.escalation=label"]
    return setup


def directory(saved: bool) -> Setup:
    def setup(tmp: Path) -> list[str]:
        folder = tmp / "folder"
        if saved:
            Dataset.from_list(tiny_rows()).save_to_disk(folder)
        else:
            folder.mkdir()
            write_jsonl(folder / "a.jsonl", tiny_rows())
        return ["data=file", f"data.path={folder}", "data.columns.escalation=label"]
    return setup


def not_saved_dataset(tmp: Path) -> list[str]:
    (tmp / "plain").mkdir()
    return ["data=disk", f"data.path={tmp / 'plain'}", "data.columns.escalation=label"]


def dated(dates: list[str]) -> Callable[[list[dict]], list[dict]]:
    def edit(rows: list[dict]) -> list[dict]:
        for i, r in enumerate(rows):
            r["date"] = dates[i % len(dates)]
        return rows
    return edit


NEW_TEXTS = [("Rockets hit the airfield as the offensive widened", "escalatory"),
             ("Envoys signed a framework accord to end the fighting", "de_escalatory"),
             ("The statistics office revised its growth estimate", "neutral")]
VALIDATION_TEXTS = [("Gunfire erupted along the ceasefire line at dawn", "escalatory"),
                    ("Mediators brokered a humanitarian pause in the city", "de_escalatory"),
                    ("The committee approved the agenda for the summit", "neutral")]


def new_rows(texts: list[tuple[str, str]], prefix: str) -> list[dict]:
    return [{"id": f"{prefix}{i}", "title": "", "text": t, "label": l} for i, (t, l) in enumerate(texts)]


def copies_in_test(near: bool = False) -> Setup:
    """Train on one copy of the tiny set; the test file has three new documents and three copies of training
    documents: two exact (one re-cased, one re-spaced), or with ``near`` one with an added sentence."""
    def setup(tmp: Path) -> list[str]:
        rows = tiny_rows(1)
        test = new_rows(NEW_TEXTS, "new")
        copies = [dict(rows[0]), dict(rows[4], text=rows[4]["text"].upper()), dict(rows[8], text="  ".join(rows[8]["text"].split()))]
        if near:
            copies = [dict(rows[0], text=rows[0]["text"] + " Officials confirmed it.")]
        write_jsonl(tmp / "tr.jsonl", rows)
        write_jsonl(tmp / "te.jsonl", test + copies)
        write_jsonl(tmp / "va.jsonl", new_rows(VALIDATION_TEXTS, "val"))
        return ["data=file", f"+data.files.train={tmp / 'tr.jsonl'}", f"+data.files.test={tmp / 'te.jsonl'}",
                f"+data.files.validation={tmp / 'va.jsonl'}", "data.columns.escalation=label",
                "data.split.policy=predefined", "data.split.dedupe=error"]
    return setup


def all_test_copied(tmp: Path) -> list[str]:
    rows = tiny_rows()
    write_jsonl(tmp / "tr.jsonl", rows)
    write_jsonl(tmp / "te.jsonl", rows[:6])
    return ["data=file", f"+data.files.train={tmp / 'tr.jsonl'}", f"+data.files.test={tmp / 'te.jsonl'}",
            "data.columns.escalation=label", "data.split.policy=predefined"]


LATIN1 = "text,label\nTroops massed near the border,escalatory\nLa r\u00e9union des ministres,neutral\n".encode("latin-1")
GOOD_LINE = json.dumps(tiny_rows()[0])
ONE_CLASS = [r for r in tiny_rows() if r["label"] == "neutral"]

DATA = [
    Case("missing-file", missing_path("nope.jsonl"), DataError,
         (r"Data file '.*nope\.jsonl' \(data\.path\) does not exist", r"Fix: check data\.path")),
    Case("missing-file-close-name", missing_path("tiny.jsnl", sibling="tiny.jsonl"), DataError,
         (r"tiny\.jsnl' \(data\.path\) does not exist", r"Fix: did you mean '.*tiny\.jsonl'\?")),
    Case("directory", directory(saved=False), DataError,
         (r"data\.path='.*folder' is a directory", r"expected a data file", r"Fix: point data\.path at a file.*a\.jsonl")),
    Case("directory-saved-dataset", directory(saved=True), DataError,
         (r"is a directory", r"save_to_disk: use data=disk")),
    Case("empty-jsonl", on_file("e.jsonl", ""), DataError, (r"e\.jsonl is empty \(0 bytes\)", r"expected", r"Fix")),
    Case("empty-csv", on_file("e.csv", ""), DataError, (r"e\.csv is empty \(0 bytes\)", r"Fix")),
    Case("blank-jsonl", on_file("b.jsonl", "\n  \n\n"), DataError, (r"b\.jsonl holds only whitespace", r"expected records")),
    Case("latin1-csv", on_file("l.csv", LATIN1), DataError,
         (r"l\.csv:3: byte 0xe9 at byte offset 56 is not valid UTF-8", r"expected UTF-8", r"Fix: re-encode .* UTF-8")),
    Case("latin1-jsonl", on_file("l.jsonl", GOOD_LINE.encode() + b'\n{"text": "caf\xe9", "label": "neutral"}\n'), DataError,
         (r"l\.jsonl:2: byte 0xe9", r"not valid UTF-8", r"iconv")),
    Case("malformed-jsonl", on_file("m.jsonl", f"{GOOD_LINE}\n{GOOD_LINE}\n{{\"text\": \"cut off\n"), DataError,
         (r"m\.jsonl:3: not valid JSON", r"expected one JSON object per line", r"Fix: repair or remove line 3")),
    Case("jsonl-line-is-a-list", on_file("m.jsonl", f"{GOOD_LINE}\n[1, 2]\n"), DataError,
         (r"m\.jsonl:2: a JSON list where a JSON object was expected", r"Fix: write each record as an object")),
    Case("jsonl-line-is-a-string", on_file("m.jsonl", f'"just text"\n{GOOD_LINE}\n'), DataError,
         (r"m\.jsonl:1: a JSON str where a JSON object", r"Fix")),
    Case("json-array-with-a-number", on_file("a.json", f"[{GOOD_LINE}, 3]"), DataError,
         (r"a\.json: element 1 of the JSON array is a int", r"expected objects", r"Fix")),
    Case("json-array-malformed", on_file("a.json", f"[{GOOD_LINE},\n{GOOD_LINE}\n"), DataError,
         (r"a\.json:\d+: not valid JSON", r"expected a JSON array of objects", r"Fix")),
    Case("csv-ragged-row-long", on_file("r.csv", "text,label\na b,neutral\nc, d,escalatory\n"), DataError,
         (r"r\.csv:3: 3 fields where the header has 2 \(text, label\)", r"Fix: quote fields")),
    Case("csv-ragged-row-short", on_file("r.csv", "text,label,source\na b,neutral,x\nc d\n"), DataError,
         (r"r\.csv:3: 1 fields where the header has 3", r"Fix")),
    Case("csv-header-only", on_file("h.csv", "text,label\n"), DataError,
         (r"h\.csv has a header \(text, label\) but no data rows", r"Fix")),
    Case("not-parquet", on_file("p.parquet", "text,label\na,b\n"), DataError,
         (r"p\.parquet is not a Parquet file", r"expected Parquet", r"Fix: rename it")),
    Case("unsupported-suffix", on_file("d.xlsx", "x"), DataError,
         (r"Cannot read '.*d\.xlsx'", r"expected one file format with a suffix among \.csv", r"got suffixes \['\.xlsx'\]")),
    Case("no-suffix", on_file("data", "x"), DataError, (r"got suffixes \[''\]", r"Fix: convert")),
    Case("corrupt-parquet", on_file("c.parquet", b"PAR1" + b"x" * 32 + b"PAR1"), DataError,
         (r"datasets could not read .*c\.parquet as PARQUET: .*Parquet", r"Fix: check the file's format")),
    Case("no-text-column", on_rows(lambda rows: [{k: v for k, v in r.items() if k != "text"} for r in rows]), DataError,
         (r"has no text column 'text'", r"Columns found: \[.*'escalation'", r"Fix: map your column with data\.columns\.text=")),
    Case("no-label-column", on_rows(lambda rows: rows, "data.columns.escalation=null"), DataError,
         (r"has no label column 'escalation'", r"Columns found", r"data\.columns\.escalation=")),
    Case("mapped-column-missing", on_rows(lambda rows: rows, "data.columns.escalation=lable"), DataError,
         (r"data\.columns\.escalation='lable'", r"no column 'lable'", r"Columns found: \[")),
    Case("labels-outside-task", on_rows(set_row(0, label="escalating")), DataError,
         (r"label\(s\) \['escalating'\] outside the task's labels \['escalatory'", r"data\.label_map|drop_unmapped")),
    Case("null-label", on_rows(set_row(5, label=None)), DataError,
         (r"1 row\(s\) have no label in column 'escalation' \(first rows: \[5\]\)", r"Fix: label them")),
    Case("numeric-text", on_rows(set_row(2, text=12345)), DataError,
         (r"column 'text' must hold text \(strings\)", r"row 2 \(0-based\) holds a int: '12345'", r"Fix: store 'text' as strings")),
    Case("list-text", on_rows(lambda rows: [dict(r, text=[r["text"]]) for r in rows]), DataError,
         (r"must hold text", r"holds a list", r"Fix")),
    Case("empty-text", on_rows(set_row(3, text="")), DataError,
         (r"1 row\(s\) have an empty text in column 'text' \(first rows: \[3\]", r"expected non-blank text", r"Fix: remove")),
    Case("whitespace-text", on_rows(set_row(7, text="  \t ")), DataError, (r"empty text .*first rows: \[7\]", r"Fix")),
    Case("one-class", on_file("one.jsonl", "".join(json.dumps(r) + "\n" for r in ONE_CLASS), "data.split.dedupe=keep"), DataError,
         (r"training split has only 1 class\(es\) \{'neutral': \d+\}", r"needs at least two", r"Fix")),
    Case("class-too-small", on_rows(lambda rows: [r for r in rows if r["label"] != "neutral"] + [tiny_rows()[8]]),
         DataError, (r"class 'neutral' has 1 example\(s\)", r"needs at least 3 per class", r"Fix: add examples")),
    Case("split-file-missing-train", per_split(("test",)), DataError,
         (r"data\.files has no file for split\(s\) \['train'\]", r"got \['test'\]", r"Fix: e\.g\. data\.files\.train=")),
    Case("split-file-unknown-name", per_split(("train", "valid", "test")), DataError,
         (r"split name\(s\) \['valid'\]"
             r" that nlpkit does not use", r"expected keys among \['train', 'validation'", r"data\.split\.validation")),
    Case("split-files-mixed-formats", per_split(("train", "test"), fmt=("jsonl", "csv")), DataError,
         (r"one file format", r"got suffixes \['\.csv', '\.jsonl'\]", r"one format for all splits")),
    Case("label-map-to-unknown", on_rows(lambda rows: rows, "+data.label_map.neutral=calm"), DataError,
         (r"data\.label_map maps to \['calm'\], which are not task labels", r"Fix: map onto")),
    Case("group-column-missing", on_rows(lambda rows: rows, "data.split.policy=group", "data.split.group_column=outlet"),
         DataError, (r"needs a group column 'outlet'", r"has columns \[", r"Fix: set data\.split\.group_column")),
    Case("group-column-two-values", on_rows(lambda rows: [dict(r, source=f"s{i % 2}") for i, r in enumerate(rows)],
                                            "data.split.policy=group"), DataError,
         (r"needs at least 3 distinct groups \(values of \['source'\]\)", r"got 2: \['s0', 's1'\]")),
    Case("date-column-missing", on_rows(lambda rows: rows, "data.split.policy=time"), DataError,
         (r"needs a date column 'date'", r"Fix: set data\.split\.date_column")),
    Case("unparsable-dates", on_rows(dated(["2021-03-04", "03/04/2021", "yesterday"]), "data.split.policy=time"), DataError,
         (r"value\(s\) of the date column 'date' are missing or not ISO 8601", r"1: '03/04/2021'", r"Fix: convert them to ISO 8601")),
    Case("predefined-without-split-column", on_rows(lambda rows: rows, "data.split.policy=predefined"), DataError,
         (r"needs a split column 'split'", r"Fix: set data\.split\.policy=random")),
    Case("predefined-without-test-split", on_rows(lambda rows: [dict(r, split="train") for r in rows],
                                                  "data.split.policy=predefined"), DataError,
         (r"split 'test' not found in column 'split'; found \{'train': 36\}", r"Fix: name the splits")),
    Case("exact-duplicates-refused", copies_in_test(), DataError,
         (r"3 evaluation document\(s\) duplicate a training document \(3 exact, 0 near", r"e\.g\. test row 3 ~ train row 0",
          r"Fix: .*data\.split\.dedupe=drop")),
    Case("near-duplicate-refused", copies_in_test(near=True), DataError,
         (r"1 evaluation document\(s\) duplicate a training document \(0 exact, 1 near with TF-IDF cosine > 0\.8",
          r"Expected no overlap \(data\.split\.dedupe=error\)", r"Fix: remove the copies")),
    Case("every-test-document-copied", all_test_copied, DataError,
         (r"every document of the 'test' split \(6\) duplicates a training document", r"Fix: .*dedupe=keep")),
    Case("disk-path-missing", lambda tmp: ["data=disk", f"data.path={tmp / 'none'}"], DataError,
         (r"data\.path='.*none' does not exist; expected a directory written by save_to_disk", r"Fix")),
    Case("disk-folder-not-a-dataset", not_saved_dataset, DataError,
         (r"is not a dataset written by save_to_disk", r"Fix: point data\.path at the folder")),
    Case("slice-column-missing", on_rows(lambda rows: rows, "data.slices=[region]"), DataError,
         (r"data\.slices names column\(s\) \['region'\]", r"Columns found", r"Fix: drop them")),
    Case("stance-without-target", on_rows(lambda rows: [{k: v for k, v in r.items() if k != "target"} for r in rows],
                                          "task=stance", "data.columns.escalation=null", "data.columns.stance=label"),
         DataError, (r"has no target column 'target'", r"Fix: map your column with data\.columns\.target=")),
    Case("unknown-embedded-corpus", lambda tmp: ["data.name=newswires"], DataError,
         (r"No embedded corpus named 'newswires'; available: \['newswire'\]", r"Fix")),
]

# ---- config values: checked before any data loads or any run opens --------------------------------------

def overrides(*values: str) -> Setup:
    return lambda tmp: list(values)


FT = "model=finetune"
CONFIG = [Case(id_, overrides(*ov), ConfigError, pats, "config") for id_, ov, pats in [
    ("C-negative", ["model.C=-3"], (r"model\.C must be a float > 0; got -3", r"Fix: e\.g\. model\.C=1\.0")),
    ("C-zero-svm", ["model=tfidf_svm", "model.C=0"], (r"model\.C must be a float > 0; got 0",)),
    ("class-weight-typo", ["model.class_weight=balancd"],
     (r"model\.class_weight must be one of balanced, null; got 'balancd'", r"did you mean model\.class_weight=balanced\?")),
    ("ngram-max-zero", ["model.ngram_max=0"], (r"model\.ngram_max must be an integer in \[1, 5\] or null; got 0", r"Fix")),
    ("max-features-zero", ["model.max_features=0"], (r"model\.max_features must be an integer >= 1 or null; got 0",)),
    ("min-df-zero", ["model.min_df=0"], (r"model\.min_df must be an integer >= 1; got 0",)),
    ("calibration-folds-one", ["model=tfidf_svm", "model.calibration_folds=1"], (r"model\.calibration_folds must"
        r" be an integer in \[2, 20\]",)),
    ("kind-typo", ["model.kind=tfidf_lgreg.v1"], (r"model\.kind must be one"
        r" of .*tfidf_logreg\.v1", r"did you mean model\.kind=tfidf_logreg\.v1")),
    ("epochs-zero", [FT, "model.epochs=0"], (r"model\.epochs must be an integer in \[1, 1000\]; got 0", r"Fix: e\.g\. model\.epochs=6")),
    ("learning-rate-negative", [FT, "model.learning_rate=-1e-5"], (r"model\.learning_rate must be a float in \(0, 1\); got -1e-05",)),
    ("batch-size-zero", [FT, "model.batch_size=0"], (r"model\.batch_size must be an integer in \[1, 4096\]; got 0",)),
    ("patience-zero", [FT, "model.patience=0"], (r"model\.patience must be an integer >= 1; got 0",)),
    ("warmup-ratio", [FT, "model.warmup_ratio=1.5"], (r"model\.warmup_ratio must be a float in \[0, 1\); got 1\.5",)),
    ("validation-fraction", [FT, "model.validation_fraction=0.7"], (r"model\.validation_fraction must be a float in \[0, 0\.5\)",)),
    ("finetune-class-weight", [FT, "model.class_weight=Balanced"], (r"did you mean model\.class_weight=balanced\?",)),
    ("max-length-tiny", ["model=embed_logreg", "model.max_length=4"], (r"model\.max_length must be an integer in \[8, 8192\]; got 4",)),
    ("head-share", ["model=embed_logreg", "model.head_share=1.5"], (r"model\.head_share must be a float in \(0, 1\); got 1\.5",)),
    ("chunk-stride", ["model=embed_logreg", "model.long_text=chunks", "model.chunk_stride=200"], (r"model\.chunk_stride must be an"
        r" integer in \[0, 128\); got 200",)),
    ("blend-weight", ["model=finetune_tfidf", "model.encoder_weight=2"], (r"model\.encoder_weight must be a float in \[0, 1\]; got 2",)),
    ("blend-member-C", ["model=finetune_tfidf", "model.tfidf.C=-1"], (r"model\.tfidf\.C must be a float > 0; got -1",)),
    ("test-size-zero", ["data.split.test_size=0"], (r"data\.split\.test_size must be a float in \(0, 1\); got 0",)),
    ("split-sizes-sum", ["data.split.validation_size=0.5", "data.split.test_size=0.6"],
     (r"validation_size \+ data\.split\.test_size must be < 1", r"got 0\.5 \+ 0\.6", r"Fix")),
    ("dedupe-typo", ["data.split.dedupe=drpo"], (r"data\.split\.dedupe must be one of"
        r" drop, keep, error; got 'drpo'", r"did you mean data\.split\.dedupe=drop\?")),
    ("dedupe-threshold", ["data.split.dedupe_threshold=0"], (r"data\.split\.dedupe_threshold must be a float in \(0, 1\]; got 0",)),
    ("seed-negative", ["seed=-1"], (r"^seed must be an integer in \[0, 4294967295\]; got -1", r"Fix: e\.g\. seed=0")),
    ("split-seed-negative", ["data.split.seed=-5"], (r"data\.split\.seed must be an integer",)),
    ("cv-folds-one", ["cv.folds=1"], (r"cv\.folds must be 0 \(off\) or an integer >= 2; got 1", r"Fix: e\.g\. cv\.folds=5")),
    ("max-rows-zero", ["data.max_rows=0"], (r"data\.max_rows must be an integer >= 1 or null; got 0",)),
    ("length-bins-order", ["data.length_bins=[250,150]"], (r"data\.length_bins must be increasing positive"
        r" word counts; got \[250, 150\]",)),
    ("tracking-uri-bare-path", ["tracking.uri=/tmp/store"], (r"tracking\.uri must be a URI", r"got '/tmp/store'", r"sqlite:////tmp/store/mlflow\.db")),
    ("file-without-path", ["data=file"], (r"data\.source=file needs data\.path", r"Fix: e\.g\. `nlpkit-train data=file")),
    ("added-unknown-key", ["+model.Cc=2"], (r"model\.Cc", r"Fix: check the spelling")),
    ("two-labels-required", ["task.labels=[only]"], (r"task\.labels must be a list of at least two labels; got \['only'\]",)),
]]

# ---- the command lines, as real subprocesses --------------------------------------------------------------

def cli(*args: str, setup: Setup | None = None) -> Setup:
    return lambda tmp: [*(setup(tmp) if setup else []), *args]


def text_file(name: str, text: str, encoding: str = "utf-8") -> Setup:
    def setup(tmp: Path) -> list[str]:
        (tmp / name).write_text(text, encoding=encoding)
        return []
    return setup


CLI = [
    Case("train-cli-missing-file", cli(setup=missing_path("gone.csv")), DataError,
         (r"^error: Data file '.*gone\.csv' \(data\.path\) does not exist", r"Fix"), "train-cli"),
    Case("train-cli-config-value", cli("model.C=-3"), ConfigError,
         (r"^error: model\.C must be a float > 0; got -3", r"Fix: e\.g\. model\.C=1\.0"), "train-cli"),
    Case("train-cli-malformed-jsonl", on_file("m.jsonl", f"{GOOD_LINE}\nnot json\n"), DataError,
         (r"^error: .*m\.jsonl:2: not valid JSON", r"Fix"), "train-cli"),
    Case("train-cli-duplicates-refused", copies_in_test(), DataError,
         (r"^error: .*3 evaluation document\(s\) duplicate a training document", r"dedupe=drop"), "train-cli"),
    Case("predict-cli-missing-input", cli("missing.txt"), DataError,
         (r"^error: Input file 'missing\.txt' does not exist", r"Fix: check the path"), "predict-cli"),
    Case("predict-cli-malformed-jsonl", cli("in.jsonl", setup=text_file("in.jsonl", '{"text": "a"}\n{oops\n')),
         DataError, (r"^error: in\.jsonl:2 is not valid JSON", r"Fix: one JSON object per line"), "predict-cli"),
    Case("predict-cli-no-text-field", cli("in.jsonl", "--text-field", "body",
                                          setup=text_file("in.jsonl", '{"text": "a"}\n')),
         DataError, (r"^error: in\.jsonl:1 has no string field 'body'", r"Fix: use --text-field"), "predict-cli"),
    Case("predict-cli-latin1-txt", cli("a.txt", setup=text_file("a.txt", "Caf\u00e9 talks resumed.", "latin-1")),
         DataError, (r"^error: a\.txt is not UTF-8 text: byte 0xe9 at offset 3", r"Fix: re-encode it"), "predict-cli"),
    Case("predict-cli-latin1-jsonl", cli("in.jsonl", setup=text_file("in.jsonl", '{"text": "ok"}\n{"text": "caf\u00e9"}\n',
                                                                     "latin-1")),
         DataError, (r"^error: in\.jsonl:2 is not UTF-8: byte 0xe9", r"Fix: re-encode the file as UTF-8"), "predict-cli"),
]

CASES = DATA + CONFIG + CLI


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, MlflowClient]:
    """One real sqlite MLflow store for the in-process cases (created once: its migrations take seconds)."""
    uri = f"sqlite:///{tmp_path_factory.mktemp('store') / 'mlflow.db'}"
    client = MlflowClient(uri)
    client.search_experiments()
    return uri, client


@pytest.fixture(scope="module")
def predictor_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny_predictor(tmp_path_factory.mktemp("predictor"))


def count_runs(client: MlflowClient) -> int:
    ids = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)]
    return len(client.search_runs(ids, run_view_type=ViewType.ALL)) if ids else 0


def check_message(message: str, case: Case) -> None:
    assert "\n" not in message.strip(), f"not one line: {message!r}"
    assert "Traceback" not in message
    for pattern in case.patterns:
        assert re.search(pattern, message), f"{pattern!r} not in {message!r}"


def run_command(case: Case, tmp_path: Path, predictor: Path | None) -> subprocess.CompletedProcess:
    args = case.setup(tmp_path)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    env.pop("HYDRA_FULL_ERROR", None)
    if case.kind == "train-cli":
        command = [str(BIN / "nlpkit-train"), *args, f"tracking.uri=sqlite:///{tmp_path / 'cli.db'}",
                   f"output_dir={tmp_path / 'out'}", "model.char_ngrams=false"]
    else:
        command = [str(BIN / "nlpkit"), "predict", "--model", str(predictor), *args]
    return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_gives_one_clear_line(case: Case, tmp_path: Path, store: tuple[str, MlflowClient], request) -> None:
    if case.kind.endswith("-cli"):
        predictor = request.getfixturevalue("predictor_dir") if case.kind == "predict-cli" else None
        out = run_command(case, tmp_path, predictor)
        assert out.returncode == 1, out.stderr[-2000:]
        assert "Traceback" not in out.stderr, out.stderr[-2000:]
        errors = [line for line in out.stderr.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1, out.stderr[-2000:]  # (MLflow's own INFO lines may come before it)
        check_message(errors[0], case)
        if case.error is ConfigError:  # refused before any run: the store was never even created
            assert not (tmp_path / "cli.db").exists()
        return
    uri, client = store
    before = count_runs(client)
    cfg_overrides = [f"tracking.uri={uri}", f"output_dir={tmp_path / 'out'}", "tracking.log_model=false",
                     *case.setup(tmp_path)]
    with pytest.raises(case.error) as caught:
        nlpkit.train(nlpkit.compose(cfg_overrides))
    check_message(str(caught.value), case)
    if case.kind == "config":
        assert count_runs(client) == before, "a config error left an MLflow run behind"


def test_the_table_is_large_and_covers_every_kind() -> None:
    kinds = [c.kind for c in CASES]
    assert len(CASES) >= 50 and len({c.id for c in CASES}) == len(CASES)
    assert kinds.count("train-cli") + kinds.count("predict-cli") >= 7 and kinds.count("config") >= 25


def test_hydra_full_error_shows_the_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "HYDRA_FULL_ERROR": "1"}
    out = subprocess.run([str(BIN / "nlpkit-train"), "model.C=-3", f"tracking.uri=sqlite:///{tmp_path / 'x.db'}"],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 1
    assert "Traceback" in out.stderr and "ConfigError: model.C must be a float > 0" in out.stderr


def test_nlpkit_debug_flag_raises_instead_of_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from nlpkit.cli import main

    args = ["predict", "--model", str(tmp_path / "no-model"), "x.txt"]
    assert main(args) == 1
    line = capsys.readouterr().err
    assert line.startswith("error: ") and line.count("\n") == 1 and "--debug" in line
    with pytest.raises(ModelLoadError):
        main(["--debug", *args])
