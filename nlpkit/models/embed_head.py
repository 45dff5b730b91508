"""The classifier head of ``embed_logreg``: standardised embeddings -> logistic regression, C chosen by
cross-validation on the training embeddings.

With ``C=None`` (the default) ``choose_c`` scores every value of ``C_GRID`` by stratified k-fold macro-F1 on the
training data only (no validation or test data), and the head is refitted on all of it with the best value
(ties go to the smaller C, the stronger regularisation). Seeded folds make the choice deterministic. The head
stays a plain ``Pipeline(StandardScaler, LogisticRegression)``, saved with skops.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

C_GRID = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
CV_FOLDS = 5
FALLBACK_C = 1.0  # when a class has a single example there is nothing to cross-validate


def make_head(C: float, class_weight: str | None, seed: int) -> Pipeline:
    """An unfitted head: StandardScaler then LogisticRegression(C, class_weight)."""
    return make_pipeline(StandardScaler(), LogisticRegression(C=C, class_weight=class_weight, max_iter=3000,
                                                              random_state=seed))


def cv_scores(X: np.ndarray, y: np.ndarray, *, class_weight: str | None, seed: int = 0,
              grid: tuple[float, ...] = C_GRID, folds: int = CV_FOLDS) -> dict[float, float]:
    """Mean stratified k-fold macro-F1 of the head for each C of ``grid`` (empty when a class has < 2 examples)."""
    smallest = int(np.unique(y, return_counts=True)[1].min())
    if smallest < 2:
        return {}
    splitter = StratifiedKFold(n_splits=min(folds, smallest), shuffle=True, random_state=seed)
    parts = list(splitter.split(X, y))
    return {C: float(np.mean([_fold_f1(X, y, train, test, C, class_weight, seed) for train, test in parts]))
            for C in grid}


def _fold_f1(X: np.ndarray, y: np.ndarray, train: np.ndarray, test: np.ndarray, C: float,
             class_weight: str | None, seed: int) -> float:
    head = make_head(C, class_weight, seed).fit(X[train], y[train])
    return float(f1_score(y[test], head.predict(X[test]), average="macro"))


def choose_c(scores: dict[float, float]) -> float:
    """The C with the best cross-validated score; ties (within 1e-9) go to the smaller C."""
    if not scores:
        return FALLBACK_C
    best = max(scores.values())
    return min(C for C, score in scores.items() if score >= best - 1e-9)


def fit_head(X: np.ndarray, y: np.ndarray, *, C: float | None, class_weight: str | None,
             seed: int = 0) -> tuple[Pipeline, dict[str, Any]]:
    """The fitted head and what was chosen: ``C`` as given, or (``C=None``) chosen by ``cv_scores``."""
    with threadpool_limits(1):  # 384-wide problems: BLAS threads only spin against each other on a busy machine
        scores = cv_scores(X, y, class_weight=class_weight, seed=seed) if C is None else {}
        chosen = choose_c(scores) if C is None else float(C)
        head = make_head(chosen, class_weight, seed).fit(X, y)
    report: dict[str, Any] = {"head_C": chosen}
    report.update({f"head_cv_macro_f1_C{c:g}": s for c, s in scores.items()})
    return head, report
