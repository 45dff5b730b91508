"""Load, validate and split data for a task.

Every source goes through ``datasets``: the embedded corpus and local files with ``load_dataset``, a saved
dataset with ``load_from_disk``, a hub dataset by name. The result is a ``DatasetDict`` with the splits
``train``, ``validation`` and ``test`` (plus configured extra evaluation splits such as ``test_ood``), each
with the columns ``text`` (the joined text fields), ``label`` and, for stance, ``target``, beside the
original columns.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import datasets
from datasets import Dataset, DatasetDict
from omegaconf import DictConfig
from nlpkit.config import DataSource
from nlpkit.corpus import corpus_path
from nlpkit.errors import DataError
from nlpkit.splits import remove_near_duplicates, split_dataset

log = logging.getLogger(__name__)
FILE_FORMATS = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}


def load_data(data_cfg: DictConfig, task_cfg: DictConfig, report: dict[str, float] | None = None) -> DatasetDict:
    """Load the configured data set, validate it for the task and return its splits.

    ``report``, if given, receives counts worth logging (e.g. ``near_duplicates_removed``).
    """
    datasets.disable_progress_bars()
    raw, where = _load_raw(data_cfg)
    ds = _as_one_dataset(raw, data_cfg.split.column)
    ds = _rename_columns(ds, data_cfg.columns, where)
    if data_cfg.max_rows:
        ds = ds.shuffle(seed=data_cfg.split.seed).select(range(min(data_cfg.max_rows, len(ds))))
    ds = _normalise(ds, data_cfg, task_cfg, where)
    splits = split_dataset(ds, data_cfg.split, where)
    if data_cfg.split.dedupe:
        splits, removed = remove_near_duplicates(splits, data_cfg.split.dedupe_threshold)
        if report is not None:
            report["near_duplicates_removed"] = float(removed)
    _check_train(splits["train"], where)
    return splits


def model_inputs(ds: Dataset) -> list[Any]:
    """What a model sees: the texts, or (target, text) pairs when the dataset has a ``target`` column."""
    texts = list(ds["text"])
    if "target" in ds.column_names:
        return list(zip(list(ds["target"]), texts))
    return texts


def dataset_digest(ds: Dataset) -> str:
    """SHA-256 over every row's text, label, target and split: a content digest of the whole dataset."""
    digest = hashlib.sha256()
    cols = [c for c in ("text", "label", "target", "__split") if c in ds.column_names]
    for row in ds.select_columns(cols).iter(batch_size=1000):
        digest.update(json.dumps(row, ensure_ascii=False, sort_keys=True).encode())
    return digest.hexdigest()[:16]


def _load_raw(cfg: DictConfig) -> tuple[Dataset | DatasetDict, str]:
    source = DataSource(cfg.source) if not isinstance(cfg.source, DataSource) else cfg.source
    if source is DataSource.embedded:
        path = corpus_path(cfg.name)
        return datasets.load_dataset("json", data_files=str(path), split="train"), str(path)
    if source is DataSource.file:
        return _load_files(cfg)
    if source is DataSource.disk:
        if not cfg.path or not Path(cfg.path).exists():
            raise DataError(
                f"data.path={cfg.path!r} does not exist; expected a directory written by save_to_disk. "
                "Fix: set data.path to that directory."
            )
        return datasets.load_from_disk(cfg.path), cfg.path
    return datasets.load_dataset(cfg.path, cfg.hub_config), f"hub:{cfg.path}"


def _load_files(cfg: DictConfig) -> tuple[Dataset | DatasetDict, str]:
    files = dict(cfg.files) if cfg.files else {"train": cfg.path}
    if not all(files.values()):
        raise DataError("data.source=file needs data.path (one file) or data.files (split -> file). Fix: set one.")
    for path in files.values():
        if not Path(path).is_file():
            raise DataError(f"Data file {path!r} does not exist. Fix: check data.path / data.files.")
    suffixes = {Path(p).suffix.lower() for p in files.values()}
    fmt = {FILE_FORMATS.get(s) for s in suffixes}
    if None in fmt or len(fmt) != 1:
        raise DataError(
            f"Cannot read data files with suffixes {sorted(suffixes)}; expected one of {sorted(FILE_FORMATS)}. "
            "Fix: convert the file(s) to CSV, JSONL or Parquet."
        )
    kwargs = {"delimiter": "\t"} if suffixes == {".tsv"} else {}
    loaded = datasets.load_dataset(fmt.pop(), data_files=files, **kwargs)
    where = ", ".join(files.values())
    return (loaded["train"] if not cfg.files else loaded), where


def _as_one_dataset(raw: Dataset | DatasetDict, split_column: str) -> Dataset:
    if isinstance(raw, Dataset):
        return raw.add_column("__split", list(raw[split_column])) if split_column in raw.column_names else raw
    parts = [part.add_column("__split", [name] * len(part)) for name, part in raw.items()]
    return datasets.concatenate_datasets(parts)


