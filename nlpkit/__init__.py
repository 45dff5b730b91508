"""nlpkit: classifiers for news text about international conflict (topic, stance, escalation framing).

Public API::

    from nlpkit import Predictor, train, compose, load_data
"""

from __future__ import annotations

__version__ = "0.1.0"

from typing import Any

from nlpkit.errors import ConfigError, DataError, InputTypeError, ModelLoadError, NlpkitError
from nlpkit.predict import Predictor

# Training pulls in Hydra and datasets: import it on first use so that `from nlpkit import Predictor` stays light.
_LAZY = {"train": "nlpkit.train", "TrainResult": "nlpkit.train", "compose": "nlpkit.config", "load_data": "nlpkit.data"}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'nlpkit' has no attribute {name!r}")

__all__ = [
    "ConfigError",
    "DataError",
    "InputTypeError",
    "ModelLoadError",
    "NlpkitError",
    "Predictor",
    "TrainResult",
    "__version__",
    "compose",
    "load_data",
    "train",
]
