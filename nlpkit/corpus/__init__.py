"""The annotated corpora embedded in nlpkit (see CODEBOOK.md and DATASHEET.md beside this file)."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from nlpkit.errors import DataError


def available() -> list[str]:
    """Names of the embedded corpora."""
    return sorted(p.name.removesuffix(".jsonl") for p in resources.files(__name__).iterdir() if p.name.endswith(".jsonl"))


def corpus_path(name: str = "newswire") -> Path:
    """Path of an embedded corpus's JSONL file."""
    path = Path(str(resources.files(__name__).joinpath(f"{name}.jsonl")))
    if not path.is_file():
        raise DataError(
            f"No embedded corpus named {name!r}; available: {available()}. "
            "Fix: set data.name to one of those, or use data=file for your own file."
        )
    return path
