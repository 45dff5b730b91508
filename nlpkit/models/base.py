"""What every model family provides (``Classifier``, ``ModelMixin``) and the input checks they share."""

from __future__ import annotations

from typing import Any, ClassVar, Protocol, Sequence, runtime_checkable

import numpy as np

from nlpkit.errors import DataError, InputTypeError

Pair = tuple[str, str]
Curve = list[dict[str, float]]  # one row per epoch: {"epoch": 1.0, "train_loss": ..., ...}


@runtime_checkable
class Classifier(Protocol):
    """The contract between a model family and ``nlpkit.train`` / ``nlpkit.predict`` (sklearn's estimator
    contract plus three nlpkit hooks, each with a default in ``ModelMixin``).

    - ``fit_accepts_validation``: ``fit(X, y, validation=(X_val, y_val))`` is accepted (early stopping).
    - ``fit_report_``: training metrics after ``fit`` (name -> float), logged as ``train/<name>``.
    - ``heldout_validation_proba_``: probabilities on ``validation`` from before the model trained on it
      (``finetune`` with ``refit``), in ``classes_`` order; None when the final model never saw that split.
    - ``training_curves()``: metric-name prefix -> per-epoch rows; ``train`` logs them (step = epoch), so
      models never import a tracking library.
    """

    classes_: np.ndarray
    fit_accepts_validation: ClassVar[bool]
    fit_report_: dict[str, float]
    heldout_validation_proba_: np.ndarray | None

    def fit(self, X: Any, y: Any, **fit_params: Any) -> Any: ...

    def predict_proba(self, X: Any) -> np.ndarray: ...

    def predict(self, X: Any) -> np.ndarray: ...

    def training_curves(self) -> dict[str, Curve]: ...


class ModelMixin:
    """Defaults of the ``Classifier`` hooks; a family's estimator lists it first among its bases."""

    fit_accepts_validation: ClassVar[bool] = False
    fit_report_: dict[str, float]  # set by every fit
    heldout_validation_proba_: np.ndarray | None = None

    def training_curves(self) -> dict[str, Curve]:
        """Per-epoch curves learned by the last ``fit`` (none by default)."""
        return {}


def check_fit_inputs(X: Any, y: Any) -> tuple[list[str] | list[Pair], np.ndarray]:
    """``fit``'s inputs checked: the items (``check_texts``) and the labels as an array, one label per item."""
    items = check_texts(X)
    labels = np.asarray(y)
    if len(labels) != len(items):
        raise DataError(f"X has {len(items)} items but y has {len(labels)} labels; they must match.")
    return items, labels


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
