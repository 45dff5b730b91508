"""The exploration behind ``experiment=stance_best``: stance variants on the corpus's fixed splits, one table.

    python experiments/stance/explore.py            # ~4 min on 2 cores (the MiniLM rows embed 680 documents)
    python experiments/stance/explore.py --no-embed # the TF-IDF rows only, ~1 min

Every variant is fitted on ``train`` and scored (macro-F1) on ``validation``, ``test`` and ``test_ood``; the
choice of ``stance_best`` was made on the validation column only. Models are nlpkit's own estimators
(``TfidfClassifier``, ``nlpkit.models.stance_cues``) plus, for the MiniLM rows, the packaged all-MiniLM-L6-v2
through sentence-transformers (mean-pooled, 256 tokens) and scikit-learn's logistic regression. All models here
are deterministic given the data, so one run per row is the whole story on the fixed splits.
"""

from __future__ import annotations

import argparse
import random
from collections.abc import Callable

import numpy as np
import scipy.sparse as sp
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

from nlpkit import compose
from nlpkit.data import load_data, model_inputs
from nlpkit.models.tfidf import TfidfClassifier

SPLITS = ("validation", "test", "test_ood")


def corpus() -> dict[str, tuple[list, list]]:
    """(pairs, labels) of every split of the embedded corpus, read as ``task=stance`` reads it."""
    cfg = compose(["task=stance"])
    splits = load_data(cfg.data, cfg.task)
    return {name: (model_inputs(ds), list(ds["label"])) for name, ds in splits.items()}


def scores(predict: Callable[[str], np.ndarray], data: dict) -> dict[str, float]:
    return {s: round(float(f1_score(data[s][1], predict(s), average="macro")), 3) for s in SPLITS}


def tfidf_row(data: dict, **params) -> dict[str, float]:
    model = TfidfClassifier(**params).fit(*data["train"])
    return scores(lambda s: model.predict(data[s][0]), data)


def augmented_row(data: dict, share: float, **params) -> dict[str, float]:
    """Training-time augmentation: a ``share`` of training texts paired again with another document's target, as `none`."""
    rng, (pairs, labels) = random.Random(0), data["train"]
    targets = sorted({t for t, _ in pairs})
    extra = [(rng.choice([o for o in targets if o != t]), text) for t, text in pairs if rng.random() < share]
    model = TfidfClassifier(**params).fit(pairs + extra, labels + ["none"] * len(extra))
    return scores(lambda s: model.predict(data[s][0]), data)


def embeddings(data: dict) -> dict[str, np.ndarray]:
    """Mean-pooled all-MiniLM-L6-v2 embeddings of each text (the target left out), per split."""
    import torch
    from sentence_transformers import SentenceTransformer

    from nlpkit.models.encoders import resolve

    torch.set_num_threads(1)
    encoder = SentenceTransformer(resolve("all-MiniLM-L6-v2")[0], device="cpu")
    encoder.max_seq_length = 256
    return {s: encoder.encode([text for _, text in pairs], batch_size=16) for s, (pairs, _) in data.items()}


def embed_rows(data: dict, emb: dict[str, np.ndarray]) -> dict[str, dict[str, float]]:
    rows = {}
    for C in (1.0, 3.0):
        clf = LogisticRegression(C=C, class_weight="balanced", max_iter=5000).fit(emb["train"], data["train"][1])
        rows[f"MiniLM text embedding, logreg C={C:g}"] = scores(lambda s, clf=clf: clf.predict(emb[s]), data)
    base = TfidfClassifier(C=30.0, target_features=False, stance_cues=0.1).fit(*data["train"])
    features = {s: sp.hstack([base.features_.transform(np.array(data[s][0], dtype=object)),
                              sp.csr_matrix(emb[s])]).tocsr() for s in data}
    for C in (10.0, 30.0):
        clf = LogisticRegression(C=C, class_weight="balanced", max_iter=5000).fit(features["train"], data["train"][1])
        rows[f"text TF-IDF + cues 0.1 + MiniLM text embedding, C={C:g}"] = scores(lambda s, clf=clf: clf.predict(features[s]), data)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--no-embed", action="store_true", help="leave out the MiniLM rows")
    data = corpus()
    rows = {"tfidf_logreg (baseline: target + text + similarities), C=10": tfidf_row(data)}
    for C in (3.0, 10.0, 30.0):
        rows[f"text TF-IDF only (target_features=false), C={C:g}"] = tfidf_row(data, C=C, target_features=False)
    for weight in (0.1, 0.3, 1.0):
        for C in (3.0, 10.0, 30.0):
            rows[f"text TF-IDF + stance cues {weight:g}, C={C:g}"] = tfidf_row(
                data, C=C, target_features=False, stance_cues=weight)
    rows["target + text TF-IDF + stance cues 0.1, C=30"] = tfidf_row(data, C=30.0, stance_cues=0.1)
    for share in (0.2, 0.5):
        rows[f"stance_best + augmentation (other targets -> none, {share:.0%})"] = augmented_row(
            data, share, C=30.0, target_features=False, stance_cues=0.1)
    if not parser.parse_args().no_embed:
        rows.update(embed_rows(data, embeddings(data)))
    print("| variant | validation | test | test_ood |\n|---|---:|---:|---:|")
    for name, row in rows.items():
        print(f"| {name} | {row['validation']:.3f} | {row['test']:.3f} | {row['test_ood']:.3f} |")


if __name__ == "__main__":
    main()
