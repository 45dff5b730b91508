"""TF-IDF over hashed n-grams (``nlpkit.models.ngrams``): fit a vocabulary, transform documents; NumPy and SciPy only.

Same weighting as scikit-learn's ``TfidfVectorizer`` with ``smooth_idf=True``: raw counts, optionally
``1 + log(tf)``, times ``idf = ln((1 + n) / (1 + df)) + 1``, each row scaled to unit l2 norm. The vocabulary is
the n-grams in at least ``min_df`` training documents, cut to the ``max_features`` most frequent; its columns
are in key order and its readable terms are kept beside the keys (for inspection only: prediction uses keys).

A fitted vectorizer is ``spec()`` (JSON) plus ``arrays()`` (keys, idf, terms) and comes back with
``NgramTfidf.from_saved``: the training object and the prediction runtime are the same code.
"""

from __future__ import annotations

from typing import Any, Optional

import numpy as np
import scipy.sparse as sp

from nlpkit.models import ngrams

ENGINE = "nlpkit-ngrams/1"
ANALYZERS = ("word", "char_wb")


class NgramTfidf:
    """A TF-IDF vectorizer over word or ``char_wb`` n-grams (see the module docstring)."""

    def __init__(self, *, analyzer: str = "word", ngram_range: tuple[int, int] = (1, 2), min_df: int = 1,
                 max_features: Optional[int] = None, sublinear_tf: bool = True, lowercase: bool = True,
                 strip_accents: bool = True, stop_words: Optional[list[str]] = None) -> None:
        if analyzer not in ANALYZERS:
            raise ValueError(f"analyzer must be one of {ANALYZERS}; got {analyzer!r}")
        self.analyzer, self.ngram_range = analyzer, (int(ngram_range[0]), int(ngram_range[1]))
        self.min_df, self.max_features = int(min_df), max_features
        self.sublinear_tf, self.lowercase, self.strip_accents = sublinear_tf, lowercase, strip_accents
        self.stop_words = sorted(stop_words) if stop_words else None

    # -- analysis ------------------------------------------------------------------------------------------
    def occurrences(self, docs: list[str]) -> tuple[list[ngrams.Part], ngrams.Terms, Any]:
        """Parts of (row, key, start, end) of every n-gram occurrence in ``docs``, their text function, and for
        ``char_wb`` the (documents x distinct words) counts that rows index (None for words: rows are documents)."""
        if self.analyzer == "word":
            stop = frozenset(self.stop_words) if self.stop_words else None
            parts, terms = ngrams.word_ngrams(docs, ngram_range=self.ngram_range, lowercase=self.lowercase,
                                              strip_accents=self.strip_accents, stop_words=stop)
            return parts, terms, None
        return ngrams.char_wb_ngrams(docs, ngram_range=self.ngram_range, lowercase=self.lowercase,
                                     strip_accents=self.strip_accents)

    # -- fitting -------------------------------------------------------------------------------------------
    def fit(self, docs: list[str]) -> NgramTfidf:
        """Learn the vocabulary and idf weights of ``docs``; return self."""
        self._fit(docs)
        return self

    def fit_transform(self, docs: list[str]) -> sp.csr_matrix:
        """``fit(docs).transform(docs)``, analysing ``docs`` once."""
        return self._weighted(self._count(*self._fit(docs), len(docs)))

    def _fit(self, docs: list[str]) -> tuple[list[ngrams.Part], Any]:
        parts, terms, words = self.occurrences(docs)
        statistics = [_part_statistics(part, words) for part in parts]
        unique, counts, df, starts, ends = (np.concatenate([s[i] for s in statistics]) for i in range(5))
        order = np.argsort(unique)
        unique, counts, df, starts, ends = unique[order], counts[order], df[order], starts[order], ends[order]
        keep = np.flatnonzero(df >= self.min_df)
        if self.max_features is not None and len(keep) > self.max_features:
            keep = np.sort(keep[np.argsort(-counts[keep], kind="stable")[: self.max_features]])
        if len(keep) == 0:
            raise ValueError(f"no {self.analyzer} n-gram occurs in at least min_df={self.min_df} documents; "
                             "lower min_df or give more text")
        self.keys_ = unique[keep]
        self.idf_ = np.log((1.0 + len(docs)) / (1.0 + df[keep])) + 1.0
        self.terms_ = np.array(terms(starts[keep], ends[keep]), dtype=str)
        self.index_ = ngrams.KeyIndex(self.keys_)
        return parts, words

    # -- transforming --------------------------------------------------------------------------------------
    @property
    def width(self) -> int:
        """Number of feature columns."""
        return len(self.keys_)

    def counts(self, docs: list[str]) -> sp.csr_matrix:
        """Raw n-gram counts of ``docs`` over the vocabulary (CSR, sorted indices)."""
        parts, _, words = self.occurrences(docs)
        return self._count(parts, words, len(docs))

    def _count(self, parts: list[ngrams.Part], words: Any, n_docs: int) -> sp.csr_matrix:
        rows, columns = [], []
        for row, keys, _, _ in parts:
            found = self.index_.lookup(keys)
            hit = found >= 0
            rows.append(row[hit])
            columns.append(found[hit])
        row, column = np.concatenate(rows), np.concatenate(columns)
        height = n_docs if words is None else words.shape[1]
        X = sp.csr_matrix((np.ones(len(row)), (row, column)), shape=(height, self.width))
        if words is not None:
            X = (words @ X).tocsr()
        X.sum_duplicates()
        return X

    def transform(self, docs: list[str]) -> sp.csr_matrix:
        """Tf-idf rows of ``docs``, l2-normalised."""
        return self._weighted(self.counts(docs))

    def _weighted(self, X: sp.csr_matrix) -> sp.csr_matrix:
        if self.sublinear_tf:
            np.log(X.data, X.data)
            X.data += 1.0
        X.data *= self.idf_[X.indices]
        per_row = np.diff(X.indptr)
        rows = np.repeat(np.arange(X.shape[0]), per_row)
        norms = np.sqrt(np.bincount(rows, weights=X.data * X.data, minlength=X.shape[0]))
        X.data /= np.repeat(np.where(norms == 0.0, 1.0, norms), per_row)
        return X

    # -- saving --------------------------------------------------------------------------------------------
    def spec(self) -> dict[str, Any]:
        """How features are made (JSON-able); the fitted arrays are ``arrays()``."""
        return {"engine": ENGINE, "analyzer": self.analyzer, "ngram_range": list(self.ngram_range),
                "min_df": self.min_df, "max_features": self.max_features, "sublinear_tf": self.sublinear_tf,
                "lowercase": self.lowercase, "strip_accents": self.strip_accents, "stop_words": self.stop_words}

    def arrays(self) -> dict[str, np.ndarray]:
        """The fitted state: keys (uint64, sorted), idf (float64), terms (strings)."""
        return {"keys": self.keys_, "idf": self.idf_, "terms": self.terms_}

    @classmethod
    def from_saved(cls, spec: dict[str, Any], arrays: dict[str, np.ndarray]) -> NgramTfidf:
        """The vectorizer ``spec()`` and ``arrays()`` describe; raises ValueError when they disagree."""
        if spec.get("engine") != ENGINE:
            raise ValueError(f"n-gram engine {spec.get('engine')!r}, expected {ENGINE!r}")
        self = cls(analyzer=spec["analyzer"], ngram_range=tuple(spec["ngram_range"]), min_df=spec["min_df"],
                   max_features=spec["max_features"], sublinear_tf=bool(spec["sublinear_tf"]),
                   lowercase=bool(spec["lowercase"]), strip_accents=bool(spec["strip_accents"]),
                   stop_words=spec["stop_words"])
        keys, idf = arrays["keys"], arrays["idf"]
        if keys.dtype != np.uint64 or idf.dtype != np.float64 or keys.shape != idf.shape or keys.ndim != 1:
            raise ValueError(f"keys {keys.dtype}{keys.shape} and idf {idf.dtype}{idf.shape} do not match")
        if len(keys) > 1 and not bool(np.all(keys[1:] > keys[:-1])):
            raise ValueError("keys are not sorted and unique")
        self.keys_, self.idf_, self.terms_ = keys, idf, arrays.get("terms", np.zeros(0, dtype=str))
        self.index_ = ngrams.KeyIndex(keys)
        return self


def _part_statistics(part: ngrams.Part, words: Any) -> tuple[np.ndarray, ...]:
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
