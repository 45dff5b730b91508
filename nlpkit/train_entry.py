"""The ``nlpkit-train`` console script: check the ``train`` extra, then hand over to ``nlpkit.train.main``.

A module of its own so that ``nlpkit.extras`` (imported by the prediction runtime) never imports training code.
"""

from __future__ import annotations

import sys

from nlpkit import extras
from nlpkit.errors import MissingExtraError


def train_main() -> int | None:
    """The ``nlpkit-train`` command: check the ``train`` extra, then run ``nlpkit.train.main``."""
    try:
        extras.require("train", "nlpkit-train")
    except MissingExtraError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    from nlpkit.train import main

    main()
    return None
