"""``embed_logreg``: a frozen pretrained encoder, mean-pooled embeddings, logistic regression.

Fast to fit (one pass of the encoder over the training set, no gradients) and a strong baseline for short
texts. The embeddings are standardised before the regression, whose C is chosen by cross-validation on the
training embeddings unless given (``nlpkit.models.embed_head``); the head is saved with skops (no pickle).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nlpkit.errors import ConfigError
from nlpkit.models import embed_head, encoders, long_text
from nlpkit.models.encoder_base import EncoderClassifier


class EmbedLogregClassifier(EncoderClassifier):
    """Frozen encoder -> pooled embeddings -> logistic regression (sklearn estimator contract).

    ``fit(X, y)`` takes texts, or (target, text) pairs for stance (encoded as sentence pairs).
    """

    OUTPUT = "embedding"
    FAMILY = "embed_logreg"  # the family name saved in estimator.json

    def __init__(
        self,
        *,
        encoder: str = encoders.DEFAULT_ENCODER,
        max_length: int = 256,
        batch_size: int = 16,
        long_text: str = "head",
        head_share: float = 0.25,
        chunk_pooling: str = "mean",
        chunk_stride: int = 32,
        max_chunks: int = 8,
        progress: bool = False,
        C: float | None = None,
        class_weight: str | None = "balanced",
        random_state: int = 0,
    ) -> None:
        self.encoder = encoder
        self.max_length = max_length
        self.batch_size = batch_size
        self.long_text = long_text
        self.head_share = head_share
        self.chunk_pooling = chunk_pooling
        self.chunk_stride = chunk_stride
        self.max_chunks = max_chunks
        self.progress = progress
        self.C = C
        self.class_weight = class_weight
        self.random_state = random_state

    def _check_params(self) -> None:
        super()._check_params()
        if self.C is not None and not (isinstance(self.C, (int, float)) and self.C > 0):
            raise ConfigError(f"model.C must be a float > 0 or null (chosen by cross-validation); got {self.C!r}. "
                              "Fix: e.g. model.C=0.01, or leave it unset.")

    def _fit(self, items: list[Any], encoded: long_text.Encoded, y: np.ndarray, local: bool, **fit_params: Any) -> None:
        if fit_params:
            raise ConfigError(
                f"EmbedLogregClassifier.fit takes no fit parameters; got {sorted(fit_params)}. "
                "Fix: call fit(X, y) (a validation set is used by model=finetune only)."
            )
        self.encoder_model_ = encoders.load_encoder(self.encoder_source_, local)
        self.runner_ = encoders.torch_runner(self.encoder_model_, encoders.input_names(self.tokenizer_), self.OUTPUT)
        embeddings = self._pooled(encoded)
        self.head_, chosen = embed_head.fit_head(embeddings, y, C=self.C, class_weight=self.class_weight,
                                                 seed=self.random_state)
        self.fit_report_.update(chosen)
        self.fit_report_["embedding_dim"] = float(embeddings.shape[1])

    def _proba_from_pooled(self, pooled: np.ndarray) -> np.ndarray:
        proba = self.head_.predict_proba(pooled)
        order = [list(self.head_.classes_).index(c) for c in self.classes_]
        return proba[:, order]
