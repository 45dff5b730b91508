"""Prevalence estimation: what share of a collection (and of each group in it) belongs to each class, with 95% CIs.

Classify-and-count is biased whenever the classifier errs unevenly and the class mix differs from the one it
was validated on. The methods here correct for that using the classifier's predictions on labelled
validation data, through QuaPy's aggregative quantifiers fitted on precomputed outputs (no classifier is
re-trained):

* ``cc``   classify and count: the share of documents whose most probable class is c.
* ``pcc``  probabilistic CC: the mean predicted probability of c.
* ``acc``  adjusted CC: CC corrected by the validation confusion rates P(predicted i | true j).
* ``pacc`` probabilistic ACC: PCC corrected by the validation mean probabilities per true class.
* ``sld``  Saerens-Latinne-Decaestecker EM (QuaPy's ``EMQ``): re-weights the posteriors from the training
  prior to the collection's prior until they agree.

``acc``, ``pacc`` and ``sld`` need a :class:`ValidationRecord` (true labels and predicted probabilities of the
validation split, plus the training label counts for ``sld``'s prior), which training stores in every
predictor (``validation.npz``, see ``nlpkit.prevalence_data``).

**What the interval covers.** Each of ``n_bootstrap`` replicates resamples the documents of the group with
replacement *and* (for ``acc``/``pacc``) the validation examples with replacement, refits the adjustment on
the resampled validation set and re-estimates; the CI is the percentile interval of the replicates. It
covers sampling noise in the documents (the group is treated as a sample from its outlet/period) and in the
estimated error rates. It does not cover a shift in P(text | class) between validation data and the
collection (new topics, new outlets), which no correction from validation data can see. ``sld`` uses the
training prior as known, so only its documents are resampled; ``cc``/``pcc`` resample documents only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from nlpkit.errors import ConfigError, DataError

METHODS = ("cc", "pcc", "acc", "pacc", "sld")
NEEDS_VALIDATION = frozenset({"acc", "pacc", "sld"})
RESAMPLES_VALIDATION = frozenset({"acc", "pacc"})
# How acc/pacc solve q = M p: exactly (falling back to the unadjusted estimate if M is singular), then clip to
# [0, 1] and renormalise. QuaPy's default solver ("minimize") gives the same answer whenever the exact solution
# lies in the simplex, but costs ~4.6 ms per call against ~0.08 ms: too slow for 500 replicates per group.
ADJUSTMENT = {"solver": "exact-cc", "norm": "clip"}


@dataclass(frozen=True)
class ValidationRecord:
    """A classifier's outputs on labelled validation data: ``labels`` are class indices into ``label_names``
    (the predictor's label order), ``proba`` the predicted probabilities (columns in that order), and
    ``train_counts`` the training label counts (the prior the posteriors were learned under)."""

    labels: np.ndarray
    proba: np.ndarray
    train_counts: np.ndarray
    label_names: tuple[str, ...]


@dataclass(frozen=True)
class Estimate:
    """One row of a prevalence table: the share of ``label`` in ``group`` by ``method``, with its CI."""

    group: str
    method: str
    label: str
    estimate: float
    ci_low: float
    ci_high: float
    n: int


def check_methods(methods: Sequence[str] | str | None) -> list[str]:
    """The method names, validated (``None``: all). A comma-separated string is accepted."""
    if methods is None:
        return list(METHODS)
    if isinstance(methods, str):
        methods = [m for m in methods.split(",") if m.strip()]
    chosen = [m.strip().lower() for m in methods]
    unknown = [m for m in chosen if m not in METHODS]
    if unknown or not chosen:
        raise ConfigError(
            f"Unknown prevalence method {unknown[0] if unknown else '(none)'!r}; expected some of {', '.join(METHODS)}. "
            "Fix: e.g. --method pacc,sld (or leave it out for all five)."
        )
    return list(dict.fromkeys(chosen))


def estimate_groups(proba: np.ndarray, groups: Sequence[str], labels: Sequence[str], methods: Sequence[str] | None = None,
                    validation: ValidationRecord | None = None, *, n_bootstrap: int = 500,
                    confidence: float = 0.95, seed: int = 0) -> list[Estimate]:
    """Prevalence rows for the whole collection (group ``all``) and for each distinct value of ``groups``
    (sorted), for every method: ``proba`` holds one row of class probabilities per document."""
    from nlpkit import extras

    extras.require("prevalence", "prevalence estimation")
    methods = check_methods(methods)
    proba = _check_proba(proba, labels)
    _check_validation(methods, validation, labels)
    _check_bootstrap(n_bootstrap, confidence)
    rng = np.random.default_rng(seed)
    fitted = {m: _fitted_replicates(m, validation, n_bootstrap, rng, len(labels)) for m in methods}
    groups = np.asarray([str(g) for g in groups]) if groups is not None and len(groups) else None
    if groups is not None and len(groups) != len(proba):
        raise DataError(f"Got {len(groups)} group values for {len(proba)} documents; expected one per document. "
                        "Fix: pass one group value per row of proba.")
    parts = [("all", np.arange(len(proba)))]
    if groups is not None:
        parts += [(g, np.flatnonzero(groups == g)) for g in sorted(set(groups))]
    rows = []
    for name, index in parts:
        for method in methods:
            point, low, high = _interval(fitted[method], proba[index], n_bootstrap, confidence, rng)
            rows += [Estimate(name, method, label, float(point[i]), float(low[i]), float(high[i]), len(index))
                     for i, label in enumerate(labels)]
    return rows


def estimate(proba: np.ndarray, labels: Sequence[str], method: str, validation: ValidationRecord | None = None,
             *, n_bootstrap: int = 500, confidence: float = 0.95, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One method on one collection: ``(estimate, ci_low, ci_high)``, each of shape ``(len(labels),)``."""
    rows = estimate_groups(proba, None, labels, [method], validation, n_bootstrap=n_bootstrap,
                           confidence=confidence, seed=seed)
    return tuple(np.array([getattr(r, key) for r in rows]) for key in ("estimate", "ci_low", "ci_high"))


# -- QuaPy adapter ---------------------------------------------------------------------------------------------
def quantifier(method: str, n_classes: int, validation: ValidationRecord | None = None,
               index: np.ndarray | None = None) -> Any:
    """A QuaPy aggregative quantifier for ``method`` whose aggregation is fitted on ``validation`` (rows
    ``index`` of it, for a bootstrap replicate). Its ``aggregate`` takes class indices (cc, acc) or probability
    rows (pcc, pacc, sld), as :func:`classifier_outputs` gives them."""
    from quapy.method.aggregative import ACC, CC, EMQ, PACC, PCC

    classifier = PrecomputedClassifier(n_classes)
    built = {"cc": lambda: CC(classifier, fit_classifier=False),
             "pcc": lambda: PCC(classifier, fit_classifier=False),
             "acc": lambda: ACC(classifier, fit_classifier=False, val_split=None, n_jobs=1, **ADJUSTMENT),
             "pacc": lambda: PACC(classifier, fit_classifier=False, val_split=None, n_jobs=1, **ADJUSTMENT),
             "sld": lambda: EMQ(classifier, fit_classifier=False, n_jobs=1)}[method]()
    if method in NEEDS_VALIDATION:
        rows = np.arange(len(validation.labels)) if index is None else index
        if method == "sld":
            counts = np.asarray(validation.train_counts, dtype=float)
            built.train_prevalence = counts / counts.sum()
        built.aggregation_fit(classifier_outputs(method, validation.proba[rows]), validation.labels[rows])
    return built


def classifier_outputs(method: str, proba: np.ndarray) -> np.ndarray:
    """What ``method``'s aggregation reads: the predicted class index (cc, acc) or the probabilities."""
    return proba.argmax(axis=1) if method in ("cc", "acc") else proba


class PrecomputedClassifier(ClassifierMixin, BaseEstimator):
    """The classifier QuaPy wraps, for outputs computed beforehand: its inputs *are* probability rows.

    ``predict_proba(P)`` returns ``P`` and ``predict(P)`` its arg-max; ``fit`` only records the classes, so QuaPy's
    ``fit_classifier=False`` path treats it as fitted. This is how nlpkit reuses a predictor's outputs (and the
    validation predictions stored with it) without re-running or re-training the model."""

    def __init__(self, n_classes: int = 2) -> None:
        self.n_classes = n_classes
        self.classes_ = np.arange(n_classes)

    def fit(self, X: Any, y: Any = None) -> PrecomputedClassifier:
        self.classes_ = np.arange(self.n_classes)
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X, dtype=float)

    def predict(self, X: np.ndarray) -> np.ndarray:
        return np.asarray(X).argmax(axis=1)


