"""A small rule-based sentence splitter for English news text (no model, no dependency beyond ``re``).

    split_sentences('The U.S. envoy arrived. Talks begin today.')  ->  [(0, 23), (24, 41)]

A sentence ends at ``.``, ``!`` or ``?`` (with any closing quotes or brackets) followed by white space and a
capital letter, digit or opening quote; a blank line always ends one. A full stop does not end a sentence after
a known abbreviation (``Mr.``, ``Gen.``, ``Jan.``, ``e.g.``, ...), nor after an initial or a dotted acronym
(``J. Smith``, ``the U.S. envoy``) unless the next word is a common sentence opener (``... in the U.S. The
next day ...``). The spans are character offsets into the given text, without surrounding white space.
"""

from __future__ import annotations

import re

# lower-case, without the final full stop; words after which "." rarely ends a sentence in news text
ABBREVIATIONS = frozenset({
    "mr", "mrs", "ms", "dr", "prof", "gen", "lt", "col", "maj", "capt", "cmdr", "adm", "sgt", "cpl", "sen", "rep",
    "gov", "pres", "amb", "st", "jr", "sr", "rev", "hon", "no", "nos", "vol", "fig", "vs", "approx", "dept", "inc",
    "ltd", "corp", "co", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec", "mt",
    "ft", "cf", "al", "e.g", "i.e", "a.m", "p.m",
})
# words that open a new sentence after a dotted acronym or an initial ("... in the U.S. The next day ...")
OPENERS = frozenset({
    "The", "A", "An", "It", "Its", "He", "She", "They", "We", "I", "You", "This", "That", "These", "Those", "There",
    "But", "And", "Yet", "So", "In", "On", "At", "After", "Before", "When", "While", "If", "As", "For", "Officials",
    "His", "Her", "Their", "Our", "Some", "Many", "No", "Not", "Meanwhile", "However", "Still", "Earlier", "Later",
})
TERMINATOR = re.compile(r"[.!?]+[\"'\u201d\u2019\u00bb)\]]*(?=\s)")
PARAGRAPH_BREAK = re.compile(r"\n[ \t]*\n\s*")
ACRONYM = re.compile(r"^(?:[A-Za-z]\.)+[A-Za-z]$|^[A-Z]$")
OPENING_MARKS = "\"'\u201c\u2018\u00ab(["


def split_sentences(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each sentence of ``text`` in order (``text[start:end]`` is the sentence)."""
    spans: list[tuple[int, int]] = []
    start = 0
    for brk in PARAGRAPH_BREAK.finditer(text):
        spans += _paragraph(text, start, brk.start())
        start = brk.end()
    return spans + _paragraph(text, start, len(text))


def _paragraph(text: str, start: int, end: int) -> list[tuple[int, int]]:
    spans = []
    for match in TERMINATOR.finditer(text, start, end):
        if _ends_sentence(text, match, end):
            spans.append(_trimmed(text, start, match.end()))
            start = match.end()
    spans.append(_trimmed(text, start, end))
    return [(a, b) for a, b in spans if b > a]


def _ends_sentence(text: str, match: re.Match, end: int) -> bool:
    """Whether the terminator ``match`` ends a sentence: judged by the next word and the word before it."""
    following = text[match.end():end].lstrip()
    next_word = following.lstrip(OPENING_MARKS).split(" ", 1)[0]
    if not next_word or not (next_word[0].isupper() or next_word[0].isdigit()):
        return False
    if match.group() != ".":  # "!", "?", "..." or a closing quote: a sentence end whatever came before
        return True
    words = text[max(0, match.start() - 40):match.start()].split()
    before = words[-1].lstrip(OPENING_MARKS) if words else ""
    if before.lower() in ABBREVIATIONS:
        return False
    if ACRONYM.match(before):
        return next_word.strip(",;:") in OPENERS
    return True


def _trimmed(text: str, start: int, end: int) -> tuple[int, int]:
    """``(start, end)`` moved inwards past white space."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end
