"""Key statistics of hashed n-grams (``nlpkit.models.ngrams``) for fitting a vocabulary: NumPy and SciPy only.

For each distinct key of a part of the training documents: its total count, its document frequency and the
span of its first occurrence (to read its term back); ``merge_statistics`` sums chunks' statistics per key.
Used by ``NgramTfidf.fit`` (``ngram_tfidf``), whole or in chunks.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp

from nlpkit.models import ngrams


def merge_statistics(parts: list[tuple[np.ndarray, ...]]) -> tuple[np.ndarray, ...]:
    """(keys, counts, df) of several chunks or parts, summed per key; keys sorted and distinct."""
    keys = np.concatenate([p[0] for p in parts])
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    starts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]])) if len(keys) else np.zeros(0, dtype=np.int64)
    counts = np.add.reduceat(np.concatenate([p[1] for p in parts])[order], starts) if len(keys) else keys
    df = np.add.reduceat(np.concatenate([p[2] for p in parts])[order], starts) if len(keys) else keys
    return keys[starts], counts, df


def part_statistics(part: ngrams.Part, words: Any) -> tuple[np.ndarray, ...]:
    """Distinct keys of one part (sorted), their total count, document frequency, and first occurrence's span."""
    row, keys, starts, ends = part
    if words is None:  # rows are documents, in document order within a key's occurrences
        order = np.argsort(keys, kind="stable")
        sorted_keys, sorted_rows = keys[order], row[order]
        new_key = np.ones(len(keys), dtype=bool)
        new_key[1:] = sorted_keys[1:] != sorted_keys[:-1]
        new_row = new_key.copy()
        new_row[1:] |= sorted_rows[1:] != sorted_rows[:-1]
        group = np.cumsum(new_key) - 1
        first = order[new_key]
        return (sorted_keys[new_key], np.bincount(group), np.bincount(group, weights=new_row).astype(np.int64),
                starts[first], ends[first])
    unique, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    per_word = sp.csr_matrix((np.ones(len(keys)), (row, inverse.ravel())), shape=(words.shape[1], len(unique)))
    per_doc = (words @ per_word).tocsr()
    counts = np.asarray(per_doc.sum(axis=0)).ravel().astype(np.int64)
    return unique, counts, np.bincount(per_doc.indices, minlength=len(unique)), starts[first], ends[first]
