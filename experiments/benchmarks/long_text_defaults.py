"""Long-text defaults of the TF-IDF model, chosen on the validation splits (issue 15, goal 1: bbc_news).

    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 python -m experiments.benchmarks.long_text_defaults
    python -m experiments.benchmarks.long_text_defaults --datasets bbc_news --settings previous_default no_cap
    python -m experiments.benchmarks.long_text_defaults --datasets allsides_leaning --settings previous_default C=30 ngram_max=3
    python -m experiments.benchmarks.long_text_defaults --test previous_default ngram_max=3 --datasets bbc_news allsides_leaning

Each setting is nlpkit's previous default model for long texts (word 1-2-gram TF-IDF, 50,000 columns at most,
min_df=2, no character n-grams, logistic regression with C=10 and balanced class weights) with some keys
changed; it is fitted on the training split and scored (macro-F1) on the validation split of each data set, read
as ``tfidf_speed`` reads them (nlpkit's loader and the benchmark configs, cached as JSON under ``--cache``). The
features are computed once per feature setting and shared by the classifier settings that use them. ``--test``
scores the named settings on the test split instead: for reporting the chosen setting beside the previous
default, never for choosing. Rule: the highest summed validation macro-F1 among the settings that lose on
no long-text data set (bbc_news and allsides_topic by default; allsides_leaning, whose 26,590 training articles
make each fit minutes long, with ``--datasets allsides_leaning`` for the short list); within 0.001 of it, the
setting with the fewest changes. ``ngram_max=3`` is the current default on long texts (TFIDF_SPEED.md).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

DATASETS = ("bbc_news", "allsides_topic")
# name -> (vectorizer keys, classifier keys) changed from the default model (tfidf_family.TfidfModelConfig)
SETTINGS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "previous_default": ({}, {}),
    "no_cap": ({"max_features": None}, {}),
    "cap_200k": ({"max_features": 200_000}, {}),
    "no_class_weight": ({}, {"class_weight": None}),
    "no_cap+no_class_weight": ({"max_features": None}, {"class_weight": None}),
    "C=3": ({}, {"C": 3.0}),
    "C=20": ({}, {"C": 20.0}),
    "C=30": ({}, {"C": 30.0}),
    "C=50": ({}, {"C": 50.0}),
    "C=100": ({}, {"C": 100.0}),
    "no_cap+C=30": ({"max_features": None}, {"C": 30.0}),
    "no_cap+C=100": ({"max_features": None}, {"C": 100.0}),
    "min_df=3": ({"min_df": 3}, {}),
    "ngram_max=1": ({"ngram_max": 1}, {}),
    "ngram_max=3": ({"ngram_max": 3}, {}),
    "ngram_max=1+C=3": ({"ngram_max": 1}, {"C": 3.0}),
    "ngram_max=1+C=30": ({"ngram_max": 1}, {"C": 30.0}),
    "ngram_max=1+C=100": ({"ngram_max": 1}, {"C": 100.0}),
    "ngram_max=1+min_df=1": ({"ngram_max": 1, "min_df": 1}, {}),
    "no_cap+ngram_max=3": ({"max_features": None, "ngram_max": 3}, {}),
    "char_10k": ({"char_ngrams": True}, {}),
    "C=cv": ({}, {"C": "cv"}),
    "no_cap+C=cv": ({"max_features": None}, {"C": "cv"}),
}
CV_GRID = (3.0, 10.0, 30.0, 100.0)


def load(dataset: str, cache: Path) -> dict[str, tuple[list[str], list[str]]]:
    """The data set's splits as ``tfidf_speed`` writes them (cached: the loader reads whole corpora)."""
    from experiments.benchmarks.tfidf_speed import write_splits

    path = cache / f"{dataset}.json"
    if not path.is_file():
        cache.mkdir(parents=True, exist_ok=True)
        write_splits(dataset, path)
    return {k: (v[0], v[1]) for k, v in json.loads(path.read_text()).items()}


