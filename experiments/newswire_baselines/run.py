"""TF-IDF baselines on the embedded newswire corpus: every task x TF-IDF model, test and test_ood.

    python experiments/newswire_baselines/run.py            # prints the markdown table of README.md

Each job is an ordinary nlpkit training run (logged to MLflow under ./mlflow.db unless
MLFLOW_TRACKING_URI is set); the CIs are 95% percentile bootstraps over the split's documents.
"""

from __future__ import annotations

import sys
import tempfile

import pandas as pd

from nlpkit import compose, train
from nlpkit.evaluate import bootstrap_ci

TASKS = ("topic", "stance", "escalation")
MODELS = ("tfidf_logreg", "tfidf_svm")


def row(task: str, model: str, out: str, extra: list[str]) -> str:
    result = train(compose([f"task={task}", f"model={model}", f"output_dir={out}", *extra]))
    cells = []
    for split in ("test", "test_ood"):
        frame = pd.read_csv(result.output_dir / "predictions" / f"{split}.csv")
        low, high = bootstrap_ci(frame.label, frame.predicted, result.predictor.labels)
        cells.append(f"{result.metrics[f'{split}/macro_f1']:.3f} [{low:.3f}, {high:.3f}]")
        cells.append(f"{result.metrics[f'{split}/accuracy']:.3f}")
    majority = max(result.metrics[f"test/support/{l}"] for l in result.predictor.labels) / result.metrics["test/n"]
    return f"| {task} | {model} | " + " | ".join(cells) + f" | {majority:.3f} | {result.fit_seconds:.1f} |"


def main() -> None:
    extra = sys.argv[1:]
    print("| task | model | test macro-F1 [95% CI] | test acc. | test_ood macro-F1 [95% CI] | test_ood acc. "
          "| majority-class acc. (test) | fit s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for task in TASKS:
            for model in MODELS:
                print(row(task, model, f"{tmp}/{task}-{model}", extra), flush=True)


if __name__ == "__main__":
    main()
