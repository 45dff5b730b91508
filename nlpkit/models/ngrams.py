"""Word and character n-gram counting with NumPy array operations instead of a Python loop per n-gram.

Each n-gram is identified by a 64-bit key (a polynomial hash of its characters, mixed), so a vocabulary is a
sorted array of keys and a lookup is a few vectorised probes of a hash table (``KeyIndex``). With tens of
millions of distinct n-grams the chance that two share a key is below 1e-5; keys are only ever compared within
one vectorizer's vocabulary.

Python touches each word once (C-speed regular expression and ``str.split``, one dict lookup); everything
per n-gram is array arithmetic. Words are hashed once per distinct word of a batch; word n-gram keys combine
the words' keys; character n-grams are computed for the distinct words only and spread to documents by a
sparse product, because a word's character n-grams depend on that word alone. A batch's ``Tokens`` (the word
analyzer's tokens) can serve several vectorizers: the word n-grams and the character n-grams of those tokens
(``char_tokens`` in ``ngram_tfidf``) find them once.

The analysis follows scikit-learn's ``TfidfVectorizer`` so that the features mean what its users expect:
lower-casing, then accent stripping (``strip_accents="unicode"``: NFKD, combining marks dropped); words are
matches of its ``token_pattern`` ``(?u)\\b\\w\\w+\\b`` (``TOKEN`` finds the same ones); word n-grams join
consecutive words of one document; ``char_wb`` n-grams are taken inside each word padded with one space on each
side (whitespace-separated words, or the tokens), and a padded word shorter than ``n`` stops the longer n-grams
(its whole self counted once). ``tests/test_ngrams.py`` checks the features against scikit-learn's on varied text.

Used both in training (``ngram_tfidf``, ``tfidf.NgramVectorizer``) and in the prediction runtime (NumPy only).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from itertools import chain, count
from typing import Callable, Optional

import numpy as np
import scipy.sparse as sp

SEPARATOR = "\x00"  # between documents; a document's own NUL characters are blanked first
# scikit-learn's token_pattern is (?u)\b\w\w+\b; with findall ``\w\w+`` finds the same tokens (a match can only start
# where a word starts: the previous match ended on a non-word character, a failed start was a one-letter word)
# and runs ~30% faster without the boundary checks. tests/test_ngrams.py compares the features.
TOKEN = re.compile(r"(?u)\w\w+")
_BASE = np.uint64(0x100000001B3)  # odd, so invertible modulo 2**64
_BASE_INVERSE = np.uint64(pow(int(_BASE), -1, 1 << 64))
_MIX1, _MIX2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
Part = tuple  # (row, key, start, end): one n-gram occurrence per element of four equal-length arrays
Terms = Callable[[np.ndarray, np.ndarray], list]  # (starts, ends) of occurrences -> their n-grams' text


def _strip_marks(text: str) -> str:
    """``text`` without its combining marks (looked up among the distinct non-ASCII characters it holds, found
    with NumPy: a Python ``set`` of every character cost more than the rest of the analysis)."""
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    marks = [c for c in map(chr, np.unique(codes[codes > 127]).tolist()) if unicodedata.combining(c)]
    if not marks:
        return text
    return re.sub("[" + "".join(re.escape(c) for c in marks) + "]", "", text)


def prepare(docs: list[str], lowercase: bool, strip_accents: bool) -> list[str]:
    """The documents as the analyzers read them: lower-cased, then accents stripped (scikit-learn's order)."""
    text = SEPARATOR.join(docs)
    if text.count(SEPARATOR) != max(len(docs) - 1, 0):
        text = SEPARATOR.join(d.replace(SEPARATOR, " ") for d in docs)
    if lowercase:
        text = text.lower()
    if strip_accents and not text.isascii():
        text = _strip_marks(unicodedata.normalize("NFKD", text))
    return text.split(SEPARATOR) if docs else []


def mix(keys: np.ndarray) -> np.ndarray:
    """A 64-bit finaliser (splitmix64's): spreads polynomial hashes over all bits."""
    with np.errstate(over="ignore"):
        keys = keys ^ (keys >> np.uint64(30))
        keys = keys * _MIX1
        keys = keys ^ (keys >> np.uint64(27))
        keys = keys * _MIX2
        return keys ^ (keys >> np.uint64(31))


def _codes(strings: list[str]) -> np.ndarray:
    return np.frombuffer("".join(strings).encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)


def _prefix(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Prefix sums P (P[i] = sum_{j<i} (c_j + 1) B^-j) and powers B^i, modulo 2**64 (NumPy's integers wrap)."""
    n = len(codes)
    with np.errstate(over="ignore"):
        powers = np.ones(n + 1, dtype=np.uint64)
        np.cumprod(np.full(n, _BASE, dtype=np.uint64), out=powers[1:])
        inverse = np.ones(n + 1, dtype=np.uint64)
        np.cumprod(np.full(n, _BASE_INVERSE, dtype=np.uint64), out=inverse[1:])
        prefix = np.zeros(n + 1, dtype=np.uint64)
        np.cumsum((codes + np.uint64(1)) * inverse[:n], out=prefix[1:])
    return prefix, powers


def _span_keys(prefix: np.ndarray, powers: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The key of each span ``[start, end)``: sum of (c+1) B^(end-1-j), mixed with the span's length."""
    with np.errstate(over="ignore"):
        raw = (prefix[ends] - prefix[starts]) * powers[ends - 1]
        return mix(raw + (ends - starts).astype(np.uint64) * _GOLDEN)


def string_keys(strings: list[str]) -> np.ndarray:
    """The key of each string (a word, or a stop word to drop)."""
    lengths = np.fromiter(map(len, strings), dtype=np.int64, count=len(strings))
    ends = np.cumsum(lengths)
    prefix, powers = _prefix(_codes(strings))
    return _span_keys(prefix, powers, ends - lengths, ends)


def _distinct(items: list[list[str]]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Each item's row, its index among the distinct items (first-seen order), and the distinct items."""
    lengths = np.fromiter(map(len, items), dtype=np.int64, count=len(items))
    index = dict(zip(dict.fromkeys(chain.from_iterable(items)), count()))
    ids = np.fromiter(map(index.__getitem__, chain.from_iterable(items)), dtype=np.int64, count=int(lengths.sum()))
    distinct = list(index)
    return np.repeat(np.arange(len(items)), lengths), ids, distinct


@dataclass(frozen=True)
class Tokens:
    """The word tokens of a batch of documents (``TOKEN`` matches, after ``prepare``): the document of each
    occurrence (ascending), its index among the distinct words (first-seen order), the words and their keys.
    Computed once per batch, they serve the word n-grams and the character n-grams of tokens alike."""

    rows: np.ndarray
    ids: np.ndarray
    words: list[str]
    keys: np.ndarray
    n_docs: int

    def counts(self) -> sp.csr_matrix:
        """(documents x words) CSR with one entry per occurrence, in text order (a sparse product sums repeats)."""
        return _occurrence_counts(self.rows, self.ids, self.n_docs, len(self.words))


def _occurrence_counts(rows: np.ndarray, ids: np.ndarray, n_docs: int, n_words: int) -> sp.csr_matrix:
    """(documents x words) CSR with one entry per occurrence (``rows`` ascending), built without a sort."""
    indptr = np.zeros(n_docs + 1, dtype=np.int64)
    np.cumsum(np.bincount(rows, minlength=n_docs), out=indptr[1:])
    return sp.csr_matrix((np.ones(len(ids)), ids, indptr), shape=(n_docs, n_words))


def tokenize(docs: list[str], *, lowercase: bool = True, strip_accents: bool = True) -> Tokens:
    """The ``Tokens`` of ``docs``."""
    rows, ids, words = _distinct([TOKEN.findall(doc) for doc in prepare(docs, lowercase, strip_accents)])
    return Tokens(rows, ids, words, string_keys(words), len(docs))


def word_ngrams(docs: list[str], *, ngram_range: tuple[int, int], lowercase: bool = True, strip_accents: bool = True,
                stop_words: Optional[frozenset[str]] = None,
                tokens: Optional[Tokens] = None) -> tuple[list[Part], Terms]:
    """Every word n-gram occurrence of ``docs``, one part per n (rows are documents; within a part occurrences
    are in document order; no key is in two parts), and a function giving the text of occurrences. ``tokens``:
    ``docs``' tokens when already computed with the same settings."""
    if tokens is None:
        tokens = tokenize(docs, lowercase=lowercase, strip_accents=strip_accents)
    rows, ids, words = tokens.rows, tokens.ids, tokens.words
    if stop_words:
        keep = ~np.fromiter((w in stop_words for w in words), dtype=bool, count=len(words))[ids]
        rows, ids = rows[keep], ids[keep]
    keys = tokens.keys[ids]
    positions = np.arange(len(ids))
    low, high = ngram_range
    parts: list[Part] = [(rows, keys, positions, positions + 1)] if low <= 1 else []
    combined = keys
    for n in range(2, high + 1):
        if len(keys) < n:
            break
        same_doc = rows[n - 1:] == rows[: len(keys) - n + 1]
        with np.errstate(over="ignore"):
            combined = mix(combined[:-1] * _GOLDEN + keys[n - 1:] + np.uint64(n))
        if n >= low:
            starts = positions[: len(keys) - n + 1][same_doc]
            parts.append((rows[n - 1:][same_doc], combined[same_doc], starts, starts + n))

    def terms(starts: np.ndarray, ends: np.ndarray) -> list[str]:
        out = [""] * len(starts)
        for n in np.unique(ends - starts).tolist():
            at = np.flatnonzero(ends - starts == n)
            columns = [map(words.__getitem__, ids[starts[at] + k].tolist()) for k in range(n)]
            for i, term in zip(at.tolist(), map(" ".join, zip(*columns))):
                out[i] = term
        return out

    return parts, terms


def whitespace_words(docs: list[str], *, lowercase: bool = True,
                     strip_accents: bool = False) -> tuple[sp.csr_matrix, list[str]]:
    """The distinct whitespace-separated words of ``docs`` (first-seen order) and the (documents x words) counts.

    The counts are CSR with one entry per word occurrence, in text order (a repeated word is several entries):
    built without a sort, and a sparse product sums the repeats."""
    rows, ids, words = _distinct([doc.split() for doc in prepare(docs, lowercase, strip_accents)])
    return _occurrence_counts(rows, ids, len(docs), len(words)), words


def char_wb_ngrams(words: list[str], *, ngram_range: tuple[int, int]) -> tuple[list[Part], Terms]:
    """The ``char_wb`` n-grams of each word (rows are the words' indices), one part per n, and the text function.

    A document's n-gram counts are its ``whitespace_words`` counts times these rows: n-grams never cross words."""
    padded_words = [f" {w} " for w in words]
    lengths = np.fromiter(map(len, padded_words), dtype=np.int64, count=len(words))
    seg_starts = np.cumsum(lengths) - lengths
    padded = "".join(padded_words)
    prefix, powers = _prefix(_codes([padded]))
    low, high = ngram_range
    parts: list[Part] = []
    for n in range(low, high + 1):
        fits = lengths >= n if n > low else np.ones(len(lengths), dtype=bool)
        count = np.where(fits, np.maximum(lengths - n + 1, 1), 0)
        starts = np.repeat(seg_starts, count) + _ranges(count)
        ends = np.minimum(starts + n, np.repeat(seg_starts + lengths, count))
        parts.append((np.repeat(np.arange(len(words)), count), _span_keys(prefix, powers, starts, ends), starts, ends))

    def terms(starts: np.ndarray, ends: np.ndarray) -> list[str]:
        return [padded[s:e] for s, e in zip(starts.tolist(), ends.tolist())]

    return parts, terms


def _ranges(counts: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(c)`` for every count (vectorised)."""
    total = int(counts.sum())
    return np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)


class KeyIndex:
    """Column of each key in a sorted vocabulary of keys: an open-addressing hash table, probed for all queries at
    once (a few gathers instead of a binary search per query)."""

    def __init__(self, keys: np.ndarray) -> None:
        size = 1 << max(4, int(2 * len(keys)).bit_length())  # at most half full: short probe runs
        self.mask = np.uint64(size - 1)
        self.table = np.zeros(size, dtype=np.uint64)  # 0 marks an empty slot; a real key 0 is kept aside
        self.columns = np.full(size, -1, dtype=np.int64)
        self._insert_all(np.asarray(keys, dtype=np.uint64))

    def _insert_all(self, keys: np.ndarray) -> None:
        pending = np.flatnonzero(keys != 0)
        self.zero_column = int(np.flatnonzero(keys == 0)[0]) if len(pending) < len(keys) else -1
        slots = keys[pending] & self.mask
        while len(pending):
            free = self.table[slots] == 0
            # several keys may want one free slot: the first of them takes it, the rest probe on
            _, first = np.unique(slots[free], return_index=True)
            taken = np.flatnonzero(free)[first]
            self.table[slots[taken]], self.columns[slots[taken]] = keys[pending[taken]], pending[taken]
            rest = np.ones(len(pending), dtype=bool)
            rest[taken] = False
            pending, slots = pending[rest], (slots[rest] + np.uint64(1)) & self.mask

    def lookup(self, queries: np.ndarray) -> np.ndarray:
        """The column of each query key, or -1 where it is not in the vocabulary.

        The first probe is made for all queries at once (most end there: the table is at most half full);
        only the queries whose slot holds another key probe on."""
        slots = queries & self.mask
        found = self.table[slots]
        out = self.columns[slots]  # -1 in an empty slot
        pending = np.flatnonzero((found != queries) & (found != 0))
        out[pending] = -1
        slots = slots[pending]
        while len(pending):
            slots = (slots + np.uint64(1)) & self.mask
            found = self.table[slots]
            hit = found == queries[pending]
            out[pending[hit]] = self.columns[slots[hit]]
            go_on = ~hit & (found != 0)
            pending, slots = pending[go_on], slots[go_on]
        if self.zero_column >= 0:
            out[queries == 0] = self.zero_column
        return out
