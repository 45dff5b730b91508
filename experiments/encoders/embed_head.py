"""Is embed_logreg's default head at least as good as a plain LogisticRegression() on the same embeddings?

Frozen packaged MiniLM, mean-pooled, 256-token windows (embed_logreg's defaults), computed once per data set
and cached as npz under ~/.cache/nlpkit/embeddings. Heads, all fitted on the training split only:

- ``plain``: ``LogisticRegression()`` on the raw embeddings (the bar);
- ``old default``: StandardScaler + LogisticRegression(C=1, class_weight=balanced) (nlpkit before issue 15);
- ``new default``: StandardScaler + LogisticRegression(class_weight=balanced), C chosen by seeded 5-fold CV on
  the training embeddings (``nlpkit.models.embed_head.fit_head``, what ``EmbedLogregClassifier.fit`` runs).

Validation macro-F1 is shown beside test macro-F1; each head is compared with ``plain`` on the test split by a
paired bootstrap (2,000 resamples, 95% CI) and McNemar's test (``nlpkit.stats.compare_predictions``). Run from
the repository root:

    python experiments/encoders/embed_head.py [--data ../shared/datasets]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np
from common import data_root, embeddings, splits, table, uptime
from sklearn.linear_model import LogisticRegression

from nlpkit.models import embed_head
from nlpkit.stats import compare_predictions

DATA_SETS = ("conflibert_cameo", "un_quadclass")


def heads(X: np.ndarray, y: np.ndarray) -> dict[str, tuple[Any, str]]:
    """name -> (fitted head, the C it uses)."""
    plain = LogisticRegression(max_iter=3000).fit(X, y)
    old = embed_head.make_head(1.0, "balanced", 0).fit(X, y)
    new, report = embed_head.fit_head(X, y, C=None, class_weight="balanced")
    return {"plain LogisticRegression()": (plain, "1 (raw)"), "old default (C=1)": (old, "1"),
            "new default (CV C)": (new, f"{report['head_C']:g}")}


def study(name: str, data: Path) -> list[dict[str, Any]]:
    parts = splits(name, data)
    start = time.perf_counter()
    X = {k: embeddings(texts) for k, (texts, _) in parts.items()}
    embed_s = time.perf_counter() - start
    y = {k: labels for k, (_, labels) in parts.items()}
    labels = sorted(set(y["train"]))
    fitted = heads(X["train"], y["train"])
    plain = fitted["plain LogisticRegression()"][0]
    rows = []
    for head_name, (head, C) in fitted.items():
        row = {"data": name, "head": head_name, "C": C, "n_train/val/test": "/".join(str(len(y[k])) for k in y),
               "embed_s": round(embed_s, 1)}
        for split in ("validation", "test"):
            paired = compare_predictions(y[split], plain.predict(X[split]), head.predict(X[split]), labels)
            row[f"{split} F1"] = paired.metric_b
            if not head_name.startswith("plain"):
                row[f"{split} minus plain (95% CI), McNemar p"] = (
                    f"{paired.diff:+.3f} ({paired.ci_low:+.3f} to {paired.ci_high:+.3f}), p={paired.mcnemar_p:.2f}")
        rows.append(row)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=None, help="the benchmark data sets folder")
    args = parser.parse_args()
    data = data_root(args.data)
    if data is None:
        return
    before, start = uptime(), time.perf_counter()
    rows = [row for name in DATA_SETS for row in study(name, data)]
    print(table(rows, ["data", "head", "C", "n_train/val/test", "validation F1",
                       "validation minus plain (95% CI), McNemar p", "test F1", "test minus plain (95% CI), McNemar p",
                       "embed_s"]))
    print(f"\nload (1/5/15 min) before: {before}, after: {uptime()}; {time.perf_counter() - start:.0f} s in all "
          f"(embed_s: 0 when the embeddings came from the cache)")


if __name__ == "__main__":
    main()
