"""Stratified group splits: whole groups go to one split each, chosen so that every split gets close to its
target share of the documents and of every class.

A greedy assignment in the spirit of scikit-learn's ``StratifiedGroupKFold``, but for any shares (e.g. 65/15/20
rather than k equal folds): groups are taken largest first (in a seeded random order within each size band)
and each goes to the split whose class counts it brings closest to the targets. The best of a few seeded
orders is kept. ``data.split.seed`` picks the orders, so different seeds give different (equally balanced)
splits. A group is the joint value of one or several columns (``data.split.group_column: [source, date]``).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from nlpkit.errors import DataError

MAX_STEPS = 20_000  # group placements over all restarts: keeps 100k groups to one pass, 1k groups to 20 restarts


def group_keys(columns: dict[str, list], where: str) -> list[str]:
    """One key per row: the joint value of the group columns (``columns``: name -> values)."""
    values = list(columns.values())
    missing = {name: sum(v is None for v in vals) for name, vals in columns.items() if any(v is None for v in vals)}
    if missing:
        raise DataError(
            f"{where}: the group column(s) {missing} have empty values (column: rows); expected a group for every "
            "row. Fix: fill them in (e.g. 'unknown'), drop those rows, or group by other columns."
        )
    return ["\x1f".join(str(v) for v in row) for row in zip(*values)]


def assign(groups: Sequence[str], labels: Sequence[str], shares: dict[str, float], seed: int) -> dict[str, np.ndarray]:
    """Row indices per split name: every group in one split, each split near its share of every class."""
    keys, row_group = np.unique(np.asarray(groups, dtype=object).astype(str), return_inverse=True)
    _, row_class = np.unique(np.asarray(labels, dtype=object).astype(str), return_inverse=True)
    counts = np.zeros((len(keys), row_class.max() + 1))
    np.add.at(counts, (row_group, row_class), 1)
    names = [name for name, share in shares.items() if share > 0]
    target = np.outer([shares[name] for name in names], counts.sum(axis=0))
    rng = np.random.default_rng(seed)
    best, best_cost = np.zeros(len(keys), dtype=int), np.inf
    for _ in range(max(1, min(20, MAX_STEPS // len(keys)))):
        placed = _greedy(counts, _order(counts, rng), target)
        cost = _cost(_filled(counts, placed, len(names)), target)
        if cost < best_cost:
            best, best_cost = placed, cost
    best = _fill_empty(counts, best, len(names))
    return {name: np.flatnonzero(best[row_group] == s) for s, name in enumerate(names)}


def _order(counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Largest groups first (by size band, a power of two), in random order within a band."""
    band = np.floor(np.log2(counts.sum(axis=1)))
    return np.lexsort((rng.random(len(counts)), -band))


def _greedy(counts: np.ndarray, order: np.ndarray, target: np.ndarray) -> np.ndarray:
    filled = np.zeros_like(target)
    placed = np.empty(len(counts), dtype=int)
    for g in order:
        before = _cost_rows(filled, target)
        after = _cost_rows(filled + counts[g], target)
        s = int(np.argmin(after - before))
        filled[s] += counts[g]
        placed[g] = s
    return placed


def _cost_rows(filled: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per split: squared deviation from the target counts of each class (scaled by the class size) and of
    the split's total (scaled by the number of documents)."""
    gap = filled - target
    class_size = np.maximum(target.sum(axis=0), 1)
    return (gap ** 2 / class_size).sum(axis=1) + gap.sum(axis=1) ** 2 / max(target.sum(), 1)


def _cost(filled: np.ndarray, target: np.ndarray) -> float:
    return float(_cost_rows(filled, target).sum())


def _filled(counts: np.ndarray, placed: np.ndarray, n_splits: int) -> np.ndarray:
    return np.stack([counts[placed == s].sum(axis=0) for s in range(n_splits)])


def _fill_empty(counts: np.ndarray, placed: np.ndarray, n_splits: int) -> np.ndarray:
    """Give every split at least one group: an empty one takes the smallest group of the split with the most."""
    placed = placed.copy()
    for s in range(n_splits):
        if not np.any(placed == s):
            donor = np.bincount(placed, minlength=n_splits).argmax()
            members = np.flatnonzero(placed == donor)
            placed[members[np.argmin(counts[members].sum(axis=1))]] = s
    return placed
