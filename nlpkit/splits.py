"""Split policies: predefined, stratified random, grouped (stratified: nlpkit.group_split), by time; CV folds
(duplicates: nlpkit.duplicates). ``data.split.validation_size=0`` leaves no validation split.

Rows whose split column names one of ``extra_eval`` (e.g. ``test_ood``) stay out of the pool that the
random, group and time policies divide, and are evaluated as they are.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, Iterator

import numpy as np
from datasets import ClassLabel, Dataset, DatasetDict
from omegaconf import DictConfig
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from nlpkit.config import SplitPolicy
from nlpkit.errors import DataError
from nlpkit.group_split import assign, group_keys
from nlpkit.validation import group_columns


def split_dataset(ds: Dataset, split_cfg: DictConfig, where: str) -> DatasetDict:
    """Split ``ds`` by the configured policy into train/validation/test (+ extra evaluation splits)."""
    policy = split_cfg.policy if isinstance(split_cfg.policy, SplitPolicy) else SplitPolicy(split_cfg.policy)
    if policy is SplitPolicy.predefined:
        return _predefined(ds, split_cfg, where)
    pool, extras = _hold_out_extras(ds, split_cfg)
    if policy is SplitPolicy.group:
        out = _group_split(pool, split_cfg, where)
    elif policy is SplitPolicy.time:
        out = _time_split(pool, split_cfg, where)
    else:
        out = _random_split(pool, split_cfg, where)
    out.update(extras)
    return out


def _random_split(pool: Dataset, split_cfg: DictConfig, where: str) -> DatasetDict:
    _check_stratifiable(pool["label"], split_cfg, where)
    rest_test = _stratified(pool, split_cfg.test_size, split_cfg.seed)
    if not split_cfg.validation_size:
        return DatasetDict(train=rest_test["train"], test=rest_test["test"])
    val_share = split_cfg.validation_size / (1 - split_cfg.test_size)
    train_val = _stratified(rest_test["train"], val_share, split_cfg.seed)
    return DatasetDict(train=train_val["train"], validation=train_val["test"], test=rest_test["test"])


DIVIDED = ("train", "validation", "test")  # the splits a policy divides the data into (extras are kept as they are)


def split_shares(splits: DatasetDict) -> dict[str, float]:
    """How the documents went: each of train/validation/test's share of their documents (``share/<split>``) and,
    per class, the share of that class's documents in each (``share/<split>/<label>``)."""
    divided = {name: splits[name] for name in DIVIDED if name in splits}
    totals = Counter(label for part in divided.values() for label in part["label"])
    n_all = sum(totals.values()) or 1
    report: dict[str, float] = {}
    for name, part in divided.items():
        counts = Counter(part["label"])
        report[f"share/{name}"] = len(part) / n_all
        report.update({f"share/{name}/{label}": counts.get(label, 0) / n for label, n in sorted(totals.items())})
    return report


def format_shares(sizes: dict[str, int]) -> str:
    """One line from split sizes: ``train 1200 (65.0%) | validation 276 (15.0%) | test 368 (20.0%) | test_ood 140``
    (shares of train + validation + test; extra evaluation splits are counted only)."""
    n_all = sum(n for name, n in sizes.items() if name in DIVIDED) or 1
    return " | ".join(f"{name} {n} ({n / n_all:.1%})" if name in DIVIDED else f"{name} {n}" for name, n in sizes.items())


def _hold_out_extras(ds: Dataset, split_cfg: DictConfig) -> tuple[Dataset, dict[str, Dataset]]:
    if "__split" not in ds.column_names or not split_cfg.extra_eval:
        return ds, {}
    names = list(ds["__split"])
    extras = {e: ds.select([i for i, n in enumerate(names) if n == e]) for e in split_cfg.extra_eval if e in names}
    pool = ds.select([i for i, n in enumerate(names) if n not in extras])
    return pool, extras


def _time_split(ds: Dataset, split_cfg: DictConfig, where: str) -> DatasetDict:
    col = split_cfg.date_column
    _require_column(ds, col, "data.split.policy=time needs a date column", where,
                    "set data.split.date_column (ISO dates sort correctly as text)")
    order = np.argsort(_parse_dates(list(ds[col]), col, where), kind="stable")
    n_test = int(round(len(order) * split_cfg.test_size))
    n_val = int(round(len(order) * split_cfg.validation_size))
    n_train = len(order) - n_test - n_val
    out = DatasetDict(train=ds.select(order[:n_train]), validation=ds.select(order[n_train:n_train + n_val]),
                      test=ds.select(order[n_train + n_val:]))
    return out if n_val else DatasetDict(train=out["train"], test=out["test"])


def _parse_dates(values: list, column: str, where: str) -> np.ndarray:
    """The dates as datetime64 (ISO 8601 text, or date/datetime values); DataError naming unparsable rows."""
    import pandas as pd

    parsed = pd.to_datetime(pd.Series([None if v is None else str(v) for v in values], dtype=object),
                            errors="coerce", format="ISO8601", utc=True)
    bad = np.flatnonzero(parsed.isna().to_numpy())
    if len(bad):
        examples = {int(i): values[i] for i in bad[:3]}
        raise DataError(
            f"{where}: {len(bad)} value(s) of the date column {column!r} are missing or not ISO 8601 dates, e.g. "
            f"(row: value) {examples}; expected values like 2021-03-04 or 2021-03-04T12:00:00. Fix: convert them "
            "to ISO 8601, drop those rows, or use another data.split.policy."
        )
    return parsed.to_numpy(dtype="datetime64[ns]")


