"""Format 1 of the TF-IDF predictor (``nlpkit-tfidf/1``, nlpkit 0.1): a scikit-learn vocabulary of term strings.

Predictors saved in that format keep loading: this transform repeats scikit-learn's ``TfidfVectorizer`` steps
in the same order (count n-grams, sort indices, ``1 + log(tf)``, idf, row-wise l2 through SciPy's sequential
sparse product), so the loaded probabilities equal the fitted estimator's. NumPy and SciPy only.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Any

import numpy as np
import scipy.sparse as sp

_WHITE_SPACES = re.compile(r"\s\s+")


class Format1Vectorizer:
    """The transform half of a fitted scikit-learn TfidfVectorizer (predictors saved in format 1)."""

    def __init__(self, spec: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        terms = arrays[f"{spec['key']}.terms"]
        if terms.dtype.kind != "U":
            raise TypeError(f"terms of {spec['key']} are {terms.dtype}, not strings")
        self.vocabulary = {term: i for i, term in enumerate(terms.tolist())}
        self.width = len(self.vocabulary)
        self.idf = arrays[f"{spec['key']}.idf"] if spec["use_idf"] else None
        if self.idf is not None and self.idf.shape != (self.width,):
            raise ValueError(f"idf of {spec['key']} has shape {self.idf.shape}, expected ({self.width},)")
        self.analyzer, self.ngram_range = spec["analyzer"], tuple(int(n) for n in spec["ngram_range"])
        self.lowercase, self.strip_accents = bool(spec["lowercase"]), spec["strip_accents"]
        self.token_pattern = re.compile(spec["token_pattern"])
        self.stop_words = frozenset(spec["stop_words"]) if spec["stop_words"] else None
        self.sublinear_tf, self.norm = bool(spec["sublinear_tf"]), spec["norm"]

    def transform(self, docs: list[str]) -> sp.csr_matrix:
        """Tf-idf rows of ``docs`` (counts, then ``1 + log``, idf and l2 norm, in scikit-learn's order)."""
        indices: list[int] = []
        values: list[int] = []
        indptr = [0]
        for doc in docs:
            counts: dict[int, int] = {}
            for feature in self._analyze(doc):
                index = self.vocabulary.get(feature)
                if index is not None:
                    counts[index] = counts.get(index, 0) + 1
            indices.extend(counts)
            values.extend(counts.values())
            indptr.append(len(indices))
        X = sp.csr_matrix((np.asarray(values, dtype=np.float64), np.asarray(indices, dtype=np.int32),
                           np.asarray(indptr, dtype=np.int32)), shape=(len(docs), self.width))
        X.sort_indices()
        if self.sublinear_tf:
            np.log(X.data, X.data)
            X.data += 1.0
        if self.idf is not None:
            X.data *= self.idf[X.indices]
        if self.norm == "l2":
            squares = X.copy()
            squares.data = X.data * X.data
            norms = np.sqrt(squares @ np.ones(self.width))  # SciPy sums each row in order, like scikit-learn
            nonzero = np.repeat(norms, np.diff(X.indptr))
            X.data /= np.where(nonzero == 0.0, 1.0, nonzero)
        return X

    def _analyze(self, doc: str) -> list[str]:
        if self.lowercase:
            doc = doc.lower()
        if self.strip_accents == "unicode":
            doc = _strip_accents(doc)
        if self.analyzer == "char_wb":
            return _char_wb_ngrams(doc, *self.ngram_range)
        if self.analyzer == "char":
            return _char_ngrams(doc, *self.ngram_range)
        tokens = self.token_pattern.findall(doc)
        if self.stop_words is not None:
            tokens = [t for t in tokens if t not in self.stop_words]
        return _word_ngrams(tokens, *self.ngram_range)


def _strip_accents(text: str) -> str:
    if text.isascii():
        return text
    return "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))


def _word_ngrams(tokens: list[str], low: int, high: int) -> list[str]:
    out = list(tokens) if low == 1 else []
    for n in range(max(low, 2), min(high, len(tokens)) + 1):
        out.extend(" ".join(tokens[i: i + n]) for i in range(len(tokens) - n + 1))
    return out


def _char_wb_ngrams(text: str, low: int, high: int) -> list[str]:
    out: list[str] = []
    for word in _WHITE_SPACES.sub(" ", text).split():
        padded = f" {word} "
        for n in range(low, high + 1):
            if len(padded) <= n:  # a word shorter than n counts once, whole
                out.append(padded)
                break
            out.extend(padded[i: i + n] for i in range(len(padded) - n + 1))
    return out


def _char_ngrams(text: str, low: int, high: int) -> list[str]:
    text = _WHITE_SPACES.sub(" ", text)
    return [text[i: i + n] for n in range(low, min(high, len(text)) + 1) for i in range(len(text) - n + 1)]
