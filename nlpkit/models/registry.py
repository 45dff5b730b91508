"""The model registry: one entry per model kind, holding everything nlpkit knows about that kind.

An entry (``Family``) holds the kind's config schema (a dataclass: the one source of its defaults, which
Hydra's ConfigStore and ``nlpkit.config.validate`` read), how to build an unfitted estimator from a config,
how to save and load a fitted one, and what its predictors need at run time. Kinds are versioned
(``tfidf_svm.v1``) so that old configs and predictors keep loading when a family changes.

A family module registers its entries with ``register`` when it is imported; ``nlpkit.models`` imports the
built-in ones. This module imports no family, no Hydra/OmegaConf and no estimator: the prediction runtime
(``Predictor.load``) looks kinds up here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Callable

from nlpkit.errors import ConfigError

# Model-config keys that are not estimator parameters: the registry key, and the post-hoc calibration that
# training fits around any family (nlpkit.calibrators; the estimators know nothing of it).
NOT_ESTIMATOR_KEYS = ("kind", "calibration")


@dataclass
class ModelConfig:
    """Keys every model family has. ``calibration``: post-hoc calibration fitted on the validation split and
    applied inside the saved predictor: none | temperature | isotonic | sigmoid (nlpkit.calibrators). A str
    checked by nlpkit.validation (one-line error with a suggestion), like ``class_weight``."""

    kind: str = "tfidf_logreg.v1"
    calibration: str = "none"


@dataclass(frozen=True)
class Family:
    """Everything about one model kind.

    ``build(params, seed)`` gets the config's estimator parameters as a plain dict (no ``kind`` nor
    ``calibration``; Enums as their values) and returns an unfitted estimator (``nlpkit.models.base.Classifier``).
    ``load(directory, **options)`` takes options chosen at load time (e.g. ``runtime="onnx"``).
    """

    kind: str
    schema: type[ModelConfig]
    build: Callable[[dict[str, Any], int], Any]
    save: Callable[[Any, Path], None]
    load: Callable[..., Any]
    requirements: tuple[str, ...] = ("scikit-learn", "skops")  # pip requirements of its logged MLflow model
    extra: str | None = None  # the nlpkit extra its predictors need at run time (a packaged predictor depends on it)
    # a setting that needs more at run time: model params -> (more pip requirements, the extra instead), or None
    needs: Callable[[dict[str, Any]], tuple[tuple[str, ...], str] | None] | None = None

    def runtime_needs(self, params: Mapping[str, Any] | None) -> tuple[tuple[str, ...], str | None]:
        """(pip requirements, nlpkit extra) of a predictor of this kind trained with model ``params``."""
        more = self.needs(dict(params or {})) if self.needs is not None else None
        if more is None:
            return self.requirements, self.extra
        return tuple(dict.fromkeys((*self.requirements, *more[0]))), more[1]

    @property
    def schema_name(self) -> str:
        """The schema's name in Hydra's ConfigStore group ``model`` (a model YAML's defaults list names it)."""
        return f"{self.kind.split('.')[0]}_schema"

    def defaults(self) -> dict[str, Any]:
        """The schema's defaults as a plain dict (nested configs as dicts, Enums as their values)."""
        return plain(dataclasses.asdict(self.schema()))


REGISTRY: dict[str, Family] = {}


def register(family: Family, *, replace: bool = False) -> Family:
    """Add ``family`` under its kind; a second family for a kind is refused unless ``replace``."""
    if not dataclasses.is_dataclass(family.schema) or not issubclass(family.schema, ModelConfig):
        raise ConfigError(
            f"The schema of model kind {family.kind!r} must be a dataclass derived from "
            f"nlpkit.models.registry.ModelConfig; got {family.schema!r}. Fix: subclass ModelConfig with @dataclass."
        )
    if family.schema.kind != family.kind:  # the schema's default kind is the entry's kind
        raise ConfigError(
            f"The schema {family.schema.__name__} of model kind {family.kind!r} defaults kind to "
            f"{family.schema.kind!r}; expected {family.kind!r}. Fix: set `kind: str = {family.kind!r}` in the schema."
        )
    if family.kind in REGISTRY and not replace and REGISTRY[family.kind] != family:
        raise ConfigError(
            f"Model kind {family.kind!r} is already registered; expected a new kind. Fix: version the new family "
            f"(e.g. {family.kind.split('.')[0]}.v2) or pass replace=True."
        )
    REGISTRY[family.kind] = family
    return family


def unregister(kind: str) -> None:
    """Remove ``kind`` (a family registered by a test or a notebook)."""
    REGISTRY.pop(kind, None)


def family_of(kind: str) -> Family:
    """The registry entry of ``kind``; a one-line error listing the kinds when it is unknown."""
    if kind not in REGISTRY:
        import difflib

        close = difflib.get_close_matches(str(kind), sorted(REGISTRY), n=1, cutoff=0.6)
        hint = f"did you mean model.kind={close[0]}? Or c" if close else "C"
        raise ConfigError(
            f"model.kind must be one of {sorted(REGISTRY)}; got {kind!r}. "
            f"Fix: {hint}hoose a config from the model/ group (e.g. model=tfidf_svm)."
        )
    return REGISTRY[kind]


def build_model(model_cfg: Mapping[str, Any], seed: int = 0) -> Any:
    """An unfitted estimator for ``model_cfg["kind"]`` with the config's hyper-parameters (missing keys take
    the schema's defaults). ``model_cfg``: a mapping such as a composed ``cfg.model`` or a plain dict."""
    params = plain(model_cfg)
    family = family_of(str(params.get("kind")))
    merged = {**family.defaults(), **params}
    return family.build({k: v for k, v in merged.items() if k not in NOT_ESTIMATOR_KEYS}, seed)


def plain(value: Any) -> Any:
    """``value`` with mappings as dicts, sequences (not strings) as lists and Enums as their values."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, (str, bytes)):
        return [plain(v) for v in value]
    return value