def _rename_columns(ds: Dataset, columns: DictConfig, where: str) -> Dataset:
    mapping = {}
    for canonical, original in (columns or {}).items():
        if original is None:
            continue
        if original not in ds.column_names:
            raise DataError(
                f"data.columns.{canonical}={original!r}, but {where} has no column {original!r}. "
                f"Columns found: {ds.column_names}. Fix: name one of those."
            )
        if original != canonical:
            mapping[original] = canonical
    clash = [c for c in mapping.values() if c in ds.column_names and c not in mapping]
    ds = ds.remove_columns(clash) if clash else ds
    return ds.rename_columns(mapping) if mapping else ds


def _normalise(ds: Dataset, data_cfg: DictConfig, task: DictConfig, where: str) -> Dataset:
    body, label_col = task.text_fields[-1], task.label_column
    required = [body, label_col] + ([task.target_field] if task.target_field else [])
    for col in required:
        if col not in ds.column_names:
            role = "label" if col == label_col else "target" if col == task.target_field else "text"
            raise DataError(
                f"{where} has no {role} column {col!r} (task {task.name.value if hasattr(task.name, 'value') else task.name} "
                f"needs {required}). Columns found: {ds.column_names}. "
                f"Fix: map your column with data.columns.{col}=<your column name>."
            )
    extra = [f for f in task.text_fields[:-1] if f in ds.column_names]
    rows = ds.select_columns([*extra, body, label_col] + ([task.target_field] if task.target_field else []))
    texts, labels, targets = [], [], []
    for row in rows:
        texts.append("\n\n".join(str(row[f]).strip() for f in [*extra, body] if row[f] is not None and str(row[f]).strip()))
        labels.append(None if row[label_col] is None else str(row[label_col]))
        if task.target_field:
            targets.append("" if row[task.target_field] is None else str(row[task.target_field]).strip())
    empty = [i for i, r in enumerate(rows) if r[body] is None or not str(r[body]).strip()]
    if empty:
        raise DataError(
            f"{where}: {len(empty)} row(s) have an empty text in column {body!r} (first rows: {empty[:5]}). "
            "Fix: remove those rows or fill in their text."
        )
    if task.target_field and any(not t for t in targets):
        bad = [i for i, t in enumerate(targets) if not t][:5]
        raise DataError(f"{where}: empty target in column {task.target_field!r} (rows {bad}). Fix: give every row a target.")
    labels, keep = _map_labels(labels, data_cfg, task, where)
    ds = ds.add_column("__text", texts).add_column("__label", [l if l is not None else "" for l in labels])
    if task.target_field:
        ds = ds.add_column("__target", targets)
    if keep is not None:
        ds = ds.select(keep)
    drop = [c for c in ("text", "label", "target") if c in ds.column_names]
    ds = ds.remove_columns(drop).rename_columns({"__text": "text", "__label": "label"})
    return ds.rename_column("__target", "target") if task.target_field else ds


def _map_labels(labels: list, data_cfg: DictConfig, task: DictConfig, where: str) -> tuple[list, list | None]:
    mapping = {str(k): str(v) for k, v in (data_cfg.label_map or {}).items()}
    allowed = list(task.labels)
    missing = [i for i, l in enumerate(labels) if l is None]
    if missing:
        raise DataError(
            f"{where}: {len(missing)} row(s) have no label in column {task.label_column!r} (first rows: {missing[:5]}). "
            "Fix: label them or remove them."
        )
    if mapping:
        bad_targets = sorted(set(mapping.values()) - set(allowed))
        if bad_targets:
            raise DataError(f"data.label_map maps to {bad_targets}, which are not task labels {allowed}. Fix: map onto {allowed}.")
        labels = [mapping.get(l, l) for l in labels]
    unknown = Counter(l for l in labels if l not in allowed)
    if unknown and data_cfg.drop_unmapped:
        keep = [i for i, l in enumerate(labels) if l in allowed]
        log.warning("Dropped %d rows with labels outside %s: %s", len(labels) - len(keep), allowed, dict(unknown))
        return labels, keep
    if unknown:
        value, count = unknown.most_common(1)[0]
        raise DataError(
            f"{where}: column {task.label_column!r} has label(s) {sorted(unknown)} outside the task's labels {allowed} "
            f"(e.g. {value!r} in {count} rows). Fix: map them, e.g. '+data.label_map.{value}=<label>' or "
            "'data.label_map={<value>: <label>, ...}', "
            "or set data.drop_unmapped=true to drop those rows."
        )
    return labels, None


def _check_train(train: Dataset, where: str) -> None:
    classes = Counter(train["label"])
    if len(classes) < 2:
        raise DataError(
            f"{where}: the training split has only {len(classes)} class(es) {dict(classes)}; a classifier needs at "
            "least two. Fix: check the label column and data.label_map, or the split settings."
        )
