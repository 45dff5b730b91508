"""Optional dependency groups (pip extras): what each needs, and one-line errors when one is missing.

A runtime-only install (``pip install nlpkit-conflict``) loads and runs TF-IDF predictors. Training needs the
``train`` extra, MLflow URIs (``runs:/``, ``models:/``) the ``mlflow`` extra (also part of ``train``), training
the encoder families the ``transformers`` extra, and predicting with an encoder predictor either that or the
small ``onnx`` extra (ONNX Runtime + tokenizers, no torch). ``nlpkit-train`` starts here so that a runtime-only install gets
one line saying what to install instead of a traceback from deep inside Hydra's import.
"""

from __future__ import annotations

import sys
from importlib.util import find_spec

from nlpkit._version import DISTRIBUTION
from nlpkit.errors import MissingExtraError

# extra -> the top-level modules it provides (checked without importing them)
EXTRAS: dict[str, tuple[str, ...]] = {
    "train": ("hydra", "omegaconf", "datasets", "mlflow", "pandas", "matplotlib", "filelock"),
    "mlflow": ("mlflow",),
    "onnx": ("onnxruntime", "tokenizers"),
    "batch": ("pyarrow", "tqdm"),
    "transformers": ("torch", "transformers", "tokenizers", "safetensors"),
    "prevalence": ("quapy", "matplotlib"),
}
# public names of the package root that need the training stack
TRAINING_NAMES = frozenset({"train", "TrainResult", "compose", "load_data"})


def missing(extra: str) -> list[str]:
    """The modules of ``extra`` that cannot be imported here (an empty list when it is installed)."""
    return [name for name in EXTRAS[extra] if find_spec(name) is None]


def install_hint(extra: str) -> str:
    """The pip command that installs ``extra``."""
    return f'pip install "{DISTRIBUTION}[{extra}]"'


def require(extra: str, what: str) -> None:
    """Raise a one-line MissingExtraError unless every module of ``extra`` is importable."""
    absent = missing(extra)
    if absent:
        raise MissingExtraError(
            f"{what} needs the {extra!r} extra of {DISTRIBUTION}; expected {', '.join(EXTRAS[extra])}, got no "
            f"{', '.join(absent)} in {sys.prefix}. Fix: {install_hint(extra)}."
        )


def require_any(extras: tuple[str, ...], what: str) -> str:
    """The first of ``extras`` that is installed, or a one-line MissingExtraError naming all of them."""
    for extra in extras:
        if not missing(extra):
            return extra
    wanted = " or ".join(f"{extra!r} ({', '.join(EXTRAS[extra])})" for extra in extras)
    raise MissingExtraError(
        f"{what} needs the {wanted} extra of {DISTRIBUTION}; got neither complete in {sys.prefix}. Fix: "
        f"{install_hint(extras[0])} (or {' / '.join(install_hint(e) for e in extras[1:])})."
    )


def require_for(name: str) -> None:
    """Check the extra that public name ``name`` of the package root needs (``nlpkit.train`` needs ``train``)."""
    if name in TRAINING_NAMES:
        require("train", f"nlpkit.{name}")

