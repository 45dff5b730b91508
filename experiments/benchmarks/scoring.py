"""Figures of one row: per-seed scores, their mean and sd, a bootstrap CI, the official FNC-1 score."""

from __future__ import annotations

import statistics
from typing import Any, Sequence

from sklearn.metrics import accuracy_score, f1_score

from nlpkit.evaluate import bootstrap_ci

FNC_RELATED = ("agree", "disagree", "discuss")


def fnc_score(y_true: Sequence[str], y_pred: Sequence[str]) -> float:
    """The official FNC-1 weighted score relative to a perfect submission (0..1).

    Per pair, as in the competition's scorer.py: +0.25 for the right related/unrelated decision, and +0.75
    more for the right stance of a related pair.
    """
    def raw(gold: Sequence[str], pred: Sequence[str]) -> float:
        total = 0.0
        for g, p in zip(gold, pred):
            if g == p:
                total += 0.25 + (0.5 if g != "unrelated" else 0.0)
            if g in FNC_RELATED and p in FNC_RELATED:
                total += 0.25
        return total

    best = raw(y_true, y_true)
    return raw(y_true, y_pred) / best if best else 0.0


def seed_scores(result: dict[str, Any], dataset: str) -> dict[str, float]:
    """Test macro-F1, accuracy (and FNC score for fnc1), timings, throughput and memory of one seed's job."""
    y_true, y_pred, labels = result["y_true"], result["y_pred"], result["labels"]
    n_test = len(y_true)
    scores = {
        "macro_f1": float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0)),
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "fit_seconds": float(result["fit_seconds"]),
        "docs_per_second": n_test / max(float(result["predict_seconds"]), 1e-9),
        "peak_rss_mib": float(result["peak_rss_mib"]),
        "added_rss_mib": float(result["added_rss_mib"]),
    }
    if dataset.startswith("fnc1"):
        scores["fnc_score"] = fnc_score(y_true, y_pred)
    return scores


def summarise(results: list[dict[str, Any]], dataset: str, n_resamples: int = 1000) -> dict[str, float]:
    """Mean and sd over seeds of every seed score, plus the 95% bootstrap CI of the first seed's macro-F1."""
    per_seed = [seed_scores(r, dataset) for r in results]
    summary: dict[str, float] = {"seeds": float(len(per_seed))}
    for key in per_seed[0]:
        values = [s[key] for s in per_seed]
        summary[f"{key}_mean"] = statistics.fmean(values)
        summary[f"{key}_sd"] = statistics.stdev(values) if len(values) > 1 else 0.0
    first = results[0]
    low, high = bootstrap_ci(first["y_true"], first["y_pred"], first["labels"], n_resamples=n_resamples)
    summary["macro_f1_ci_low"], summary["macro_f1_ci_high"] = low, high
    for name, n in first["sizes"].items():
        summary[f"n_{name}"] = float(n)
    return summary