def features(keys: dict[str, Any], train: list[str], other: list[str]) -> tuple[Any, Any]:
    """(train, other) feature matrices of the default model's text features with ``keys`` changed."""
    from nlpkit.models.registry import build_model

    model = build_model({"kind": "tfidf_logreg.v1", **keys})
    model.pairs_ = False
    model.char_ngrams_ = keys.get("char_ngrams", False)
    model.ngram_max_ = keys.get("ngram_max", 2)  # the settings are variations of the previous default (1-2-grams)
    union = model._features()
    return union.fit_transform(train), union.transform(other)


def classifier(keys: dict[str, Any], C: float) -> Any:
    """The default model's classifier with ``keys`` changed and this ``C``."""
    from nlpkit.models.registry import build_model

    model = build_model({"kind": "tfidf_logreg.v1", **{**keys, "C": C}})
    return model._classifier(None)


def cv_C(keys: dict[str, Any], X: Any, y: list[str]) -> float:
    """The grid's C with the best mean macro-F1 over 3 stratified folds of the training split."""
    import numpy as np
    from sklearn.model_selection import cross_val_score

    scores = [cross_val_score(classifier(keys, C), X, np.asarray(y), cv=3, scoring="f1_macro").mean() for C in CV_GRID]
    return CV_GRID[int(np.argmax(scores))]


def score(keys: dict[str, Any], X: Any, y: list[str], V: Any, v: list[str]) -> tuple[float, str]:
    """Macro-F1 on (V, v) of the classifier fitted on (X, y); and the C used."""
    from sklearn.metrics import f1_score

    C = keys.get("C", 10.0)
    if C == "cv":
        C = cv_C(keys, X, y)
    model = classifier(keys, float(C)).fit(X, y)
    return float(f1_score(v, model.predict(V), average="macro")), f"{C:g}"


def evaluate(data: dict[str, Any], names: list[str], split: str) -> dict[str, tuple[float, str, int, float]]:
    """Per setting: (macro-F1 on ``split``, C used, feature columns, seconds to vectorise + fit)."""
    (train, y), (other, v) = data["train"], data[split]
    out: dict[str, tuple[float, str, int, float]] = {}
    groups: dict[str, list[str]] = {}
    for name in names:
        groups.setdefault(json.dumps(SETTINGS[name][0], sort_keys=True), []).append(name)
    for vector_keys, members in groups.items():
        start = time.perf_counter()
        X, V = features(json.loads(vector_keys), train, other)
        vectorise = time.perf_counter() - start
        for name in members:
            start = time.perf_counter()
            f1, C = score(SETTINGS[name][1], X, y, V, v)
            out[name] = (f1, C, X.shape[1], vectorise + time.perf_counter() - start)
            print(f"  {name}: {f1:.4f} (C={C}, {X.shape[1]} columns, {out[name][3]:.1f} s)", flush=True)
    return out


def table(results: dict[str, dict[str, tuple[float, str, int, float]]], names: list[str], split: str) -> list[str]:
    """A markdown table: one row per setting, macro-F1 (C, columns, seconds) per data set."""
    datasets = list(results)
    lines = [f"| setting | {' | '.join(f'{d} {split} macro-F1 (C; columns; s)' for d in datasets)} |",
             f"|---|{'---:|' * len(datasets)}"]
    for name in names:
        cells = [f"{results[d][name][0]:.4f} ({results[d][name][1]}; {results[d][name][2]:,}; {results[d][name][3]:.1f})"
                 for d in datasets]
        lines.append(f"| {name} | {' | '.join(cells)} |")
    return lines


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", nargs="+", default=list(DATASETS))
    p.add_argument("--settings", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    p.add_argument("--test", nargs="+", choices=list(SETTINGS), help="score these settings on test (after choosing)")
    p.add_argument("--cache", type=Path, default=Path.home() / ".cache" / "nlpkit" / "benchmarks" / "splits")
    args = p.parse_args(argv)
    split, names = ("test", args.test) if args.test else ("validation", args.settings)
    results = {}
    for dataset in args.datasets:
        print(f"{dataset} ({split}):", flush=True)
        results[dataset] = evaluate(load(dataset, args.cache), names, split)
    print("\n".join(table(results, names, split)))


if __name__ == "__main__":
    main()
