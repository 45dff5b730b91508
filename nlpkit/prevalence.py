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
* ``robust`` ``sld``'s estimate with an interval spanning both ``sld``'s and ``pacc``'s. The two rest on different
  assumptions (``sld``: calibrated posteriors; ``pacc``: validation error rates that carry over to the
  collection), so their union covers the truth whenever either holds; where they disagree, it is wide.

``acc``, ``pacc`` and ``sld`` need a :class:`ValidationRecord` (true labels and predicted probabilities of the
validation split, plus the training label counts for ``sld``'s prior), which training stores in every
predictor (``validation.npz``, see ``nlpkit.prevalence_data``).

**What the interval covers.** Each of ``n_bootstrap`` replicates resamples the documents of the group with
replacement *and* (for ``acc``/``pacc``) the validation examples with replacement, refits the adjustment on
the resampled validation set and re-estimates; the CI is the percentile interval of the replicates, its
endpoints rounded to whole documents. Copies of one document (``copies``: equal keys, e.g. the same text run by
several outlets) are resampled together, as one cluster. It covers sampling noise in the documents (the group
is treated as a sample from its outlet/period) and in the estimated error rates. It does not cover a shift in
P(text | class) between validation data and the collection (new topics, new outlets), which no correction from
validation data can see. ``sld`` uses the
training prior as known, so only its documents are resampled; ``cc``/``pcc`` resample documents only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin

from nlpkit.errors import ConfigError, DataError

METHODS = ("cc", "pcc", "acc", "pacc", "sld", "robust")
NEEDS_VALIDATION = frozenset({"acc", "pacc", "sld", "robust"})
COMBINED = {"robust": ("sld", "pacc")}  # estimate from the first, interval spanning all of them
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
            "Fix: e.g. --method robust,cc (or leave it out for all of them)."
        )
    return list(dict.fromkeys(chosen))


def estimate_groups(proba: np.ndarray, groups: Sequence[str] | None, labels: Sequence[str], methods: Sequence[str] | None = None,
                    validation: ValidationRecord | None = None, *, n_bootstrap: int = 500,
                    confidence: float = 0.95, seed: int = 0, copies: Sequence[Any] | None = None) -> list[Estimate]:
    """Prevalence rows for the whole collection (group ``all``) and for each distinct value of ``groups``
    (sorted), for every method: ``proba`` holds one row of class probabilities per document. ``copies``: one
    hashable key per document (e.g. its text); documents with equal keys are resampled together."""
    from nlpkit import extras

    extras.require("prevalence", "prevalence estimation")
    methods = check_methods(methods)
    proba = _check_proba(proba, labels)
    _check_validation(methods, validation, labels)
    _check_bootstrap(n_bootstrap, confidence)
    rng = np.random.default_rng(seed)
    base = list(dict.fromkeys(b for m in methods for b in COMBINED.get(m, (m,))))
    fitted = {m: _fitted_replicates(m, validation, n_bootstrap, rng, len(labels)) for m in base}
    by = np.asarray([str(g) for g in groups]) if groups is not None and len(groups) else None
    if by is not None and len(by) != len(proba):
        raise DataError(f"Got {len(by)} group values for {len(proba)} documents; expected one per document. "
                        "Fix: pass one group value per row of proba.")
    keys = _copy_keys(copies, len(proba))
    parts = [("all", np.arange(len(proba)))]
    if by is not None:
        parts += [(g, np.flatnonzero(by == g)) for g in sorted(set(by))]
    rows = []
    for name, index in parts:
        found = {m: _interval(fitted[m], proba[index], keys[index], n_bootstrap, confidence, rng) for m in base}
        for method in methods:
            point, low, high = _combined([found[m] for m in COMBINED.get(method, (method,))])
            rows += [Estimate(name, method, label, float(point[i]), float(low[i]), float(high[i]), len(index))
                     for i, label in enumerate(labels)]
    return rows


