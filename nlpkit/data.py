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
import re
from collections import Counter
from pathlib import Path
from typing import Any, Callable

import datasets
from datasets import Dataset, DatasetDict
from omegaconf import DictConfig

from nlpkit.config import DataSource
from nlpkit.corpus import corpus_path
from nlpkit.datafiles import cause, check_files, read_files
from nlpkit.duplicates import handle_duplicates
from nlpkit.errors import DataError
from nlpkit.splits import format_shares, split_dataset, split_shares

log = logging.getLogger(__name__)


def load_data(data_cfg: DictConfig, task_cfg: DictConfig, report: dict[str, float] | None = None) -> DatasetDict:
    """Load the configured data set, validate it for the task and return its splits.

    Documents of the evaluation splits that duplicate a training document are handled by
    ``data.split.dedupe`` (see ``nlpkit.duplicates.handle_duplicates``). ``report``, if given, receives counts worth
    logging (``duplicates_exact``, ``duplicates_near``, ``duplicates_dropped``, ``duplicates/<split>``) and the
    achieved split shares (``share/<split>``, ``share/<split>/<label>``: ``nlpkit.splits.split_shares``).
    """
    datasets.disable_progress_bars()
    raw, where = _load_raw(data_cfg)
    ds = _as_one_dataset(raw, data_cfg.split.column)
    ds = _rename_columns(ds, data_cfg.columns, where)
    if data_cfg.max_rows:
        ds = ds.shuffle(seed=data_cfg.split.seed).select(range(min(data_cfg.max_rows, len(ds))))
    _check_slices(ds, data_cfg, where)
    ds = _normalise(ds, data_cfg, task_cfg, where)
    splits = split_dataset(ds, data_cfg.split, where)
    report = report if report is not None else {}
    splits = handle_duplicates(splits, data_cfg.split, where, report)
    _check_train(splits["train"], where)
    report.update(split_shares(splits))
    policy = getattr(data_cfg.split.policy, "value", data_cfg.split.policy)
    log.debug("split (%s): %s", policy, format_shares({name: len(part) for name, part in splits.items()}))
    return splits


def load_labelled(data_cfg: DictConfig, task_cfg: DictConfig, check: Callable[[Dataset, str], None] | None = None) -> Dataset:
    """One labelled data set, unsplit, read and normalised exactly as for training (columns renamed by
    ``data.columns``, text fields joined, labels mapped by ``data.label_map``): what ``nlpkit evaluate`` scores.
    ``check(raw, where)``, if given, sees the rows as read (before renaming) and may raise its own errors."""
    datasets.disable_progress_bars()
    raw, where = _load_raw(data_cfg)
    ds = _as_one_dataset(raw, data_cfg.split.column)
    if check is not None:
        check(ds, where)
    ds = _rename_columns(ds, data_cfg.columns, where)
    return _normalise(ds, data_cfg, task_cfg, where)


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
        return read_files("json", {"train": str(path)}, split="train"), str(path)
    if source is DataSource.file:
        return _load_files(cfg)
    if source is DataSource.disk:
        return _load_disk(cfg.path), cfg.path
    try:
        return datasets.load_dataset(cfg.path, cfg.hub_config), f"hub:{cfg.path}"
    except Exception as err:  # no network, unknown name, wrong config name: datasets raises many kinds
        raise DataError(
            f"Could not load the hub dataset data.path={cfg.path!r} (data.hub_config={cfg.hub_config!r}): {cause(err)}. "
            "Fix: check the name; offline, save it once with save_to_disk and use data=disk data.path=<folder>."
        ) from err


def _load_disk(path: str | None) -> Dataset | DatasetDict:
    if not path or not Path(path).is_dir():
        what = "is a file" if path and Path(path).is_file() else "does not exist"
        raise DataError(
            f"data.path={path!r} {what}; expected a directory written by save_to_disk. "
            "Fix: set data.path to that directory (or use data=file for a CSV/JSONL/Parquet file)."
        )
    try:
        return datasets.load_from_disk(path)
    except Exception as err:  # FileNotFoundError for a folder that save_to_disk did not write, and others
        raise DataError(
            f"data.path={path!r} is not a dataset written by save_to_disk ({cause(err)}). "
            "Fix: point data.path at the folder holding dataset_dict.json or state.json, or use data=file."
        ) from err


def _load_files(cfg: DictConfig) -> tuple[Dataset | DatasetDict, str]:
    files = dict(cfg.files) if cfg.files else {"train": cfg.path}
    if not all(files.values()):
        raise DataError("data.source=file needs data.path (one file) or data.files (split -> file). Fix: set one.")
    if cfg.files:
        _check_split_files(files, cfg.split)
    builder = check_files(files, "data.files" if cfg.files else "data.path")
    kwargs = {"delimiter": "\t"} if {Path(p).suffix.lower() for p in files.values()} == {".tsv"} else {}
    loaded = read_files(builder, files, **kwargs)
    where = ", ".join(files.values())
    return (loaded["train"] if not cfg.files else loaded), where


def _check_split_files(files: dict[str, str], split: DictConfig) -> None:
    policy = getattr(split.policy, "value", split.policy)
    known = [split.train, split.validation, split.test, *split.extra_eval]
    needed = [split.train, split.test] if policy == "predefined" else [split.train]
    missing = [name for name in needed if name not in files]
    unknown = [name for name in files if name not in known] if policy == "predefined" else []
    if missing or unknown:
        problem = f"no file for split(s) {missing}" if missing else f"split name(s) {unknown} that nlpkit does not use"
        raise DataError(
            f"data.files has {problem}; expected keys among {known} (at least {needed}), got {sorted(files)}. "
            f"Fix: e.g. data.files.{(missing or [split.train])[0]}=/path/to/file, or rename the split names with "
            "data.split.train / data.split.validation / data.split.test."
        )


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
                f"data.columns.{canonical!s}={original!r}, but {where} has no column {original!r}. "
                f"Columns found: {ds.column_names}. Fix: name one of those."
            )
        if original != canonical:
            mapping[original] = canonical
    clash = [c for c in mapping.values() if c in ds.column_names and c not in mapping]
    ds = ds.remove_columns(clash) if clash else ds
    return ds.rename_columns(mapping) if mapping else ds


