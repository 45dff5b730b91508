"""nlpkit: classifiers for news text about international conflict (topic, stance, escalation framing).

Public API::

    from nlpkit import Predictor, train, compose, load_data
"""

from __future__ import annotations

import os

__version__ = "0.1.0"

# nlpkit never lets MLflow phone home: its telemetry thread looks up an outside host. Set before any nlpkit
# module imports mlflow (every nlpkit import runs this file first). DO_NOT_TRACK is the cross-tool switch.
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["DO_NOT_TRACK"] = "true"

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
