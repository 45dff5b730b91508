"""Input checks shared by every model family."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from nlpkit.errors import InputTypeError

Pair = tuple[str, str]


def check_texts(X: Any, *, pairs: bool | None = None) -> list[str] | list[Pair]:
    """Validate model input: a sequence of texts, or of (target, text) pairs.

    ``pairs`` says which one is expected (None: either, decided by the first item). Returns a list.
    """
    if isinstance(X, (str, bytes)):
        raise InputTypeError(
            "Expected a list of texts, got a single string. Fix: wrap it in a list, e.g. predict([text])."
        )
    if isinstance(X, np.ndarray) and X.ndim == 2 and X.shape[1] == 2:
        X = [tuple(row) for row in X.tolist()]
    if not isinstance(X, Sequence) and not isinstance(X, np.ndarray) and not hasattr(X, "__iter__"):
        raise InputTypeError(f"Expected a list of texts, got {type(X).__name__}. Fix: pass a list of strings.")
    items = list(X)
    if not items:
        raise InputTypeError("Expected at least one text, got an empty list.")
    is_pair = [isinstance(x, (tuple, list)) for x in items]
    want_pairs = is_pair[0] if pairs is None else pairs
    if want_pairs:
        bad = next((i for i, x in enumerate(items) if not _is_pair(x)), None)
        if bad is not None:
            raise InputTypeError(
                f"Expected (target, text) pairs of strings for a stance model, got {items[bad]!r} at position {bad}. "
                "Fix: pass [(target, text), ...]."
            )
        return [(str(a), str(b)) for a, b in items]
    bad = next((i for i, x in enumerate(items) if not isinstance(x, str)), None)
    if bad is not None:
        raise InputTypeError(
            f"Expected a list of strings, got {type(items[bad]).__name__} at position {bad}: {items[bad]!r:.80}. "
            "Fix: pass plain strings (a stance model takes (target, text) pairs)."
        )
    return items


def _is_pair(x: Any) -> bool:
    return isinstance(x, (tuple, list)) and len(x) == 2 and all(isinstance(v, str) for v in x)
