"""nlpkit: classifiers for news text about international conflict (topic, stance, escalation framing).

Public API::

    from nlpkit import Predictor, train, compose, load_data
"""

from __future__ import annotations

__version__ = "0.1.0"

from nlpkit.config import compose
from nlpkit.data import load_data
from nlpkit.errors import ConfigError, DataError, InputTypeError, ModelLoadError, NlpkitError
from nlpkit.predict import Predictor
from nlpkit.train import TrainResult, train

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
