"""Duplicates of training documents in the evaluation splits: found, counted, and dropped, kept or refused.

A document of validation/test/an extra split is an *exact* duplicate when its text (and, for stance, its
target) equals a training document's after lower-casing and collapsing whitespace, and a *near* duplicate
when the TF-IDF cosine similarity of the two texts (word 1-2-grams, sublinear tf, fitted on the training
texts) exceeds ``data.split.dedupe_threshold``. ``data.split.dedupe`` says what happens to them: ``drop``
(default: leakage-free scores), ``keep`` (counted and warned about) or ``error`` (a DataError with examples).

The cosine search is exact but avoids the all-pairs product, which frequent words make dense: each vector is
split into its rare features (in at most ``cap`` training documents) and its common ones. The rare part is
multiplied sparsely, chunk by chunk; the common part's contribution is bounded by the product of the two
common-part norms (Cauchy-Schwarz), and computed exactly only for the pairs whose bound can pass the threshold.
"""

from __future__ import annotations

import logging
from typing import Any, Iterator

import numpy as np
import scipy.sparse as sp
from datasets import DatasetDict
from omegaconf import DictConfig

from nlpkit.errors import DataError

log = logging.getLogger(__name__)
CHUNK_ROWS = 2048
ALIASES = {"true": "drop", "false": "keep"}  # the boolean data.split.dedupe of nlpkit <= 0.1


def handle_duplicates(splits: DatasetDict, split_cfg: DictConfig, where: str, report: dict[str, float]) -> DatasetDict:
    """Find evaluation documents that duplicate a training document, record the counts in ``report`` and
    apply the ``split_cfg.dedupe`` policy; return the (possibly reduced) splits."""
    policy = ALIASES.get(str(split_cfg.dedupe).lower(), str(split_cfg.dedupe))
    matches = find_duplicates(splits, split_cfg.dedupe_threshold)
    exact = {name: int((kind == 1).sum()) for name, (kind, _) in matches.items()}
    near = {name: int((kind == 2).sum()) for name, (kind, _) in matches.items()}
    total = sum(exact.values()) + sum(near.values())
    report.update(duplicates_exact=float(sum(exact.values())), duplicates_near=float(sum(near.values())),
                  duplicates_dropped=0.0)
    report.update({f"duplicates/{name}": float(exact[name] + near[name]) for name in matches})
    if not total:
        return splits
    found = (f"{total} evaluation document(s) duplicate a training document ({sum(exact.values())} exact, "
             f"{sum(near.values())} near with TF-IDF cosine > {split_cfg.dedupe_threshold}; per split: "
             f"{ {n: exact[n] + near[n] for n in matches} })")
    if policy == "error":
        raise DataError(
            f"{where}: {found}, e.g. {_example(splits, matches)}. Expected no overlap (data.split.dedupe=error). "
            "Fix: remove the copies from your data, or set data.split.dedupe=drop (drop them from evaluation) "
            "or data.split.dedupe=keep."
        )
    if policy == "keep":
        log.warning("%s: %s; kept (data.split.dedupe=keep), so evaluation scores may be optimistic", where, found)
        return splits
    report["duplicates_dropped"] = float(total)
    log.warning("%s: %s; dropped from evaluation (data.split.dedupe=drop)", where, found)
    return _drop(splits, matches, where)


def find_duplicates(splits: DatasetDict, threshold: float) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """For each non-training split: per document, 0 (no duplicate), 1 (exact) or 2 (near), and the index of
    the matching training document (-1 when none)."""
    train = splits["train"]
    train_targets = _targets(train)
    first: dict[tuple[str, str], int] = {}
    for i, key in enumerate(_keys(train, train_targets)):
        first.setdefault(key, i)
    vectors = _Vectors(list(train["text"]), threshold)
    out = {}
    for name, part in splits.items():
        if name == "train" or not len(part):
            continue
        targets = _targets(part)
        kind, match = np.zeros(len(part), dtype=np.int8), np.full(len(part), -1)
        for i, key in enumerate(_keys(part, targets)):
            if key in first:
                kind[i], match[i] = 1, first[key]
        near = vectors.matches(list(part["text"]), train_targets, targets)
        new = (kind == 0) & (near >= 0)
        kind[new], match[new] = 2, near[new]
        out[name] = (kind, match)
    return out


def _keys(part: Any, targets: list[str] | None) -> list[tuple[str, str]]:
    """(normalised target or "", normalised text) of each row: equal keys are exact duplicates."""
    texts = [" ".join(t.lower().split()) for t in part["text"]]
    return list(zip(targets if targets is not None else [""] * len(texts), texts))


def _targets(part: Any) -> list[str] | None:
    return [" ".join(t.lower().split()) for t in part["target"]] if "target" in part.column_names else None