# -- bootstrap -------------------------------------------------------------------------------------------------
def _fitted_replicates(method: str, validation: ValidationRecord | None, n_bootstrap: int,
                       rng: np.random.Generator, n_classes: int) -> list[Any]:
    """The quantifier fitted on the full validation data, then one per bootstrap replicate (fitted on a
    resample of the validation examples for acc/pacc; the same one for the others)."""
    full = quantifier(method, n_classes, validation)
    if method not in RESAMPLES_VALIDATION:
        return [full] * (n_bootstrap + 1)
    m = len(validation.labels)
    return [full] + [quantifier(method, n_classes, validation, rng.integers(0, m, m)) for _ in range(n_bootstrap)]


def _interval(fitted: list[Any], proba: np.ndarray, n_bootstrap: int, confidence: float,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Point estimate on all documents, and the percentile interval of ``n_bootstrap`` replicates (widened to
    contain the point estimate where a boundary, e.g. a share clipped at 0, puts it outside)."""
    from quapy.method.confidence import ConfidenceIntervals

    method = _method_of(fitted[0])
    outputs = classifier_outputs(method, proba)
    point = _aggregate(fitted[0], outputs)
    n = len(outputs)
    samples = np.stack([_aggregate(q, outputs[rng.integers(0, n, n)]) for q in fitted[1:]])
    region = ConfidenceIntervals(samples, confidence_level=confidence)
    return point, np.minimum(region.I_low, point), np.maximum(region.I_high, point)


def _aggregate(fitted: Any, outputs: np.ndarray) -> np.ndarray:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # QuaPy's optimiser warns on flat regions; the estimate is still valid
        return np.asarray(fitted.aggregate(outputs), dtype=float)


def _method_of(fitted: Any) -> str:
    return {"CC": "cc", "PCC": "pcc", "ACC": "acc", "PACC": "pacc", "EMQ": "sld"}[type(fitted).__name__]


# -- checks ----------------------------------------------------------------------------------------------------
def _check_proba(proba: Any, labels: Sequence[str]) -> np.ndarray:
    proba = np.asarray(proba, dtype=float)
    if proba.ndim != 2 or proba.shape[1] != len(labels) or len(proba) == 0:
        raise DataError(
            f"Expected probabilities of shape (documents >= 1, {len(labels)} labels); got shape {proba.shape}. "
            "Fix: pass predictor.predict_proba(texts) with the predictor's labels."
        )
    return proba


def _check_validation(methods: Sequence[str], validation: ValidationRecord | None, labels: Sequence[str]) -> None:
    needing = [m for m in methods if m in NEEDS_VALIDATION]
    if needing and validation is None:
        raise DataError(
            f"Methods {', '.join(needing)} need the model's validation predictions (true labels and probabilities); "
            "got a predictor without them (trained with data.split.validation_size=0, or saved before nlpkit stored "
            "validation.npz) and no --validation file. Fix: pass --validation FILE (labelled data the model was not "
            "trained on), retrain with a validation split, or use --method cc,pcc."
        )
    if validation is not None and list(validation.label_names) != list(labels):
        raise DataError(f"The validation record's labels {list(validation.label_names)} differ from the predictor's "
                        f"{list(labels)}; expected the same list. Fix: use the validation data of this predictor.")


def _check_bootstrap(n_bootstrap: int, confidence: float) -> None:
    if isinstance(n_bootstrap, bool) or not isinstance(n_bootstrap, int) or n_bootstrap < 20:
        raise ConfigError(f"n_bootstrap must be an integer >= 20; got {n_bootstrap!r}. Fix: e.g. --bootstrap 500.")
    if not 0 < confidence < 1:
        raise ConfigError(f"confidence must be in (0, 1); got {confidence!r}. Fix: e.g. 0.95.")
