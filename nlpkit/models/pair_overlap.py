"""Vocabulary-free pair features: how much a target (FNC-1: a headline) and a text (a body) share, and the cue words
around what they share, computed per pair on raw tokens.

A TF-IDF vocabulary fitted on training text knows nothing of a new story's names, places and numbers, so a
cosine over it rests on generic words. These features need no vocabulary: every token counts, seen in training
or not. For a pair (target, text), with *content tokens* = lower-cased word tokens that are not stop words or
negations:

- overlap: the share of the target's content tokens found in the text, in the text's lead (first ``lead_words``
  words), and in the text's best-matching sentence; the Jaccard of the two content sets; the share of the
  target's word bigrams, character 4-grams and 5-letter prefixes (a crude stem) found in the text; how many of
  the target's tokens the text writes capitalised mid-sentence (names) and how many of its numbers the text has;
  the share of the text's tokens that are target tokens;
- cues: refuting words (hoax, denies, fake, ...), negations (not, never, n't, ...), hedging or reporting words
  (reportedly, claims, allegedly, ...) and asserting words (confirmed, announced, ...) in the target, and in the
  text's sentences that mention the target (``near``); the near sentences that quote someone while refuting or
  negating (a quoted counter-position); a question mark in the target; the text's length and its rates of
  hedging and refuting words (per 100 words).

Counts enter as log(1 + count), so every column is of order 1. Equal texts are analysed once per call (a FNC-1 body
is paired with ~30 headlines). Pure Python and NumPy: nothing is learned or saved but the format name.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

FORMAT = "nlpkit-pair-overlap/1"
TOKEN = re.compile(r"[^\W_]+(?:['’][^\W_]+)?")
SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
SENTENCE_GAP = re.compile(r"[.!?\n]")
QUOTES = ('"', "“", "”", "‘", "’ ", " '")
STOP = frozenset("""a about above after again against all am an and any are as at be because been before being below
between both but by can could did do does doing down during each few for from further had has have having he her here
hers herself him himself his how i if in into is it its itself just me more most my myself of off on once only or other
our ours ourselves out over own same she should so some such than that the their theirs them themselves then there
these they this those through to too under until up very was we were what when where which while who whom why will
with you your yours yourself yourselves also s t would says said new""".split())
REFUTING = frozenset("""fake fakes faked hoax hoaxes false falsely deny denies denied denying denial debunk debunked
debunks bogus fabricated fabrication untrue myth prank pranks satire satirical retract retracted retracts refute
refuted refutes baseless misleading nonsense lie lies lied fraud doubt doubts dismissed dismisses rejects rejected
contrary incorrect wrong""".split())
NEGATION = frozenset("not no never nobody nothing none neither nor without cannot".split())
HEDGING = frozenset("""reportedly allegedly alleged claim claims claimed claiming report reports reported rumor rumors
rumour rumours may might could possibly apparently purportedly unconfirmed unverified suggests suggested appears
appear seems seem believed according sources source if whether""".split())
ASSERTING = frozenset("""confirm confirms confirmed confirming confirmation official officially announced announces
revealed reveals proved proves shows showed verified admits admitted indeed actually""".split())
COLUMNS = ("share_text", "share_lead", "share_best_sentence", "jaccard", "share_bigrams", "share_char4",
           "share_prefix5", "log_names", "log_numbers", "text_density",
           "log_refuting_target", "log_negation_target", "log_hedging_target", "log_asserting_target",
           "log_refuting_near", "log_negation_near", "log_hedging_near", "log_asserting_near", "log_quoted_counter",
           "question_target", "log_text_words", "hedging_rate", "refuting_rate")


def tokens(text: str) -> list[str]:
    """Word tokens of ``text`` as written (letters and digits; an apostrophe inside a word keeps it whole)."""
    return TOKEN.findall(text)


def names(text: str) -> set[str]:
    """Lower-cased tokens that ``text`` writes capitalised other than at the start of a sentence (names, places)."""
    found, end = set(), None
    for match in TOKEN.finditer(text):
        word, gap = match.group(), text[end:match.start()] if end is not None else "."
        if word[:1].isupper() and not SENTENCE_GAP.search(gap):
            found.add(word.lower())
        end = match.end()
    return found


def is_negation(token: str) -> bool:
    """A negation word, or a contraction ending in n't (don't, isn't, didn’t)."""
    return token in NEGATION or token.endswith(("n't", "n’t"))


def cue_counts(words: list[str]) -> np.ndarray:
    """How many refuting, negation, hedging and asserting words (lower-cased tokens) ``words`` holds."""
    return np.array([sum(w in REFUTING for w in words), sum(is_negation(w) for w in words),
                     sum(w in HEDGING for w in words), sum(w in ASSERTING for w in words)], dtype=np.float64)


