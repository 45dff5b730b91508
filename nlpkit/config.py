"""Typed configuration schema, registered in Hydra's ConfigStore.

The YAML tree under ``configs/`` pulls these schemas in through its defaults lists, so a misspelt key or a
value of the wrong type fails when the config is composed, naming the key. ``validate`` re-checks a composed
config against the schema of the chosen model family, which also catches keys added with ``+key=value``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from importlib import resources
from pathlib import Path
from typing import Any, Optional

from hydra.core.config_store import ConfigStore
from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from nlpkit.errors import ConfigError
from nlpkit.models import REGISTRY, family_of
from nlpkit.models.blend_family import BlendModelConfig  # noqa: F401  (re-exported: the schemas live with
from nlpkit.models.encoder_family import (  # noqa: F401  their families in nlpkit.models)
    ChunkPooling,
    EmbedModelConfig,
    EncoderModelConfig,
    FinetuneModelConfig,
    LongTextPolicy,
)
from nlpkit.models.registry import ModelConfig  # noqa: F401
from nlpkit.models.tfidf_family import TfidfLogregConfig, TfidfModelConfig, TfidfSvmConfig  # noqa: F401
from nlpkit.validation import check_values


class DataSource(Enum):
    embedded = "embedded"  # a corpus shipped inside nlpkit (nlpkit/corpus/<name>.jsonl)
    file = "file"  # CSV / JSON / JSONL / Parquet file(s)
    hub = "hub"  # a Hugging Face dataset by name (needs a network or a local cache)
    disk = "disk"  # a dataset saved with Dataset.save_to_disk


class SplitPolicy(Enum):
    predefined = "predefined"  # a split column (or per-split files) decides
    random = "random"  # seeded stratified random split
    group = "group"  # seeded split that keeps each group (e.g. source) in one split only
    time = "time"  # train on the earliest documents, validate on later ones, test on the latest


@dataclass
class TaskConfig:
    """What is predicted: ``name`` (any short name: the MLflow experiment, the run names and the predictor's
    metadata use it), the label column, the ordered label set and the text fields (the last is the body)."""

    name: str = MISSING  # set by the task/ config group (task=custom: by you)
    label_column: str = "label"
    labels: list[str] = MISSING
    text_fields: list[str] = field(default_factory=lambda: ["title", "text"])
    target_field: Optional[str] = None  # set for stance: the model sees (target, text) pairs


@dataclass
class SplitConfig:
    policy: SplitPolicy = SplitPolicy.predefined
    column: str = "split"
    train: str = "train"
    validation: str = "validation"
    test: str = "test"
    extra_eval: list[str] = field(default_factory=lambda: ["test_ood"])
    group_column: Any = "source"  # a column, or a list of columns whose joint value is the group
    date_column: str = "date"
    validation_size: float = 0.15  # 0: no validation split (refused where the model or calibration needs one)
    test_size: float = 0.2
    seed: int = 0
    # Documents of validation/test/extra splits that duplicate a training document (exactly, after case and
    # whitespace normalisation, or with TF-IDF cosine > dedupe_threshold): drop (default) | keep (count and warn)
    # | error. true/false (nlpkit <= 0.1) still mean drop/keep. A str, not an Enum, so those booleans still load.
    dedupe: str = "drop"
    dedupe_threshold: float = 0.8  # TF-IDF cosine similarity above which two texts are near-duplicates


@dataclass
class DataConfig:
    name: str = "newswire"
    source: DataSource = DataSource.embedded
    path: Optional[str] = None
    files: dict[str, str] = field(default_factory=dict)
    hub_config: Optional[str] = None
    # Which column of your data holds each field nlpkit reads: {field: your column}, e.g. {text: body}. The
    # fields are the task's text fields, label column and target field, and id/source/split/date (or any
    # column named by data.split or data.slices). Both `data.columns.text=body` and `'data.columns={text: body}'`.
    columns: dict[str, Optional[str]] = field(default_factory=dict)
    label_map: dict[Any, str] = field(default_factory=dict)  # your label -> a task label, e.g. {conflict: escalatory}
    drop_unmapped: bool = False
    max_rows: Optional[int] = None
    split: SplitConfig = field(default_factory=SplitConfig)
    slices: list[str] = field(default_factory=list)  # columns (or "length") to report per-slice metrics by
    length_bins: list[int] = field(default_factory=lambda: [150, 250])  # word-count edges of the "length" slice


@dataclass
class TrackingConfig:
    enabled: bool = True
    uri: Optional[str] = None  # None: $MLFLOW_TRACKING_URI, else sqlite:///<launch dir>/mlflow.db
    experiment: Optional[str] = None  # None: the task name
    run_name: Optional[str] = None  # None: <data>/<model>[/<overrides>]/s<seed> (nlpkit.tracking_ui.run_name)
    log_model: bool = True
    registered_model_name: Optional[str] = None
    registered_model_alias: Optional[str] = None  # e.g. champion: models:/<name>@champion -> this run's version
    verbose: bool = False  # true: MLflow's INFO lines, warnings and progress bars on the console (nlpkit.console)


@dataclass
class CVConfig:
    folds: int = 0  # 0 or 1: no cross-validation; k >= 2: seeded stratified k-fold over train + validation
    group_column: Any = None  # set (e.g. source, or a list of columns) for stratified grouped k-fold


@dataclass
class RuntimeConfig:
    threads: Optional[int] = None  # torch and BLAS/OpenMP threads; null: idle CPUs we may use, 1-8 (nlpkit.threads)


@dataclass
class TrainConfig:
    task: TaskConfig = field(default_factory=TaskConfig)
    data: DataConfig = field(default_factory=DataConfig)
    model: Any = None  # a model kind's schema (its nlpkit.models registry entry), chosen by the model/ group
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    cv: CVConfig = field(default_factory=CVConfig)
    runtime: RuntimeConfig = field(default_factory=RuntimeConfig)
    seed: int = 0
    output_dir: Optional[str] = None  # None: Hydra's run directory, or ./nlpkit-outputs/<time>


def register_configs() -> None:
    """Store the schemas in Hydra's ConfigStore (idempotent)."""
    cs = ConfigStore.instance()
    cs.store(name="train_schema", node=schema_node())
    for family in REGISTRY.values():  # each model kind's schema, named in its YAML's defaults list
        cs.store(group="model", name=family.schema_name, node=family.schema)


