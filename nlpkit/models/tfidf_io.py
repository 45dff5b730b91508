"""Save and load scikit-learn models with skops (no pickle); loading trusts only known types."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

from nlpkit.errors import ConfigError, ModelLoadError

FILENAME = "model.skops"
TRUSTED_PREFIXES = ("sklearn.", "nlpkit.models.", "numpy.", "scipy.sparse.")


def save(model: Any, directory: Path) -> None:
    """Write ``model`` to ``directory/model.skops``."""
    import skops.io as sio

    sio.dump(model, Path(directory) / FILENAME, compression=zipfile.ZIP_DEFLATED, compresslevel=6)


def load(directory: Path, **options: Any) -> Any:
    """Load a model saved by ``save``, refusing any type outside sklearn, numpy, scipy and nlpkit.

    TF-IDF models have one runtime (scikit-learn): load options such as ``runtime="onnx"`` are refused with
    an error that says so, rather than silently ignored."""
    import skops.io as sio

    if options:
        given = ", ".join(f"{k}={v!r}" for k, v in options.items())
        raise ConfigError(
            f"Load options ({given}) apply to the encoder families (embed_logreg, finetune) only; this predictor "
            "is a TF-IDF model, which runs in scikit-learn. Fix: call Predictor.load(uri) without them."
        )
    path = Path(directory) / FILENAME
    if not path.is_file():
        raise ModelLoadError(f"No {FILENAME} in {directory}; expected a predictor saved by nlpkit.")
    untrusted = sio.get_untrusted_types(file=path)
    refused = [t for t in untrusted if not t.startswith(TRUSTED_PREFIXES)]
    if refused:
        raise ModelLoadError(
            f"{path} contains types nlpkit does not trust: {refused}. Refusing to load it; "
            "only models saved by nlpkit (scikit-learn, numpy, scipy types) can be loaded."
        )
    return sio.load(path, trusted=untrusted)
