"""Batch scoring (`nlpkit predict` over .txt/.jsonl/.csv/.tsv/.parquet, --output .jsonl/.parquet): same answers
as Predictor.predict_proba, outputs that round-trip, lazy bounded-memory streaming and one-line errors."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from conftest import train_tiny_predictor, write_jsonl

from nlpkit import batch, batch_output
from nlpkit.cli import main as cli_main
from nlpkit.errors import InputTypeError, MissingExtraError
from nlpkit.predict import Predictor

TEXTS = ["Artillery shelled the border town overnight, officials said.", "Negotiators welcomed progress in the talks.",
         'The ministry said "the schedule\nis final"; tab\there.', "Caf\u00e9 talks: forces withdrew from the ridge.",
         "Parliament will debate the budget on Tuesday. " * 5000]  # > csv's default 128 KiB field limit


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return train_tiny_predictor(tmp_path_factory.mktemp("batch-predictor"))


@pytest.fixture(scope="module")
def predictor(model_dir: Path) -> Predictor:
    return Predictor.load(model_dir)


def write_input(path: Path, texts: list[str], field: str = "body") -> Path:
    """``texts`` as a file of ``path``'s format with columns ``id`` and ``field``."""
    rows = [{"id": f"doc-{i}", field: text} for i, text in enumerate(texts)]
    if path.suffix == ".jsonl":
        write_jsonl(path, rows)
    elif path.suffix == ".parquet":
        pa = pytest.importorskip("pyarrow")
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=2)
    else:
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=["id", field], delimiter="\t" if path.suffix == ".tsv" else ",")
            writer.writeheader()
            writer.writerows(rows)
    return path


