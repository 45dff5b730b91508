"""Registry entries of the TF-IDF kinds (``tfidf_logreg.v1``, ``tfidf_svm.v1``): schemas, builder, save/load.

Light on purpose (no scikit-learn import): the prediction runtime imports it through ``nlpkit.models``. The
estimator (``nlpkit.models.tfidf``) is imported when a model is built; a saved model is plain arrays
(``nlpkit.models.tfidf_arrays``), loaded with numpy and scipy only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional

from nlpkit.models import tfidf_arrays
from nlpkit.models.registry import Family, ModelConfig, register


@dataclass
class TfidfModelConfig(ModelConfig):
    """Word (1-``ngram_max``)-gram + character TF-IDF features and a linear classifier.

    Two defaults follow the length of the training text (``nlpkit.models.tfidf``): up to 1M characters (sentences,
    short documents) word 1-2-grams and character n-grams; above (long articles) word 1-3-grams alone."""

    kind: str = "tfidf_logreg.v1"
    C: float = 10.0
    ngram_max: Optional[int] = None  # null: 2, or 3 when the training text is over 1M characters (tfidf.py)
    min_df: int = 2
    max_features: Optional[int] = 50000  # word block; the character block keeps min(this, 10,000) (tfidf.py)
    char_ngrams: Optional[bool] = None  # null: on while the training text is at most 1M characters (tfidf.py)
    sublinear_tf: bool = True
    class_weight: Optional[str] = "balanced"
    calibration_folds: int = 3
    target_features: bool = True  # stance: a target vectorizer and target/text similarities
    stance_cues: float = 0.0  # stance: weight of the codebook cues (nlpkit.models.stance_cues); 0 = off


@dataclass
class TfidfLogregConfig(TfidfModelConfig):
    """Logistic regression (``model=tfidf_logreg``)."""

    kind: str = "tfidf_logreg.v1"
    C: float = 10.0


@dataclass
class TfidfSvmConfig(TfidfModelConfig):
    """A linear SVM with sigmoid-calibrated probabilities (``model=tfidf_svm``)."""

    kind: str = "tfidf_svm.v1"
    C: float = 0.5


def _builder(classifier: str) -> Callable[[dict[str, Any], int], Any]:
    def build(params: dict[str, Any], seed: int) -> Any:
        from nlpkit.models.tfidf import TfidfClassifier

        return TfidfClassifier(classifier=classifier, random_state=seed, **params)

    return build


TFIDF_REQUIREMENTS = ("numpy", "scipy")
LOGREG = register(Family("tfidf_logreg.v1", TfidfLogregConfig, _builder("logreg"), tfidf_arrays.save,
                         tfidf_arrays.load, requirements=TFIDF_REQUIREMENTS))
SVM = register(Family("tfidf_svm.v1", TfidfSvmConfig, _builder("svm"), tfidf_arrays.save, tfidf_arrays.load,
                      requirements=TFIDF_REQUIREMENTS))
