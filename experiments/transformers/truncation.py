"""Long articles: what each long_text policy drops and how macro-F1 moves, on AllSides political leaning
(media split: no outlet in both train and test; articles of >= 300 words), with embed_logreg. Each row has
its test macro-F1 with a 95% bootstrap CI and the paired-bootstrap difference to ``head``; a TF-IDF model
that reads every word of the article is the no-truncation reference. Run from the repository root:

    python experiments/transformers/truncation.py --train 400 --test 200 --max-length 128 --max-chunks 8
    python experiments/transformers/truncation.py --topics all --train 600 --test 1197 --max-length 128
"""

from __future__ import annotations

import argparse
import gzip
import json
import random
import time
from collections.abc import Iterator

from common import benchmark_dir, load_average, table
from sklearn.metrics import f1_score

from nlpkit.evaluate import bootstrap_ci
from nlpkit.models.embed import EmbedLogregClassifier
from nlpkit.models.tfidf import TfidfClassifier
from nlpkit.stats import paired_bootstrap

TOPICS = {"middle_east", "world", "national_security", "foreign_policy", "terrorism", "north_korea", "us_military",
          "defense", "russia", "national_defense", "isis", "china", "israel", "europe", "homeland_security",
          "cybersecurity", "mexico", "asia", "cia", "nuclear_weapons", "palestine", "africa", "south_korea",
          "state_department", "great_britain", "trade", "nsa"}
LEANING = {"0": "left", "1": "center", "2": "right"}
POLICIES = [("head", "mean"), ("head_tail", "mean"), ("chunks", "mean"), ("chunks", "max")]


def split_ids(name: str) -> set[str]:
    lines = (benchmark_dir() / "allsides_bias" / "splits" / "media" / f"{name}.tsv").read_text().splitlines()[1:]
    return {line.split("\t")[0] for line in lines}


def articles(ids: set[str], n: int, seed: int, topics: str) -> tuple[list[str], list[str]]:
    rows = []
    with gzip.open(benchmark_dir() / "allsides_bias" / "articles.jsonl.gz", "rt") as f:
        for line in f:
            a = json.loads(line)
            wanted = topics == "all" or a["topic"] in TOPICS
            if a["ID"] in ids and wanted and len(a["content_original"].split()) >= 300:
                rows.append((f"{a['title']}\n\n{a['content_original']}", LEANING[str(a["bias"])]))
    random.Random(seed).shuffle(rows)
    rows = rows[:n]
    return [r[0] for r in rows], [r[1] for r in rows]


def head_text(texts: list[str], max_length: int) -> list[str]:
    """The part of each text that the ``head`` policy's window covers (the encoder's tokenizer decides)."""
    from nlpkit.models import encoders

    tokenizer = encoders.load_tokenizer(*encoders.resolve(encoders.DEFAULT_ENCODER))
    spans = tokenizer(texts, truncation=True, max_length=max_length, return_offsets_mapping=True)["offset_mapping"]
    return [t[: max(end for _, end in offsets)] for t, offsets in zip(texts, spans)]


def runs(args: argparse.Namespace, X: list[str], y: list[str], X_test: list[str]) -> Iterator[tuple[str, list, dict]]:
    """(row name, test predictions, truncation stats) per policy, then the TF-IDF reference rows."""
    for policy, pooling in POLICIES:
        model = EmbedLogregClassifier(max_length=args.max_length, long_text=policy, chunk_pooling=pooling,
                                      max_chunks=args.max_chunks, random_state=args.seed).fit(X, y)
        stats = model.truncation_report(X_test)
        yield (policy if policy != "chunks" else f"chunks-{pooling}", model.predict(X_test).tolist(),
               {"docs_truncated": stats["docs_truncated_share"], "tokens_dropped": stats["tokens_dropped_share"],
                "windows_per_doc": stats["windows_per_doc"]})
    # no truncation: the same TF-IDF model (model=tfidf_logreg) on the head window's text, then on all of it
    heads = head_text(X + X_test, args.max_length)  # one tokenizer load for both splits
    views = {"tfidf (head window)": (heads[: len(X)], heads[len(X):]),
             "tfidf (whole article)": (X, X_test)}
    for name, (train_x, test_x) in views.items():
        yield name, TfidfClassifier(C=10.0, random_state=args.seed).fit(train_x, y).predict(test_x).tolist(), {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=400)
    parser.add_argument("--test", type=int, default=200)
    parser.add_argument("--topics", choices=["international", "all"], default="international",
                        help="the 27 international/security topics, or every topic")
    parser.add_argument("--max-length", type=int, default=128)
    parser.add_argument("--max-chunks", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    X, y = articles(split_ids("train"), args.train, args.seed, args.topics)
    X_test, y_test = articles(split_ids("test"), args.test, args.seed, args.topics)
    labels = sorted(set(y))
    words = sorted(len(t.split()) for t in X + X_test)
    print(f"{len(X)} train / {len(X_test)} test articles, median {words[len(words) // 2]} words")
    rows, head_pred = [], None
    load, start = load_average(), time.perf_counter()
    for name, pred, stats in runs(args, X, y, X_test):
        row = {"policy": name, "test_macro_f1": f1_score(y_test, pred, average="macro"), **stats,
               "seconds": round(time.perf_counter() - start, 1), "load": f"{load}->{load_average()}"}
        low, high = bootstrap_ci(y_test, pred, labels, seed=args.seed)
        row["ci95"] = f"{low:.3f}-{high:.3f}"
        if head_pred is None:
            head_pred = pred
        else:
            diff, d_low, d_high = paired_bootstrap(y_test, head_pred, pred, labels, seed=args.seed)
            row["vs_head"] = f"{diff:+.3f} ({d_low:+.3f} to {d_high:+.3f})"
        rows.append(row)
        print(json.dumps(row), flush=True)
        load, start = load_average(), time.perf_counter()
    print(table(rows, ["policy", "test_macro_f1", "ci95", "vs_head", "docs_truncated", "tokens_dropped",
                       "windows_per_doc", "seconds", "load"]))


if __name__ == "__main__":
    main()
