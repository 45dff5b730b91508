"""Statistics for honest comparisons: seed aggregates, paired bootstrap, McNemar, difference of means."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats
from sklearn.metrics import f1_score


@dataclass(frozen=True)
class Summary:
    """Mean, standard deviation and a t-based confidence interval of a set of scores (e.g. over seeds)."""

    n: int
    mean: float
    sd: float
    ci_low: float
    ci_high: float


def summarize(values: Sequence[float], confidence: float = 0.95) -> Summary:
    """Mean, sample sd and Student-t CI of the mean; with one value the CI collapses to it."""
    x = np.asarray(values, dtype=float)
    if len(x) == 0:
        raise ValueError("summarize() needs at least one value; got none.")
    mean = float(x.mean())
    if len(x) == 1:
        return Summary(1, mean, 0.0, mean, mean)
    sd = float(x.std(ddof=1))
    half = float(stats.t.ppf((1 + confidence) / 2, len(x) - 1) * sd / np.sqrt(len(x)))
    return Summary(len(x), mean, sd, mean - half, mean + half)


@dataclass(frozen=True)
class PairedResult:
    """A paired comparison of two classifiers on the same test examples (B minus A)."""

    n: int
    metric_a: float
    metric_b: float
    diff: float
    ci_low: float
    ci_high: float
    only_a_correct: int
    only_b_correct: int
    mcnemar_statistic: float
    mcnemar_p: float
    mcnemar_method: str


def macro_f1(y_true: np.ndarray, y_pred: np.ndarray, labels: Sequence[str]) -> float:
    return float(f1_score(y_true, y_pred, labels=list(labels), average="macro", zero_division=0))


def paired_bootstrap(
    y_true: Sequence[str] | np.ndarray, pred_a: Sequence[str] | np.ndarray, pred_b: Sequence[str] | np.ndarray,
    labels: Sequence[str], n_resamples: int = 2000, confidence: float = 0.95, seed: int = 0,
) -> tuple[float, float, float]:
    """Macro-F1(B) - macro-F1(A) and its percentile CI, resampling the test examples jointly.

    Vectorised: a resample is a vector of how often it draws each example, so every label's true-positive,
    true and predicted counts over all resamples are matrix products (no per-resample ``f1_score`` call); the
    draws are those of one ``rng.integers(0, n, n)`` call per resample, so results do not depend on chunking."""
    y, a, b = (np.asarray(v) for v in (y_true, pred_a, pred_b))
    if not len(y) == len(a) == len(b):
        raise ValueError(f"paired_bootstrap needs equal lengths; got {len(y)}, {len(a)}, {len(b)}.")
    diffs = bootstrap_differences(y, a, b, labels, n_resamples, seed)
    tail = (1 - confidence) / 2 * 100
    point = macro_f1(y, b, labels) - macro_f1(y, a, labels)
    return point, float(np.percentile(diffs, tail)), float(np.percentile(diffs, 100 - tail))


def bootstrap_differences(y: np.ndarray, a: np.ndarray, b: np.ndarray, labels: Sequence[str], n_resamples: int,
                          seed: int) -> np.ndarray:
    """Macro-F1(B) - macro-F1(A) on each of ``n_resamples`` seeded resamples of the examples."""
    rng = np.random.default_rng(seed)
    chunk = max(1, 2_000_000 // max(len(y), 1))  # resamples per matrix product (bounds the memory)
    diffs = []
    for start in range(0, n_resamples, chunk):
        idx = np.stack([rng.integers(0, len(y), len(y)) for _ in range(min(chunk, n_resamples - start))])
        counts = _draw_counts(idx, len(y))
        diffs.append(_macro_f1_weighted(y, b, labels, counts) - _macro_f1_weighted(y, a, labels, counts))
    return np.concatenate(diffs) if diffs else np.empty(0)


def _draw_counts(idx: np.ndarray, n: int) -> np.ndarray:
    """(resamples, n) index draws -> (resamples, n) how many times each example was drawn."""
    rows = idx + (np.arange(len(idx)) * n)[:, None]
    return np.bincount(rows.ravel(), minlength=len(idx) * n).reshape(len(idx), n).astype(float)


def _macro_f1_weighted(y: np.ndarray, pred: np.ndarray, labels: Sequence[str], counts: np.ndarray) -> np.ndarray:
    """Macro-F1 over ``labels`` of each resample (a row of example counts), as sklearn's ``f1_score`` with
    ``zero_division=0`` computes it: per label 2·TP / (TP + FP + TP + FN) = 2·TP / (#true + #predicted)."""
    names = np.asarray(list(labels))
    true, predicted = y[:, None] == names, pred[:, None] == names
    tp, n_true, n_pred = counts @ (true & predicted), counts @ true, counts @ predicted
    denominator = n_true + n_pred
    f1 = np.divide(2 * tp, denominator, out=np.zeros_like(tp), where=denominator > 0)
    return f1.mean(axis=1)


def mcnemar(correct_a: Sequence[bool], correct_b: Sequence[bool]) -> tuple[int, int, float, float, str]:
    """McNemar's test on paired correctness: (only A right, only B right, statistic, p-value, method).

    Exact two-sided binomial test when the discordant count is below 25, otherwise the chi-square
    statistic with continuity correction, (|b - c| - 1)^2 / (b + c), on one degree of freedom.
    """
    a, b = np.asarray(correct_a, dtype=bool), np.asarray(correct_b, dtype=bool)
    only_a, only_b = int(np.sum(a & ~b)), int(np.sum(~a & b))
    discordant = only_a + only_b
    if discordant == 0:
        return only_a, only_b, 0.0, 1.0, "exact"
    if discordant < 25:
        p = float(stats.binomtest(min(only_a, only_b), discordant, 0.5).pvalue)
        return only_a, only_b, float(min(only_a, only_b)), min(p, 1.0), "exact"
    statistic = (abs(only_a - only_b) - 1) ** 2 / discordant
    return only_a, only_b, float(statistic), float(stats.chi2.sf(statistic, 1)), "chi2-cc"


def compare_predictions(
    y_true: Sequence[str], pred_a: Sequence[str], pred_b: Sequence[str], labels: Sequence[str], seed: int = 0
) -> PairedResult:
    """Paired bootstrap CI of the macro-F1 difference and McNemar's test, B versus A."""
    y, a, b = (np.asarray(v) for v in (y_true, pred_a, pred_b))
    diff, low, high = paired_bootstrap(y, a, b, labels, seed=seed)
    only_a, only_b, statistic, p, method = mcnemar(a == y, b == y)
    return PairedResult(len(y), macro_f1(y, a, labels), macro_f1(y, b, labels), diff, low, high,
                        only_a, only_b, statistic, p, method)


def difference_of_means(a: Sequence[float], b: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """mean(B) - mean(A) with a Welch t confidence interval (seed groups of size >= 2 each)."""
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if len(x) < 2 or len(y) < 2:
        raise ValueError(f"difference_of_means needs >= 2 values per group; got {len(x)} and {len(y)}.")
    va, vb = x.var(ddof=1) / len(x), y.var(ddof=1) / len(y)
    diff = float(y.mean() - x.mean())
    se = float(np.sqrt(va + vb))
    if se == 0:
        return diff, diff, diff
    dof = (va + vb) ** 2 / (va**2 / (len(x) - 1) + vb**2 / (len(y) - 1))
    half = float(stats.t.ppf((1 + confidence) / 2, dof) * se)
    return diff, diff - half, diff + half
