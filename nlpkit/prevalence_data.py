"""Inputs of prevalence estimation: the documents and their groups, and the validation predictions.

* ``validation.npz`` is written by training into every predictor before it is sealed (so its digest covers
  it): the validation split's true labels (indices into the predictor's labels), its predicted
  probabilities and the training label counts. It holds numeric and fixed-width string arrays only and is
  read with ``allow_pickle=False`` after a bound on its unpacked size: loading runs no code.
* ``read_documents`` reads the same files as ``nlpkit predict`` (``nlpkit.batch.read_inputs``) and turns a
  ``--by COLUMN[:month|week|year]`` spec into one group value per document.
"""

from __future__ import annotations

import zipfile
from datetime import date, datetime
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from nlpkit import npz
from nlpkit.errors import DataError, ModelLoadError, one_line
from nlpkit.prevalence import ValidationRecord

VALIDATION_FILE = "validation.npz"
MAX_VALIDATION_BYTES = 1 << 30
PERIODS = ("month", "week", "year")


# -- the validation record inside a predictor ------------------------------------------------------------------
def validation_bytes(record: ValidationRecord) -> bytes:
    """``record`` as the bytes of ``validation.npz`` (``nlpkit.npz``: the same record gives the same bytes, so a
    re-trained identical model keeps its digest)."""
    return npz.to_bytes({
        "labels": np.asarray(record.labels, dtype=np.int32), "proba": np.asarray(record.proba, dtype=np.float64),
        "train_counts": np.asarray(record.train_counts, dtype=np.int64),
        "label_names": np.asarray(record.label_names, dtype=np.str_),
    })


def record_from_split(labels: Sequence[str], y_true: Sequence[str], proba: np.ndarray,
                      train_labels: Sequence[str]) -> ValidationRecord:
    """A ValidationRecord from string labels (validation truth, training truth) and probabilities."""
    codes = {label: i for i, label in enumerate(labels)}
    return ValidationRecord(np.array([codes[v] for v in y_true], dtype=np.int32), np.asarray(proba, dtype=float),
                            np.bincount([codes[v] for v in train_labels], minlength=len(labels)), tuple(labels))


def read_validation(predictor: Any) -> ValidationRecord | None:
    """The predictor's stored validation record (``Predictor.data_files``, read with it at load), or None when it has none
    (predictors trained before nlpkit stored one, or without a validation split: pass ``--validation`` for those)."""
    data = getattr(predictor, "data_files", {}).get(VALIDATION_FILE)
    if data is None:
        return None
    path = Path(getattr(predictor, "path", None) or ".") / VALIDATION_FILE
    try:
        unpacked = npz.unpacked_size(data)
        if unpacked > MAX_VALIDATION_BYTES:
            raise ModelLoadError(f"{path} would unpack to {unpacked} bytes; expected at most {MAX_VALIDATION_BYTES}. "
                                 "Fix: get the predictor again from a source you trust.")
        stored = npz.load(data)
        arrays = {key: stored[key] for key in ("labels", "proba", "train_counts", "label_names")}
    except (zipfile.BadZipFile, KeyError, ValueError) as err:
        raise ModelLoadError(f"{path} is not a validation record written by nlpkit ({one_line(err, 200)}); expected "
                             "arrays labels, proba, train_counts, label_names. Fix: get the predictor again.") from None
    return ValidationRecord(arrays["labels"].astype(int), arrays["proba"], arrays["train_counts"],
                            tuple(str(x) for x in arrays["label_names"]))


def validation_from_file(predictor: Any, path: Path, label_field: str = "label", text_field: str = "text",
                         target: str | None = None) -> ValidationRecord:
    """A validation record from a labelled file (``--validation``): the predictor scores it here. The training
    prior (for ``sld``) comes from the predictor's stored record when it has one, else from this file's labels."""
    docs, _ = read_documents([path], text_field, target, None, fields=[label_field], predictor=predictor)
    labels = predictor.labels
    missing = [i for i, d in enumerate(docs) if str(d.get(label_field, "")) not in labels]
    if missing:
        got = docs[missing[0]].get(label_field)
        raise DataError(
            f"{path}: row {missing[0] + 1} has {label_field}={got!r}; expected one of the predictor's labels {labels} "
            "in every row of the validation file. Fix: name the label column with --label-field, or map the labels."
        )
    y_true = [str(d[label_field]) for d in docs]
    record = record_from_split(labels, y_true, predictor.predict_proba(docs), y_true)
    stored = read_validation(predictor)
    if stored is None:
        return record
    return ValidationRecord(record.labels, record.proba, stored.train_counts, record.label_names)


# -- documents and groups --------------------------------------------------------------------------------------
def read_documents(files: Sequence[Path], text_field: str = "text", target: str | None = None, by: str | None = None,
                   fields: Sequence[str] = (), predictor: Any = None) -> tuple[list[dict], list[str] | None]:
    """The documents of ``files`` (as ``nlpkit predict`` reads them) and, with ``by``, one group per document."""
    from nlpkit import batch

    column, period = parse_by(by)
    wanted = [*fields, *([column] if column else [])]
    if predictor is not None:
        wanted += [*(predictor.metadata.get("text_fields") or []), predictor.metadata.get("target_field") or "target"]
    records = list(batch.read_inputs([Path(f) for f in files], text_field, target, None, wanted))
    if not records:
        raise DataError(f"{', '.join(map(str, files))} holds no documents; expected at least one. Fix: check the file.")
    if column is None:
        return [doc for _, doc in records], None
    return [doc for _, doc in records], [group_value(doc, where, column, period) for where, doc in records]


def parse_by(by: str | None) -> tuple[str | None, str | None]:
    """``"date:month"`` -> ``("date", "month")``; ``"source"`` -> ``("source", None)``."""
    if not by:
        return None, None
    column, _, period = by.partition(":")
    if not column or (period and period not in PERIODS):
        raise DataError(f"--by {by!r}: expected COLUMN or COLUMN:PERIOD with PERIOD one of {', '.join(PERIODS)}. "
                        "Fix: e.g. --by source or --by date:month.")
    return column, period or None


def group_value(doc: dict, where: str, column: str, period: str | None) -> str:
    """The group of one document: the column's value, or its date truncated to ``period``."""
    value = doc.get(column)
    if value is None or value == "":
        raise DataError(f"{where} has no {column!r} value; expected one in every row to group by (--by {column}). "
                        f"Fix: fill it, or check the column name (the row has: {sorted(doc)[:10]}).")
    if period is None:
        return str(value)
    day = _as_date(value, where, column)
    if period == "year":
        return f"{day.year:04d}"
    if period == "month":
        return f"{day.year:04d}-{day.month:02d}"
    year, week, _ = day.isocalendar()
    return f"{year:04d}-W{week:02d}"


def _as_date(value: Any, where: str, column: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    try:
        return datetime.fromisoformat(str(value).strip().replace("Z", "+00:00")).date()
    except ValueError:
        raise DataError(f"{where}: {column}={value!r} is not an ISO date; expected e.g. 2024-03-17 or "
                        "2024-03-17T09:30:00. Fix: write dates as ISO 8601, or group without a period.") from None
