"""Post-hoc calibration replayed from an uncalibrated run's logged predictions, without retraining.

A ``model.calibration=none`` run stores ``predictions/<split>.csv`` with the probabilities of every evaluated
split. Fitting each method on the validation file and applying it to the others is what training with
``model.calibration=<method>`` does for a deterministic model (same seed, same data, same probabilities), so
this gives the before/after table of a model that is slow to retrain (here: embed_logreg). With
``--check RUN_ID ...`` it also compares the replay with runs that were trained calibrated; with ``--plots DIR`` it
draws each method's reliability diagrams of the test splits there (``<method>_<split>.png``).

    python experiments/calibration/from_predictions.py --tracking-uri sqlite:///mlflow.db RUN_ID [--check RUN_ID ...]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import pandas as pd
from mlflow.tracking import MlflowClient

from nlpkit import calibrators
from nlpkit.calibration import calibration_metrics, plot_reliability

SPLITS = ("validation", "test", "test_ood")


def predictions(client: MlflowClient, run_id: str) -> dict[str, pd.DataFrame]:
    """The run's ``predictions/<split>.csv`` files."""
    with tempfile.TemporaryDirectory() as tmp:
        return {split: pd.read_csv(client.download_artifacts(run_id, f"predictions/{split}.csv", tmp))
                for split in SPLITS}


def replay(frames: dict[str, pd.DataFrame], labels: list[str], plots: Path | None = None) -> list[dict]:
    """Brier/ECE per split for each method fitted on the validation frame's probabilities (and its diagrams)."""
    columns = [f"p_{label}" for label in labels]
    val = frames["validation"]
    rows = []
    for method in calibrators.METHODS:
        cal = calibrators.fit(method, val[columns].to_numpy(), list(val["label"]), labels)
        row = {"method": method}
        for split, frame in frames.items():
            proba = frame[columns].to_numpy()
            proba = proba if cal is None else cal.apply(proba)
            metrics = calibration_metrics(list(frame["label"]), proba, labels)
            if plots is not None and split != "validation":
                plot_reliability(list(frame["label"]), proba, labels, plots / f"{method}_{split}.png", f"{split}, {method}")
            row.update({f"{split}/{key}": value for key, value in metrics.items()})
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_id")
    parser.add_argument("--tracking-uri", required=True)
    parser.add_argument("--labels", nargs="+", default=["escalatory", "de_escalatory", "neutral"])
    parser.add_argument("--check", nargs="*", default=[], help="runs trained calibrated, to compare with the replay")
    parser.add_argument("--plots", type=Path, help="a folder for the replayed reliability diagrams")
    args = parser.parse_args()
    client = MlflowClient(args.tracking_uri)
    table = pd.DataFrame(replay(predictions(client, args.run_id), args.labels, args.plots)).set_index("method")
    print("| method | " + " | ".join(table.columns) + " |")
    print("|---|" + "---:|" * len(table.columns))
    for method, row in table.iterrows():
        print(f"| {method} | " + " | ".join(f"{v:.3f}" for v in row) + " |")
    for run_id in args.check:
        run = client.get_run(run_id)
        method = run.data.params["model.calibration"]
        for key in ("test/brier", "test/ece", "test_ood/brier", "test_ood/ece"):
            print(f"check {method} {key}: replay {table.loc[method, key]:.6f}, trained run {run.data.metrics[key]:.6f}")


if __name__ == "__main__":
    main()
