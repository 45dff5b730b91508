"""Word and character n-gram counting with NumPy array operations instead of a Python loop per n-gram.

A batch of documents becomes one array of code points; tokens, n-grams and their keys are computed over the
whole array at once. Each n-gram is identified by a 64-bit key (a polynomial hash of its characters, mixed),
so a vocabulary is a sorted array of keys and a lookup is one ``searchsorted``. With tens of millions of
distinct n-grams the chance that two share a key is below 1e-5; keys are only ever compared within one
vectorizer's vocabulary.

The analysis follows scikit-learn's ``TfidfVectorizer`` so that the features mean what its users expect:
lower-casing, then accent stripping (``strip_accents="unicode"``: NFKD, combining marks dropped); words are
runs of two or more word characters (``token_pattern=r"(?u)\\b\\w\\w+\\b"``), word n-grams join consecutive
words of one document; ``char_wb`` n-grams are taken inside each whitespace-separated word padded with one
space on each side, and a padded word shorter than ``n`` stops the longer n-grams (its whole self counted
once). ``tests/test_ngrams.py`` checks the counts against scikit-learn's on varied text.

Used both in training (``ngram_tfidf.NgramVectorizer``) and in the prediction runtime (NumPy only).
"""

from __future__ import annotations

import unicodedata
from functools import lru_cache
from typing import Iterable

import numpy as np
import scipy.sparse as sp

SEPARATOR = "\x00"  # ends every document; never part of a word or an n-gram
_BASE = np.uint64(0x100000001B3)  # odd, so invertible modulo 2**64
_MASK64 = (1 << 64) - 1
_BASE_INVERSE = np.uint64(pow(int(_BASE), -1, 1 << 64))
_MIX1, _MIX2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@lru_cache(maxsize=1)
def _tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per code point of the Basic Multilingual Plane: word character, whitespace, combining mark."""
    chars = [chr(i) for i in range(0x10000)]
    word = np.fromiter((c.isalnum() or c == "_" for c in chars), dtype=bool, count=0x10000)
    space = np.fromiter((c.isspace() for c in chars), dtype=bool, count=0x10000)
    combining = np.fromiter((unicodedata.combining(c) != 0 for c in chars), dtype=bool, count=0x10000)
    return word, space, combining


def _lookup(table_index: int, codes: np.ndarray) -> np.ndarray:
    table = _tables()[table_index]
    out = table[np.minimum(codes, 0xFFFF)]
    high = codes > 0xFFFF
    if high.any():  # astral code points are rare: ask Python for each distinct one
        predicate = (lambda c: c.isalnum() or c == "_", str.isspace, lambda c: unicodedata.combining(c) != 0)
        for code in np.unique(codes[high]).tolist():
            out[codes == code] = predicate[table_index](chr(code))
    return out


def mix(keys: np.ndarray) -> np.ndarray:
    """A 64-bit finaliser (splitmix64's): spreads polynomial hashes over all bits."""
    with np.errstate(over="ignore"):
        keys = keys ^ (keys >> np.uint64(30))
        keys = keys * _MIX1
        keys = keys ^ (keys >> np.uint64(27))
        keys = keys * _MIX2
        return keys ^ (keys >> np.uint64(31))


def encode(docs: list[str], lowercase: bool, strip_accents: bool) -> tuple[np.ndarray, np.ndarray]:
    """Code points of all documents, each followed by ``SEPARATOR``, and the document of every code point."""
    text = SEPARATOR.join(docs) + SEPARATOR if docs else ""
    if text.count(SEPARATOR) != len(docs):  # a document holds the separator itself: blank it out
        text = SEPARATOR.join(d.replace(SEPARATOR, " ") for d in docs) + SEPARATOR
    if lowercase:
        text = text.lower()
    if strip_accents and not text.isascii():
        text = unicodedata.normalize("NFKD", text)
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.int64)
    if strip_accents and len(codes) and codes.max() > 127:
        codes = codes[~_lookup(2, codes)]
    ends = codes == 0
    doc_of = np.cumsum(ends) - ends
    return codes, doc_of


