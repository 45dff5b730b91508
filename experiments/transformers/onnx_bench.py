"""ONNX Runtime vs PyTorch for a saved nlpkit encoder predictor: prediction agreement on a real test set and
throughput (examples/s) on full-length windows of 128 and 256 tokens. Run from the repository root:

    python experiments/transformers/onnx_bench.py --predictor /tmp/nlpkit-transformers/conflibert_cameo-finetune/predictor
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import time
from pathlib import Path

import numpy as np
from common import benchmark_dir, load_average, table
from sklearn.metrics import f1_score

from nlpkit import Predictor

RUNTIMES = {"torch": {}, "onnx": {"runtime": "onnx"}, "onnx-int8": {"runtime": "onnx", "quantize": True}}


def conflibert_test(mapping: dict[str, str] | None) -> tuple[list[str], list[str]]:
    with open(benchmark_dir() / "conflibert_cameo" / "test.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return [r["text"] for r in rows], [mapping[r["label_name"]] if mapping else r["label_name"] for r in rows]


def long_articles(n: int) -> list[str]:
    """The first ``n`` AllSides articles (long texts: every window is full at 128 and 256 tokens)."""
    out = []
    with gzip.open(benchmark_dir() / "allsides_bias" / "articles.jsonl.gz", "rt") as f:
        for line in f:
            text = json.loads(line)["content_original"]
            if len(text.split()) > 400:
                out.append(text)
            if len(out) == n:
                return out
    return out


def throughput(predictor: Predictor, texts: list[str], max_length: int) -> float:
    predictor.model.set_params(max_length=max_length, long_text="head")
    predictor.model.predict_proba(texts[:16])  # warm-up
    start = time.perf_counter()
    predictor.model.predict_proba(texts)
    return len(texts) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--predictor", type=Path, required=True)
    parser.add_argument("--n-long", type=int, default=128)
    args = parser.parse_args()
    loaded = {name: Predictor.load(args.predictor, **opts) for name, opts in RUNTIMES.items()}
    labels = loaded["torch"].labels
    mapping = None if "make_a_statement" in labels else {
        "material_conflict": "escalatory", "verbal_conflict": "escalatory", "material_cooperation": "de_escalatory",
        "verbal_cooperation": "de_escalatory", "make_a_statement": "neutral"}
    texts, gold = conflibert_test(mapping)
    ref = loaded["torch"].predict_proba(texts)
    articles = long_articles(args.n_long)
    rows = []
    for name, predictor in loaded.items():
        proba = ref if name == "torch" else predictor.predict_proba(texts)
        pred = [labels[i] for i in proba.argmax(axis=1)]
        row = {"runtime": name, "test_macro_f1": f1_score(gold, pred, average="macro"),
               "label_agreement": float(np.mean(proba.argmax(1) == ref.argmax(1))),
               "max_abs_proba_diff": float(np.abs(proba - ref).max()), "load": load_average()}
        for length in (128, 256):
            row[f"ex_per_s_{length}"] = round(throughput(predictor, articles, length), 1)
        row["load"] += f"->{load_average()}"
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(f"predictor: {args.predictor} ({loaded['torch'].metadata['model_kind']}), n_test={len(texts)}, "
          f"throughput on {len(articles)} AllSides articles, batch_size={loaded['torch'].model.batch_size}")
    print(table(rows, ["runtime", "test_macro_f1", "label_agreement", "max_abs_proba_diff", "ex_per_s_128",
                       "ex_per_s_256", "load"]))


if __name__ == "__main__":
    main()
