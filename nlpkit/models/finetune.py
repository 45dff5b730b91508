"""``finetune``: fine-tune a pretrained encoder for sequence classification (a short plain PyTorch loop).

AdamW with linear warm-up and decay, optional class weights, early stopping on validation macro-F1 (a
stratified hold-out of the training set, or ``fit(X, y, validation=(X_val, y_val))``) with the best epoch's
weights restored (``early_stopping=False``: every epoch runs and the last is kept; validation is still scored
each epoch), a tqdm progress bar, and the training curve in ``history_`` (``training_curves()``; nlpkit.train
logs it to the MLflow run with ``step=epoch``). With ``long_text=chunks`` the loss is taken on the document's pooled logits, the
same pooling that prediction uses.

``refit=True``: once early stopping has chosen the number of epochs (all ``epochs`` without early
stopping), fine-tune again from the pretrained encoder on the training *and* validation documents for that
many epochs, so the model that ships has seen every labelled example (about 1.8x the training time). The
refit replays the selection run's training: the same learning-rate schedule (warm-up and linear decay over
``epochs``), stopped after the chosen epoch, so the shipped model is the selected one trained on more data,
not a shorter schedule that decays sooner. The validation split is then no longer held out from the final
model, so the selection run's probabilities on it are kept in ``heldout_validation_proba_`` and
nlpkit.train scores the validation split from those.

Speed (experiments/finetune_speed): texts are tokenised once; each batch is padded to its longest window;
``group_by_length=True`` (default) sorts shuffled documents by length within mega-batches of 50 batches and
shuffles the batches, so a batch carries little padding and its members stay random (the HF Trainer's
``group_by_length``); AdamW is torch's fused kernel.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import f1_score

from nlpkit.errors import ConfigError
from nlpkit.models import encoders, long_text
from nlpkit.models.encoder_base import EncoderClassifier, softmax
from nlpkit.models.finetune_loop import Loop, holdout


class FinetuneClassifier(EncoderClassifier):
    """A fine-tuned encoder with a classification head (sklearn estimator contract).

    ``fit(X, y, validation=None)`` takes texts, or (target, text) pairs for stance (sentence pairs).
    """

    fit_accepts_validation = True  # nlpkit.train passes the validation split for early stopping

    OUTPUT = "logits"
    FAMILY = "finetune"  # the family name saved in estimator.json

    def __init__(
        self,
        *,
        encoder: str = encoders.DEFAULT_ENCODER,
        max_length: int = 128,
        batch_size: int = 8,
        long_text: str = "head",
        head_share: float = 0.25,
        chunk_pooling: str = "mean",
        chunk_stride: int = 32,
        max_chunks: int = 8,
        progress: bool = True,
        epochs: int = 6,
        learning_rate: float = 5e-5,
        weight_decay: float = 0.01,
        warmup_ratio: float = 0.1,
        patience: int = 2,
        early_stopping: bool = True,
        validation_fraction: float = 0.1,
        class_weight: str | None = None,
        refit: bool = False,
        group_by_length: bool = True,
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
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.warmup_ratio = warmup_ratio
        self.patience = patience
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.class_weight = class_weight
        self.refit = refit
        self.group_by_length = group_by_length
        self.random_state = random_state

    def _check_params(self) -> None:
        super()._check_params()
        checks = [
            ("learning_rate", self.learning_rate > 0, "a float > 0", "5e-5"),
            ("epochs", isinstance(self.epochs, int) and self.epochs >= 1, "an int >= 1", "6"),
            ("weight_decay", self.weight_decay >= 0, "a float >= 0", "0.01"),
            ("warmup_ratio", 0 <= self.warmup_ratio < 1, "a float in [0, 1)", "0.1"),
            ("patience", self.patience >= 1, "an int >= 1", "2"),
            ("validation_fraction", 0 <= self.validation_fraction < 0.5, "a float in [0, 0.5)", "0.1"),
            ("class_weight", self.class_weight in (None, "balanced"), "null or 'balanced'", "balanced"),
            ("early_stopping", isinstance(self.early_stopping, bool), "true or false", "false"),
            ("refit", isinstance(self.refit, bool), "true or false", "true"),
            ("group_by_length", isinstance(self.group_by_length, bool), "true or false", "false"),
        ]
        for name, ok, expected, example in checks:
            if not ok:
                raise ConfigError(
                    f"model.{name} must be {expected}; got {getattr(self, name)!r}. Fix: e.g. model.{name}={example}."
                )

    def _fit(self, items: list[Any], encoded: long_text.Encoded, y: np.ndarray, local: bool, **fit_params: Any) -> None:
        validation: tuple[Any, Any] | None = fit_params.pop("validation", None)
        if fit_params:
            raise ConfigError(
                f"FinetuneClassifier.fit takes only the fit parameter 'validation'; got {sorted(fit_params)}. "
                "Fix: call fit(X, y) or fit(X, y, validation=(X_val, y_val))."
            )
        labels = np.searchsorted(self.classes_, y)
        self.refit_history_: list[dict[str, float]] = []
        train_idx, val_items, val_labels = self._validation(items, labels, validation)
        train_items = items if train_idx is None else [items[i] for i in train_idx]
        train_enc = encoded if train_idx is None else self._encode(train_items)
        train_labels = labels if train_idx is None else labels[train_idx]
        val_enc = self._encode(val_items) if val_items else None
        self._new_model(local)
        loop = Loop(self, train_enc, train_labels, val_enc, val_labels)
        self.history_ = loop.run()
        self.model_.eval()
        self.fit_report_.update(loop.report())
        if self.refit and val_enc is not None:
            if validation is not None:  # the caller's validation split: keep the selection model's view of it
                self.heldout_validation_proba_ = softmax(self._pooled(val_enc))
            self._refit(train_items + list(val_items), np.concatenate([train_labels, val_labels]), loop.chosen_epoch(),
                        local)

    def training_curves(self) -> dict[str, list[dict[str, float]]]:
        """``curve/<metric>`` per epoch of the fit, and ``curve/refit_<metric>`` of the refit (``refit=True``)."""
        curves = {"curve/": list(self.history_)} if getattr(self, "history_", None) else {}
        if getattr(self, "refit_history_", None):
            curves["curve/refit_"] = list(self.refit_history_)
        return curves

    def _new_model(self, local: bool) -> None:
        """The pretrained encoder with a fresh classification head (seeded), and its PyTorch runner."""
        encoders.set_seed(self.random_state)
        self.model_ = encoders.load_encoder(self.encoder_source_, local, num_labels=len(self.classes_))
        self.model_.config.id2label = {i: str(c) for i, c in enumerate(self.classes_)}
        self.model_.config.label2id = {str(c): i for i, c in enumerate(self.classes_)}
        self.runner_ = encoders.torch_runner(self.model_, encoders.input_names(self.tokenizer_), self.OUTPUT)

    def _refit(self, items: list[Any], labels: np.ndarray, epochs: int, local: bool) -> None:
        """Fine-tune again from the pretrained encoder on ``items`` (training + validation documents) for the
        ``epochs`` early stopping chose, on the selection run's learning-rate schedule (over ``self.epochs``)."""
        self._new_model(local)
        loop = Loop(self, self._encode(items), labels, None, None, epochs=epochs)
        self.refit_history_ = loop.run()
        self.model_.eval()
        self.fit_report_.update({"refit_epochs": float(epochs), "refit_size": float(len(items)),
                                 "refit_final_loss": self.refit_history_[-1]["train_loss"]})

    def _validation(
        self, items: list[Any], labels: np.ndarray, validation: tuple[Any, Any] | None
    ) -> tuple[np.ndarray | None, list[Any], np.ndarray | None]:
        """(training indices or None for all, validation items, validation label indices)."""
        if validation is not None:
            from nlpkit.models.base import check_texts

            X_val, y_val = validation
            known = set(self.classes_.tolist())
            unknown = sorted({str(v) for v in y_val} - {str(k) for k in known})
            if unknown:
                raise ConfigError(f"validation labels {unknown} are not among the training classes {sorted(known)}.")
            return None, check_texts(X_val, pairs=self.pairs_), np.searchsorted(self.classes_, np.asarray(y_val))
        split = holdout(labels, self.validation_fraction, self.random_state)
        if split is None:
            return None, [], None
        train_idx, val_idx = split
        return train_idx, [items[i] for i in val_idx], labels[val_idx]

    def _proba_from_pooled(self, pooled: np.ndarray) -> np.ndarray:
        return softmax(pooled)

    def validation_scores(self, encoded: long_text.Encoded, labels: np.ndarray) -> tuple[float, float]:
        """(macro-F1, mean cross-entropy) of the current weights on encoded validation documents."""
        proba = softmax(self._pooled(encoded))
        loss = float(-np.mean(np.log(np.clip(proba[np.arange(len(labels)), labels], 1e-12, None))))
        f1 = f1_score(labels, proba.argmax(axis=1), average="macro", labels=np.arange(len(self.classes_)))
        return float(f1), loss
