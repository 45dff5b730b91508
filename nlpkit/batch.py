"""Batch scoring for ``nlpkit predict``: streaming readers, incremental writers and the scoring loop.

Inputs are read one record at a time (``.txt`` one document per file, ``.jsonl``, ``.csv``/``.tsv`` with a
header row, ``.parquet`` in record batches); the loop holds one batch of documents at a time, so memory does
not grow with the number of documents. Each record is ``(id, doc)``: the id is ``--id-field`` or
``file:line`` (``file:row`` for Parquet), and errors name it. pyarrow is imported only for Parquet.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from nlpkit.batch_output import Progress, Writer, import_pyarrow, open_writer  # noqa: F401  (re-exported)
from nlpkit.errors import DataError, NlpkitError, one_line

INPUTS = (".txt", ".jsonl", ".csv", ".tsv", ".parquet")
Record = tuple[str, dict]
_FIELD_LIMIT = min(sys.maxsize, 2**31 - 1)  # csv's default 128 KiB per field is too small for long articles


def read_inputs(files: Sequence[Path], text_field: str = "text", target: str | None = None,
                id_field: str | None = None, fields: Sequence[str] = ()) -> Iterator[Record]:
    """Yield ``(id, doc)`` from every file in turn, lazily; ``doc["text"]`` holds the text.

    ``target`` fills ``doc["target"]`` where a record has none (stance); ``fields`` are other columns worth
    keeping (the predictor's extra text fields, e.g. ``title``): Parquet reads only the columns it needs."""
    for path in files:
        path = Path(path)
        if not path.exists():
            raise DataError(f"Input file {str(path)!r} does not exist. Fix: check the path.")
        suffix = path.suffix.lower()
        if suffix not in INPUTS:
            raise DataError(
                f"Input file {str(path)!r} has an unsupported extension {suffix or '(none)'!r}; expected one of "
                f"{', '.join(INPUTS)}. Fix: rename it, or convert it to JSONL (one JSON object per line)."
            )
        if path.is_dir():
            raise DataError(f"Input {str(path)!r} is a directory; expected a file. Fix: pass the files in it.")
        if suffix == ".txt":
            records: Iterator[Record] = iter([(str(path), _doc({"text": _read_text(path)}, str(path), "text"))])
        elif suffix == ".jsonl":
            records = _read_jsonl(path, text_field, id_field)
        elif suffix == ".parquet":
            records = _read_parquet(path, text_field, id_field, fields)
        else:
            records = _read_csv(path, text_field, id_field, "\t" if suffix == ".tsv" else ",")
        yield from (_with_target(record, target) for record in records)


def _with_target(record: Record, target: str | None) -> Record:
    if target and not isinstance(record[1].get("target"), str):
        record[1]["target"] = target
    return record


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DataError(
            f"{path} is not UTF-8 text: byte 0x{err.object[err.start]:02x} at offset {err.start}. "
            f"Fix: re-encode it, e.g. iconv -f latin1 -t utf-8 {path} > {path.stem}.utf8{path.suffix}."
        ) from None


def _decode_line(raw: bytes, path: Path, number: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DataError(
            f"{path}:{number} is not UTF-8: byte 0x{raw[err.start]:02x} at column {err.start + 1}. "
            "Fix: re-encode the file as UTF-8 (e.g. with iconv)."
        ) from None


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    """``(line number, decoded line)``, one at a time; bytes that are not UTF-8 fail with file:line."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, 1):
            yield number, _decode_line(raw, path, number)


def _read_jsonl(path: Path, text_field: str, id_field: str | None) -> Iterator[Record]:
    for number, line in _lines(path):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            raise DataError(f"{path}:{number} is not valid JSON ({err.msg}). Fix: one JSON object per line.") from None
        where = f"{path}:{number}"
        if not isinstance(row, dict) or not isinstance(row.get(text_field), str):
            raise DataError(
                f"{where} has no string field {text_field!r}; expected objects like "
                f'{{"{text_field}": "..."}}. Fix: use --text-field to name your field.'
            )
        yield _ident(row, id_field, where, "field"), _doc(row, where, text_field)


def _read_csv(path: Path, text_field: str, id_field: str | None, delimiter: str) -> Iterator[Record]:
    csv.field_size_limit(_FIELD_LIMIT)
    numbered = _lines(path)
    current = [0]

    def lines() -> Iterator[str]:
        for number, line in numbered:
            current[0] = number
            yield line

    reader = csv.reader(lines(), delimiter=delimiter)
    header = next(reader, None)
    if header is None:
        return
    _check_columns(path, header, [text_field, *([id_field] if id_field else [])], "--text-field")
    start = current[0] + 1
    try:
        for cells in reader:
            where, start = f"{path}:{start}", current[0] + 1
            if not cells:
                continue
            if len(cells) != len(header):
                raise DataError(
                    f"{where} has {len(cells)} fields; expected {len(header)} as in the header "
                    f"({', '.join(header[:6])}). Fix: quote fields that contain the delimiter or line breaks."
                )
            row = dict(zip(header, cells))
            yield _ident(row, id_field, where, "column"), _doc(row, where, text_field)
    except csv.Error as err:
        raise DataError(f"{path}:{current[0]} is not valid CSV ({err}). Fix: check the quoting near that line.") from None


def _read_parquet(path: Path, text_field: str, id_field: str | None, fields: Sequence[str]) -> Iterator[Record]:
    pq = import_pyarrow(f"Reading {path}").parquet
    try:
        handle = pq.ParquetFile(path)
    except Exception as err:  # pyarrow raises ArrowInvalid / OSError for files that are not Parquet
        raise DataError(f"{path} is not a readable Parquet file ({one_line(err, 200)}). Fix: check the file.") from None
    names = handle.schema_arrow.names
    _check_columns(path, names, [text_field, *([id_field] if id_field else [])], "--text-field")
    wanted = [n for n in dict.fromkeys([text_field, "target", *(id_field and [id_field] or []), *fields]) if n in names]
    number = 0
    for record_batch in handle.iter_batches(batch_size=1024, columns=wanted):
        for row in record_batch.to_pylist():
            number += 1
            where = f"{path}:{number}"
            if not isinstance(row.get(text_field), str):
                raise DataError(
                    f"{where} has no text in column {text_field!r} (got {type(row.get(text_field)).__name__}); "
                    "expected a string. Fix: drop or fill empty rows."
                )
            yield _ident(row, id_field, where, "column"), _doc(row, where, text_field)


def _check_columns(path: Path, columns: Sequence[str], needed: Sequence[str], option: str) -> None:
    missing = [c for c in needed if c not in columns]
    if missing:
        raise DataError(
            f"{path} has no column {missing[0]!r}; expected the columns {list(needed)}, got {list(columns)[:10]}. "
            f"Fix: name the text column with {option} (and the id column with --id-field)."
        )


def _ident(row: dict, id_field: str | None, where: str, kind: str) -> str:
    if not id_field:
        return where
    value = row.get(id_field)
    if value is None or value == "":
        raise DataError(f"{where} has no {id_field!r} {kind} (--id-field); expected an id on every row. Fix: fill it.")
    return str(value)


def _doc(row: dict, where: str, text_field: str) -> dict:
    text = row[text_field]
    if not text.strip():
        raise DataError(
            f"{where} has an empty {text_field!r}; expected some text, as in training, which refuses empty rows. "
            "Fix: drop or fill empty inputs before predicting."
        )
    return {**row, "text": text}


# -- the scoring loop -----------------------------------------------------------------------------------------
def score(predictor: Any, records: Iterable[Record], write: Callable[[list[str], list[str], np.ndarray], None],
          batch_size: int = 64, progress: Callable[[int], None] | None = None) -> int:
    """Predict ``records`` batch by batch and pass ``(ids, labels, probabilities)`` of each batch to ``write``.

    At most ``batch_size`` documents are held at a time. Returns the number of documents scored."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise DataError(f"--batch-size must be an integer >= 1; got {batch_size!r}. Fix: e.g. --batch-size 64.")
    stream, done = iter(records), 0
    while chunk := list(islice(stream, batch_size)):
        ids = [ident for ident, _ in chunk]
        proba = _proba(predictor, ids, [doc for _, doc in chunk])
        del chunk
        write(ids, [predictor.labels[i] for i in np.argmax(proba, axis=1)], proba)
        done += len(ids)
        if progress:
            progress(len(ids))
    return done


def _proba(predictor: Any, ids: list[str], docs: list[dict]) -> np.ndarray:
    """The batch's probabilities; a refused document is named by its id (file:line), not its batch position."""
    try:
        return predictor.predict_proba(docs)
    except NlpkitError:
        for ident, doc in zip(ids, docs):
            try:
                predictor.prepare([doc])
            except NlpkitError as one:
                message = re.sub(r"^Input 0\b", ident, one_line(one))
                raise type(one)(message if message.startswith(ident) else f"{ident}: {message}") from None
        raise