class _Target:
    """What the features need of a target: its content tokens, bigrams, 4-grams, prefixes, numbers, cues."""

    def __init__(self, text: str) -> None:
        raw = tokens(text)
        lower = [w.lower() for w in raw]
        self.content = [w for w in lower if w not in STOP and not is_negation(w)]
        self.set = set(self.content)
        self.bigrams = set(zip(self.content, self.content[1:]))
        self.char4 = _char_grams(self.set)
        self.prefix5 = {w[:5] for w in self.set}
        self.numbers = {w for w in self.set if w.isdigit()}
        self.cues = cue_counts(lower)
        self.question = float("?" in text)


class _Text:
    """What the features need of a text: token sets of the whole, the lead and each sentence, names, cues."""

    def __init__(self, text: str, lead_words: int) -> None:
        raw = tokens(text)
        lower = [w.lower() for w in raw]
        content = [w for w in lower if w not in STOP and not is_negation(w)]
        self.n_words, self.lower, self.cues = len(lower), lower, cue_counts(lower)
        self.set, self.lead = set(content), set(lower[:lead_words])
        self.bigrams = set(zip(content, content[1:]))
        self.char4 = _char_grams(self.set)
        self.prefix5 = {w[:5] for w in self.set}
        self.names = names(text)
        self.sentences = []
        for sentence in SENTENCE_END.split(text):
            words = [w.lower() for w in tokens(sentence)]
            if words:
                quoted = any(q in f" {sentence}" for q in QUOTES)
                self.sentences.append((set(words), cue_counts(words), quoted))


def _char_grams(words: set[str]) -> set[str]:
    grams: set[str] = set()
    for word in words:
        padded = f" {word} "
        grams.update(padded[i:i + 4] for i in range(len(padded) - 3))
    return grams


def _share(part: set[Any], whole: set[Any]) -> float:
    return len(part & whole) / len(part) if part else 0.0


def pair_row(target: _Target, text: _Text) -> list[float]:
    """The ``COLUMNS`` of one analysed pair."""
    best, near, quoted_counter = 0.0, np.zeros(len(text.cues)), 0.0
    for words, cues, quoted in text.sentences:
        hits = len(target.set & words)
        if hits:
            best = max(best, hits / len(target.set))
            near += cues
            quoted_counter += float(quoted and (cues[0] + cues[1]) > 0)
    union = len(target.set | text.set)
    density = sum(w in target.set for w in text.lower) / max(text.n_words, 1)
    overlap = [_share(target.set, text.set), _share(target.set, text.lead), best,
               len(target.set & text.set) / union if union else 0.0, _share(target.bigrams, text.bigrams),
               _share(target.char4, text.char4), _share(target.prefix5, text.prefix5),
               np.log1p(len(target.set & text.names)), np.log1p(len(target.numbers & text.set)), density]
    cue_columns = [*np.log1p(target.cues), *np.log1p(near), np.log1p(quoted_counter), target.question,
            np.log1p(text.n_words) / 10.0, 100.0 * text.cues[2] / max(text.n_words, 1),
            100.0 * text.cues[0] / max(text.n_words, 1)]
    return [float(v) for v in overlap + cue_columns]


class PairOverlap:
    """The vocabulary-free pair features (module docstring): ``transform(pairs)`` -> (n, len(COLUMNS)) array."""

    def __init__(self, *, lead_words: int = 60) -> None:
        self.lead_words = int(lead_words)

    @property
    def width(self) -> int:
        """Number of feature columns."""
        return len(COLUMNS)

    def transform(self, pairs: list[tuple[str, str]]) -> np.ndarray:
        """One row of ``COLUMNS`` per (target, text) pair; each distinct target and text is analysed once."""
        targets = {t: _Target(t) for t in {t for t, _ in pairs}}
        texts = {b: _Text(b, self.lead_words) for b in {b for _, b in pairs}}
        rows = [pair_row(targets[t], texts[b]) for t, b in pairs]
        return np.asarray(rows, dtype=np.float64).reshape(len(pairs), self.width)

    def spec(self) -> dict[str, Any]:
        """What ``from_spec`` needs to rebuild these features (saved in the model's JSON)."""
        return {"format": FORMAT, "lead_words": self.lead_words, "columns": list(COLUMNS)}

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> PairOverlap:
        """The features ``spec`` describes; a format or column list this nlpkit does not compute is refused."""
        if spec.get("format") != FORMAT or list(spec.get("columns", ())) != list(COLUMNS):
            raise ValueError(f"pair features {spec.get('format')!r} with columns {spec.get('columns')!r}, expected "
                             f"{FORMAT!r} with {list(COLUMNS)}")
        return cls(lead_words=spec["lead_words"])