def _require_column(ds: Dataset, column: str, need: str, where: str, fix: str) -> None:
    if column not in ds.column_names:
        raise DataError(f"{need} {column!r}, but {where} has columns {ds.column_names}. Fix: {fix}.")


def _stratified(ds: Dataset, size: float, seed: int) -> DatasetDict:
    names = sorted(set(ds["label"]))
    tmp = ds.add_column("__stratum", [names.index(l) for l in ds["label"]])
    tmp = tmp.cast_column("__stratum", ClassLabel(names=names))
    out = tmp.train_test_split(test_size=size, stratify_by_column="__stratum", seed=seed)
    return DatasetDict({k: v.remove_columns("__stratum") for k, v in out.items()})


def _check_stratifiable(labels: list[str], split_cfg: DictConfig, where: str) -> None:
    counts = Counter(labels)
    need = 3 if split_cfg.validation_size else 2  # one example each for train, (validation) and test
    small = {label: n for label, n in counts.items() if n < need}
    if small:
        label, n = min(small.items(), key=lambda kv: kv[1])
        raise DataError(
            f"{where}: class {label!r} has {n} example(s); a stratified train/validation/test split needs at "
            f"least {need} per class (too small: {small}). Fix: add examples, merge or drop the class "
            "(data.label_map / data.drop_unmapped), or use data.split.policy=predefined."
        )


def _group_split(ds: Dataset, split_cfg: DictConfig, where: str) -> DatasetDict:
    """Whole groups (the joint value of ``group_column``'s columns) per split, stratified by class."""
    columns = group_columns(split_cfg.group_column)
    for col in columns:
        _require_column(ds, col, "data.split.policy=group needs a group column", where,
                        "set data.split.group_column to an existing column (e.g. source) or a list of them")
    groups = group_keys({col: list(ds[col]) for col in columns}, where)
    shares = {"train": 1 - split_cfg.test_size - split_cfg.validation_size,
              "validation": split_cfg.validation_size, "test": split_cfg.test_size}
    needed = sum(share > 0 for share in shares.values())
    found = sorted(set(groups))
    if len(found) < needed:
        raise DataError(
            f"{where}: a group split into {needed} splits needs at least {needed} distinct groups (values of "
            f"{columns}); got {len(found)}: {[g.replace(chr(31), ' / ') for g in found]}. "
            "Fix: group by a column with more values, or use data.split.policy=random."
        )
    rows = assign(groups, list(ds["label"]), shares, split_cfg.seed)
    return DatasetDict({name: ds.select(index) for name, index in rows.items()})


def _predefined(ds: Dataset, split_cfg: DictConfig, where: str) -> DatasetDict:
    if "__split" not in ds.column_names:
        raise DataError(
            f"data.split.policy=predefined needs a split column {split_cfg.column!r} (or one file per split in "
            f"data.files), but {where} has columns {ds.column_names}. Fix: set data.split.policy=random or group."
        )
    names = Counter(ds["__split"])
    for needed in (split_cfg.train, split_cfg.test):
        if needed not in names:
            raise DataError(
                f"{where}: split {needed!r} not found in column {split_cfg.column!r}; found {dict(names)}. "
                "Fix: name the splits with data.split.train / data.split.test, or use data.split.policy=random."
            )
    index: dict[str, list[int]] = {name: [] for name in names}
    for i, name in enumerate(ds["__split"]):
        index[name].append(i)
    out = {"train": ds.select(index[split_cfg.train]), "test": ds.select(index[split_cfg.test])}
    if split_cfg.validation in names:
        out["validation"] = ds.select(index[split_cfg.validation])
    elif split_cfg.validation_size:
        _check_stratifiable(out["train"]["label"], split_cfg, where)
        carved = _stratified(out["train"], split_cfg.validation_size, split_cfg.seed)
        out["train"], out["validation"] = carved["train"], carved["test"]
    for extra in split_cfg.extra_eval:
        if extra in names:
            out[extra] = ds.select(index[extra])
    return DatasetDict(out)


def cv_folds(pool: Dataset, folds: int, seed: int, group_column: Any) -> Iterator[tuple[list[int], list[int]]]:
    """Seeded stratified (or stratified grouped: ``group_column`` one column or a list) k-fold indices over ``pool``."""
    labels = list(pool["label"])
    smallest = min(Counter(labels).values())
    if smallest < folds:
        raise DataError(
            f"cv.folds={folds} needs at least {folds} examples per class; the smallest class has {smallest}. "
            "Fix: use fewer folds."
        )
    columns = group_columns(group_column, "cv.group_column")
    if columns:
        for col in columns:
            _require_column(pool, col, "cv.group_column names", "the training data", "name an existing column")
        groups = group_keys({col: list(pool[col]) for col in columns}, "the training data")
        splitter = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
        split = splitter.split(np.zeros(len(labels)), labels, groups=groups)
    else:
        split = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed).split(np.zeros(len(labels)), labels)
    for train_idx, val_idx in split:
        yield train_idx.tolist(), val_idx.tolist()
