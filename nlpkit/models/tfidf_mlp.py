"""TF-IDF + MLP: word TF-IDF features (and, for pairs, target-text similarities) into a one-hidden-layer network.

Made for stance between a target and a long text (FNC-1 headline/body): a linear model scores each word of the
target and of the text on its own, while the hidden layer can learn combinations such as "the similarity is
high *and* the text says 'denied'". The features and the forward pass live in ``tfidf_mlp_arrays`` (the
prediction runtime); training uses scikit-learn's ``MLPClassifier`` (Adam, a fixed number of epochs) and keeps
only its weights.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from nlpkit.errors import ConfigError, DataError
from nlpkit.models.base import ModelMixin, check_fit_inputs
from nlpkit.models.ngram_tfidf import NgramTfidf
from nlpkit.models.pair_overlap import PairOverlap
from nlpkit.models.sentence_similarity import SentenceSimilarity
from nlpkit.models.tfidf_mlp_arrays import ArrayMlpModel, Gate, MlpEnsemble, MlpFeatures, MlpRuntime

STOP_WORDS = ("english", None)


def balance_weights(y: np.ndarray, power: float) -> np.ndarray | None:
    """Per-example weights (count of the example's label) ** -power, scaled to mean 1 (None for power 0): power 1
    gives every label the same total weight, 0.5 half-way there."""
    if not power:
        return None
    _, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    weights = counts.astype(np.float64)[inverse.ravel()] ** -float(power)
    return weights / weights.mean()


@contextmanager
def fixed_epochs() -> Iterator[None]:
    """Silence scikit-learn's ConvergenceWarning inside the block: the networks train for a fixed number of epochs
    on purpose, so reaching it is not a failure to converge."""
    from sklearn.exceptions import ConvergenceWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        yield


class TfidfMlpClassifier(ModelMixin, ClassifierMixin, BaseEstimator):
    """TF-IDF features + a one-hidden-layer MLP (sklearn estimator contract).

    ``fit(X, y)`` takes a list of texts, or a list of (target, text) pairs for stance.
    """

    def __init__(self, *, max_features: int | None = 5000, ngram_max: int = 1, min_df: int = 1,
                 stop_words: str | None = "english", sublinear_tf: bool = True, lead_words: int = 60,
                 hidden_units: int = 100, alpha: float = 1e-3, learning_rate: float = 1e-3, epochs: int = 20,
                 batch_size: int = 500, gate_label: str | None = None, gate_hidden_units: int = 0,
                 gate_label_weight: float = 1.0, pair_overlap: bool = False, n_networks: int = 1,
                 claim_sentences: int = 0, claim_cues: bool = False, class_balance: float = 0.0,
                 sentence_encoder: str | None = None, random_state: int = 0) -> None:
        self.max_features = max_features
        self.ngram_max = ngram_max
        self.min_df = min_df
        self.stop_words = stop_words
        self.sublinear_tf = sublinear_tf
        self.lead_words = lead_words
        self.hidden_units = hidden_units
        self.alpha = alpha
        self.learning_rate = learning_rate
        self.epochs = epochs
        self.batch_size = batch_size
        self.gate_label = gate_label
        self.gate_hidden_units = gate_hidden_units
        self.gate_label_weight = gate_label_weight
        self.pair_overlap = pair_overlap
        self.n_networks = n_networks
        self.claim_sentences = claim_sentences
        self.claim_cues = claim_cues
        self.class_balance = class_balance
        self.sentence_encoder = sentence_encoder
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> TfidfMlpClassifier:
        """Fit the vocabulary on every distinct target and text, the gate (if any), then the network; return self."""
        self._check_params()
        items, y = check_fit_inputs(X, y)
        pairs = isinstance(items[0], tuple)
        self._check_gate(pairs, y)
        docs = sorted({str(s) for item in items for s in (item if pairs else (item,))})
        overlap = PairOverlap(lead_words=self.lead_words) if self.pair_overlap else None
        similarity = SentenceSimilarity.from_encoder(self.sentence_encoder) if self.sentence_encoder else None
        features = MlpFeatures(self._vectorizer().fit(docs), pairs=pairs, lead_words=self.lead_words, overlap=overlap,
                               claim_sentences=self.claim_sentences, claim_cues=self.claim_cues, similarity=similarity)
        rows = features.transform(items)
        gate, keep = None, np.ones(len(y), dtype=bool)
        if self.gate_label is not None:
            gate, keep = self._fit_gate(rows[:, -features.pair_width:].toarray(), y), y != self.gate_label
        weights = balance_weights(y[keep], self.class_balance)
        with fixed_epochs():
            networks = [self._network(int(keep.sum()), self.random_state + i).fit(rows[keep], y[keep],
                                                                                 sample_weight=weights)
                        for i in range(self.n_networks)]
        runtimes = [MlpRuntime(n.coefs_[0], n.intercepts_[0], n.coefs_[1], n.intercepts_[1]) for n in networks]
        runtime, network = runtimes[0] if len(runtimes) == 1 else MlpEnsemble(runtimes), networks[0]
        self.runtime_ = ArrayMlpModel(np.unique(y), features, runtime, network.classes_, gate)
        self.classes_, self.pairs_ = self.runtime_.classes_, pairs
        self.features_, self.network_, self.gate_ = features, runtime, gate
        self.network_classes_ = self.runtime_.network_classes_
        self.loss_curve_ = [float(v) for v in network.loss_curve_]
        self.fit_report_ = {"epochs": float(network.n_iter_), "final_loss": self.loss_curve_[-1],
                            "n_features": float(features.width)}
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_`` (the runtime's forward pass)."""
        check_is_fitted(self, "runtime_")
        return self.runtime_.predict_proba(X)

    def predict(self, X: Any) -> np.ndarray:
        """The most probable label of each input."""
        check_is_fitted(self, "runtime_")
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def _fit_gate(self, pair_columns: np.ndarray, y: np.ndarray) -> Gate:
        from sklearn.linear_model import LogisticRegression
        from sklearn.neural_network import MLPClassifier

        target = y == self.gate_label
        if not self.gate_hidden_units:
            weights = {True: float(self.gate_label_weight), False: 1.0}
            regression = LogisticRegression(max_iter=1000, class_weight=weights).fit(pair_columns, target)
            return Gate(str(self.gate_label), regression.coef_[0], regression.intercept_)
        network = MLPClassifier((self.gate_hidden_units,), alpha=self.alpha, max_iter=200,
                                batch_size=min(self.batch_size, len(target)), random_state=self.random_state)
        with fixed_epochs():  # 200 epochs at most, as the network's fixed epochs: no plateau needed
            network.fit(pair_columns, target)
        return Gate(str(self.gate_label), network.coefs_[1][:, 0], network.intercepts_[1], network.coefs_[0],
                    network.intercepts_[0])

    def _check_gate(self, pairs: bool, y: np.ndarray) -> None:
        if self.pair_overlap and not pairs:
            raise ConfigError("model.pair_overlap=true compares a target with a text, so it needs (target, text) "
                              "pairs; got plain texts. Fix: model.pair_overlap=false, or a task with a target_field.")
        for name, off in (("claim_sentences", "0"), ("claim_cues", "false"), ("sentence_encoder", "null")):
            if getattr(self, name) and not pairs:
                raise ConfigError(f"model.{name}={getattr(self, name)!r} reads the text's sentences about the target, "
                                  f"so it needs (target, text) pairs; got plain texts. Fix: model.{name}={off}, or a "
                                  "task with a target_field.")
        if self.gate_label is None:
            return
        if not pairs:
            raise ConfigError(f"model.gate_label={self.gate_label!r} decides a label from target-text similarities, "
                              "so it needs (target, text) pairs; got plain texts. Fix: model.gate_label=null, or a "
                              "task with a target_field.")
        others = sorted(set(y.tolist()) - {self.gate_label})
        if self.gate_label not in set(y.tolist()) or len(others) < 2:
            raise DataError(f"model.gate_label must be one of the training labels, with at least two others for the "
                            f"network; got {self.gate_label!r} with labels {sorted(set(y.tolist()))}. Fix: set it to "
                            "the label that means 'target and text are unrelated' (FNC-1: unrelated), or null.")

    def training_curves(self) -> dict[str, list[dict[str, float]]]:
        """``curve/train_loss`` per epoch of the network's fit (``train`` logs it with step = epoch)."""
        curve = getattr(self, "loss_curve_", [])
        return {"curve/": [{"epoch": float(i + 1), "train_loss": v} for i, v in enumerate(curve)]} if curve else {}

    def _vectorizer(self) -> NgramTfidf:
        from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

        stop = sorted(ENGLISH_STOP_WORDS) if self.stop_words == "english" else None
        return NgramTfidf(ngram_range=(1, self.ngram_max), min_df=self.min_df, max_features=self.max_features,
                          sublinear_tf=self.sublinear_tf, stop_words=stop)

    def _network(self, n_items: int, seed: int) -> Any:
        from sklearn.neural_network import MLPClassifier

        # a fixed number of epochs: n_iter_no_change=epochs turns off the loss-plateau stop
        return MLPClassifier((self.hidden_units,), alpha=self.alpha, learning_rate_init=self.learning_rate,
                             max_iter=self.epochs, n_iter_no_change=self.epochs, batch_size=min(self.batch_size, n_items),
                             random_state=seed)

    def _check_params(self) -> None:
        encoder = self.sentence_encoder
        if encoder is not None and (not isinstance(encoder, str) or not encoder.strip()):
            raise ConfigError(f"model.sentence_encoder must be an encoder name or directory, or null; got {encoder!r}. "
                              "Fix: model.sentence_encoder=all-MiniLM-L6-v2 (the packaged encoder) or null.")
        if self.stop_words not in STOP_WORDS:
            raise ConfigError(f"model.stop_words must be one of {STOP_WORDS}; got {self.stop_words!r}. "
                              "Fix: model.stop_words=english or model.stop_words=null.")
        for name in ("hidden_units", "epochs", "batch_size", "lead_words", "ngram_max", "min_df", "n_networks"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ConfigError(f"model.{name} must be an integer >= 1; got {value!r}. Fix: e.g. model.{name}="
                                  f"{TfidfMlpClassifier().get_params()[name]}.")
        for name, zero in (("gate_hidden_units", "a logistic regression"), ("claim_sentences", "none")):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
                raise ConfigError(f"model.{name} must be an integer >= 0 (0: {zero}); got {value!r}. "
                                  f"Fix: e.g. model.{name}=0.")
        units = self.gate_hidden_units
        weight = self.gate_label_weight
        if not isinstance(weight, (int, float)) or not np.isfinite(weight) or weight <= 0 or \
                (units and weight != 1.0):
            raise ConfigError(f"model.gate_label_weight must be a float > 0, and 1.0 with a hidden-layer gate; got "
                              f"{weight!r} (gate_hidden_units={units!r}). Fix: e.g. model.gate_label_weight=1.0.")
        for name, rule in (("alpha", ">= 0"), ("learning_rate", "> 0"), ("class_balance", ">= 0")):
            value = getattr(self, name)
            ok = isinstance(value, (int, float)) and np.isfinite(value) and (value > 0 or (value == 0 and rule == ">= 0"))
            if not ok:
                raise ConfigError(f"model.{name} must be a float {rule}; got {value!r}. "
                                  f"Fix: e.g. model.{name}={TfidfMlpClassifier().get_params()[name]}.")
