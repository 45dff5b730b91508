"""Training: ``train(cfg)`` is a plain function (call it from tests and notebooks); ``main()`` is the
thin ``nlpkit-train`` Hydra wrapper, which returns the validation macro-F1 for sweepers.
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

import nlpkit
from nlpkit import tracking
from nlpkit.config import config_dir, validate
from nlpkit.data import dataset_digest, load_data, model_inputs
from nlpkit.evaluate import PRIMARY_METRIC, evaluate, prefixed, write_artifacts
from nlpkit.models import build_model, family_of
from nlpkit.predict import Predictor


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
        """Validation macro-F1: the metric sweeps optimise (never the test set)."""
        return self.metrics[f"validation/{PRIMARY_METRIC}"]


def train(cfg: DictConfig) -> TrainResult:
    """Load data, fit the configured model, evaluate every split, log the run and save the predictor."""
    cfg = validate(cfg)
    out = _output_dir(cfg)
    with tracking.start_run(cfg) as run:
        splits = load_data(cfg.data, cfg.task)
        digest = dataset_digest(_whole(splits))
        sizes = {name: len(part) for name, part in splits.items()}
        if run is not None:
            tracking.log_setup(cfg, digest, cfg.data.name, sizes)
        model = build_model(cfg.model, cfg.seed)
        start = time.perf_counter()
        model.fit(model_inputs(splits["train"]), list(splits["train"]["label"]))
        fit_seconds = time.perf_counter() - start
        metrics = {"train/fit_seconds": fit_seconds}
        predictor = Predictor(model, _metadata(cfg, {}, digest))
        for name, part in splits.items():
            if name == "train":
                continue
            proba = predictor.predict_proba(model_inputs(part))
            y_pred = [predictor.labels[i] for i in proba.argmax(axis=1)]
            metrics.update(prefixed(name, evaluate(list(part["label"]), y_pred, predictor.labels)))
            write_artifacts(out, name, part, y_pred, proba, predictor.labels)
        predictor.metadata = _metadata(cfg, metrics, digest)
        predictor_dir = predictor.save(out / "predictor")
        (out / "config.yaml").write_text(OmegaConf.to_yaml(cfg))
        result = TrainResult(metrics, predictor, predictor_dir, out, sizes=sizes, fit_seconds=fit_seconds)
        if run is not None:
            tracking.log_results(metrics, out)
            if cfg.tracking.log_model:
                result.model_uri = tracking.log_predictor(
                    predictor_dir, cfg.tracking.registered_model_name, family_of(cfg.model.kind).requirements
                )
            result.run_id, result.tracking_uri = run.info.run_id, tracking.resolve_uri(cfg.tracking.uri)
    return result


def format_results(result: TrainResult) -> str:
    """A plain-text results table plus where the run and the model are."""
    meta = result.predictor.metadata
    splits = [s for s in ("validation", "test", "test_ood") if f"{s}/macro_f1" in result.metrics]
    splits += sorted({k.split("/")[0] for k in result.metrics} - set(splits) - {"train"})
    lines = [f"nlpkit {nlpkit.__version__} | task={meta['task']} model={meta['model_kind']} seed={meta['seed']}", ""]
    lines.append(f"{'split':<12}{'n':>6}{'accuracy':>10}{'macro_f1':>10}")
    for s in splits:
        m = result.metrics
        lines.append(f"{s:<12}{int(m[f'{s}/n']):>6}{m[f'{s}/accuracy']:>10.3f}{m[f'{s}/macro_f1']:>10.3f}")
    lines += ["", "per-class F1 (test): " + ", ".join(
        f"{label}={result.metrics[f'test/f1/{label}']:.3f}" for label in result.predictor.labels)]
    lines.append(f"fit time: {result.fit_seconds:.1f} s on {result.sizes.get('train', 0)} training documents")
    lines.append(f"predictor saved to: {result.predictor_dir}")
    if result.run_id:
        lines += [f"MLflow run: {result.run_id} (store: {result.tracking_uri})", f"MLflow model: {result.model_uri}"]
        lines.append(f"browse: mlflow ui --backend-store-uri {result.tracking_uri}")
    return "\n".join(lines)


def _metadata(cfg: DictConfig, metrics: dict[str, float], digest: str) -> dict[str, Any]:
    return {
        "nlpkit_version": nlpkit.__version__,
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


def _whole(splits: Any) -> Any:
    from datasets import concatenate_datasets

    return concatenate_datasets(list(splits.values()))


def _output_dir(cfg: DictConfig) -> Path:
    if cfg.output_dir:
        return Path(cfg.output_dir).resolve()
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        return Path(HydraConfig.get().runtime.output_dir)
    return Path("nlpkit-outputs", datetime.now().strftime("%Y-%m-%d_%H-%M-%S-%f")).resolve()


@hydra.main(version_base="1.3", config_path=config_dir(), config_name="train")
def _hydra_main(cfg: DictConfig) -> float:
    result = train(cfg)
    print(format_results(result), flush=True)
    return result.primary


def _terminate(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main() -> None:
    """Entry point of ``nlpkit-train``: SIGTERM ends the MLflow run KILLED, like Ctrl-C."""
    signal.signal(signal.SIGTERM, _terminate)
    _hydra_main()
