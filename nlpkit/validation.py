"""Range and choice checks of a composed config's values, run by ``nlpkit.config.validate`` at start-up.

The schema (``nlpkit.config``) checks keys and types when Hydra composes; this module checks what types
cannot say: ``model.C`` is positive, ``data.split.test_size`` a fraction, an enum-like string one of its
choices. Each check raises ``ConfigError`` naming the key's full name, the rule, the value got and a fix,
so a bad value fails before any data loads and before an MLflow run opens.
"""

from __future__ import annotations

import difflib
import math
import re
from typing import Any, Callable, Iterable

from omegaconf import DictConfig

from nlpkit.calibrators import METHODS as CALIBRATION_METHODS
from nlpkit.errors import ConfigError
from nlpkit.models import REGISTRY
from nlpkit.models.blend_family import BlendModelConfig
from nlpkit.models.encoder_family import EmbedModelConfig, FinetuneModelConfig
from nlpkit.models.tfidf_family import TfidfModelConfig

MAX_SEED = 2**32 - 1  # numpy and sklearn take seeds in [0, 2**32)
DEDUPE_POLICIES = ("drop", "keep", "error")
DEDUPE_ALIASES = {"true": "drop", "false": "keep"}  # the boolean `data.split.dedupe` of nlpkit <= 0.1
CLASS_WEIGHTS = ("balanced", None)
ALIAS = re.compile(r"[A-Za-z0-9_-]{1,255}")  # MLflow's rule for registered model aliases
TASK_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")  # names experiments, runs and predictors
KNOWN_FIELDS = ("id", "title", "text", "target", "topic", "stance", "escalation", "source", "split", "date")
MAX_THREADS = 256


def check_values(cfg: DictConfig) -> None:
    """Check every value of a merged config whose rule a type cannot express; raise ConfigError."""
    _check_task(cfg.task)
    _check_data(cfg.data)
    _check_columns(cfg)
    _check_model(cfg.model, "model")
    _check_validation_needed(cfg)
    _check_top(cfg)


# ---- rules: each raises ConfigError with the key, the rule, the value and a fix ---------------------------

def fail(key: str, rule: str, value: Any, fix: str) -> None:
    """Raise the one-line ConfigError every check uses."""
    raise ConfigError(f"{key} must be {rule}; got {value!r}. Fix: {fix}.")


def number(cfg: DictConfig, key: str, prefix: str, *, low: float | None = None, high: float | None = None,
           low_open: bool = False, high_open: bool = False, integer: bool = False, optional: bool = False,
           example: Any = None) -> None:
    """``cfg[key]`` is a number in the interval given by ``low``/``high`` (open or closed ends)."""
    value, full = cfg[key], f"{prefix}.{key}" if prefix else key
    if value is None and optional:
        return
    rule = ("an integer" if integer else "a float") + _interval(low, high, low_open, high_open)
    rule += " or null" if optional else ""
    fix = f"e.g. {full}={example}" if example is not None else f"set {full} within that range"
    bad_type = value is None or isinstance(value, bool) or (integer and not isinstance(value, int))
    if bad_type or (isinstance(value, float) and not math.isfinite(value)):
        fail(full, rule, value, fix)
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        fail(full, rule, value, fix)


def choice(cfg: DictConfig | dict[str, Any], key: str, prefix: str, choices: Iterable[Any]) -> None:
    """``cfg[key]`` is one of ``choices``; a near miss suggests the closest valid value."""
    value, options = cfg[key], list(choices)
    if value in options:
        return
    names = ["null" if o is None else str(o) for o in options]
    raise ConfigError(
        f"{prefix}.{key} must be one of {', '.join(names)}; got {value!r}. Fix: {suggest(value, names, f'{prefix}.{key}')}"
    )


def suggest(value: Any, names: list[str], key: str) -> str:
    """``did you mean key=closest?`` when a valid name is close to ``value``, else the list to pick from."""
    close = difflib.get_close_matches(str(value), names, n=1, cutoff=0.6)
    if close:
        return f"did you mean {key}={close[0]}?"
    return f"use one of {', '.join(names)}."


