"""nlpkit: classifiers for news text about international conflict (topic, stance, escalation framing).

Public API::

    from nlpkit import Predictor, train, compose, load_data

The names are loaded on first use (module ``__getattr__``): ``from nlpkit import Predictor`` imports the small
prediction runtime only, never the training stack (Hydra, ``datasets``, MLflow, pandas, matplotlib), which
``train``, ``compose``, ``load_data`` and ``TrainResult`` need (``pip install "nlpkit-conflict[train]"``).
"""

from __future__ import annotations

import os
import sys
import types
from importlib import import_module
from typing import TYPE_CHECKING, Any

from nlpkit._version import __version__

# nlpkit never lets MLflow phone home: its telemetry thread looks up an outside host. Set before any nlpkit
# module imports mlflow (every nlpkit import runs this file first). DO_NOT_TRACK is the cross-tool switch.
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
os.environ["DO_NOT_TRACK"] = "true"

# public name -> the module that defines it
_EXPORTS = {
    "Analyzer": "nlpkit.analyze",
    "ConfigError": "nlpkit.errors",
    "DataError": "nlpkit.errors",
    "InputTypeError": "nlpkit.errors",
    "ModelLoadError": "nlpkit.errors",
    "NlpkitError": "nlpkit.errors",
    "Predictor": "nlpkit.predict",
    "TrainResult": "nlpkit.train",
    "compose": "nlpkit.config",
    "estimate_prevalence": "nlpkit.prevalence_report",
    "evaluate_file": "nlpkit.assess",
    "load_data": "nlpkit.data",
    "train": "nlpkit.train",
}

__all__ = [
    "Analyzer",
    "ConfigError",
    "DataError",
    "InputTypeError",
    "ModelLoadError",
    "NlpkitError",
    "Predictor",
    "TrainResult",
    "__version__",
    "compose",
    "estimate_prevalence",
    "evaluate_file",
    "load_data",
    "train",
]

if TYPE_CHECKING:  # for type checkers and IDEs; at run time the names load lazily
    from nlpkit.analyze import Analyzer
    from nlpkit.assess import evaluate_file
    from nlpkit.config import compose
    from nlpkit.data import load_data
    from nlpkit.errors import ConfigError, DataError, InputTypeError, ModelLoadError, NlpkitError
    from nlpkit.predict import Predictor
    from nlpkit.prevalence_report import estimate_prevalence
    from nlpkit.train import TrainResult, train


def __getattr__(name: str) -> Any:
    """Import the module that defines public ``name`` on first access (PEP 562)."""
    if name not in _EXPORTS:
        raise AttributeError(f"module 'nlpkit' has no attribute {name!r}; public names: {__all__}")
    from nlpkit import extras

    extras.require_for(name)
    value = getattr(import_module(_EXPORTS[name]), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _Package(types.ModuleType):
    """The package module: importing the submodule ``nlpkit.train`` must not shadow the function ``nlpkit.train``.

    Python binds a submodule to its parent's attribute once it is imported; the eager ``__init__`` used to rebind
    ``train`` to the function afterwards. Here that binding is skipped, so ``from nlpkit import train`` is the
    function whatever was imported before (the module stays in ``sys.modules["nlpkit.train"]``)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "train" and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