def _check_slices(ds: Dataset, data_cfg: DictConfig, where: str) -> None:
    missing = [s for s in data_cfg.slices if s != "length" and s not in ds.column_names]
    if missing:
        raise DataError(
            f"data.slices names column(s) {missing} that {where} lacks; expected columns of the data or 'length'. "
            f"Columns found: {ds.column_names}. Fix: drop them from data.slices (e.g. data.slices=[])."
        )


def _normalise(ds: Dataset, data_cfg: DictConfig, task: DictConfig, where: str) -> Dataset:
    body, label_col, target_col = task.text_fields[-1], task.label_column, task.target_field
    required = [body, label_col] + ([target_col] if target_col else [])
    for col in required:
        if col not in ds.column_names:
            role = "label" if col == label_col else "target" if col == target_col else "text"
            raise DataError(
                f"{where} has no {role} column {col!r} (task {getattr(task.name, 'value', task.name)} "
                f"needs {required}). Columns found: {ds.column_names}. "
                f"Fix: map your column with data.columns.{col}=<your column name>."
            )
    fields = [f for f in task.text_fields[:-1] if f in ds.column_names] + [body]
    texts = _joined_texts(ds, fields, where)
    labels = [None if v is None else str(v) for v in ds[label_col]]
    targets = _texts_of(ds, target_col, where) if target_col else []
    labels, keep = _map_labels(labels, data_cfg, task, where)
    ds = ds.add_column("__text", texts).add_column("__label", [l if l is not None else "" for l in labels])
    if target_col:
        ds = ds.add_column("__target", targets)
    if keep is not None:
        ds = ds.select(keep)
    drop = [c for c in ("text", "label", "target") if c in ds.column_names]
    ds = ds.remove_columns(drop).rename_columns({"__text": "text", "__label": "label"})
    return ds.rename_column("__target", "target") if target_col else ds


def _joined_texts(ds: Dataset, fields: list[str], where: str) -> list[str]:
    """Each row's text fields joined by a blank line; the body (last field) must be a non-empty string."""
    columns = [_texts_of(ds, f, where, optional=f != fields[-1]) for f in fields]
    return ["\n\n".join(part for part in parts if part) for parts in zip(*columns)]


def _texts_of(ds: Dataset, column: str, where: str, optional: bool = False) -> list[str]:
    values = ds[column]
    wrong = [i for i, v in enumerate(values) if v is not None and not isinstance(v, str)]
    if wrong and not (optional and all(isinstance(values[i], (int, float)) for i in wrong)):
        i = wrong[0]
        raise DataError(
            f"{where}: column {column!r} must hold text (strings); {len(wrong)} row(s) hold other values, e.g. "
            f"row {i} (0-based) holds a {type(values[i]).__name__}: {str(values[i])[:40]!r}. "
            f"Fix: store {column!r} as strings, or map another column with data.columns.{column}=<column>."
        )
    texts = ["" if v is None else str(v).strip() for v in values]
    empty = [i for i, t in enumerate(texts) if not t]
    if empty and not optional:
        raise DataError(
            f"{where}: {len(empty)} row(s) have an empty text in column {column!r} (first rows: {empty[:5]}; 0-based, "
            "header not counted); expected non-blank text. Fix: remove those rows or fill in their text."
        )
    return texts


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
        unused = sorted(set(mapping) - set(labels))
        if unused:
            log.warning("data.label_map keys %s match no label in %s (labels found: %s)", unused, where, sorted(set(labels))[:20])
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
            f"(e.g. {value!r} in {count} rows). Fix: map them, e.g. {label_map_hint(value, allowed[0])}, "
            "or set data.drop_unmapped=true to drop those rows."
        )
    return labels, None


def label_map_hint(value: str, label: str) -> str:
    """A command-line override that maps the data's label ``value`` to the task label ``label``, in a form Hydra
    parses for that value (a dotted key, else the dict form, else a data config file)."""
    if value.lower() in ("true", "false", "null", "none"):  # Hydra would read a bool or null, not the text
        return f"label_map: {{{json.dumps(value)}: {label}}} in a data config file (configs/data/<yours>.yaml)"
    if re.fullmatch(r"[A-Za-z_$][A-Za-z0-9_$-]*|[0-9]+", value):  # a key Hydra's override grammar takes
        return f"data.label_map.{value}={label}"
    if not re.search(r"[:,{}\[\]'\"=\\$]", value) and value.strip() == value and _reads_as_text(value):
        return f"'data.label_map={{{value}: {label}}}'"
    return f"label_map: {{{json.dumps(value)}: {label}}} in a data config file (configs/data/<yours>.yaml)"


def _reads_as_text(value: str) -> bool:
    """Whether Hydra's dict form keeps ``value`` as it is (a number key comes back as ``str(float)``)."""
    try:
        return str(float(value)) == value
    except ValueError:
        return True


def _check_train(train: Dataset, where: str) -> None:
    classes = Counter(train["label"])
    if len(classes) < 2:
        raise DataError(
            f"{where}: the training split has only {len(classes)} class(es) {dict(classes)}; a classifier needs at "
            "least two. Fix: check the label column and data.label_map, or the split settings."
        )
