"""Registry entry of ``blend.v1`` (a fine-tuned encoder and a TF-IDF model, probabilities averaged).

The schema nests the members' schemas, so every setting of those families applies under ``model.finetune.*``
and ``model.tfidf.*``. The estimator (``nlpkit.models.blend``, scikit-learn) is imported when used.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nlpkit.models import transformer_io
from nlpkit.models.encoder_family import FinetuneModelConfig
from nlpkit.models.registry import Family, ModelConfig, register
from nlpkit.models.tfidf_family import TfidfLogregConfig


@dataclass
class BlendModelConfig(ModelConfig):
    """A fine-tuned encoder and a TF-IDF model, probabilities averaged (nlpkit.models.blend)."""

    kind: str = "blend.v1"
    encoder_weight: float = 0.5  # the fine-tuned encoder's share of the averaged probabilities
    finetune: FinetuneModelConfig = field(default_factory=FinetuneModelConfig)
    tfidf: TfidfLogregConfig = field(default_factory=TfidfLogregConfig)


def _build(params: dict[str, Any], seed: int) -> Any:
    from nlpkit.models.blend import BlendClassifier

    return BlendClassifier(random_state=seed, **params)


def _save(model: Any, directory: Path) -> None:
    from nlpkit.models import blend  # imports scikit-learn: only when a blend is saved or loaded

    blend.save(model, directory)


def _load(directory: Path, **options: Any) -> Any:
    from nlpkit.models import blend

    return blend.load(directory, **options)


BLEND = register(Family("blend.v1", BlendModelConfig, _build, _save, _load, requirements=transformer_io.REQUIREMENTS,
                        extra="onnx"))
