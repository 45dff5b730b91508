"""Does averaging a fine-tuned encoder's probabilities with a TF-IDF model's help? (the "combine with TF-IDF"
and "seed ensembles" levers of the accuracy study). Reads the test predictions nlpkit runs wrote
(``<output_dir>/predictions/test.csv``, same data and split) and scores the weighted average
``w * encoder + (1 - w) * tfidf``, where ``encoder`` is the mean of one or more fine-tuned runs (several runs
that differ only in ``seed=`` make a seed ensemble).

    python experiments/transformers/blend.py --encoder-run /tmp/ft2/conflibert_cameo-finetune \
        --tfidf-run /tmp/tfidf_cc --weights 1.0 0.8 0.5
    python experiments/transformers/blend.py --encoder-run /tmp/s0/cc5-finetune /tmp/s1/cc5-finetune \
        --tfidf-run /tmp/tfidf_cc5 --weights 1.0 0.5

The weight is fixed in advance (0.5: the plain average), not tuned on the test set; the other weights are
shown to report every value that was looked at.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import accuracy_score, f1_score


def blend(encoder: pd.DataFrame, tfidf: pd.DataFrame, weight: float) -> tuple[list[str], np.ndarray]:
    """(label names, blended probabilities) from two prediction tables with the same rows and columns."""
    if not encoder["id"].equals(tfidf["id"]):
        raise SystemExit("the two runs predicted different test rows: use the same data= config and split")
    cols = [c for c in encoder.columns if c.startswith("p_")]
    if sorted(cols) != sorted(c for c in tfidf.columns if c.startswith("p_")):
        raise SystemExit(f"the runs have different labels: {cols} vs {list(tfidf.columns)}")
    return [c[2:] for c in cols], weight * encoder[cols].to_numpy() + (1 - weight) * tfidf[cols].to_numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--encoder-run", type=Path, nargs="+", required=True,
                        help="output_dir of the finetune run (several: their probabilities are averaged first)")
    parser.add_argument("--tfidf-run", type=Path, required=True, help="output_dir of the TF-IDF run")
    parser.add_argument("--weights", type=float, nargs="+", default=[1.0, 0.5])
    args = parser.parse_args()
    runs = [pd.read_csv(run / "predictions" / "test.csv", keep_default_na=False) for run in args.encoder_run]
    encoder = runs[0]
    for k, other in enumerate(runs[1:], start=2):
        labels, proba = blend(encoder, other, (k - 1) / k)  # running mean of the first k runs
        encoder = encoder.assign(**{f"p_{name}": proba[:, j] for j, name in enumerate(labels)})
    tfidf = pd.read_csv(args.tfidf_run / "predictions" / "test.csv", keep_default_na=False)
    for weight in args.weights:
        labels, proba = blend(encoder, tfidf, weight)
        pred = np.asarray(labels)[proba.argmax(axis=1)]
        print(json.dumps({"encoder_weight": weight, "test_macro_f1": round(f1_score(encoder["label"], pred, average="macro"), 4),
                          "test_accuracy": round(accuracy_score(encoder["label"], pred), 4)}))


if __name__ == "__main__":
    main()
