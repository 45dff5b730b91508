"""The peer a researcher writes in twenty lines: scikit-learn TF-IDF + logistic regression, library defaults.

    python -m experiments.benchmarks.peer_sklearn train.csv test.csv text label

Stance pairs are joined into one string (headline, then body), as such a script would do.
"""

from __future__ import annotations

import sys
from typing import Any

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline


def as_text(item: Any) -> str:
    """A text, or a (target, text) pair joined with a space."""
    return item if isinstance(item, str) else " ".join(item)


def vectorizer() -> TfidfVectorizer:
    """The script's features: word 1-2-gram TF-IDF, sublinear tf, min_df=2."""
    return TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)


def fit(texts: list[Any], labels: list[str], seed: int = 0) -> Pipeline:
    """Word 1-2-gram TF-IDF (sublinear tf, min_df=2) and LogisticRegression(max_iter=1000)."""
    model = make_pipeline(
        vectorizer(),
        LogisticRegression(max_iter=1000, random_state=seed),
    )
    return model.fit([as_text(t) for t in texts], labels)


def predict(model: Pipeline, texts: list[Any]) -> list[str]:
    """Predicted labels."""
    return list(model.predict([as_text(t) for t in texts]))


def main(argv: list[str]) -> None:
    """Stand-alone use, as the researcher would run it: print test accuracy and macro-F1."""
    import pandas as pd
    from sklearn.metrics import accuracy_score, f1_score

    train_path, test_path, text, label = argv
    train, test = pd.read_csv(train_path), pd.read_csv(test_path)
    pred = predict(fit(list(train[text]), list(train[label])), list(test[text]))
    print(f"accuracy {accuracy_score(test[label], pred):.3f}  macro-F1 {f1_score(test[label], pred, average='macro'):.3f}")


if __name__ == "__main__":
    main(sys.argv[1:])
