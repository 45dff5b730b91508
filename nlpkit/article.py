"""One news article as ``nlpkit analyze`` reads it: an optional title and a body text.

    read_article("article.txt")   # a first line without a final "." and then a blank line is the title
    read_article("article.json")  # {"title": "...", "text": "..."} (title optional; other keys ignored)
    read_article("-")             # plain text from standard input, read like a .txt file
    as_article("Just a text")     # Python callers: a str (no title) or a dict with "text" and maybe "title"

``Article.joined()`` is what each predictor sees: exactly what ``Predictor.predict`` makes of
``{"title": ..., "text": ...}`` (the two joined by a blank line); a predictor without a ``title`` field gets the
same string as its text, so the title is never dropped.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nlpkit.errors import DataError, InputTypeError, one_line

TITLE_MAX_CHARS = 300  # a longer first line is a paragraph of the text, not a title
MANY_DOCUMENTS = (".jsonl", ".csv", ".tsv", ".parquet")
FIELDS = ("title", "text")


@dataclass(frozen=True)
class Article:
    """An article's ``title`` (may be empty) and ``text`` (never blank)."""

    title: str
    text: str

    def joined(self) -> str:
        """What every predictor sees: title and text joined by a blank line, as ``Predictor`` joins a dict's
        ``title`` and ``text`` fields (a predictor without a ``title`` field gets the same string as its text)."""
        return "\n\n".join(part for part in (self.title.strip(), self.text.strip()) if part)

    def field(self, name: str) -> str:
        """The value of field ``name`` (``title`` or ``text``)."""
        return self.title if name == "title" else self.text

    def without(self, name: str, start: int, end: int) -> Article:
        """A copy with characters ``start:end`` of field ``name`` cut out (white space around the cut joined)."""
        value = self.field(name)
        left, right = value[:start].rstrip(), value[end:].lstrip()
        gap = value[len(left):start] + value[end:len(value) - len(right)]
        joined = (left + ("\n\n" if "\n" in gap else " ") + right).strip()
        return Article(joined, self.text) if name == "title" else Article(self.title, joined)


def as_article(article: Any) -> Article:
    """An Article from an Article, a str (the text, no title) or a dict with ``text`` and optionally ``title``."""
    if isinstance(article, Article):
        return _checked(article, "the article")
    if isinstance(article, str):
        return _checked(Article("", article), "the article")
    if isinstance(article, dict):
        return _from_dict(article, "the article dict")
    raise InputTypeError(
        f"Expected an article as a str or a dict with 'text' (and optionally 'title'); got {type(article).__name__}. "
        "Fix: e.g. analyzer.analyze({'title': 'Headline', 'text': 'Body...'})."
    )


def read_article(source: str | os.PathLike) -> Article:
    """Read one article from a text file, a ``.json`` file, or ``-`` (standard input, plain text)."""
    if os.fspath(source) == "-":
        return _from_text(_decode(sys.stdin.buffer.read(), "standard input"), "standard input")
    path = Path(source)
    if path.suffix.lower() in MANY_DOCUMENTS:
        raise DataError(
            f"nlpkit analyze reads one article; got {str(path)!r}, a {path.suffix} file of many documents. Fix: pass "
            "one article as .txt or .json, or label many documents with nlpkit predict --model PREDICTOR FILE."
        )
    if not path.is_file():
        what = "a folder" if path.is_dir() else "no such file"
        raise DataError(f"Expected an article file (.txt, .json) or '-' for stdin; got {str(path)!r}: {what}. "
                        "Fix: check the path.")
    text = _decode(path.read_bytes(), str(path))
    if path.suffix.lower() == ".json":
        return _from_json(text, str(path))
    return _from_text(text, str(path))


def _decode(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8-sig").replace("\r\n", "\n").replace("\r", "\n")
    except UnicodeDecodeError as err:
        raise DataError(
            f"{where} is not UTF-8 text ({one_line(err, 120)}); expected UTF-8. Fix: convert it, e.g. "
            f"iconv -f LATIN1 -t UTF-8 FILE > article.txt."
        ) from None


def _from_text(text: str, where: str) -> Article:
    """The first line is the title when a blank line separates it from more text, it is short, and it does not end
    with a full stop (a headline rarely does; a first paragraph of one sentence does)."""
    head, sep, rest = text.strip().partition("\n\n")
    head = head.strip()
    if sep and rest.strip() and "\n" not in head and len(head) <= TITLE_MAX_CHARS and not head.endswith("."):
        return _checked(Article(head, rest.strip()), where)
    return _checked(Article("", text.strip()), where)


def _from_json(text: str, where: str) -> Article:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(f"{where} is not valid JSON ({one_line(err, 120)}); expected one object with 'text' and "
                        "optionally 'title'. Fix: correct the file, or save the article as .txt.") from None
    if not isinstance(value, dict):
        raise DataError(f"{where} holds a JSON {type(value).__name__}; expected one object with 'text' and optionally "
                        "'title'. Fix: e.g. {\"title\": \"Headline\", \"text\": \"Body...\"}.")
    return _from_dict(value, where)


def _from_dict(value: dict, where: str) -> Article:
    for name in FIELDS:
        if name in value and not isinstance(value[name], str):
            raise InputTypeError(f"{where}: field {name!r} must be a str; got {type(value[name]).__name__}. Fix: "
                                 f"give the {name} as text.")
    if "text" not in value:
        raise DataError(f"{where} has no 'text' field (keys {sorted(map(str, value))[:8]}); expected 'text' and "
                        "optionally 'title'. Fix: put the article body under 'text'.")
    return _checked(Article(value.get("title", "").strip(), value["text"].strip()), where)


def _checked(article: Article, where: str) -> Article:
    if not article.text.strip():
        got = "only a title" if article.title.strip() else "no text"
        raise DataError(f"{where} is empty ({got}); expected an article with some body text. Fix: pass the article's "
                        "text (a .txt file: the title line, a blank line, then the text).")
    return article