def read_output(path: Path) -> tuple[list[str], list[str], list[str], np.ndarray]:
    """ids, labels, proba column names and the probability matrix of an --output file."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        rows = pq.read_table(path).to_pylist()
    else:
        rows = [json.loads(line) for line in path.read_text().splitlines()]
    columns = [c for c in rows[0] if c.startswith("proba_")]
    return [r["id"] for r in rows], [r["label"] for r in rows], columns, np.array([[r[c] for c in columns] for r in rows])


def predict(model_dir: Path, *args: object) -> int:
    return cli_main(["predict", "--model", str(model_dir), *map(str, args)])


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".tsv", ".parquet"])
def test_each_format_scores_like_predict_proba(suffix, model_dir, predictor, tmp_path):
    source = write_input(tmp_path / f"in{suffix}", TEXTS)
    out = tmp_path / "out.jsonl"
    assert predict(model_dir, source, "--text-field", "body", "--id-field", "id", "--output", out, "--quiet",
                   "--batch-size", 2) == 0
    ids, labels, columns, proba = read_output(out)
    assert ids == [f"doc-{i}" for i in range(len(TEXTS))]
    assert columns == [f"proba_{label}" for label in predictor.labels]
    np.testing.assert_allclose(proba, predictor.predict_proba(TEXTS), rtol=0, atol=1e-12)
    assert labels == predictor.predict(TEXTS)


def test_txt_files_one_document_each_on_stdout(model_dir, predictor, tmp_path, capsys):
    paths = [tmp_path / f"{i}.txt" for i in range(3)]
    for path, text in zip(paths, TEXTS):
        path.write_text(text, encoding="utf-8")
    assert predict(model_dir, *paths, "--json") == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["input"] for r in rows] == [str(p) for p in paths]
    got = np.array([[r["probabilities"][label] for label in predictor.labels] for r in rows])
    np.testing.assert_allclose(got, predictor.predict_proba(TEXTS[:3]), atol=5e-5)


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_output_round_trips_with_default_ids(suffix, model_dir, predictor, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(batch_output, "ROW_GROUP", 40)  # several row groups from a small file
    texts = [TEXTS[i % 4] for i in range(100)]
    source = write_input(tmp_path / "in.jsonl", texts, field="text")
    out = tmp_path / f"predictions{suffix}"
    assert predict(model_dir, source, "--output", out, "--batch-size", 16) == 0
    ids, labels, columns, proba = read_output(out)
    assert ids == [f"{source}:{n}" for n in range(1, 101)] and labels == predictor.predict(texts)
    assert columns == [f"proba_{label}" for label in predictor.labels]
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert not list(tmp_path.glob("*.partial"))
    assert "100 docs" in capsys.readouterr().err  # progress / summary on stderr when writing --output
    if suffix == ".parquet":
        import pyarrow.parquet as pq

        assert pq.ParquetFile(out).metadata.num_row_groups == 3


def test_csv_ids_are_the_line_where_each_record_starts(tmp_path):
    source = tmp_path / "in.csv"
    source.write_text('text,source\n"two\nlines",a\none line,b\n\n"three\n\nlines",c\n', encoding="utf-8")
    assert [ident for ident, _ in batch.read_inputs([source])] == [f"{source}:2", f"{source}:4", f"{source}:6"]


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_reader_yields_before_the_file_ends(suffix, tmp_path):
    """The input is a pipe whose writer waits until the first document has been read: a reader that read the
    whole file first would only see it after the writer had finished."""
    fifo = tmp_path / f"live{suffix}"
    os.mkfifo(fifo)
    first_read, finished = threading.Event(), threading.Event()
    line = (lambda t: json.dumps({"text": t}) + "\n") if suffix == ".jsonl" else (lambda t: f"{t}\n")

    def feed() -> None:
        with open(fifo, "w", encoding="utf-8") as handle:
            handle.write(("" if suffix == ".jsonl" else "text\n") + line("first"))
            handle.flush()
            first_read.wait(timeout=30)
            handle.write(line("second"))
        finished.set()

    thread = threading.Thread(target=feed, daemon=True)
    thread.start()
    records = batch.read_inputs([fifo])
    assert next(records)[1]["text"] == "first" and not finished.is_set()
    first_read.set()
    assert [doc["text"] for _, doc in records] == ["second"]
    thread.join(timeout=30)


def test_fifty_thousand_documents_hold_at_most_one_batch(predictor, tmp_path):
    source = tmp_path / "big.jsonl"
    with source.open("w") as handle:
        for i in range(50_000):
            handle.write(json.dumps({"text": f"{TEXTS[i % 4]} ({i})"}) + "\n")
    count = {"read": 0, "written": 0, "peak": 0}

    def counted(records):
        for record in records:
            count["read"] += 1
            count["peak"] = max(count["peak"], count["read"] - count["written"])
            yield record

    def write(ids, labels, proba):
        assert len(ids) == len(labels) == len(proba) <= 512
        count["written"] += len(ids)

    assert batch.score(predictor, counted(batch.read_inputs([source])), write, batch_size=512) == 50_000
    assert count["written"] == 50_000 and count["peak"] <= 512


def test_a_refused_document_is_named_by_its_id(predictor):
    records = [("a.jsonl:1", {"text": "Talks resumed."}), ("a.jsonl:7", {"text": 3})]
    with pytest.raises(InputTypeError, match=r"^a\.jsonl:7 has no text in field 'text'"):
        batch.score(predictor, records, lambda *a: None, batch_size=8)


def test_without_pyarrow_parquet_names_the_install(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    (tmp_path / "x.parquet").write_bytes(b"PAR1")
    with pytest.raises(MissingExtraError, match=r"Reading .*x\.parquet needs pyarrow.*Fix: pip install \"nlpkit-conflict\[batch\]\""
        r" \(or pip install pyarrow\)"):
        next(batch.read_inputs([tmp_path / "x.parquet"]))
    with pytest.raises(MissingExtraError, match=r"Writing .*y\.parquet needs pyarrow.*Fix: pip install \"nlpkit-conflict\[batch\]\""
        r" \(or pip install pyarrow\)"):
        batch.open_writer(tmp_path / "y.parquet")


def test_without_tqdm_progress_is_a_plain_line(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "tqdm", None)
    with batch.Progress(enabled=True, every_s=0) as progress:
        progress(10)
    assert capsys.readouterr().err.startswith("nlpkit predict: 10 docs in ")


BAD = [  # (files: name -> content, extra args, pattern of the one error line)
    ({"x.jsonl": '{"text": "ok"}\n{oops\n'}, (), r"x\.jsonl:2 is not valid JSON .*Fix: one JSON object per line"),
    ({"x.jsonl": '{"text": "ok"}\n{"text": "  "}\n'}, (), r"x\.jsonl:2 has an empty 'text'; expected some text.*Fix"),
    ({"x.jsonl": '{"text": "ok", "id": 1}\n{"text": "b"}\n'}, ("--id-field", "id"), r"x\.jsonl:2 has no 'id' field"),
    ({"x.csv": "id,text\n1,ok\n2,caf\xe9\n"}, (), r"x\.csv:3 is not UTF-8: byte 0xe9 at column 6"),
    ({"x.csv": "id,body\n1,ok\n"}, (), r"x\.csv has no column 'text'; expected the columns \['text'\], got \['id', 'body'\]"),
    ({"x.csv": "id,text\n1,ok\n2\n"}, (), r"x\.csv:3 has 1 fields; expected 2 as in the header.*Fix: quote"),
    ({"x.tsv": "id\ttext\n1\tok\n"}, ("--text-field", "body"), r"x\.tsv has no column 'body'.*Fix: name the text column"),
    ({"x.xml": "<a/>"}, (), r"x\.xml' has an unsupported extension '\.xml'; expected one of \.txt, \.jsonl, \.csv, \.tsv, \.parquet"),
    ({"x.jsonl": '{"text": "ok"}\n'}, ("--output", "no/such/dir/out.parquet"), r"Cannot write --output .*no/such/dir/out\.parquet"),
    ({"x.jsonl": '{"text": "ok"}\n'}, ("--output", "out.csv"), r"--output 'out\.csv' has an unsupported extension"
        r" '\.csv'; expected one of \.jsonl, \.parquet"),
    ({"x.jsonl": '{"text": "ok"}\n'}, ("--batch-size", "0"), r"--batch-size must be an integer >= 1; got 0"),
]


@pytest.mark.parametrize("files, args, pattern", BAD, ids=[f"{next(iter(f))}-{p[:20]}" for f, _, p in BAD])
def test_bad_input_gives_one_line(files, args, pattern, model_dir, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name, content in files.items():
        (tmp_path / name).write_bytes(content.encode("latin-1"))
    assert predict(model_dir, *files, *args) == 1
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]
    assert len(err) == 1 and re.search(pattern, err[0]), err


def test_missing_parquet_column_and_no_partial_file_left(model_dir, tmp_path, capsys):
    source = write_input(tmp_path / "in.parquet", TEXTS[:2])
    assert predict(model_dir, source, "--output", tmp_path / "out.parquet") == 1
    assert "in.parquet has no column 'text'; expected the columns ['text'], got ['id', 'body']" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.parquet"]


def test_batch_modules_import_no_heavy_or_optional_package():
    """pyarrow and tqdm load only when Parquet / a progress bar is used; the training stack never."""
    code = ("import sys, nlpkit.batch, nlpkit.cli\n"
            "print([m for m in ('pandas', 'hydra', 'datasets', 'mlflow', 'pyarrow', 'tqdm') if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
