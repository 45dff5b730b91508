"""TF-IDF models: word and character n-gram features with a linear classifier.

For stance the input is (target, text) pairs. Target and text get their own vectorizers, plus similarity
features (cosine of target and text, cosine of target and the text's lead, share of target words present in
the text), so the classifier can relate the two instead of reading one concatenated string. ``target_features=False`` leaves
the target vectorizer and the similarities out (on the embedded corpus they let the model memorise targets);
``stance_cues > 0`` adds the codebook's cues (``nlpkit.models.stance_cues``), standardised and scaled by it.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, TransformerMixin
from sklearn.calibration import CalibratedClassifierCV
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion
from sklearn.svm import LinearSVC
from sklearn.utils.validation import check_is_fitted

from nlpkit.errors import ConfigError, DataError
from nlpkit.models import stance_cues
from nlpkit.models.base import ModelMixin, check_fit_inputs, check_texts
from nlpkit.models.ngram_tfidf import NgramTfidf
from nlpkit.models.tfidf_arrays import pair_similarity

CLASSIFIERS = ("logreg", "svm")


class Vectorizer(TfidfVectorizer):
    """TfidfVectorizer whose saved state keeps the vocabulary as one array of terms (index order).

    skops writes a dict node by node; for a vocabulary of tens of thousands of n-grams that took ~10 s to
    save and ~18 MB. As an array it takes milliseconds; the dict is rebuilt on load.
    """

    def __getstate__(self) -> dict[str, Any]:
        state = dict(super().__getstate__())
        vocabulary = state.pop("vocabulary_", None)
        if vocabulary is not None:
            state["vocabulary_terms_"] = np.array(sorted(vocabulary, key=vocabulary.__getitem__), dtype=str)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        terms = state.pop("vocabulary_terms_", None)
        if terms is not None:
            state["vocabulary_"] = {term: index for index, term in enumerate(terms.tolist())}
        super().__setstate__(state)


class NgramVectorizer(TransformerMixin, BaseEstimator):
    """TF-IDF over word or ``char_wb`` n-grams, counted with array operations (``nlpkit.models.ngram_tfidf``).

    The features of scikit-learn's ``TfidfVectorizer`` with the same settings (``tests/test_ngrams.py``), several
    times faster, and the fitted state is plain arrays that the prediction runtime reads without scikit-learn."""

    def __init__(self, *, analyzer: str = "word", ngram_range: tuple[int, int] = (1, 2), min_df: int = 1,
                 max_features: int | None = None, sublinear_tf: bool = True, strip_accents: bool = True,
                 stop_words: str | None = None) -> None:
        self.analyzer = analyzer
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.max_features = max_features
        self.sublinear_tf = sublinear_tf
        self.strip_accents = strip_accents
        self.stop_words = stop_words

    def fit(self, X: list[str], y: Any = None) -> NgramVectorizer:
        """Learn the vocabulary and idf of ``X``; return self."""
        self.engine_ = self._engine().fit(list(X))
        return self

    def fit_transform(self, X: list[str], y: Any = None, **fit_params: Any) -> sp.csr_matrix:
        """``fit(X).transform(X)``, analysing ``X`` once."""
        self.engine_ = self._engine()
        return self.engine_.fit_transform(list(X))

    def _engine(self) -> NgramTfidf:
        from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

        stop = sorted(ENGLISH_STOP_WORDS) if self.stop_words == "english" else None
        return NgramTfidf(analyzer=self.analyzer, ngram_range=self.ngram_range, min_df=self.min_df,
                          max_features=self.max_features, sublinear_tf=self.sublinear_tf,
                          strip_accents=self.strip_accents, stop_words=stop)

    def transform(self, X: list[str]) -> sp.csr_matrix:
        """Tf-idf rows of ``X``."""
        check_is_fitted(self, "engine_")
        return self.engine_.transform(list(X))

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        """The readable n-grams, in column order."""
        check_is_fitted(self, "engine_")
        return np.asarray(self.engine_.terms_, dtype=object)


class PairSimilarity(TransformerMixin, BaseEstimator):
    """Similarity features between the two sides of (target, text) pairs."""

    def __init__(self, *, lead_words: int = 60) -> None:
        self.lead_words = lead_words

    def fit(self, X: list[tuple[str, str]], y: Any = None) -> PairSimilarity:
        self.vectorizer_ = NgramVectorizer(ngram_range=(1, 1), strip_accents=False, stop_words="english")
        self.vectorizer_.fit([a for a, _ in X] + [b for _, b in X])
        return self

    def transform(self, X: list[tuple[str, str]]) -> sp.csr_matrix:
        check_is_fitted(self, "vectorizer_")
        return pair_similarity(self.vectorizer_.transform, list(X), self.lead_words)


class StanceCues(TransformerMixin, BaseEstimator):
    """The ``stance_cues`` features of (target, text) pairs, standardised on the training pairs, times ``weight``."""

    def __init__(self, *, weight: float = 1.0) -> None:
        self.weight = weight

    def fit(self, X: list[tuple[str, str]], y: Any = None) -> StanceCues:
        cues = stance_cues.cue_matrix(list(X))
        self.mean_ = cues.mean(axis=0)
        self.scale_ = np.where(cues.std(axis=0) > 0, cues.std(axis=0), 1.0)
        return self

    def transform(self, X: list[tuple[str, str]]) -> sp.csr_matrix:
        check_is_fitted(self, "mean_")
        return sp.csr_matrix((stance_cues.cue_matrix(list(X)) - self.mean_) / self.scale_ * self.weight)


# Character n-grams: 4- and 5-grams of the word tokens (padded with a space), the 10,000 most frequent (or
# model.max_features if smaller); chosen on the validation splits of conflibert_cameo5 and un_quadclass against
# char_wb 2-5-grams, other ranges and caps (experiments/benchmarks/TFIDF_SPEED.md): as accurate or more, with about
# 40% of the non-zeros (most of the prediction time) and fewer columns (the classifier's fitting memory).
CHAR_RANGE = (4, 5)
CHAR_MAX_FEATURES = 10_000
AUTO_CHAR_LIMIT = 1_000_000  # characters of training text above which the texts count as long (articles)
# ngram_max=None chooses by length too: word 1-2-grams on short texts (sentences, the embedded corpus: unchanged),
# 1-3-grams on long ones. Chosen on the validation splits of bbc_news, allsides_topic and allsides_leaning against
# C=3..100, no max_features cap, no class weights, min_df=3, unigrams and character n-grams
# (experiments/benchmarks/TFIDF_SPEED.md, third round).
SHORT_TEXT_NGRAM_MAX = 2
LONG_TEXT_NGRAM_MAX = 3


def long_texts(texts: list[str]) -> bool:
    """Whether the training text counts as long: more than ``AUTO_CHAR_LIMIT`` characters in all."""
    return sum(map(len, texts)) > AUTO_CHAR_LIMIT


def use_char_ngrams(texts: list[str]) -> bool:
    """What ``char_ngrams=None`` chooses: character n-grams unless the training text is long (``long_texts``). On
    little text they share evidence between word forms (inflections, names, spellings) that word n-grams see too
    rarely; on more text word n-grams have the support, and character n-grams would multiply the classifier's
    input (about 15 non-zeros per word instead of 2) and its fit time. Measured in
    experiments/benchmarks/TFIDF_SPEED.md."""
    return not long_texts(texts)


def default_ngram_max(texts: list[str]) -> int:
    """What ``ngram_max=None`` chooses: word 1-3-grams if the training text is long (``long_texts``), else 1-2-grams.
    On articles, 1-3-grams (still at most ``max_features`` columns) were the one setting whose validation macro-F1
    rose on all three long-text sets; unigrams rose more on the two topic sets but lost on political leaning,
    which shows in phrasing more than in single words."""
    return LONG_TEXT_NGRAM_MAX if long_texts(texts) else SHORT_TEXT_NGRAM_MAX


class TfidfClassifier(ModelMixin, ClassifierMixin, BaseEstimator):
    """TF-IDF features + logistic regression or a calibrated linear SVM (sklearn estimator contract).

    ``fit(X, y)`` takes a list of texts, or a list of (target, text) pairs for stance.
    """

    def __init__(
        self,
        *,
        classifier: str = "logreg",
        C: float = 10.0,
        ngram_max: int | None = None,
        min_df: int = 2,
        max_features: int | None = 50000,
        char_ngrams: bool | None = None,
        sublinear_tf: bool = True,
        class_weight: str | None = "balanced",
        calibration_folds: int = 3,
        target_features: bool = True,
        stance_cues: float = 0.0,
        random_state: int = 0,
    ) -> None:
        self.classifier = classifier
        self.C = C
        self.ngram_max = ngram_max
        self.min_df = min_df
        self.max_features = max_features
        self.char_ngrams = char_ngrams
        self.sublinear_tf = sublinear_tf
        self.class_weight = class_weight
        self.calibration_folds = calibration_folds
        self.target_features = target_features
        self.stance_cues = stance_cues
        self.random_state = random_state

    def fit(self, X: Any, y: Any) -> TfidfClassifier:
        """Fit the vectorizers and the classifier; return self."""
        items, y = check_fit_inputs(X, y)
        self.pairs_ = isinstance(items[0], tuple)
        texts = [str(item[1]) for item in items] if self.pairs_ else [str(item) for item in items]
        self.char_ngrams_ = self.char_ngrams if self.char_ngrams is not None else use_char_ngrams(texts)
        self.ngram_max_ = int(self.ngram_max) if self.ngram_max is not None else default_ngram_max(texts)
        self.features_ = self._features()
        self.classifier_ = self._classifier(y).fit(self.features_.fit_transform(self._columns(items)), y)
        self.classes_ = self.classifier_.classes_
        self.fit_report_ = {"char_ngrams": float(self.char_ngrams_), "ngram_max": float(self.ngram_max_)}
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, columns in the order of ``classes_``."""
        check_is_fitted(self, "classifier_")
        items = check_texts(X, pairs=self.pairs_)
        return self.classifier_.predict_proba(self.features_.transform(self._columns(items)))

    def predict(self, X: Any) -> np.ndarray:
        """The most probable label of each input."""
        check_is_fitted(self, "classifier_")
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def _columns(self, items: list) -> Any:
        return np.array(items, dtype=object) if self.pairs_ else items

    def _text_features(self) -> FeatureUnion:
        parts = [("word", NgramVectorizer(ngram_range=(1, self.ngram_max_), min_df=self.min_df,
                                          max_features=self.max_features, sublinear_tf=self.sublinear_tf))]
        if self.char_ngrams_:
            cap = CHAR_MAX_FEATURES if self.max_features is None else min(self.max_features, CHAR_MAX_FEATURES)
            parts.append(("char", NgramVectorizer(analyzer="char_tokens", ngram_range=CHAR_RANGE,
                                                  min_df=max(self.min_df, 2), max_features=cap,
                                                  sublinear_tf=self.sublinear_tf)))
        return FeatureUnion(parts)

    def _features(self) -> Any:
        if not self.pairs_:
            if self.stance_cues:
                raise ConfigError(f"model.stance_cues reads (target, text) pairs; got plain texts and stance_cues="
                                  f"{self.stance_cues}. Fix: use it with task=stance (a target field), or model.stance_cues=0.")
            return self._text_features()
        from sklearn.compose import ColumnTransformer

        blocks: list[tuple[str, Any, Any]] = [("text", self._text_features(), 1)]
        if self.target_features:
            blocks = [("target", NgramVectorizer(ngram_range=(1, 2), strip_accents=False), 0), *blocks,
                      ("similarity", PairSimilarity(), [0, 1])]
        if self.stance_cues < 0:
            raise ConfigError(f"model.stance_cues must be a weight >= 0; got {self.stance_cues}. "
                              "Fix: 0 (off) or e.g. model.stance_cues=0.3.")
        if self.stance_cues > 0:
            blocks.append(("cues", StanceCues(weight=self.stance_cues), [0, 1]))
        return ColumnTransformer(blocks, sparse_threshold=1.0)  # always sparse, as the prediction runtime builds it

    def _classifier(self, y: np.ndarray) -> Any:
        if self.classifier not in CLASSIFIERS:
            raise ConfigError(
                f"TfidfClassifier classifier must be one of {CLASSIFIERS}; got {self.classifier!r}. "
                "Fix: use model=tfidf_logreg or model=tfidf_svm."
            )
        if self.C <= 0:
            raise ConfigError(f"model.C must be a float > 0; got {self.C}. Fix: e.g. model.C=1.0.")
        if self.classifier == "logreg":
            return LogisticRegression(C=self.C, class_weight=self.class_weight, max_iter=3000)
        svm = LinearSVC(C=self.C, class_weight=self.class_weight, random_state=self.random_state)
        smallest = int(np.min(np.unique(y, return_counts=True)[1]))
        folds = min(self.calibration_folds, smallest)
        if folds < 2:
            raise DataError(
                f"tfidf_svm calibrates its probabilities with cross-validation and needs at least 2 training "
                f"examples per class; the smallest class has {smallest}. Fix: add examples or use model=tfidf_logreg."
            )
        return CalibratedClassifierCV(svm, cv=folds, method="sigmoid")
