"""Long articles: what each long_text policy drops and how macro-F1 moves, on AllSides political leaning
(international/security topics, media split: no outlet in both train and test), with embed_logreg.
Run from the repository root:

    python experiments/transformers/truncation.py --train 400 --test 200 --max-length 128 --max-chunks 8
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import time

from common import benchmark_dir, load_average, table
from sklearn.metrics import f1_score

from nlpkit.models.embed import EmbedLogregClassifier

TOPICS = {"middle_east", "world", "national_security", "foreign_policy", "terrorism", "north_korea", "us_military",
          "defense", "russia", "national_defense", "isis", "china", "israel", "europe", "homeland_security",
          "cybersecurity", "mexico", "asia", "cia", "nuclear_weapons", "palestine", "africa", "south_korea",
          "state_department", "great_britain", "trade", "nsa"}
LEANING = {"0": "left", "1": "center", "2": "right"}
POLICIES = [("head", "mean"), ("head_tail", "mean"), ("chunks", "mean"), ("chunks", "max")]


def split_ids(name: str) -> set[str]:
    lines = (benchmark_dir() / "allsides_bias" / "splits" / "media" / f"{name}.tsv").read_text().splitlines()[1:]
    return {line.split("\t")[0] for line in lines}


def articles(ids: set[str], n: int, seed: int) -> tuple[list[str], list[str]]:
    rows = []
    with gzip.open(benchmark_dir() / "allsides_bias" / "articles.jsonl.gz", "rt") as f:
        for line in f:
            a = json.loads(line)
            if a["ID"] in ids and a["topic"] in TOPICS and len(a["content_original"].split()) >= 300:
                rows.append((f"{a['title']}\n\n{a['content_original']}", LEANING[str(a["bias"])]))
    random.Random(seed).shuffle(rows)
    rows = rows[:n]
    return [r[0] for r in rows], [r[1] for r in rows]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=400)
    parser.add_argument("--test", type=int, default=200)
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--max-chunks", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    X, y = articles(split_ids("train"), args.train, args.seed)
    X_test, y_test = articles(split_ids("test"), args.test, args.seed)
    words = sorted(len(t.split()) for t in X + X_test)
    print(f"{len(X)} train / {len(X_test)} test articles, median {words[len(words) // 2]} words")
    rows = []
    for policy, pooling in POLICIES:
        load, start = load_average(), time.perf_counter()
        model = EmbedLogregClassifier(max_length=args.max_length, long_text=policy, chunk_pooling=pooling,
                                      max_chunks=args.max_chunks, random_state=args.seed).fit(X, y)
        test_stats = model.truncation_report(X_test)
        f1 = f1_score(y_test, model.predict(X_test), average="macro")
        rows.append({"policy": policy if policy != "chunks" else f"chunks-{pooling}", "test_macro_f1": f1,
                     "docs_truncated": test_stats["docs_truncated_share"],
                     "tokens_dropped": test_stats["tokens_dropped_share"],
                     "windows_per_doc": test_stats["windows_per_doc"],
                     "seconds": round(time.perf_counter() - start, 1), "load": f"{load}->{load_average()}"})
        print(json.dumps(rows[-1]), flush=True)
    print(table(rows, ["policy", "test_macro_f1", "docs_truncated", "tokens_dropped", "windows_per_doc", "seconds",
                       "load"]))


if __name__ == "__main__":
    main()
