"""Which sentences drive a prediction: sentence occlusion, for any model family.

For the predicted label ``c`` with probability ``p(c | article)``, each sentence ``s`` of the title and the text is
removed in turn and the article scored again. Its *delta* is ``p(c | article) - p(c | article without s)``: how much
probability the sentence adds to the prediction. Sentences with a positive delta (at 4 decimals), largest first,
are the drivers. It needs only ``predict_proba`` (one batch of ``n_sentences`` extra inputs), so it runs on every
family; it measures each sentence alone, so two sentences that say the same thing can each look weak.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from nlpkit.article import Article
from nlpkit.sentences import split_sentences

METHOD = ("occlusion: delta = p(label | article) - p(label | article without the sentence); sentences with "
          "delta > 0, largest first")
DIGITS = 4


def sentences(article: Article) -> list[tuple[str, int, int]]:
    """``(field, start, end)`` of every sentence of the title, then of the text."""
    return [(name, a, b) for name in ("title", "text") for a, b in split_sentences(article.field(name))]


def drivers(article: Article, score: Callable[[list[str]], np.ndarray], top_k: int) -> list[dict]:
    """The ``top_k`` sentences whose removal lowers ``score`` most (only those that lower it).

    ``score`` maps joined article texts to the probability of the label being explained, one per text."""
    spans = sentences(article)
    if top_k == 0 or len(spans) < 2:
        return []
    variants = [article.without(name, a, b).joined() for name, a, b in spans]
    full, *occluded = score([article.joined(), *variants])
    deltas = full - np.asarray(occluded, dtype=float)
    order = [i for i in np.argsort(-deltas, kind="stable") if round(float(deltas[i]), DIGITS) > 0][:top_k]
    return [_entry(article, spans[i], float(deltas[i])) for i in order]


def _entry(article: Article, span: tuple[str, int, int], delta: float) -> dict:
    name, start, end = span
    return {"sentence": article.field(name)[start:end], "field": name, "start": start, "end": end,
            "delta": round(delta, DIGITS)}
