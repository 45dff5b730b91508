"""Training: ``train(cfg)`` is a plain function (call it from tests and notebooks); ``main()`` is the
thin ``nlpkit-train`` Hydra wrapper, which returns the validation macro-F1 for sweepers.
"""

from __future__ import annotations

import logging
import math
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import hydra
import numpy as np
from datasets import DatasetDict, concatenate_datasets
from omegaconf import DictConfig, OmegaConf

from nlpkit import calibrators, outputs, tracking
from nlpkit._version import __version__
from nlpkit.calibration import evaluate_calibration
from nlpkit.config import config_dir, validate
from nlpkit.data import dataset_digest, load_data, model_inputs
from nlpkit.errors import ConfigError, NlpkitError, one_line
from nlpkit.evaluate import PRIMARY_METRIC, bootstrap_ci, evaluate, prefixed, slice_table, write_artifacts
from nlpkit.models import build_model, family_of
from nlpkit.models.base import Classifier
from nlpkit.predict import Predictor
from nlpkit.splits import cv_folds, format_shares
from nlpkit.threads import apply_threads

log = logging.getLogger(__name__)


@dataclass
class TrainResult:
    """What a training job produced."""

    metrics: dict[str, float]
    predictor: Predictor
    predictor_dir: Path
    output_dir: Path
    run_id: str | None = None
    tracking_uri: str | None = None
    model_uri: str | None = None
    sizes: dict[str, int] = field(default_factory=dict)
    fit_seconds: float = 0.0

    @property
    def primary(self) -> float:
        """Validation macro-F1: the metric sweeps optimise (never the test set); NaN without a validation split."""
        return self.metrics.get(f"validation/{PRIMARY_METRIC}", math.nan)


def train(cfg: DictConfig) -> TrainResult:
    """Load data, fit the configured model, evaluate every split, log the run and save the predictor.

    With ``cv.folds >= 2`` this runs cross-validation instead (see ``cross_validate``).
    """
    cfg = validate(cfg)
    uses_torch = any("torch" in r for r in family_of(cfg.model.kind).requirements)
    cfg.runtime.threads = apply_threads(cfg.runtime.threads, use_torch=uses_torch)  # logged with the params
    if cfg.cv.folds >= 2:
        return cross_validate(cfg)
    report: dict[str, float] = {}
    with outputs.claimed(_output_dir(cfg)) as job:  # a folder another job holds is refused before data loads
        splits = _load_before_run(cfg, report)
        with tracking.start_run(cfg) as run:
            job.record_run(run)
            return fit_and_evaluate(cfg, splits, job.path, run, report)


NO_RUN = "nlpkit_no_run"  # attribute set (True) on an error raised before the job's MLflow run opened


def _load_before_run(cfg: DictConfig, report: dict[str, float] | None = None) -> DatasetDict:
    """Load the data before any MLflow run opens, so that a missing file, column or label never leaves a FAILED
    run behind; such an error gets the attribute ``NO_RUN`` (no run was logged for it)."""
    try:
        return load_data(cfg.data, cfg.task, report)
    except NlpkitError as err:
        setattr(err, NO_RUN, True)
        raise


def cross_validate(cfg: DictConfig) -> TrainResult:
    """Seeded stratified (or grouped) k-fold over train + validation: one child run per fold, the fold
    mean/sd/CI on the parent run; the test splits are evaluated by every fold's model."""
    with outputs.claimed(_output_dir(cfg)) as job:
        splits = _load_before_run(cfg)
        with tracking.start_run(cfg, suffix=f"/cv{cfg.cv.folds}") as parent:
            job.record_run(parent)
            return _cross_validate(cfg, splits, job.path, parent)


