"""``blend``: a fine-tuned encoder and a TF-IDF model fitted on the same data, their probabilities averaged.

``predict_proba = encoder_weight * finetune + (1 - encoder_weight) * tfidf``. The two members make different
errors (the small encoder misses lexical cues a word/char n-gram model keeps), so the average can beat both:
experiments/transformers/README.md measures it on ConfliBERT's cameo_class data. Each member is built from
its own model config (``model.finetune.*``, ``model.tfidf.*``) through the registry, so every setting of
those families applies, and is saved the way its family saves (safetensors + tokenizer, skops).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from nlpkit.errors import ConfigError, ModelLoadError
from nlpkit.models.base import Curve, ModelMixin, check_texts
from nlpkit.models.encoder_family import FinetuneModelConfig
from nlpkit.models.registry import REGISTRY, ModelConfig, build_model, family_of
from nlpkit.models.tfidf_family import TfidfLogregConfig, TfidfModelConfig

STATE_FILE = "blend.json"
# member -> (its default schema, the schema every kind it accepts derives from): any registered family whose
# schema derives from the second can be a member (e.g. model.tfidf.kind=tfidf_svm.v1).
MEMBERS: dict[str, tuple[type[ModelConfig], type[ModelConfig]]] = {
    "finetune": (FinetuneModelConfig, FinetuneModelConfig),
    "tfidf": (TfidfLogregConfig, TfidfModelConfig),
}


class BlendClassifier(ModelMixin, ClassifierMixin, BaseEstimator):
    """A weighted average of a ``finetune`` model's and a TF-IDF model's probabilities (sklearn contract).

    ``finetune`` and ``tfidf`` are the members' model configs as dicts (missing keys take the families'
    defaults). ``fit(X, y, validation=None)``: the validation split goes to the fine-tuned member.
    """

    fit_accepts_validation = True

    def __init__(self, *, encoder_weight: float = 0.5, finetune: dict | None = None, tfidf: dict | None = None,
                 random_state: int = 0) -> None:
        self.encoder_weight = encoder_weight
        self.finetune = finetune
        self.tfidf = tfidf
        self.random_state = random_state

    def fit(self, X: Any, y: Any, validation: tuple[Any, Any] | None = None) -> BlendClassifier:
        """Fit both members on (X, y); the fine-tuned one also gets ``validation`` for early stopping."""
        self._check_params()
        items = check_texts(X)
        self.finetune_, self.tfidf_ = self._member("finetune"), self._member("tfidf")
        self.finetune_.fit(items, y, validation=validation)
        self.tfidf_.fit(items, y)
        self.classes_ = self.finetune_.classes_
        self.pairs_ = self.finetune_.pairs_
        self.fit_report_ = dict(self.finetune_.fit_report_)
        held = self.finetune_.heldout_validation_proba_
        if held is not None and validation is not None:  # the encoder refit on validation; TF-IDF never saw it
            self.heldout_validation_proba_ = self._mix(held, self.tfidf_.predict_proba(validation[0]))
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """The weighted average of the members' probabilities, columns in the order of ``classes_``."""
        check_is_fitted(self, "classes_")
        items = check_texts(X, pairs=self.pairs_)
        return self._mix(self.finetune_.predict_proba(items), self.tfidf_.predict_proba(items))

    def predict(self, X: Any) -> np.ndarray:
        """The most probable label of each input."""
        check_is_fitted(self, "classes_")
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def training_curves(self) -> dict[str, Curve]:
        """The fine-tuned member's curves (the TF-IDF member has none)."""
        return self.finetune_.training_curves() if hasattr(self, "finetune_") else {}

    def _mix(self, encoder: np.ndarray, tfidf: np.ndarray) -> np.ndarray:
        return self.encoder_weight * encoder + (1.0 - self.encoder_weight) * tfidf

    def _member(self, name: str) -> Any:
        default, accepted = MEMBERS[name]
        cfg = {"kind": default.kind, **(getattr(self, name) or {})}
        family = family_of(str(cfg["kind"]))
        if not issubclass(family.schema, accepted):
            kinds = sorted(k for k, f in REGISTRY.items() if issubclass(f.schema, accepted))
            raise ConfigError(
                f"model.{name}.kind must be one of {kinds}; got {cfg['kind']!r}. Fix: model.{name}.kind={default.kind}."
            )
        return build_model(cfg, self.random_state)

    def _check_params(self) -> None:
        w = self.encoder_weight
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not 0.0 <= w <= 1.0:
            raise ConfigError(
                f"model.encoder_weight must be a float in [0, 1] (the fine-tuned encoder's share); got {w!r}. "
                "Fix: e.g. model.encoder_weight=0.5."
            )


def save(model: BlendClassifier, directory: Path) -> None:
    """``finetune/`` (the encoder family's files), ``tfidf/`` (the TF-IDF member as plain arrays) and ``blend.json``."""
    from nlpkit.models import tfidf_arrays, transformer_io

    directory = Path(directory)
    for sub in ("finetune", "tfidf"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
    transformer_io.save(model.finetune_, directory / "finetune")
    tfidf_arrays.save(model.tfidf_, directory / "tfidf")
    state = {"params": model.get_params(), "classes": model.classes_.tolist()}
    (directory / STATE_FILE).write_text(json.dumps(state, indent=2, default=str))


def load(directory: Path, **options: Any) -> BlendClassifier:
    """Load a saved blend; ``options`` (e.g. ``runtime="onnx"``) go to the fine-tuned member's loader.

    The TF-IDF member is plain arrays, or a ``tfidf/model.skops`` of a blend saved by nlpkit < 0.2 (audited)."""
    from nlpkit.models import tfidf_arrays, transformer_io

    directory = Path(directory)
    if not (directory / STATE_FILE).is_file():
        raise ModelLoadError(f"No {STATE_FILE} in {directory}; expected a blend model saved by nlpkit.")
    state = json.loads((directory / STATE_FILE).read_text())
    model = BlendClassifier(**state["params"])
    model.finetune_ = transformer_io.load(directory / "finetune", **options)
    model.tfidf_ = tfidf_arrays.load(directory / "tfidf")
    model.classes_ = np.asarray(state["classes"])
    model.pairs_ = model.finetune_.pairs_
    model.fit_report_ = dict(model.finetune_.fit_report_)
    return model
