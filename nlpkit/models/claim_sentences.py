"""The sentences of a text that are about its target: for a (target, text) pair, the text's ``k`` sentences that
share the most content tokens with the target, joined in their order in the text.

A FNC-1 body is a whole article; whether it agrees with, disputes or merely reports a headline's claim is
decided in the few sentences that speak of that claim. The TF-IDF row of those sentences (beside the whole
text's row, ``model.claim_sentences`` in ``tfidf_mlp``) lets a network read the words said about the claim
rather than the article's topic words. Content tokens are those of ``nlpkit.models.pair_overlap`` (lower-cased
word tokens, not stop words or negations). A sentence scores the number of distinct target tokens it holds;
ties go to the earlier sentence; sentences sharing no token are never chosen, so an unrelated text gives "".
With ``model.claim_cues``, ``claim_cues`` gives ``CUE_COLUMNS`` of the single best sentence: its refuting,
negation, hedging and asserting words (log(1 + count)), whether it and the target are both negated or both not
(polarity agreement), whether it quotes someone or asks a question, and its position in the text (0 first, 1 last);
all 0 when no sentence shares a word. Pure Python and NumPy; nothing is learned.
"""

from __future__ import annotations

import numpy as np

from nlpkit.models.pair_overlap import QUOTES, SENTENCE_END, STOP, cue_counts, is_negation, tokens

CUE_COLUMNS = ("log_refuting_best", "log_negation_best", "log_hedging_best", "log_asserting_best",
               "same_polarity_best", "quoted_best", "question_best", "position_best")


def content_set(text: str) -> set[str]:
    """The distinct content tokens of ``text`` (lower-cased; no stop words, no negations)."""
    return {w for w in (t.lower() for t in tokens(text)) if w not in STOP and not is_negation(w)}


def split_sentences(text: str) -> list[tuple[str, set[str]]]:
    """The non-empty sentences of ``text``, each with its set of lower-cased tokens."""
    out = []
    for sentence in SENTENCE_END.split(text):
        words = {t.lower() for t in tokens(sentence)}
        if words:
            out.append((sentence.strip(), words))
    return out


def best_sentences(target: set[str], sentences: list[tuple[str, set[str]]], k: int) -> str:
    """The ``k`` sentences sharing most of the ``target`` tokens (at least one), in text order, joined by spaces."""
    scored = [(-len(target & words), i) for i, (_, words) in enumerate(sentences)]
    chosen = sorted(i for score, i in sorted(scored)[:k] if score < 0)
    return " ".join(sentences[i][0] for i in chosen)


def claim_sentences(pairs: list[tuple[str, str]], k: int) -> list[str]:
    """For each (target, text) pair, its text's ``k`` best sentences (module docstring); each distinct target and
    text is analysed once."""
    targets = {t: content_set(t) for t in {t for t, _ in pairs}}
    texts = {b: split_sentences(b) for b in {b for _, b in pairs}}
    return [best_sentences(targets[t], texts[b], k) for t, b in pairs]


def cue_row(target: str, sentences: list[tuple[str, set[str]]]) -> list[float]:
    """The ``CUE_COLUMNS`` of a target (as written) and its text's sentences."""
    content = content_set(target)
    scored = [(-len(content & words), i) for i, (_, words) in enumerate(sentences)]
    if not scored or min(scored)[0] == 0:
        return [0.0] * len(CUE_COLUMNS)
    index = min(scored)[1]
    sentence = sentences[index][0]
    words = [t.lower() for t in tokens(sentence)]
    negated = any(is_negation(t.lower()) for t in tokens(target))
    same = float(negated == any(is_negation(w) for w in words))
    quoted = float(any(q in f" {sentence}" for q in QUOTES))
    position = index / (len(sentences) - 1) if len(sentences) > 1 else 0.0
    return [*np.log1p(cue_counts(words)).tolist(), same, quoted, float("?" in sentence), position]


def claim_cues(pairs: list[tuple[str, str]]) -> np.ndarray:
    """One row of ``CUE_COLUMNS`` per (target, text) pair (module docstring)."""
    texts = {b: split_sentences(b) for b in {b for _, b in pairs}}
    rows = [cue_row(t, texts[b]) for t, b in pairs]
    return np.asarray(rows, dtype=np.float64).reshape(len(pairs), len(CUE_COLUMNS))
