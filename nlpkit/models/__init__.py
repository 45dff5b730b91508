"""Model families and the registry that maps a config ``kind`` to a builder.

Kinds are versioned (``tfidf_svm.v1``) so that old configs keep loading when a family changes. Each
family provides ``build(model_cfg, seed)``, ``save(model, directory)`` and ``load(directory, **options)``
(options chosen at load time, e.g. a runtime), plus the pip requirements of its logged MLflow model.

This module is part of the prediction runtime (``Predictor.load`` looks families up here): it imports no
Hydra/OmegaConf and no estimator module; builders import what they need when they are called.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from nlpkit.errors import ConfigError
from nlpkit.models import tfidf_arrays, transformer_io

if TYPE_CHECKING:
    from omegaconf import DictConfig

# Model-config keys that are not estimator parameters: the registry key, and the post-hoc calibration that
# training fits around any family (nlpkit.calibrators; the estimators know nothing of it).
NOT_ESTIMATOR_KEYS = ("kind", "calibration")


@dataclass(frozen=True)
class Family:
    name: str
    save: Callable[[Any, Path], None]
    load: Callable[..., Any]  # (directory: Path, **options) -> fitted model
    requirements: tuple[str, ...] = ("scikit-learn", "skops")
    extra: str | None = None  # the nlpkit extra its predictors need at run time (a packaged predictor depends on it)


def _tfidf(classifier: str) -> Callable[[DictConfig, int], Any]:
    def build(cfg: DictConfig, seed: int) -> Any:
        from nlpkit.models.tfidf import TfidfClassifier

        params = {k: v for k, v in cfg.items() if k not in NOT_ESTIMATOR_KEYS}
        return TfidfClassifier(classifier=classifier, random_state=seed, **params)

    return build


def _encoder(family: str) -> Callable[[DictConfig, int], Any]:
    def build(cfg: DictConfig, seed: int) -> Any:
        from nlpkit.models.embed import EmbedLogregClassifier
        from nlpkit.models.finetune import FinetuneClassifier

        params = {k: getattr(v, "value", v) for k, v in cfg.items() if k not in NOT_ESTIMATOR_KEYS}  # Enums as str
        estimator = EmbedLogregClassifier if family == "embed_logreg" else FinetuneClassifier
        return estimator(random_state=seed, **params)

    return build


def _blend(cfg: DictConfig, seed: int) -> Any:
    from omegaconf import OmegaConf

    from nlpkit.models.blend import BlendClassifier

    plain = OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)  # members' configs as plain dicts
    return BlendClassifier(random_state=seed, **{k: v for k, v in plain.items() if k not in NOT_ESTIMATOR_KEYS})


def _blend_save(model: Any, directory: Path) -> None:
    from nlpkit.models import blend  # imports scikit-learn: only when a blend is saved or loaded

    blend.save(model, directory)


def _blend_load(directory: Path, **options: Any) -> Any:
    from nlpkit.models import blend

    return blend.load(directory, **options)


TFIDF = Family("tfidf", save=tfidf_arrays.save, load=tfidf_arrays.load, requirements=("numpy", "scipy"))
ENCODER = Family("encoder", save=transformer_io.save, load=transformer_io.load, requirements=transformer_io.REQUIREMENTS,
                 extra="onnx")
BLEND = Family("blend", save=_blend_save, load=_blend_load, requirements=transformer_io.REQUIREMENTS, extra="onnx")
REGISTRY: dict[str, tuple[Family, Callable[[DictConfig, int], Any]]] = {
    "tfidf_logreg.v1": (TFIDF, _tfidf("logreg")),
    "tfidf_svm.v1": (TFIDF, _tfidf("svm")),
    "embed_logreg.v1": (ENCODER, _encoder("embed_logreg")),
    "finetune.v1": (ENCODER, _encoder("finetune")),
    "blend.v1": (BLEND, _blend),
}


def family_of(kind: str) -> Family:
    """The family that saves and loads models of ``kind``."""
    return _lookup(kind)[0]


def build_model(model_cfg: DictConfig, seed: int = 0) -> Any:
    """An unfitted estimator for ``model_cfg.kind`` with the config's hyper-parameters."""
    return _lookup(model_cfg.kind)[1](model_cfg, seed)


def _lookup(kind: str) -> tuple[Family, Callable[[DictConfig, int], Any]]:
    if kind not in REGISTRY:
        raise ConfigError(
            f"Unknown model.kind {kind!r}. Available kinds: {sorted(REGISTRY)}. "
            "Fix: choose a config from the model/ group (e.g. model=tfidf_svm)."
        )
    return REGISTRY[kind]