def _cross_validate(cfg: DictConfig, splits: DatasetDict, out: Path, parent: Any) -> TrainResult:
    """The folds of ``cross_validate`` under the parent run ``parent``, written under ``out``."""
    pool = concatenate_datasets([splits[name] for name in ("train", "validation") if name in splits])
    results = []
    for k, (train_idx, val_idx) in enumerate(cv_folds(pool, cfg.cv.folds, cfg.data.split.seed, cfg.cv.group_column)):
        fold = DatasetDict({**splits, "train": pool.select(train_idx), "validation": pool.select(val_idx)})
        with tracking.start_run(cfg, suffix=f"/fold{k}") as child:
            results.append(fit_and_evaluate(cfg, fold, out / f"fold{k}", child, {"cv.fold": float(k)}))
    means = {key: sum(r.metrics[key] for r in results) / len(results) for key in results[0].metrics}
    if parent is not None:
        from nlpkit.sweep import log_aggregate

        tracking.log_results(means, None)
        log_aggregate(tracking.active_uri(), parent.info.run_id)
    last = results[-1]
    return TrainResult(means, last.predictor, last.predictor_dir, out, parent.info.run_id if parent else None,
                       last.tracking_uri, None, last.sizes, sum(r.fit_seconds for r in results))


def fit_and_evaluate(cfg: DictConfig, splits: DatasetDict, out: Path, run: Any, report: dict[str, float]) -> TrainResult:
    """Fit on ``splits['train']``, evaluate the other splits, write artifacts, log the run."""
    digest = dataset_digest(concatenate_datasets(list(splits.values())))
    sizes = {name: len(part) for name, part in splits.items()}
    if run is not None:
        tracking.log_setup(cfg, digest, splits)
    model: Classifier = build_model(cfg.model, cfg.seed)
    fit_params = {}
    if model.fit_accepts_validation and "validation" in splits:  # early stopping
        fit_params["validation"] = (model_inputs(splits["validation"]), list(splits["validation"]["label"]))
    start = time.perf_counter()
    model.fit(model_inputs(splits["train"]), list(splits["train"]["label"]), **fit_params)
    fit_seconds = time.perf_counter() - start
    metrics = {"train/fit_seconds": fit_seconds, **{f"data/{k}": v for k, v in report.items()}}
    metrics.update({f"train/{k}": float(v) for k, v in model.fit_report_.items()})
    if run is not None:
        tracking.log_curves(model.training_curves())
    predictor = Predictor(model, _metadata(cfg, {}, digest))
    heldout = _heldout(model, "validation", fit_params)
    uncalibrated = {} if heldout is None else {"validation": predictor.in_label_order(heldout)}
    metrics.update(_calibrate(cfg, predictor, splits, out, uncalibrated))
    probas = {}
    for name, part in splits.items():
        if name != "train":
            split_metrics, probas[name] = _evaluate_split(cfg, predictor, name, part, out, uncalibrated.get(name))
            metrics.update(split_metrics)
    predictor.metadata = _metadata(cfg, metrics, digest)
    _store_validation(predictor, splits, probas.get("validation"), uncalibrated.get("validation"))
    predictor_dir = predictor.save(out / "predictor")
    (out / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
    result = TrainResult(metrics, predictor, predictor_dir, out, sizes=sizes, fit_seconds=fit_seconds)
    if run is not None:
        tracking.log_results(metrics, out)
        if cfg.tracking.log_model:
            result.model_uri = tracking.log_predictor(
                predictor_dir, cfg.tracking.registered_model_name,
                family_of(cfg.model.kind).runtime_needs(predictor.metadata["config"]["model"])[0],
                predictor.metadata["digest"], cfg.tracking.registered_model_alias,
            )
        result.run_id, result.tracking_uri = run.info.run_id, tracking.active_uri()
    return result


def _heldout(model: Classifier, split: str, fit_params: dict[str, Any]) -> np.ndarray | None:
    """Probabilities on the validation split from before the model trained on it (``finetune`` with
    ``refit=true``), in the model's class order; None when the final model never saw that split."""
    proba = model.heldout_validation_proba_
    return proba if split == "validation" and "validation" in fit_params else None


def _calibrate(cfg: DictConfig, predictor: Predictor, splits: DatasetDict, out: Path,
               uncalibrated: dict[str, np.ndarray]) -> dict[str, float]:
    """Fit ``model.calibration`` on the validation split's probabilities into ``predictor``; return that split's
    uncalibrated Brier/ECE for comparison. ``uncalibrated`` (split -> probabilities in label order) holds the
    held-out validation probabilities when the model trained on that split; otherwise the validation split is
    predicted here once and added to it, so that evaluating the split calibrates these instead of predicting again."""
    method = cfg.model.calibration
    if method == "none":
        return {}
    part, y_true = splits["validation"], list(splits["validation"]["label"])
    heldout = "validation" in uncalibrated
    if not heldout:
        uncalibrated["validation"] = predictor.predict_proba(model_inputs(part))  # no calibrator yet: uncalibrated
    proba = uncalibrated["validation"]
    fitted_on = {"split": "validation", "n": len(y_true), "heldout": heldout}
    predictor.calibrator = calibrators.fit(method, proba, y_true, predictor.labels, fitted_on)
    before = evaluate_calibration(out, "validation", y_true, proba, predictor.labels, suffix="_uncalibrated")
    return {f"validation/{key}_uncalibrated": value for key, value in before.items()}


def _evaluate_split(cfg: DictConfig, predictor: Predictor, name: str, part: Any, out: Path,
                    uncalibrated: np.ndarray | None = None) -> tuple[dict[str, float], np.ndarray]:
    """The split's metrics (prefixed with its name) and the predictor's probabilities on it; ``uncalibrated``:
    probabilities in label order already computed for this split (held out, or made for calibration)."""
    if uncalibrated is None:
        proba = predictor.predict_proba(model_inputs(part))
    else:
        proba = predictor.calibrated(uncalibrated)
    y_pred = [predictor.labels[i] for i in proba.argmax(axis=1)]
    write_artifacts(out, name, part, y_pred, proba, predictor.labels)
    if cfg.data.slices:
        table = slice_table(part, y_pred, predictor.labels, list(cfg.data.slices), list(cfg.data.length_bins))
        (out / "slices").mkdir(parents=True, exist_ok=True)
        table.to_csv(out / "slices" / f"{name}.csv", index=False)
    metrics = evaluate(list(part["label"]), y_pred, predictor.labels)
    low, high = bootstrap_ci(list(part["label"]), y_pred, predictor.labels)  # 95%, 1,000 resamples, seed 0
    calibration = evaluate_calibration(out, name, list(part["label"]), proba, predictor.labels)  # Brier, ECE, PNG
    return prefixed(name, {**metrics, **calibration, "macro_f1_ci_low": low, "macro_f1_ci_high": high}), proba


def _store_validation(predictor: Predictor, splits: DatasetDict, proba: np.ndarray | None,
                      uncalibrated: np.ndarray | None = None) -> None:
    """Seal the validation split's labels and probabilities and the training label counts into the predictor as
    ``validation.npz``, for ``nlpkit prevalence`` (acc/pacc/sld). With a calibrator (fitted on this split) the
    probabilities are calibrated out of fold (``calibrators.cross_fitted``), not by the map that saw their labels."""
    from nlpkit.prevalence_data import VALIDATION_FILE, record_from_split, validation_bytes

    if proba is None:
        return
    y_true = list(splits["validation"]["label"])
    if predictor.calibrator is not None and uncalibrated is not None:
        out_of_fold = calibrators.cross_fitted(predictor.calibrator.method, uncalibrated, y_true, predictor.labels)
        proba = proba if out_of_fold is None else out_of_fold
    record = record_from_split(predictor.labels, y_true, proba, list(splits["train"]["label"]))
    predictor.data_files[VALIDATION_FILE] = validation_bytes(record)  # sealed by predictor.save


def format_results(result: TrainResult) -> str:
    """A plain-text results table plus where the run and the model are."""
    meta = result.predictor.metadata
    splits = [s for s in ("validation", "test", "test_ood") if f"{s}/macro_f1" in result.metrics]
    splits += sorted({k.split("/")[0] for k in result.metrics if k.endswith("/macro_f1")} - set(splits))
    lines = [f"nlpkit {__version__} | task={meta['task']} model={meta['model_kind']} seed={meta['seed']}", ""]
    lines.append(f"{'split':<12}{'n':>6}{'accuracy':>10}{'macro_f1':>10}")
    for s in splits:
        m = result.metrics
        lines.append(f"{s:<12}{int(m[f'{s}/n']):>6}{m[f'{s}/accuracy']:>10.3f}{m[f'{s}/macro_f1']:>10.3f}")
    lines += ["", "per-class F1 (test): " + ", ".join(
        f"{label}={result.metrics[f'test/f1/{label}']:.3f}" for label in result.predictor.labels)]
    lines.append(f"data: {format_shares(result.sizes)}")
    lines.append(f"fit time: {result.fit_seconds:.1f} s on {result.sizes.get('train', 0)} training documents")
    lines.append(f"predictor saved to: {result.predictor_dir}")
    if result.run_id:
        model = result.model_uri or "not logged (tracking.log_model=false)"
        lines += [f"MLflow run: {result.run_id} (store: {result.tracking_uri})", f"MLflow model: {model}"]
        from nlpkit.tracking_ui import browse_line

        lines.append(browse_line(str(result.tracking_uri), result.run_id))
    return "\n".join(lines)


def _metadata(cfg: DictConfig, metrics: dict[str, float], digest: str) -> dict[str, Any]:
    return {
        "nlpkit_version": __version__,
        "task": tracking._task(cfg),
        "labels": list(cfg.task.labels),
        "text_fields": list(cfg.task.text_fields),
        "target_field": cfg.task.target_field,
        "model_kind": cfg.model.kind,
        "seed": cfg.seed,
        "metrics": metrics,
        "dataset": {"name": cfg.data.name, "digest": digest},
        "config": OmegaConf.to_container(cfg, resolve=True, enum_to_str=True),
        "created": datetime.now().isoformat(timespec="seconds"),
    }


def _output_dir(cfg: DictConfig) -> Path:
    """Where the job writes: ``output_dir``, else Hydra's (unique) job dir, else a unique ./nlpkit-outputs/
    folder. ``outputs.claimed`` then makes it the job's own."""
    if cfg.output_dir:
        return Path(cfg.output_dir).resolve()
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        return Path(HydraConfig.get().runtime.output_dir)
    return Path("nlpkit-outputs", outputs.unique_name()).resolve()


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="train")
def _hydra_main(cfg: DictConfig) -> float:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from nlpkit.console import quiet

    quiet(bool(OmegaConf.select(cfg, "tracking.verbose", default=False)))
    try:
        result = train(cfg)
    except Exception as err:
        if HydraConfig.get().mode != RunMode.MULTIRUN:
            _exit_on_nlpkit_error(err)
            raise
        _log_failed_job(cfg, err)
        return math.nan
    print(format_results(result), flush=True)
    return result.primary