FREE_FORM_KEYS = ("files", "columns", "label_map")  # data.<key>: dicts whose keys the user chooses


def schema_node() -> DictConfig:
    """The TrainConfig schema with its user-keyed dicts (``FREE_FORM_KEYS``) open, so that both
    ``data.label_map.conflict=escalatory`` and ``'data.label_map={conflict: escalatory}'`` compose (Hydra's
    struct mode would otherwise demand ``+data.label_map...``)."""
    node = OmegaConf.structured(TrainConfig)
    for key in FREE_FORM_KEYS:
        OmegaConf.set_struct(node.data[key], False)
    return node


def config_dir() -> str:
    """Absolute path of the Hydra config tree: a source checkout's ``configs/`` when nlpkit runs from one (its
    configs belong to that code, also when an editable install of another checkout maps ``nlpkit.configs``),
    else the installed ``nlpkit/configs`` (a wheel ships the top-level ``configs/`` there)."""
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "configs" / "train.yaml").is_file() and (checkout / "pyproject.toml").is_file():
        return str(checkout / "configs")
    try:
        installed = Path(str(resources.files("nlpkit.configs")))
    except ModuleNotFoundError:
        installed = checkout / "configs"
    if not (installed / "train.yaml").is_file():
        raise ConfigError(f"nlpkit's config tree is missing: no train.yaml in {installed}. Fix: reinstall nlpkit.")
    return str(installed.resolve())


def model_schema(kind: str) -> type:
    """The config dataclass of model kind ``kind`` (e.g. ``tfidf_svm.v1``), from its registry entry."""
    return family_of(kind).schema


MISSING_EXAMPLES = {"task.name": "task.name=my_task", "task.labels": "'task.labels=[label_a,label_b]'"}


def validate(cfg: DictConfig) -> DictConfig:
    """Check ``cfg`` against the full schema; return it with defaults filled in.

    Raises ConfigError naming the offending key when a key is unknown (also keys added with ``+``),
    a value has the wrong type or lies outside its range or choices (``nlpkit.validation``), or a required
    value is missing.
    """
    if "model" not in cfg or cfg.model is None or "kind" not in cfg.model:
        raise ConfigError("The config has no model.kind. Fix: choose a model, e.g. `model=tfidf_logreg`.")
    schema = OmegaConf.structured(TrainConfig)
    with_model = OmegaConf.merge(schema, {"model": OmegaConf.structured(model_schema(cfg.model.kind))})
    OmegaConf.set_struct(with_model, True)
    for key in FREE_FORM_KEYS:  # user-chosen keys
        OmegaConf.set_struct(with_model.data[key], False)
    try:
        # A plain copy: a composed node keeps the keys that `+key=value` forced in, a plain dict does not.
        merged = OmegaConf.merge(with_model, OmegaConf.to_container(cfg, resolve=True))
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", None) or "?"
        raise ConfigError(
            f"Invalid config value at '{key}': {str(err).splitlines()[0]}. "
            f"Fix: check the spelling and type of '{key}' (see `nlpkit-train --cfg job` for valid keys)."
        ) from None
    missing = sorted(OmegaConf.missing_keys(merged))
    if missing:
        examples = " ".join(MISSING_EXAMPLES.get(key, f"{key}=...") for key in missing)
        raise ConfigError(
            f"Missing required config value(s): {missing}. Fix: set them on the command line, e.g. `nlpkit-train "
            f"{'task=custom ' if 'task.name' in missing else ''}{examples}`."
        )
    assert isinstance(merged, DictConfig)  # merged onto a structured (dict) schema
    check_values(merged)
    return merged


register_configs()


def compose(overrides: list[str] | None = None, config_name: str = "train") -> DictConfig:
    """Compose the training config with Hydra (as ``nlpkit-train`` would), for notebooks and tests."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    register_configs()  # also the schemas of families registered since import (a test's, a notebook's)
    if GlobalHydra.instance().is_initialized():
        return hydra_compose(config_name=config_name, overrides=list(overrides or []))
    with initialize_config_dir(version_base="1.3", config_dir=config_dir()):
        return hydra_compose(config_name=config_name, overrides=list(overrides or []))
