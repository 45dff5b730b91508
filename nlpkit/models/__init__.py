"""Model families: one registry entry per kind (``nlpkit.models.registry``), one module per family.

Importing this package registers the built-in kinds: ``tfidf_logreg.v1`` and ``tfidf_svm.v1``
(``tfidf_family``), ``embed_logreg.v1`` and ``finetune.v1`` (``encoder_family``), ``blend.v1``
(``blend_family``), ``tfidf_mlp.v1`` (``tfidf_mlp_family``). A new family is one module that calls
``register(Family(...))`` plus one YAML under ``configs/model/`` (CONTRIBUTING.md); a built-in one is also imported below.

This package is part of the prediction runtime (``Predictor.load`` looks kinds up here): it imports no
Hydra/OmegaConf, no MLflow and no estimator module; builders import what they need when they are called.
"""

from __future__ import annotations

from nlpkit.models import blend_family, encoder_family, tfidf_family, tfidf_mlp_family  # noqa: F401  (register the built-in kinds)
from nlpkit.models.registry import (
    NOT_ESTIMATOR_KEYS,
    REGISTRY,
    Family,
    ModelConfig,
    build_model,
    family_of,
    register,
    unregister,
)

__all__ = [
    "NOT_ESTIMATOR_KEYS",
    "REGISTRY",
    "Family",
    "ModelConfig",
    "build_model",
    "family_of",
    "register",
    "unregister",
]