def _prefix(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Prefix sums P (P[i] = sum_{j<i} c_j B^-j) and powers B^i, both modulo 2**64 (numpy wraps)."""
    n = len(codes)
    powers, inverse = _powers(n + 1)
    with np.errstate(over="ignore"):
        prefix = np.zeros(n + 1, dtype=np.uint64)
        np.cumsum((codes.astype(np.uint64) + np.uint64(1)) * inverse[:n], out=prefix[1:])
    return prefix, powers[: n + 1]


_POWERS: list[np.ndarray] = []


def _powers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """B^i and B^-i for i < n (at least), computed once per process and grown when a longer batch comes."""
    if not _POWERS or len(_POWERS[0]) < n:
        size = max(n, 1 << 20, 2 * len(_POWERS[0]) if _POWERS else 0)
        with np.errstate(over="ignore"):
            powers = np.cumprod(np.full(size, _BASE, dtype=np.uint64)) * _BASE_INVERSE
            inverse = np.cumprod(np.full(size, _BASE_INVERSE, dtype=np.uint64)) * _BASE
        _POWERS[:] = [powers, inverse]
    return _POWERS[0], _POWERS[1]


def _span_keys(prefix: np.ndarray, powers: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The key of each span ``[start, end)``: sum of (c+1) B^(end-1-j), mixed with the span's length."""
    with np.errstate(over="ignore"):
        raw = (prefix[ends] - prefix[starts]) * powers[ends - 1]
        return mix(raw + (ends - starts).astype(np.uint64) * _GOLDEN)


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (exclusive) of every run of True in ``mask``."""
    padded = np.concatenate([[False], mask, [False]]).astype(np.int8)
    change = np.diff(padded)
    return np.flatnonzero(change == 1), np.flatnonzero(change == -1)


def word_ngrams(docs: list[str], *, ngram_range: tuple[int, int], lowercase: bool = True, strip_accents: bool = True,
                stop_keys: np.ndarray | None = None) -> tuple[list[tuple[np.ndarray, ...]], np.ndarray]:
    """Every word n-gram occurrence of ``docs`` as parts (one per n) of (document index, key, start, end), and the
    encoded batch (an n-gram's text is the code points ``[start, end)``; see ``terms_of``). Within a part the
    occurrences are in document order, and no key is in two parts."""
    codes, doc_of = encode(docs, lowercase, strip_accents)
    starts, ends = _runs(_lookup(0, codes) & (codes != 0))
    long_enough = ends - starts >= 2
    starts, ends = starts[long_enough], ends[long_enough]
    prefix, powers = _prefix(codes)
    keys = _span_keys(prefix, powers, starts, ends)
    docs_of_tokens = doc_of[starts]
    if stop_keys is not None and len(stop_keys):
        keep = ~np.isin(keys, stop_keys)
        keys, starts, ends, docs_of_tokens = keys[keep], starts[keep], ends[keep], docs_of_tokens[keep]
    low, high = ngram_range
    parts = []
    if low <= 1:
        parts.append((docs_of_tokens, keys, starts, ends))
    combined = keys
    for n in range(2, high + 1):
        if len(keys) < n:
            break
        same_doc = docs_of_tokens[n - 1:] == docs_of_tokens[: len(keys) - n + 1]
        with np.errstate(over="ignore"):
            combined = mix(combined[:-1] * _GOLDEN + keys[n - 1:] + np.uint64(n))
        if n >= low:
            parts.append((docs_of_tokens[n - 1:][same_doc], combined[same_doc], starts[: len(keys) - n + 1][same_doc],
                          ends[n - 1:][same_doc]))
    return parts, codes


def char_wb_ngrams(docs: list[str], *, ngram_range: tuple[int, int], lowercase: bool = True,
                   strip_accents: bool = False) -> tuple[list[tuple[np.ndarray, ...]], np.ndarray, sp.csr_matrix]:
    """``char_wb`` n-grams, computed once per distinct word of the batch (a word's n-grams depend on it alone).

    Returns parts as ``word_ngrams`` does but with the distinct word's index in place of the document, the
    padded code array of the distinct words, and the (documents x distinct words) count matrix: the documents'
    n-gram counts are that matrix times the words' n-gram counts."""
    codes, doc_of = encode(docs, lowercase, strip_accents)
    word_starts, word_ends = _runs(~_lookup(1, codes) & (codes != 0))
    prefix, powers = _prefix(codes)
    word_keys = _span_keys(prefix, powers, word_starts, word_ends)
    distinct, first, inverse = np.unique(word_keys, return_index=True, return_inverse=True)
    words = sp.csr_matrix((np.ones(len(inverse)), (doc_of[word_starts], inverse.ravel())),
                          shape=(len(docs), len(distinct)))
    words.sum_duplicates()
    word_starts, word_ends = word_starts[first], word_ends[first]
    lengths = word_ends - word_starts + 2  # with the two padding spaces
    seg_starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    padded = np.full(int(lengths.sum()), 32, dtype=np.int64)
    inner = np.repeat(seg_starts + 1 - word_starts, lengths - 2) + _ranges(word_starts, word_ends)
    padded[inner] = codes[_ranges(word_starts, word_ends)]
    prefix, powers = _prefix(padded)
    low, high = ngram_range
    parts = []
    for n in range(low, high + 1):
        fits = lengths >= n if n > low else np.ones(len(lengths), dtype=bool)
        count = np.where(fits, np.maximum(lengths - n + 1, 1), 0)
        starts = np.repeat(seg_starts, count) + _ranges(np.zeros(len(count), dtype=np.int64), count)
        ends = np.minimum(starts + n, np.repeat(seg_starts + lengths, count))
        rows = np.repeat(np.arange(len(lengths)), count)
        parts.append((rows, _span_keys(prefix, powers, starts, ends), starts, ends))
    return parts, padded, words


def _ranges(starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Concatenation of ``arange(s, e)`` for every pair (vectorised)."""
    lengths = ends - starts
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    offsets = np.repeat(np.cumsum(lengths) - lengths, lengths)
    return np.arange(total, dtype=np.int64) - offsets + np.repeat(starts, lengths)


def terms_of(codes: np.ndarray, starts: Iterable[int], ends: Iterable[int]) -> list[str]:
    """The text of spans of an encoded batch (for readable vocabularies)."""
    text = codes.astype(np.uint32).tobytes().decode("utf-32-le")
    return [text[s:e] for s, e in zip(starts, ends)]


class KeyIndex:
    """Column of each key in a sorted vocabulary of keys: an open-addressing hash table, probed for all queries at
    once (a few gathers instead of a binary search per query)."""

    def __init__(self, keys: np.ndarray) -> None:
        size = 1 << max(4, int(2 * len(keys)).bit_length())
        self.mask = np.uint64(size - 1)
        self.table = np.zeros(size, dtype=np.uint64)  # key 0 marks an empty slot; a real key 0 is kept aside
        self.columns = np.full(size, -1, dtype=np.int64)
        self.zero_column = -1
        for column, key in enumerate(keys.tolist()) if len(keys) < 64 else ():
            self._insert_one(key, column)
        if len(keys) >= 64:
            self._insert_all(keys)

    def _insert_one(self, key: int, column: int) -> None:
        if key == 0:
            self.zero_column = column
            return
        slot = key & int(self.mask)
        while self.table[slot] != 0:
            slot = (slot + 1) & int(self.mask)
        self.table[slot], self.columns[slot] = key, column

    def _insert_all(self, keys: np.ndarray) -> None:
        pending = np.flatnonzero(keys != 0)
        self.zero_column = int(np.flatnonzero(keys == 0)[0]) if len(pending) < len(keys) else -1
        slots = keys[pending] & self.mask
        while len(pending):
            free = self.table[slots] == 0
            # several keys may want one free slot: the first of them takes it, the rest probe on
            candidates, first = np.unique(slots[free], return_index=True)
            taken = np.flatnonzero(free)[first]
            self.table[slots[taken]], self.columns[slots[taken]] = keys[pending[taken]], pending[taken]
            rest = np.ones(len(pending), dtype=bool)
            rest[taken] = False
            pending, slots = pending[rest], (slots[rest] + np.uint64(1)) & self.mask

    def lookup(self, queries: np.ndarray) -> np.ndarray:
        """The column of each query key, or -1 where it is not in the vocabulary."""
        out = np.full(len(queries), -1, dtype=np.int64)
        active = np.arange(len(queries))
        slots = queries & self.mask
        while len(active):
            found = self.table[slots]
            hit = found == queries[active]
            out[active[hit]] = self.columns[slots[hit]]
            go_on = ~hit & (found != 0)
            active, slots = active[go_on], (slots[go_on] + np.uint64(1)) & self.mask
        if self.zero_column >= 0:
            out[queries == 0] = self.zero_column
        return out
