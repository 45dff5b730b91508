"""Agreement between the corpus labels and a blind second annotation of a random sample.

    python experiments/corpus_agreement/agreement.py
"""

from __future__ import annotations

import json
from pathlib import Path

from sklearn.metrics import accuracy_score, cohen_kappa_score

from nlpkit.corpus.tables import TASKS, read


def main() -> None:
    gold = {row["id"]: row for row in read()}
    path = Path(__file__).with_name("second_annotation.jsonl")
    second = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    print("| task | documents | raw agreement | Cohen's kappa |\n|---|---:|---:|---:|")
    for task in TASKS:
        a = [gold[row["id"]][task] for row in second]
        b = [row[task] for row in second]
        print(f"| {task} | {len(second)} | {accuracy_score(a, b):.3f} | {cohen_kappa_score(a, b):.3f} |")


if __name__ == "__main__":
    main()
