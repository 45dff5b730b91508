"""How well a split's predicted probabilities are calibrated: Brier score, expected calibration error (ECE)
and a reliability diagram. Pure functions over ``(y_true, proba, labels)`` (``proba`` columns in ``labels``
order), used by training for every evaluated split.

Definitions (multi-class, ``K`` labels, ``n`` documents):

- **Brier score**: ``mean_i sum_k (p_ik - y_ik)^2`` with ``y_ik`` the one-hot true label. 0 is perfect, 2 the
  worst; it is *not* divided by ``K`` (Brier's 1950 original definition; sklearn's ``brier_score_loss`` is the
  binary case of it divided by 2).
- **ECE**: top-label ECE with ``N_BINS`` = 15 equal-width bins over the confidence ``max_k p_ik``: documents
  whose confidence lies in ``((b-1)/15, b/15]`` form bin ``b``; ``ECE = sum_b |B_b| / n * |acc(B_b) - conf(B_b)|``
  (Guo et al. 2017), where ``acc`` is the share of the bin whose top label is the true one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from nlpkit.errors import DataError

N_BINS = 15


@dataclass(frozen=True)
class ReliabilityBins:
    """Per confidence bin: its edges, document count, mean confidence and accuracy (NaN when empty)."""

    edges: np.ndarray
    count: np.ndarray
    confidence: np.ndarray
    accuracy: np.ndarray


def one_hot(y_true: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    """An ``(n, K)`` 0/1 matrix of the true labels, columns in ``labels`` order (unknown labels refused)."""
    index = {label: k for k, label in enumerate(labels)}
    unknown = sorted({str(v) for v in y_true if v not in index})
    if unknown:
        raise DataError(
            f"Calibration metrics need true labels from {list(labels)}; got unknown label(s) {unknown[:5]}. "
            "Fix: evaluate on data labelled with the model's label set."
        )
    codes = np.fromiter((index[v] for v in y_true), dtype=int, count=len(y_true))
    return np.eye(len(labels))[codes]


def _checked(y_true: Sequence[str], proba: np.ndarray, labels: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    proba = np.asarray(proba, dtype=float)
    if proba.ndim != 2 or proba.shape != (len(y_true), len(labels)) or len(y_true) == 0:
        raise DataError(
            f"Calibration metrics need probabilities of shape (n documents, {len(labels)} labels) with n >= 1 and one "
            f"true label per row; got shape {proba.shape} for {len(y_true)} labels. Fix: pass predict_proba's output."
        )
    return one_hot(y_true, labels), proba


def brier_score(y_true: Sequence[str], proba: np.ndarray, labels: Sequence[str]) -> float:
    """Multi-class Brier score: mean over documents of the sum over classes of ``(p - y)^2`` (range [0, 2])."""
    truth, proba = _checked(y_true, proba, labels)
    return float(np.mean(np.sum((proba - truth) ** 2, axis=1)))


def log_loss(y_true: Sequence[str], proba: np.ndarray, labels: Sequence[str], eps: float = 1e-12) -> float:
    """Mean negative log-likelihood of the true labels (probabilities clipped to ``[eps, 1]``)."""
    truth, proba = _checked(y_true, proba, labels)
    return float(-np.mean(np.log(np.clip(np.sum(proba * truth, axis=1), eps, 1.0))))


def reliability_bins(y_true: Sequence[str], proba: np.ndarray, labels: Sequence[str],
                     n_bins: int = N_BINS) -> ReliabilityBins:
    """Top-label confidence and accuracy in ``n_bins`` equal-width bins ``((b-1)/n_bins, b/n_bins]``."""
    truth, proba = _checked(y_true, proba, labels)
    confidence = proba.max(axis=1)
    correct = truth[np.arange(len(truth)), proba.argmax(axis=1)]
    which = np.clip(np.ceil(confidence * n_bins).astype(int) - 1, 0, n_bins - 1)
    count = np.bincount(which, minlength=n_bins).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(which, weights=confidence, minlength=n_bins) / count
        accuracy = np.bincount(which, weights=correct, minlength=n_bins) / count
    return ReliabilityBins(np.linspace(0.0, 1.0, n_bins + 1), count, mean_conf, accuracy)


def expected_calibration_error(y_true: Sequence[str], proba: np.ndarray, labels: Sequence[str],
                               n_bins: int = N_BINS) -> float:
    """Top-label ECE over ``n_bins`` equal-width confidence bins (see the module docstring)."""
    bins = reliability_bins(y_true, proba, labels, n_bins)
    filled = bins.count > 0
    gaps = np.abs(bins.accuracy[filled] - bins.confidence[filled])
    return float(np.sum(bins.count[filled] / bins.count.sum() * gaps))


def calibration_metrics(y_true: Sequence[str], proba: np.ndarray, labels: Sequence[str]) -> dict[str, float]:
    """``{"brier": ..., "ece": ...}`` for one split (keys as logged under ``<split>/``)."""
    return {"brier": brier_score(y_true, proba, labels), "ece": expected_calibration_error(y_true, proba, labels)}


def plot_reliability(y_true: Sequence[str], proba: np.ndarray, labels: Sequence[str], path: Path, title: str) -> Path:
    """Save a reliability diagram (accuracy vs confidence per bin, with the diagonal) over a histogram of the
    top-label confidences as a PNG at ``path``; the title carries the split's Brier score and ECE."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bins = reliability_bins(y_true, proba, labels)
    centres, width = (bins.edges[:-1] + bins.edges[1:]) / 2, 1.0 / N_BINS
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(5, 6), sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    top.bar(centres, np.nan_to_num(bins.accuracy), width=width, edgecolor="black", label="accuracy in the bin")
    top.plot([0, 1], [0, 1], "--", color="grey", label="perfect calibration")
    top.plot(centres, bins.confidence, "_", color="crimson", markersize=14, markeredgewidth=2.5,
             label="mean confidence in the bin")
    top.set(ylabel="accuracy of the top label", xlim=(0, 1), ylim=(0, 1),
            title=f"{title}: Brier {brier_score(y_true, proba, labels):.3f}, "
                  f"ECE {expected_calibration_error(y_true, proba, labels):.3f}")
    top.legend(loc="upper left", fontsize=8)
    bottom.bar(centres, bins.count, width=width, edgecolor="black", color="lightgrey")
    bottom.set(xlabel=f"top-label confidence ({N_BINS} bins)", ylabel="documents")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def evaluate_calibration(directory: Path, split: str, y_true: Sequence[str], proba: np.ndarray,
                         labels: Sequence[str], suffix: str = "") -> dict[str, float]:
    """Brier and ECE of one split, with its reliability diagram saved as ``plots/reliability_<split><suffix>.png``
    under ``directory`` (logged as an MLflow artifact with the other plots)."""
    plot_reliability(y_true, proba, labels, directory / "plots" / f"reliability_{split}{suffix}.png",
                     f"{split}{suffix.replace('_', ' ')}")
    return calibration_metrics(y_true, proba, labels)
