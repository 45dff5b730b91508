"""Seed study of the accuracy bar: two systems (e.g. HF Trainer vs nlpkit finetune), several seeds each, on the
same test set. Reads prediction tables with ``label`` and ``predicted`` columns (nlpkit's
``<output_dir>/predictions/test.csv``, ``hf_trainer_baseline.py --out``'s CSVs) and prints each run's test
macro-F1, each system's mean with a t-based 95% CI over seeds, the difference of means (Welch), and the
paired bootstrap + McNemar comparison of runs with the same seed. Run from the repository root:

    python experiments/transformers/seed_study.py \
        --a /tmp/s3/hf5/hf_five_seed{0,1,2}.csv \
        --b /tmp/s3/ft5_seed{0,1,2}/conflibert_cameo5-finetune/predictions/test.csv
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from nlpkit.stats import compare_predictions, difference_of_means, macro_f1, summarize


def read(path: Path) -> pd.DataFrame:
    frame = pd.read_csv(path, keep_default_na=False)
    missing = {"label", "predicted"} - set(frame.columns)
    if missing:
        raise SystemExit(f"{path} has no {sorted(missing)} column(s); expected a table with label and predicted")
    return frame


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--a", type=Path, nargs="+", required=True, help="system A's prediction tables, one per seed")
    parser.add_argument("--b", type=Path, nargs="+", required=True, help="system B's, in the same seed order")
    parser.add_argument("--names", nargs=2, default=["A", "B"])
    args = parser.parse_args()
    runs = {name: [read(p) for p in paths] for name, paths in zip(args.names, (args.a, args.b))}
    gold = runs[args.names[0]][0]["label"]
    if any(not r["label"].equals(gold) for group in runs.values() for r in group):
        raise SystemExit("the tables score different test rows (or in another order): use the same test set")
    labels = sorted(set(gold))
    scores = {name: [macro_f1(r["label"], r["predicted"], labels) for r in group] for name, group in runs.items()}
    for name, values in scores.items():
        s = summarize(values)
        print(json.dumps({"system": name, "test_macro_f1": [round(v, 4) for v in values], "mean": round(s.mean, 4),
                          "sd": round(s.sd, 4), "ci95": [round(s.ci_low, 4), round(s.ci_high, 4)]}))
    a, b = scores.values()
    if len(a) > 1 and len(b) > 1:
        diff, low, high = difference_of_means(a, b)
        print(json.dumps({"mean_b_minus_a": round(diff, 4), "welch_ci95": [round(low, 4), round(high, 4)]}))
    for seed, (ra, rb) in enumerate(zip(*runs.values())):
        p = compare_predictions(gold, ra["predicted"], rb["predicted"], labels)
        print(json.dumps({"pair": seed, "b_minus_a": round(p.diff, 4), "paired_bootstrap_ci95": [round(p.ci_low, 4),
                          round(p.ci_high, 4)], "only_a_correct": p.only_a_correct, "only_b_correct": p.only_b_correct,
                          "mcnemar_p": round(p.mcnemar_p, 3)}))


if __name__ == "__main__":
    main()
