"""Metrics for a split, via sklearn.metrics, as a flat dict whose primary metric is macro-F1."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
from sklearn.metrics import accuracy_score, classification_report, confusion_matrix, f1_score, precision_recall_fscore_support

PRIMARY_METRIC = "macro_f1"


def evaluate(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> dict[str, float]:
    """Accuracy, macro-F1 and per-class precision/recall/F1/support, keyed e.g. ``f1/escalatory``."""
    labels = list(labels)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    metrics = {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "n": float(len(y_true)),
    }
    for i, label in enumerate(labels):
        metrics[f"precision/{label}"] = float(precision[i])
        metrics[f"recall/{label}"] = float(recall[i])
        metrics[f"f1/{label}"] = float(f1[i])
        metrics[f"support/{label}"] = float(support[i])
    return metrics


def confusion(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    """Confusion matrix, rows = true label, columns = predicted label, in ``labels`` order."""
    return confusion_matrix(y_true, y_pred, labels=list(labels))


def report(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> str:
    """sklearn's text classification report."""
    return classification_report(y_true, y_pred, labels=list(labels), digits=3, zero_division=0)


def prefixed(split: str, metrics: dict[str, float]) -> dict[str, float]:
    """Metric keys with the split name in front: ``test/macro_f1``."""
    return {f"{split}/{key}": value for key, value in metrics.items()}


def write_artifacts(directory: Path, split: str, ds: Any, y_pred: Sequence[str], proba: np.ndarray, labels: Sequence[str]) -> None:
    """Classification report, confusion-matrix PNG and predictions CSV for one split (plus the
    misclassified rows of the test split), written under ``directory``."""
    import pandas as pd

    y_true = list(ds["label"])
    (directory / "reports").mkdir(parents=True, exist_ok=True)
    (directory / "reports" / f"classification_report_{split}.txt").write_text(report(y_true, y_pred, labels))
    plot_confusion(confusion(y_true, y_pred, labels), labels, directory / "plots" / f"confusion_matrix_{split}.png", split)
    frame = pd.DataFrame({
        "id": list(ds["id"]) if "id" in ds.column_names else list(range(len(y_true))),
        "label": y_true,
        "predicted": list(y_pred),
        **{f"p_{label}": proba[:, i] for i, label in enumerate(labels)},
        **({"target": list(ds["target"])} if "target" in ds.column_names else {}),
        "text": list(ds["text"]),
    })
    (directory / "predictions").mkdir(parents=True, exist_ok=True)
    frame.to_csv(directory / "predictions" / f"{split}.csv", index=False)
    if split == "test":
        frame[frame.label != frame.predicted].to_csv(directory / "misclassified_test.csv", index=False)


def plot_confusion(matrix: np.ndarray, labels: Sequence[str], path: Path, title: str) -> None:
    """Save a confusion-matrix heat map as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.metrics import ConfusionMatrixDisplay

    path.parent.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(1.2 * len(labels) + 3, 1.0 * len(labels) + 2.5))
    ConfusionMatrixDisplay(matrix, display_labels=list(labels)).plot(ax=ax, xticks_rotation=45, colorbar=False)
    ax.set_title(f"Confusion matrix ({title})")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def bootstrap_ci(
    y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str], *, n_resamples: int = 1000,
    confidence: float = 0.95, seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of macro-F1 over the evaluated examples.

    Vectorised: every resample's per-class counts come from one ``bincount``, and each resample's macro-F1 is
    what ``sklearn.metrics.f1_score(average="macro", labels=labels, zero_division=0)`` gives for it."""
    labels = list(labels)
    codes = {label: i for i, label in enumerate(labels)}
    true = np.array([codes.get(v, -1) for v in y_true])
    pred = np.array([codes.get(v, -1) for v in y_pred])
    k = len(labels)
    idx = np.random.default_rng(seed).integers(0, len(true), (n_resamples, len(true)))
    offset = np.arange(n_resamples)[:, None] * k
    t, p = true[idx], pred[idx]

    def counts(values: np.ndarray, keep: np.ndarray) -> np.ndarray:
        return np.bincount((offset + values)[keep], minlength=n_resamples * k).reshape(n_resamples, k)

    tp = counts(t, (t == p) & (t >= 0))
    denominator = counts(t, t >= 0) + counts(p, p >= 0)
    f1 = np.divide(2.0 * tp, denominator, out=np.zeros(tp.shape), where=denominator > 0)
    scores = f1.mean(axis=1)
    tail = (1 - confidence) / 2 * 100
    return float(np.percentile(scores, tail)), float(np.percentile(scores, 100 - tail))


def slice_table(ds: Any, y_pred: Sequence[str], labels: Sequence[str], slices: Sequence[str],
                length_bins: Sequence[int]) -> Any:
    """Macro-F1, accuracy and support per value of each slice column (``length``: word-count bins)."""
    import pandas as pd

    y_true, predicted = np.asarray(ds["label"]), np.asarray(y_pred)
    rows = []
    for column in slices:
        values = _slice_values(ds, column, length_bins)
        for value in sorted(set(values)):
            mask = np.asarray([v == value for v in values])
            rows.append({
                "slice": column, "value": value, "support": int(mask.sum()),
                "macro_f1": float(f1_score(y_true[mask], predicted[mask], labels=list(labels), average="macro", zero_division=0)),
                "accuracy": float(accuracy_score(y_true[mask], predicted[mask])),
            })
    return pd.DataFrame(rows, columns=["slice", "value", "support", "macro_f1", "accuracy"])


def _slice_values(ds: Any, column: str, length_bins: Sequence[int]) -> list[str]:
    if column == "length":
        edges = list(length_bins)
        names = [f"<{edges[0]}"] + [f"{a}-{b - 1}" for a, b in zip(edges, edges[1:])] + [f">={edges[-1]}"]
        return [names[int(np.searchsorted(edges, len(t.split()), side="right"))] for t in ds["text"]]
    if column not in ds.column_names:
        from nlpkit.errors import DataError

        raise DataError(
            f"data.slices names {column!r}, which is not a column; columns: {ds.column_names}. "
            "Fix: list existing columns, or 'length' for word-count bins."
        )
    return [str(v) for v in ds[column]]
