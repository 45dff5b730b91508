"""Paired effect of each calibration method in the study-calibration sweep: per seed (same split, same model),
``metric(method) - metric(none)``, then the mean and 95% t-interval of those differences over the seeds.

    python experiments/calibration/paired.py --tracking-uri sqlite:///mlflow.db [--experiment study-calibration]
"""

from __future__ import annotations

import argparse

import mlflow

from nlpkit.stats import summarize

METRICS = ("test/brier", "test/ece", "test_ood/brier", "test_ood/ece", "test/macro_f1")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tracking-uri", required=True)
    parser.add_argument("--experiment", default="study-calibration")
    args = parser.parse_args()
    mlflow.set_tracking_uri(args.tracking_uri)
    runs = mlflow.search_runs(experiment_names=[args.experiment], filter_string="attributes.status = 'FINISHED'")
    runs = runs[runs["params.model.calibration"].notna()]
    key = ["params.model.kind", "params.seed"]
    base = runs[runs["params.model.calibration"] == "none"].set_index(key)
    print("| model | method | seeds | " + " | ".join(f"Δ {m} [95% CI]" for m in METRICS) + " |")
    print("|---|---|---:|" + "---:|" * len(METRICS))
    for (kind, method), group in runs[runs["params.model.calibration"] != "none"].groupby(key[:1] + ["params.model.calibration"]):
        group = group.set_index(key)
        cells = []
        for metric in METRICS:
            s = summarize((group[f"metrics.{metric}"] - base.loc[group.index, f"metrics.{metric}"]).tolist())
            cells.append(f"{s.mean:+.3f} [{s.ci_low:+.3f}, {s.ci_high:+.3f}]")
        print(f"| {kind} | {method} | {len(group)} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