def _example(splits: DatasetDict, matches: dict[str, tuple[np.ndarray, np.ndarray]]) -> str:
    name, (kind, match) = next((n, m) for n, m in matches.items() if m[0].any())
    i = int(np.flatnonzero(kind)[0])
    text = " ".join(splits[name][i]["text"].split())[:60]
    return f"{name} row {i} ~ train row {int(match[i])}: {text!r}"


def _drop(splits: DatasetDict, matches: dict[str, tuple[np.ndarray, np.ndarray]], where: str) -> DatasetDict:
    out = dict(splits)
    for name, (kind, _) in matches.items():
        keep = np.flatnonzero(kind == 0)
        if not len(keep):
            raise DataError(
                f"{where}: every document of the {name!r} split ({len(kind)}) duplicates a training document, so "
                "nothing is left to evaluate on. Fix: check the split column/files, or set data.split.dedupe=keep."
            )
        out[name] = splits[name].select(keep)
    return DatasetDict(out)


class _Vectors:
    """TF-IDF vectors of the training texts, split into rare and common features, for an exact search of the
    training documents whose cosine similarity to a query exceeds ``threshold``."""

    def __init__(self, texts: list[str], threshold: float) -> None:
        from sklearn.feature_extraction.text import TfidfVectorizer

        self.threshold = threshold
        self.vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, dtype=np.float32)
        try:
            train = self.vectorizer.fit_transform(texts).tocsr()
        except ValueError:  # an empty vocabulary: nothing to compare
            self.vectorizer = None
            return
        df = np.bincount(train.indices, minlength=train.shape[1])
        self.common = df > max(32, int(np.sqrt(train.shape[0])))
        self.rare_t, self.common_t = _split_columns(train, self.common)
        self.norm_t = _row_norms(self.common_t)

    def matches(self, texts: list[str], train_targets: list[str] | None, targets: list[str] | None) -> np.ndarray:
        """Per text, the index of its most similar training document above the threshold, else -1."""
        best = np.full(len(texts), -1)
        if self.vectorizer is None:
            return best
        rare, common = _split_columns(self.vectorizer.transform(texts).tocsr(), self.common)
        norm = _row_norms(common)
        codes = _target_codes(targets, train_targets)
        score = np.zeros(len(texts), dtype=np.float32)
        for rows, cols in self._candidates(rare, norm):
            sims = np.asarray(rare[rows].multiply(self.rare_t[cols]).sum(axis=1)).ravel()
            sims += np.asarray(common[rows].multiply(self.common_t[cols]).sum(axis=1)).ravel()
            ok = sims > self.threshold
            if codes is not None:
                ok &= codes[0][rows] == codes[1][cols]
            for r, c, s in zip(rows[ok], cols[ok], sims[ok]):
                if s > score[r]:
                    score[r], best[r] = s, c
        return best

    def _candidates(self, rare: sp.csr_matrix, norm: np.ndarray) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(query rows, training rows) whose similarity bound exceeds the threshold, chunk by chunk."""
        for start in range(0, rare.shape[0], CHUNK_ROWS):
            product = (rare[start:start + CHUNK_ROWS] @ self.rare_t.T).tocoo()
            bound = product.data + norm[start + product.row] * self.norm_t[product.col] + 1e-5  # float32 slack
            keep = bound > self.threshold
            yield start + product.row[keep], product.col[keep]
        # pairs that share no rare feature can only pass through their common parts: both norms > threshold
        heavy_q, heavy_t = np.flatnonzero(norm > self.threshold), np.flatnonzero(self.norm_t > self.threshold)
        step = max(1, 1_000_000 // max(len(heavy_t), 1))
        for start in range(0, len(heavy_q) if len(heavy_t) else 0, step):
            rows, cols = np.meshgrid(heavy_q[start:start + step], heavy_t, indexing="ij")
            yield rows.ravel(), cols.ravel()


def _target_codes(targets: list[str] | None, train_targets: list[str] | None) -> tuple[np.ndarray, np.ndarray] | None:
    """Integer codes of the stance targets (query side, training side): pairs count only within one target."""
    if targets is None or train_targets is None:
        return None
    _, codes = np.unique(np.asarray(targets + train_targets, dtype=object).astype(str), return_inverse=True)
    return codes[:len(targets)], codes[len(targets):]


def _split_columns(matrix: sp.csr_matrix, common: np.ndarray) -> tuple[sp.csr_matrix, sp.csr_matrix]:
    """The matrix with its common columns zeroed, and with its rare columns zeroed (same shape)."""
    mask = sp.diags(common.astype(np.float32))
    common_part = (matrix @ mask).tocsr()
    rare_part = (matrix - common_part).tocsr()
    rare_part.eliminate_zeros()
    common_part.eliminate_zeros()
    return rare_part, common_part


def _row_norms(matrix: sp.csr_matrix) -> np.ndarray:
    return np.sqrt(np.asarray(matrix.multiply(matrix).sum(axis=1)).ravel())