def _exit_on_nlpkit_error(err: Exception) -> None:
    """A single run's nlpkit error is the user's to fix: print it as one ``error: ...`` line on stderr and
    exit with status 1 (``HYDRA_FULL_ERROR=1`` keeps Hydra's full traceback). Other errors go on to Hydra."""
    if isinstance(err, NlpkitError) and os.environ.get("HYDRA_FULL_ERROR") != "1":
        print(f"error: {one_line(err)}", file=sys.stderr, flush=True)
        sys.exit(1)


def _log_failed_job(cfg: DictConfig, err: Exception) -> None:
    """In a sweep one failing job must not abort the others. A config error is raised before any run opens
    and is counted by ``tracking.record_config_error``; any other error has ended the
    job's run FAILED. nlpkit's errors are logged as one line, others with their traceback."""
    message = one_line(err)
    if isinstance(err, ConfigError) or getattr(err, NO_RUN, False):
        tracking.record_config_error(cfg, err)
        log.error("job skipped, its config or data is invalid (no MLflow run): %s", message)
    elif isinstance(err, NlpkitError):
        log.error("job failed; its MLflow run is marked FAILED and the sweep continues: %s", message)
    else:
        log.exception("job failed; its MLflow run is marked FAILED and the sweep continues")


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> None:
    """Entry point of ``nlpkit-train``: SIGTERM and SIGHUP end the MLflow run KILLED, like Ctrl-C."""
    for name in ("SIGTERM", "SIGHUP"):  # SIGHUP: the terminal closed; absent on Windows
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), _terminate)
    _hydra_main()
