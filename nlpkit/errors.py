"""Exceptions raised by nlpkit.

Every error says what was expected, what was received and how to fix it. Each class also inherits the
matching built-in exception so that callers can catch ``ValueError``/``TypeError`` as usual.
"""

from __future__ import annotations


def one_line(message: object, limit: int | None = None) -> str:
    """``message`` (an exception or text) with its whitespace collapsed onto one line, cut to ``limit`` chars."""
    return " ".join(str(message).split())[:limit]


class NlpkitError(Exception):
    """Base class of all nlpkit errors."""


class ConfigError(NlpkitError, ValueError):
    """A configuration value is missing, unknown or of the wrong type."""


class DataError(NlpkitError, ValueError):
    """Input data is missing a column, has bad values or cannot be split."""


class InputTypeError(NlpkitError, TypeError):
    """A function received an object of the wrong type (e.g. a bare string instead of a list of texts)."""


class ModelLoadError(NlpkitError, OSError):
    """A saved predictor could not be found or read."""


class MissingExtraError(NlpkitError, ImportError):
    """An optional dependency group (a pip extra such as ``train``) is not installed."""
