"""TF-IDF over hashed n-grams (``nlpkit.models.ngrams``): fit a vocabulary, transform documents; NumPy and SciPy only.

Same weighting as scikit-learn's ``TfidfVectorizer`` with ``smooth_idf=True``: raw counts, optionally
``1 + log(tf)``, times ``idf = ln((1 + n) / (1 + df)) + 1``, each row scaled to unit l2 norm. The vocabulary is
the n-grams in at least ``min_df`` training documents, cut to the ``max_features`` most frequent; its columns
are in key order and its readable terms are kept beside the keys (for inspection only: prediction uses keys).

A fitted vectorizer is ``spec()`` (JSON) plus ``arrays()`` (keys, idf, terms) and comes back with
``NgramTfidf.from_saved``: the training object and the prediction runtime are the same code.
"""

from __future__ import annotations

from typing import Any, Iterator, Optional

import numpy as np
import scipy.sparse as sp

from nlpkit.errors import DataError
from nlpkit.models import ngram_stats, ngrams

ENGINE = "nlpkit-ngrams/1"
ANALYZERS = ("word", "char_wb", "char_tokens")
Shared = Optional[dict]  # a batch's Tokens by (lowercase, strip_accents), shared by the vectorizers of one input


class NgramTfidf:
    """A TF-IDF vectorizer over word n-grams, ``char_wb`` n-grams (of whitespace-separated words, as scikit-learn's)
    or ``char_tokens`` n-grams (``char_wb``'s n-grams of the word analyzer's tokens: lower-cased, accents stripped
    as set, ``TOKEN`` matches; the tokens are found once for both blocks)."""

    def __init__(self, *, analyzer: str = "word", ngram_range: tuple[int, int] = (1, 2), min_df: int = 1,
                 max_features: Optional[int] = None, sublinear_tf: bool = True, lowercase: bool = True,
                 strip_accents: bool = True, stop_words: Optional[list[str]] = None) -> None:
        if analyzer not in ANALYZERS:
            raise ValueError(f"analyzer must be one of {ANALYZERS}; got {analyzer!r}")
        self.analyzer, self.ngram_range = analyzer, (int(ngram_range[0]), int(ngram_range[1]))
        self.min_df, self.max_features = int(min_df), max_features
        self.sublinear_tf, self.lowercase, self.strip_accents = sublinear_tf, lowercase, strip_accents
        self.stop_words = sorted(stop_words) if stop_words else None
        self.word_keys_: Optional[np.ndarray] = None  # char_wb: the training words' keys and n-gram rows
        self.word_rows_: Optional[sp.csr_matrix] = None
        self.word_index_: Optional[ngrams.KeyIndex] = None

    # -- analysis ------------------------------------------------------------------------------------------
    def occurrences(self, docs: list[str],
                    shared: Shared = None) -> tuple[list[ngrams.Part], ngrams.Terms, Any, list[str]]:
        """Parts of (row, key, start, end) of every n-gram occurrence in ``docs`` and their text function; for
        character n-grams also the (documents x distinct words) counts and the distinct words that rows index (for
        words: None and [], rows are documents)."""
        if self.analyzer == "word":
            stop = frozenset(self.stop_words) if self.stop_words else None
            parts, terms = ngrams.word_ngrams(docs, ngram_range=self.ngram_range, stop_words=stop,
                                              tokens=self.tokens(docs, shared))
            return parts, terms, None, []
        counts, words, _ = self._words(docs, shared)
        parts, terms = ngrams.char_wb_ngrams(words, ngram_range=self.ngram_range)
        return parts, terms, counts, words

    def tokens(self, docs: list[str], shared: Shared = None) -> ngrams.Tokens:
        """The word tokens of ``docs`` with this vectorizer's settings, taken from (or left in) ``shared``."""
        if shared is None:
            return ngrams.tokenize(docs, lowercase=self.lowercase, strip_accents=self.strip_accents)
        key = (self.lowercase, self.strip_accents)
        if key not in shared:
            shared[key] = ngrams.tokenize(docs, lowercase=self.lowercase, strip_accents=self.strip_accents)
        return shared[key]

    def _words(self, docs: list[str], shared: Shared) -> tuple[sp.csr_matrix, list[str], Optional[np.ndarray]]:
        """For character n-grams: (documents x words) counts, the distinct words, and their keys when known."""
        if self.analyzer == "char_tokens":
            tokens = self.tokens(docs, shared)
            return tokens.counts(), tokens.words, tokens.keys
        counts, words = ngrams.whitespace_words(docs, lowercase=self.lowercase, strip_accents=self.strip_accents)
        return counts, words, None

    # -- fitting -------------------------------------------------------------------------------------------
    def fit(self, docs: list[str]) -> NgramTfidf:
        """Learn the vocabulary and idf weights of ``docs``; return self."""
        if _chunked(docs):
            self._fit_in_chunks(docs)
        else:
            self._fit(docs)
        return self

    def fit_transform(self, docs: list[str]) -> sp.csr_matrix:
        """``fit(docs).transform(docs)``, analysing ``docs`` once when they fit in one chunk."""
        if _chunked(docs):
            return self.fit(docs).transform(docs)
        return self._weighted(self._count(*self._fit(docs), len(docs)))

    def _fit_in_chunks(self, docs: list[str]) -> None:
        """Fit on ``CHUNK_CHARS``-sized chunks: per-chunk key statistics are merged as they come (documents never
        span chunks, so document frequencies add up), then a second pass names the vocabulary's n-grams. Memory
        follows the chunk and the number of distinct n-grams, not the corpus."""
        merged: tuple[np.ndarray, ...] | None = None
        for chunk in _chunks(docs):
            parts, _, word_counts, _ = self.occurrences(chunk)
            stats = [ngram_stats.part_statistics(part, word_counts)[:3] for part in parts]
            merged = ngram_stats.merge_statistics([merged, *stats] if merged is not None else stats)
        assert merged is not None
        unique, counts, df = merged
        self._keep_vocabulary(unique, counts, df, len(docs))
        self.terms_ = self._name_terms(docs)
        self.word_keys_ = self.word_rows_ = self.word_index_ = None  # no word cache: n-grams computed per batch

    def _name_terms(self, docs: list[str]) -> np.ndarray:
        names: list[str | None] = [None] * len(self.keys_)
        missing = len(self.keys_)
        for chunk in _chunks(docs):
            parts, terms, _, _ = self.occurrences(chunk)
            for _, keys, starts, ends in parts:
                found = self.index_.lookup(keys)
                new = np.flatnonzero(found >= 0)
                new = new[np.fromiter((names[c] is None for c in found[new].tolist()), dtype=bool, count=len(new))]
                columns, first = np.unique(found[new], return_index=True)
                for column, text in zip(columns.tolist(), terms(starts[new[first]], ends[new[first]])):
                    names[column] = text
                missing -= len(columns)
            if missing == 0:
                break
        return np.array(names, dtype=str)

    def _keep_vocabulary(self, unique: np.ndarray, counts: np.ndarray, df: np.ndarray, n_docs: int) -> np.ndarray:
        """Set keys, idf and index from the distinct keys' statistics; return the indices kept."""
        keep = self._vocabulary(counts, df)
        self.keys_ = unique[keep]
        self.idf_ = np.log((1.0 + n_docs) / (1.0 + df[keep])) + 1.0
        self.index_ = ngrams.KeyIndex(self.keys_)
        return keep

    def _vocabulary(self, counts: np.ndarray, df: np.ndarray) -> np.ndarray:
        """Indices of the kept n-grams: in at least ``min_df`` documents, the ``max_features`` most frequent."""
        keep = np.flatnonzero(df >= self.min_df)
        if self.max_features is not None and len(keep) > self.max_features:
            keep = np.sort(keep[np.argsort(-counts[keep], kind="stable")[: self.max_features]])
        if len(keep) == 0:
            raise DataError(f"TF-IDF needs {self.analyzer} n-grams that occur in at least min_df={self.min_df} "
                            f"training documents; got none (the most widespread is in {int(df.max()) if len(df) else 0}). "
                            "Fix: model.min_df=1, or give more (or longer) training texts.")
        return keep

    def _fit(self, docs: list[str]) -> tuple[list[ngrams.Part], Any]:
        parts, terms, word_counts, words = self.occurrences(docs)
        statistics = [ngram_stats.part_statistics(part, word_counts) for part in parts]
        unique, counts, df, starts, ends = (np.concatenate([s[i] for s in statistics]) for i in range(5))
        order = np.argsort(unique)
        unique, counts, df, starts, ends = unique[order], counts[order], df[order], starts[order], ends[order]
        keep = self._keep_vocabulary(unique, counts, df, len(docs))
        self.terms_ = np.array(terms(starts[keep], ends[keep]), dtype=str)
        self.word_keys_ = self.word_rows_ = self.word_index_ = None
        if self.analyzer == "word":
            return parts, word_counts
        rows = self._word_rows(parts, len(words), merged=True)
        self._cache_words(rows, words)
        return [rows], word_counts

    def _cache_words(self, rows: sp.csr_matrix, words: list[str]) -> None:
        """For character n-grams: keep each training word's n-gram counts over the vocabulary, so that prediction
        computes n-grams only for words training never saw (most words of new text were seen)."""
        keys = ngrams.string_keys(words)
        order = np.argsort(keys)
        self.word_keys_, self.word_rows_ = keys[order], rows[order]
        self.word_index_ = ngrams.KeyIndex(keys[order])

    # -- transforming --------------------------------------------------------------------------------------
    @property
    def width(self) -> int:
        """Number of feature columns."""
        return len(self.keys_)

    def counts(self, docs: list[str], shared: Shared = None) -> sp.csr_matrix:
        """Raw n-gram counts of ``docs`` over the vocabulary (CSR, one entry per n-gram of a row)."""
        if self.word_index_ is not None and self.word_rows_ is not None:
            return self._counts_through_words(docs, self.word_index_, self.word_rows_, shared)
        parts, _, counts, _ = self.occurrences(docs, shared)
        return self._count(parts, counts, len(docs))

    def _counts_through_words(self, docs: list[str], index: ngrams.KeyIndex, cache: sp.csr_matrix,
                              shared: Shared) -> sp.csr_matrix:
        counts, words, keys = self._words(docs, shared)
        cached = index.lookup(ngrams.string_keys(words) if keys is None else keys)
        new = np.flatnonzero(cached < 0)
        rows = cache[cached[cached >= 0]]
        if len(new):
            parts, _ = ngrams.char_wb_ngrams([words[i] for i in new.tolist()], ngram_range=self.ngram_range)
            rows = sp.vstack([rows, self._word_rows(parts, len(new), merged=False)], format="csr")
        order = np.concatenate([np.flatnonzero(cached >= 0), new])  # the words in the order of ``rows``
        position = np.empty(len(words), dtype=np.int64)
        position[order] = np.arange(len(words))
        counts = sp.csr_matrix((counts.data, position[counts.indices], counts.indptr), shape=counts.shape)
        return _product(counts, rows)

    def _word_rows(self, parts: list[ngrams.Part], n_rows: int, merged: bool) -> sp.csr_matrix:
        """(rows x vocabulary) n-gram counts from parts: ``merged``, one entry per n-gram of a row (sorted); else
        one entry per occurrence, grouped by row without sorting them (for a sparse product, which sums them)."""
        row = np.concatenate([part[0] for part in parts])
        found = self.index_.lookup(np.concatenate([part[1] for part in parts]))
        hit = found >= 0
        row, column = row[hit], found[hit]
        if merged:
            return sp.csr_matrix((np.ones(len(row)), (row, column)), shape=(n_rows, self.width))
        order = np.argsort(row, kind="stable")  # a merge of the parts' ascending runs
        indptr = np.zeros(n_rows + 1, dtype=np.int64)
        np.cumsum(np.bincount(row, minlength=n_rows), out=indptr[1:])
        return sp.csr_matrix((np.ones(len(row)), column[order], indptr), shape=(n_rows, self.width))

    def _count(self, parts: list[Any], words: Any, n_docs: int) -> sp.csr_matrix:
        """Counts from ``occurrences``: rows are documents, or words spread to documents by ``words`` (``parts``
        may also be the words' merged rows themselves, as ``_fit`` returns them)."""
        if words is None:  # the identity's product sums a document's repeated n-grams without sorting them
            identity = sp.csr_matrix((np.ones(n_docs), np.arange(n_docs), np.arange(n_docs + 1)),
                                     shape=(n_docs, n_docs))
            return _product(identity, self._word_rows(parts, n_docs, merged=False))
        X = parts[0] if isinstance(parts[0], sp.csr_matrix) else self._word_rows(parts, words.shape[1], merged=False)
        return _product(words, X)

    def transform(self, docs: list[str], shared: Shared = None) -> sp.csr_matrix:
        """Tf-idf rows of ``docs``, l2-normalised (in chunks of ``CHUNK_CHARS`` characters). ``shared``: a dict
        that other vectorizers of the same ``docs`` also get (they find the word tokens once)."""
        if _chunked(docs):
            return sp.vstack([self._weighted(self.counts(chunk)) for chunk in _chunks(docs)], format="csr")
        return self._weighted(self.counts(docs, shared))

    def _weighted(self, X: sp.csr_matrix) -> sp.csr_matrix:
        """``X`` (counts) weighted in place: ``1 + log(tf)``, times idf, each row scaled to unit l2 norm."""
        data = X.data
        if self.sublinear_tf:
            np.log(data, out=data)
            data += 1.0
        data *= self.idf_[X.indices]
        if len(data):
            per_row = np.diff(X.indptr)
            squares = np.append(np.square(data), 0.0)  # the 0 ends the last rows when they are empty
            norms = np.sqrt(np.add.reduceat(squares, X.indptr[:-1]))
            norms[(per_row == 0) | (norms == 0.0)] = 1.0
            data /= np.repeat(norms, per_row)
        return X

    # -- saving --------------------------------------------------------------------------------------------
    def spec(self) -> dict[str, Any]:
        """How features are made (JSON-able); the fitted arrays are ``arrays()``."""
        return {"engine": ENGINE, "analyzer": self.analyzer, "ngram_range": list(self.ngram_range),
                "min_df": self.min_df, "max_features": self.max_features, "sublinear_tf": self.sublinear_tf,
                "lowercase": self.lowercase, "strip_accents": self.strip_accents, "stop_words": self.stop_words}

    def arrays(self) -> dict[str, np.ndarray]:
        """The fitted state: keys (uint64, sorted), idf (float64), terms (strings); for ``char_wb`` also the
        training words' keys (sorted) and their n-gram counts as CSR arrays."""
        out = {"keys": self.keys_, "idf": self.idf_, "terms": self.terms_}
        if self.word_rows_ is not None:
            rows = self.word_rows_
            out.update({"word_keys": self.word_keys_, "word_indptr": rows.indptr.astype(np.int64),
                        "word_indices": rows.indices.astype(np.int64), "word_counts": rows.data.astype(np.float64)})
        return out

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
        self.word_keys_ = self.word_rows_ = self.word_index_ = None
        if "word_keys" in arrays:
            self._load_words(arrays)
        return self

    def _load_words(self, arrays: dict[str, np.ndarray]) -> None:
        word_keys, indptr = arrays["word_keys"], arrays["word_indptr"]
        indices, data = arrays["word_indices"], arrays["word_counts"]
        if (word_keys.dtype != np.uint64 or indptr.shape != (len(word_keys) + 1,) or indptr[0] != 0
                or np.any(np.diff(indptr) < 0) or indptr[-1] != len(indices) or indices.shape != data.shape
                or (len(indices) and (indices.min() < 0 or indices.max() >= self.width))):
            raise ValueError("the cached word rows do not fit the vocabulary")
        if len(word_keys) > 1 and not bool(np.all(word_keys[1:] > word_keys[:-1])):
            raise ValueError("word keys are not sorted and unique")
        self.word_keys_ = np.asarray(word_keys)
        self.word_rows_ = sp.csr_matrix((data, indices, indptr), shape=(len(word_keys), self.width))
        self.word_index_ = ngrams.KeyIndex(word_keys)


CHUNK_CHARS = 8_000_000  # characters analysed at once: bounds the memory of the occurrence arrays


def _chunked(docs: list[str]) -> bool:
    """Whether ``docs`` are analysed in several chunks."""
    return len(docs) > 1 and sum(map(len, docs)) > CHUNK_CHARS


def _chunks(docs: list[str]) -> Iterator[list[str]]:
    """Consecutive runs of documents of about ``CHUNK_CHARS`` characters (at least one document each)."""
    start, size = 0, 0
    for i, doc in enumerate(docs):
        size += len(doc)
        if size >= CHUNK_CHARS:
            yield docs[start: i + 1]
            start, size = i + 1, 0
    if start < len(docs):
        yield docs[start:]


def _product(words: sp.csr_matrix, rows: sp.csr_matrix) -> sp.csr_matrix:
    """(documents x words) @ (words x vocabulary): documents' n-gram counts, repeats summed. Column indices are left
    in the product's order (sorting them cost more than the rest of the transform); that order follows the inputs'
    stored order alone, so the same documents always give the same bits (``fit_transform`` and ``transform`` too)."""
    return (words @ rows).tocsr()