def estimate(proba: np.ndarray, labels: Sequence[str], method: str, validation: ValidationRecord | None = None,
             *, n_bootstrap: int = 500, confidence: float = 0.95, seed: int = 0,
             copies: Sequence[Any] | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One method on one collection: ``(estimate, ci_low, ci_high)``, each of shape ``(len(labels),)``."""
    rows = estimate_groups(proba, None, labels, [method], validation, n_bootstrap=n_bootstrap,
                           confidence=confidence, seed=seed, copies=copies)
    point, low, high = (np.array([getattr(r, key) for r in rows]) for key in ("estimate", "ci_low", "ci_high"))
    return point, low, high


def _combined(intervals: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first method's estimate with the interval spanning every method's interval."""
    point = intervals[0][0]
    return point, np.min([low for _, low, _ in intervals], axis=0), np.max([high for _, _, high in intervals], axis=0)


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
        assert validation is not None  # _check_validation refused its absence
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
    assert validation is not None  # _check_validation refused its absence
    m = len(validation.labels)
    return [full] + [quantifier(method, n_classes, validation, rng.integers(0, m, m)) for _ in range(n_bootstrap)]


def _interval(fitted: list[Any], proba: np.ndarray, keys: np.ndarray, n_bootstrap: int, confidence: float,
              rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Point estimate on all documents, and the percentile interval of ``n_bootstrap`` replicates that resample the
    documents (duplicates together, see :func:`resample_index`). The group's true share is a whole number of its
    ``n`` documents over ``n``, so the endpoints are rounded to the nearest multiple of 1/n (an EM estimate stopped
    at 0.0003 for an absent class then reaches 0); the interval is then widened to contain the point estimate."""
    from quapy.method.confidence import ConfidenceIntervals

    method = _method_of(fitted[0])
    outputs = classifier_outputs(method, proba)
    point = _aggregate(fitted[0], outputs)
    clusters = duplicate_clusters(keys)
    samples = np.stack([_aggregate(q, outputs[resample_index(clusters, rng)]) for q in fitted[1:]])
    region = ConfidenceIntervals(samples, confidence_level=confidence)
    n = len(outputs)
    low, high = np.floor(region.I_low * n + 0.5) / n, np.floor(region.I_high * n + 0.5) / n
    return point, np.minimum(low, point), np.maximum(high, point)


def duplicate_clusters(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Documents with equal ``keys`` (integer codes; in practice the same text: wire copy that several outlets
    ran, or a document listed twice) as clusters: ``(order, starts, sizes)``, the document indices sorted by
    cluster and each cluster's offset and size in ``order``. Resampling them together keeps the bootstrap from
    treating k copies of one document as k independent observations, which makes the interval too narrow."""
    _, inverse = np.unique(keys, return_inverse=True)
    inverse = inverse.reshape(-1)
    order = np.argsort(inverse, kind="stable")
    sizes = np.bincount(inverse)
    return order, np.cumsum(sizes) - sizes, sizes


def _copy_keys(copies: Sequence[Any] | None, n: int) -> np.ndarray:
    """Integer codes of ``copies`` (each document its own code when None)."""
    if copies is None:
        return np.arange(n)
    if len(copies) != n:
        raise DataError(f"Got {len(copies)} copy keys for {n} documents; expected one per document. "
                        "Fix: pass one key (e.g. the text) per row of proba, or copies=None.")
    codes: dict[Any, int] = {}
    return np.array([codes.setdefault(key, len(codes)) for key in copies], dtype=np.int64)


def resample_index(clusters: tuple[np.ndarray, np.ndarray, np.ndarray], rng: np.random.Generator) -> np.ndarray:
    """One bootstrap replicate's document indices: as many clusters as there are, drawn with replacement, each
    contributing all its documents."""
    order, starts, sizes = clusters
    drawn = rng.integers(0, len(sizes), len(sizes))
    if len(sizes) == len(order):  # no duplicates: plain document bootstrap
        return order[drawn]
    counts = sizes[drawn]
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return order[np.repeat(starts[drawn], counts) + offsets]


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