def _interval(low: float | None, high: float | None, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f" in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    if low is not None:
        return f" {'>' if low_open else '>='} {low}"
    if high is not None:
        return f" {'<' if high_open else '<='} {high}"
    return ""


# ---- sections -------------------------------------------------------------------------------------------

def _check_task(task: DictConfig) -> None:
    name = str(getattr(task.name, "value", task.name))
    if not TASK_NAME.fullmatch(name):
        fail("task.name", "a short name of letters, digits, '_', '.' or '-' (at most 64, starting with a letter or "
             "digit)", name, "e.g. task.name=un_confrontation")
    labels = list(task.labels)
    if len(labels) < 2:
        fail("task.labels", "a list of at least two labels", labels, "set the ordered label set in the task config")
    if len(set(labels)) != len(labels):
        fail("task.labels", "a list of distinct labels", labels, "list each label once")
    if not task.text_fields:
        fail("task.text_fields", "a non-empty list of column names", list(task.text_fields),
             "e.g. task.text_fields=[title,text] (the last one is the body)")


def _check_data(data: DictConfig) -> None:
    source = getattr(data.source, "value", data.source)
    if source != "embedded" and not data.path and not data.files:
        raise ConfigError(
            f"data.source={source} needs data.path (or data.files for one file per split); got none. "
            f"Fix: e.g. `nlpkit-train data={source} data.path=/path/to/your/data`."
        )
    number(data, "max_rows", "data", low=1, integer=True, optional=True, example=1000)
    bins = list(data.length_bins)
    if any(not isinstance(b, int) or b < 1 for b in bins) or bins != sorted(set(bins)):
        fail("data.length_bins", "increasing positive word counts", bins, "e.g. data.length_bins=[150,250]")
    _check_split(data.split)


def _check_columns(cfg: DictConfig) -> None:
    """Every key of ``data.columns`` is a field nlpkit reads, so a misspelt field fails here, not as a missing column."""
    split, task = cfg.data.split, cfg.task
    known = {*KNOWN_FIELDS, *task.text_fields, task.label_column, split.column, split.date_column, *cfg.data.slices,
             *group_columns(split.group_column, "data.split.group_column"),
             *group_columns(cfg.cv.group_column, "cv.group_column")}
    names = sorted(str(k) for k in known if k is not None)
    for key in cfg.data.columns:
        if str(key) not in names:
            raise ConfigError(
                f"data.columns.{key} names no field nlpkit reads; expected one of {', '.join(names)}. "
                f"Fix: {_field_hint(str(key), names)}."
            )


def _field_hint(key: str, names: list[str]) -> str:
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
    if close:
        return f"did you mean data.columns.{close[0]}=<your column>?"
    return "name one of those fields, e.g. data.columns.text=<your column>"


def group_columns(value: Any, key: str = "data.split.group_column") -> list[str]:
    """A group column setting as a list: one column (a str), several (a list), or none (null)."""
    if value is None:
        return []
    columns = [value] if isinstance(value, str) else list(value) if hasattr(value, "__iter__") else [value]
    if not columns or any(not isinstance(c, str) or not c.strip() for c in columns):
        fail(key, "a column name or a non-empty list of column names", value, f"e.g. {key}=source or {key}=[source,date]")
    return columns


def _check_validation_needed(cfg: DictConfig) -> None:
    """``data.split.validation_size=0`` leaves no validation split: refuse it where the run would need one."""
    split = cfg.data.split
    if split.validation_size > 0 or getattr(split.policy, "value", split.policy) == "predefined":
        return  # a predefined split's own validation split is used when the data has one
    if cfg.model.calibration != "none":
        fail("data.split.validation_size", f"> 0 with model.calibration={cfg.model.calibration} (the calibrator is "
             "fitted on the validation split)", 0, "e.g. data.split.validation_size=0.15, or model.calibration=none")
    tuned = cfg.model.finetune if "finetune" in cfg.model else cfg.model
    if "early_stopping" in tuned and tuned.early_stopping and tuned.validation_fraction == 0:
        fail("data.split.validation_size", "> 0 for early stopping when model.validation_fraction=0", 0,
             "set model.validation_fraction=0.1 (held out of train), model.early_stopping=false, or a validation_size")


def _check_split(split: DictConfig) -> None:
    number(split, "validation_size", "data.split", low=0, high=1, high_open=True, example=0.15)
    number(split, "test_size", "data.split", low=0, high=1, low_open=True, high_open=True, example=0.2)
    if split.validation_size + split.test_size >= 1:
        raise ConfigError(
            "data.split.validation_size + data.split.test_size must be < 1 (the rest is the training split); "
            f"got {split.validation_size} + {split.test_size}. Fix: e.g. data.split.validation_size=0.15 "
            "data.split.test_size=0.2."
        )
    number(split, "seed", "data.split", low=0, high=MAX_SEED, integer=True, example=0)
    number(split, "dedupe_threshold", "data.split", low=0, high=1, low_open=True, example=0.8)
    policy = DEDUPE_ALIASES.get(str(split.dedupe).lower(), split.dedupe)
    choice({"dedupe": policy}, "dedupe", "data.split", DEDUPE_POLICIES)
    split.dedupe = policy


def _check_top(cfg: DictConfig) -> None:
    number(cfg, "seed", "", low=0, high=MAX_SEED, integer=True, example=0)
    number(cfg.runtime, "threads", "runtime", low=1, high=MAX_THREADS, integer=True, optional=True, example=1)
    if cfg.cv.folds < 0 or cfg.cv.folds == 1:
        fail("cv.folds", "0 (off) or an integer >= 2", cfg.cv.folds, "e.g. cv.folds=5")
    uri = cfg.tracking.uri
    if uri and "://" not in uri and not uri.startswith("databricks"):
        fail("tracking.uri", "a URI such as sqlite:///path/mlflow.db or http://host:5000", uri,
             f"e.g. tracking.uri=sqlite:///{uri.rstrip('/')}/mlflow.db")
    _check_alias(cfg.tracking)


def _check_alias(tracking: DictConfig) -> None:
    """An alias needs a registered model, and a name MLflow accepts (not ``latest`` nor ``v<digits>``)."""
    alias = tracking.registered_model_alias
    if alias is None:
        return
    if not tracking.registered_model_name:
        fail("tracking.registered_model_alias", "set together with tracking.registered_model_name", alias,
             f"e.g. tracking.registered_model_name=nlpkit-escalation tracking.registered_model_alias={alias}")
    if not ALIAS.fullmatch(str(alias)) or str(alias).lower() == "latest" or re.fullmatch(r"[vV]\d+", str(alias)):
        fail("tracking.registered_model_alias", "letters, digits, '_' or '-' (not 'latest' nor v<number>)", alias,
             "e.g. tracking.registered_model_alias=champion")


# ---- model families -------------------------------------------------------------------------------------

def _check_model(model: DictConfig, prefix: str) -> None:
    choice(model, "kind", prefix, sorted(REGISTRY))
    choice(model, "calibration", prefix, CALIBRATION_METHODS)
    schema = REGISTRY[model.kind].schema
    check = next((CHECKS[base] for base in schema.__mro__ if base in CHECKS), None)
    if check is not None:  # a family without range checks relies on its schema's types
        check(model, prefix)


def _check_tfidf(model: DictConfig, prefix: str) -> None:
    _check_linear(model, prefix)
    number(model, "ngram_max", prefix, low=1, high=5, integer=True, optional=True, example=2)  # null: by length
    number(model, "min_df", prefix, low=1, integer=True, example=1)
    number(model, "max_features", prefix, low=1, integer=True, optional=True, example=50000)
    number(model, "calibration_folds", prefix, low=2, high=20, integer=True, example=3)
    number(model, "stance_cues", prefix, low=0, example=0.1)


def _check_linear(model: DictConfig, prefix: str) -> None:
    number(model, "C", prefix, low=0, low_open=True, example=1.0)
    choice(model, "class_weight", prefix, CLASS_WEIGHTS)


def _check_encoder(model: DictConfig, prefix: str) -> None:
    if not str(model.encoder).strip():
        fail(f"{prefix}.encoder", "an encoder name or directory", model.encoder, f"e.g. {prefix}.encoder=all-MiniLM-L6-v2")
    number(model, "max_length", prefix, low=8, high=8192, integer=True, example=256)
    number(model, "batch_size", prefix, low=1, high=4096, integer=True, example=16)
    number(model, "head_share", prefix, low=0, high=1, low_open=True, high_open=True, example=0.25)
    if getattr(model.long_text, "value", model.long_text) == "chunks":  # the stride is only read by that policy
        number(model, "chunk_stride", prefix, low=0, high=model.max_length // 2, high_open=True, integer=True,
               example=min(32, model.max_length // 4))
    number(model, "max_chunks", prefix, low=1, integer=True, example=8)


def _check_embed(model: DictConfig, prefix: str) -> None:
    _check_encoder(model, prefix)
    number(model, "C", prefix, low=0, low_open=True, optional=True, example=0.01)  # null: chosen by CV
    choice(model, "class_weight", prefix, CLASS_WEIGHTS)


def _check_finetune(model: DictConfig, prefix: str) -> None:
    _check_encoder(model, prefix)
    number(model, "epochs", prefix, low=1, high=1000, integer=True, example=6)
    number(model, "learning_rate", prefix, low=0, high=1, low_open=True, high_open=True, example=5e-5)
    number(model, "weight_decay", prefix, low=0, high=1, example=0.01)
    number(model, "warmup_ratio", prefix, low=0, high=1, high_open=True, example=0.1)
    number(model, "patience", prefix, low=1, integer=True, example=2)
    number(model, "validation_fraction", prefix, low=0, high=0.5, high_open=True, example=0.1)
    choice(model, "class_weight", prefix, CLASS_WEIGHTS)


def _check_blend(model: DictConfig, prefix: str) -> None:
    number(model, "encoder_weight", prefix, low=0, high=1, example=0.5)
    for member in ("finetune", "tfidf"):  # a blend is calibrated as a whole, on its averaged probabilities
        if model[member].calibration != "none":
            fail(f"{prefix}.{member}.calibration", "none (a blend is calibrated as a whole)",
                 model[member].calibration, f"set {prefix}.calibration={model[member].calibration} instead")
    _check_finetune(model.finetune, f"{prefix}.finetune")
    _check_tfidf(model.tfidf, f"{prefix}.tfidf")


# Range checks by schema class: a family whose schema derives from one of these gets its checks.
CHECKS: dict[type, Callable[[DictConfig, str], None]] = {
    TfidfModelConfig: _check_tfidf, EmbedModelConfig: _check_embed, FinetuneModelConfig: _check_finetune,
    BlendModelConfig: _check_blend,
}
