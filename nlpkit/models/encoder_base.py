"""The small base both encoder families share: input checks, long-text windows, batched inference, reports.

A subclass sets ``OUTPUT`` (``embedding`` or ``logits``), implements ``_fit`` (learn from window outputs or
fine-tune) and ``_proba_from_pooled`` (document rows -> probabilities). Inference runs through
``self.runner_``: PyTorch after fit, PyTorch or ONNX Runtime for a loaded model (nlpkit.models.transformer_io).
Importing this module (and the two families) needs neither torch nor transformers.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from nlpkit.errors import ConfigError, DataError
from nlpkit.models import encoders, long_text
from nlpkit.models.base import ModelMixin, check_fit_inputs, check_texts


class EncoderClassifier(ModelMixin, ClassifierMixin, BaseEstimator):
    """Shared behaviour of the encoder families (not used on its own)."""

    OUTPUT = "embedding"

    # -- the sklearn contract ----------------------------------------------------------------------
    def fit(self, X: Any, y: Any, **fit_params: Any) -> EncoderClassifier:
        """Fit on texts or (target, text) pairs; return self. ``fit_report_`` then holds training metrics
        (name -> float; train.py logs them as ``train/<name>``)."""
        items, y = check_fit_inputs(X, y)
        self._check_params()
        encoders.require_transformers()
        encoders.set_seed(self.random_state)
        self.pairs_ = isinstance(items[0], tuple)
        self.classes_ = np.unique(y)
        if len(self.classes_) < 2:
            raise DataError(f"Expected at least 2 classes in y; got {list(self.classes_)}. Fix: add examples.")
        self.encoder_source_, local = encoders.resolve(self.encoder)
        self.tokenizer_ = encoders.load_tokenizer(self.encoder_source_, local)
        self.template_ = long_text.learn_template(self.tokenizer_)
        encoded = self._encode(items)
        self.truncation_stats_ = encoded.stats()
        self.fit_report_ = {k: float(v) for k, v in self.truncation_stats_.items()}
        self._fit(items, encoded, y, local, **fit_params)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_``."""
        check_is_fitted(self, "classes_")
        items = check_texts(X, pairs=self.pairs_)
        encoded = self._encode(items)
        return self._proba_from_pooled(self._pooled(encoded))

    def predict(self, X: Any) -> np.ndarray:
        """The most probable label of each input."""
        check_is_fitted(self, "classes_")
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def truncation_report(self, X: Any) -> dict[str, float]:
        """What the long-text policy drops from ``X``: shares of documents and of tokens, windows per document."""
        check_is_fitted(self, "classes_")
        return self._encode(check_texts(X, pairs=self.pairs_)).stats()

    # -- shared steps --------------------------------------------------------------------------------
    def _encode(self, items: list[Any]) -> long_text.Encoded:
        return long_text.encode(
            self.tokenizer_, self.template_, items, max_length=self.max_length, policy=self._policy(),
            head_share=self.head_share, chunk_stride=self.chunk_stride, max_chunks=self.max_chunks,
        )

    def _pooled(self, encoded: long_text.Encoded) -> np.ndarray:
        """One output row per document (window outputs pooled by ``chunk_pooling``)."""
        rows = self._window_outputs(encoded)
        if len(rows) == encoded.n_docs:  # one window per document: nothing to pool
            return rows
        return long_text.pool(rows, np.asarray(encoded.doc), encoded.n_docs, self._pooling())

    def _window_outputs(self, encoded: long_text.Encoded) -> np.ndarray:
        """Run every window through ``runner_`` in padded batches; rows in window order."""
        return long_text.run_windows(encoded, self.runner_, self.batch_size, self.tokenizer_.pad_token_id or 0,
                                     wrap=lambda batched: self._progress(batched, len(encoded.ids)))

    def _progress(self, iterable: Any, total_windows: int) -> Any:
        if not self.progress or total_windows < 4 * self.batch_size:
            return iterable
        from tqdm.auto import tqdm

        return tqdm(iterable, total=-(-total_windows // self.batch_size), desc="encoding", unit="batch", leave=False)

    def _policy(self) -> str:
        return str(getattr(self.long_text, "value", self.long_text))

    def _pooling(self) -> str:
        return str(getattr(self.chunk_pooling, "value", self.chunk_pooling))

    def _check_params(self) -> None:
        long_text.check_policy(self._policy(), self.max_length, self.head_share, self.chunk_stride, self.max_chunks)
        long_text.check_pooling(self._pooling())
        if self.batch_size < 1:
            raise ConfigError(f"model.batch_size must be an int >= 1; got {self.batch_size}. Fix: model.batch_size=16.")

    # -- for subclasses ------------------------------------------------------------------------------
    def _fit(self, items: list[Any], encoded: long_text.Encoded, y: np.ndarray, local: bool, **fit_params: Any) -> None:
        raise NotImplementedError

    def _proba_from_pooled(self, pooled: np.ndarray) -> np.ndarray:
        raise NotImplementedError


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax in float64 (rows sum to 1 within 1e-12)."""
    z = logits.astype(np.float64) - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)
