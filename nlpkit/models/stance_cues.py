"""Stance cues: a few dense, target-aware features of a (target, text) pair, read from the codebook's rules.

The stance codebook (``nlpkit/corpus/CODEBOOK.md``) decides a label from *who says what about the target and
with how much weight*: supportive or critical language, whether it sits in sentences about the target, in
quotes, in the headline or in the last word, and whether opposing voices are balanced. This module turns those
rules into 17 numbers per pair (``CUE_NAMES``), from two small hand-written word lists (support / criticism, by
word prefix), a negation rule (a negator up to three words before a cue flips its polarity: "did not fail" is
support) and a list of contrast markers ("rejected", "however", "critics", ...).

Pure functions of the pair, with no learned state and no dependency beyond NumPy: training
(``nlpkit.models.tfidf.StanceCues``) and the plain-array predictor (``nlpkit.models.tfidf_arrays``) both call
``cue_matrix``, so the two compute the same numbers. ``VERSION`` is saved with a model; changing a word list or
a rule means a new version.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import numpy as np

VERSION = "stance-cues/1"

SUPPORT = (
    "support", "back", "welcom", "prais", "endors", "defend", "necessar", "success", "benefit", "work",
    "sensible", "right", "honest", "protect", "secur", "effective", "achiev", "progress", "deliver", "help",
    "improv", "save", "lifeline", "vital", "essential", "credible", "justif", "legitimate", "reliev", "stabil",
    "calm", "commend", "hail", "applaud", "renew", "extend", "strengthen", "restor", "reopen", "resum", "agree",
    "proportionate", "reasonable", "best", "good", "hope",
)
CRITICISM = (
    "oppos", "condemn", "critici", "reject", "fail", "illegal", "reckless", "harm", "wrong", "ambush", "danger",
    "cost", "cut", "unpaid", "suffer", "collaps", "violat", "undermin", "scrap", "abandon", "denounc", "protest",
    "accus", "blam", "destabili", "provoc", "threat", "aggress", "unlawful", "illegitimate", "mistake", "disaster",
    "damag", "hurt", "kill", "shortage", "empty", "emptying", "cancel", "halt", "suspend", "block", "obstacle",
    "punish", "hostile", "deplor", "regret", "betray", "risk", "worse", "bad", "flaw", "sham", "farce", "futile",
    "useless", "counterproductive", "shortfall", "postpon", "clos",
)
NEGATORS = frozenset({"not", "no", "never", "nor", "without", "cannot", "neither", "hardly", "n't"})
CONTRAST = re.compile(
    r"\b(rejected|disagree\w*|differ\w*|on the other hand|however|critics|supporters|both sides|opponents|"
    r"proponents|while|meanwhile|dismiss\w*|counter\w*|but|in response|responded|denied|insisted)\b", re.I)
STOP_WORDS = frozenset("the a an of in on to for and or by with at from its their his her this that these those "
                       "over under into about between along us".split())
_WORD = re.compile(r"[a-z]+(?:'[a-z]+)?|n't")
_SENTENCE_BREAK = re.compile(r"(?<=[.!?\"”])\s+(?=[A-Z\"“])|\n+")
_QUOTE = re.compile(r"[\"“”]")
NEGATION_WINDOW = 3  # words before a cue in which a negator flips it

CUE_NAMES = (
    "support", "criticism", "target_support", "target_criticism", "quoted_support", "quoted_criticism",
    "headline_support", "headline_criticism", "ending_support", "ending_criticism", "contrast_markers",
    "negators", "target_sentences", "target_sentence_share", "net_polarity", "target_net_polarity", "balance",
)


def words(text: str) -> list[str]:
    """Lower-cased words of ``text``; "don't" gives "do" and "n't", so a clitic negation counts as a negator."""
    return _WORD.findall(text.lower().replace("n't", " n't"))


def sentences(text: str) -> list[str]:
    """``text`` cut into sentences and paragraphs (title first when the title is its first paragraph)."""
    return [s.strip() for s in _SENTENCE_BREAK.split(text) if s.strip()]


def polarity(sentence: str) -> tuple[int, int]:
    """(support, criticism) cue counts of one sentence; a negator in the three words before a cue flips it."""
    tokens = words(sentence)
    counts = [0, 0]
    for i, token in enumerate(tokens):
        sign = _sign(token)
        if sign == 0:
            continue
        if any(t in NEGATORS for t in tokens[max(0, i - NEGATION_WINDOW):i]):
            sign = -sign
        counts[0 if sign > 0 else 1] += 1
    return counts[0], counts[1]


def _sign(token: str) -> int:
    if token.startswith(SUPPORT):
        return 1
    return -1 if token.startswith(CRITICISM) else 0


def target_stems(target: str) -> frozenset[str]:
    """The target's content words cut to 5 letters ("sanctions on Russia" -> {"sanct", "russi"})."""
    return frozenset(w[:5] for w in words(target) if w not in STOP_WORDS and len(w) > 2)


def mentions(sentence: str, stems: frozenset[str]) -> bool:
    """Whether ``sentence`` shares a content word (by 5-letter stem) with the target."""
    return bool(stems & {w[:5] for w in words(sentence)})


def cue_vector(target: str, text: str) -> np.ndarray:
    """The ``CUE_NAMES`` features of one (target, text) pair (counts as log1p, shares and polarities in [-1, 1])."""
    stems, parts = target_stems(target), sentences(text)
    raw = np.zeros(13)
    for i, sentence in enumerate(parts):
        support, criticism = polarity(sentence)
        where = [True, mentions(sentence, stems), bool(_QUOTE.search(sentence)), i == 0, i >= len(parts) - 2]
        for slot, on in enumerate(where):
            if on:
                raw[2 * slot] += support
                raw[2 * slot + 1] += criticism
        raw[10] += len(CONTRAST.findall(sentence))
        raw[11] += sum(w in NEGATORS for w in words(sentence))
        raw[12] += where[1]
    share = raw[12] / max(len(parts), 1)
    total, on_target = raw[0] + raw[1], raw[2] + raw[3]
    balance = (total - abs(raw[0] - raw[1])) / (total + 1)  # high when support and criticism are both present
    derived = [share, (raw[0] - raw[1]) / (total + 1), (raw[2] - raw[3]) / (on_target + 1), balance]
    return np.concatenate([np.log1p(raw), derived])


def cue_matrix(items: Sequence[tuple[str, str]]) -> np.ndarray:
    """One row of ``cue_vector`` per (target, text) pair; shape (len(items), len(CUE_NAMES))."""
    if not items:
        return np.zeros((0, len(CUE_NAMES)))
    return np.vstack([cue_vector(target, text) for target, text in items])
