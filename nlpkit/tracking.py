"""Everything MLflow: where the store is, the run's lifetime, params, metrics, tags, artifacts, the model.

A run always ends: FINISHED on success, KILLED on Ctrl-C / SIGTERM, FAILED on any other exception; a run whose
process was killed outright (kill -9, the OOM killer) is marked FAILED by the next nlpkit command that opens
the store (``nlpkit.store``). Every run records its process (``nlpkit.procs.process_tags``).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from omegaconf import DictConfig, OmegaConf

from nlpkit._version import __version__
from nlpkit.errors import NlpkitError
from nlpkit.predictor_files import folder_digest
from nlpkit.procs import process_tags
from nlpkit.store import experiment_id, launch_dir, open_store, resolve_uri  # noqa: F401  (launch_dir, resolve_uri: re-exported)
from nlpkit.tracking_ui import data_label, headline_first, prepare_experiment, source_of

MAX_PARAM_VALUE = 6000


def job_context() -> tuple[list[str], dict[str, Any] | None]:
    """The Hydra job's command-line overrides and, inside a multirun, the sweep's parent-run info."""
    try:
        from hydra.core.hydra_config import HydraConfig
        from hydra.types import RunMode
    except ImportError:  # pragma: no cover - hydra is a dependency
        return [], None
    if not HydraConfig.initialized():
        return [], None
    hydra_cfg = HydraConfig.get()
    overrides = [str(o) for o in hydra_cfg.overrides.task]
    if hydra_cfg.mode != RunMode.MULTIRUN:
        return overrides, None
    from nlpkit.sweep_state import find_sweep

    return overrides, find_sweep(Path(hydra_cfg.runtime.output_dir))


def active_uri() -> str:
    """The store the open run is logged to (a sweep job's may come from the sweep, not its own config)."""
    import mlflow

    return mlflow.get_tracking_uri()


def run_name(cfg: DictConfig, overrides: list[str] | None = None, sweep: dict[str, Any] | None = None) -> str:
    """The config's ``tracking.run_name``, else a name whose first part tells the run apart (data, model, the
    overrides that differ, seed; in a sweep the swept overrides first): see ``nlpkit.tracking_ui.run_name``."""
    if cfg.tracking.run_name:
        return cfg.tracking.run_name
    from nlpkit.tracking_ui import run_name as ui_name

    return ui_name(cfg, overrides or [], sweep.get("swept", []) if sweep else None)


@contextmanager
def start_run(cfg: DictConfig, suffix: str = "") -> Iterator[Any]:
    """Open the job's MLflow run (or yield None when tracking is off) and always end it with a status.

    Inside a Hydra multirun the run becomes a child of the sweep's parent run (see nlpkit.sweep); a run
    opened while another is active (cross-validation folds) is nested under it.
    """
    if not cfg.tracking.enabled:
        yield None
        return
    import mlflow

    from nlpkit.sweep_state import config_key

    overrides, sweep = job_context()
    tags = {"nlpkit.overrides": json.dumps(overrides), "nlpkit.config_key": config_key(overrides), **process_tags()}
    nested = mlflow.active_run() is not None
    if sweep and not nested:
        open_store(sweep["tracking_uri"])
        mlflow.set_tracking_uri(sweep["tracking_uri"])
        mlflow.set_experiment(experiment_id=sweep["experiment_id"])
        tags["mlflow.parentRunId"] = sweep["parent_run_id"]
    elif not nested:
        uri = resolve_uri(cfg.tracking.uri)
        client = open_store(uri)
        mlflow.set_tracking_uri(uri)
        experiment = experiment_id(client, cfg.tracking.experiment or _task(cfg))
        prepare_experiment(client, experiment)
        mlflow.set_experiment(experiment_id=experiment)
    run = mlflow.start_run(run_name=run_name(cfg, overrides, sweep) + suffix, nested=nested, tags=tags)
    try:
        yield run
    except (KeyboardInterrupt, SystemExit) as err:
        mlflow.set_tag("nlpkit.error", f"{type(err).__name__}: interrupted")
        mlflow.end_run("KILLED")
        raise
    except BaseException as err:
        mlflow.set_tag("nlpkit.error", f"{type(err).__name__}: {err}"[:5000])
        mlflow.end_run("FAILED")
        raise
    else:
        mlflow.end_run("FINISHED")


def record_config_error(cfg: DictConfig, err: BaseException) -> None:
    """Inside a sweep, record a job whose config is invalid in the sweep directory (no MLflow run: a config
    error never opens one); the sweep's parent counts it (``sweep/n_config_errors``)."""
    from hydra.core.hydra_config import HydraConfig

    from nlpkit.sweep_state import record_config_error as record

    if HydraConfig.initialized():
        overrides, _ = job_context()
        record(Path(HydraConfig.get().sweep.dir), overrides, err)


def log_setup(cfg: DictConfig, digest: str, splits: Any) -> None:
    """Params (the flattened resolved config), tags (git commit, version, dataset digest), split sizes, and
    each split as an MLflow dataset input (the runs table's Dataset column)."""
    import mlflow

    from nlpkit.data import dataset_digest
    from nlpkit.tracking_ui import log_datasets

    where = source_of(cfg.data)

    mlflow.log_params(flatten(cfg))
    mlflow.set_tags({
        "task": _task(cfg),
        "model.kind": cfg.model.kind,
        "nlpkit.version": __version__,
        "mlflow.source.git.commit": git_commit(),
        "dataset.name": cfg.data.name,
        "dataset.digest": digest,
        "dataset.source": where,
    })
    mlflow.log_params({f"data.n_{name}": len(part) for name, part in splits.items()})
    log_datasets(splits, data_label(cfg.data), where, {name: dataset_digest(part) for name, part in splits.items()})


def log_results(metrics: dict[str, float], artifact_dir: Path | None) -> None:
    """Metrics and the files in ``artifact_dir`` (config, reports, plots, predictions)."""
    import mlflow

    mlflow.log_metrics(headline_first(metrics))  # MLflow's compare view opens on a run's first-logged metric
    if artifact_dir is not None:
        mlflow.log_artifacts(str(artifact_dir))


def log_curves(curves: dict[str, list[dict[str, float]]]) -> None:
    """Log a model's training curves into the active run: ``<prefix><metric>`` with ``step`` = the row's epoch."""
    import mlflow

    for prefix, rows in curves.items():
        for row in rows:
            step = int(row["epoch"])
            mlflow.log_metrics({f"{prefix}{k}": float(v) for k, v in row.items() if k != "epoch"}, step=step)


def log_predictor(predictor_dir: Path, registered_name: str | None, requirements: tuple[str, ...],
                  digest: str, alias: str | None = None) -> str:
    """Log the saved predictor as an MLflow pyfunc model (from code, no pickle) and return its URI.

    The model carries a signature and an input example (``nlpkit.mlflow_schema``), nlpkit's own wheel and
    requirements that install outside this environment (``nlpkit.model_env``). With ``registered_name`` the
    model is registered; ``alias`` (e.g. ``champion``) then points at the new version (``models:/NAME@ALIAS``).
    The run gets the tag ``nlpkit.predictor_digest`` (``digest``: the seal ``Predictor.save`` recorded); the
    logged copy is read back and must be byte-identical to ``predictor_dir``.
    """
    import mlflow

    from nlpkit import mlflow_schema, model_env
    from nlpkit.predictor_files import read_metadata

    code = Path(__file__).with_name("mlflow_model.py")
    metadata = read_metadata(predictor_dir)
    with tempfile.TemporaryDirectory(prefix="nlpkit-wheel-") as tmp, _no_progress_bars():
        wheel = model_env.build_wheel(Path(tmp))
        info = mlflow.pyfunc.log_model(
            name="model",
            python_model=str(code),
            artifacts={"predictor": str(predictor_dir), "nlpkit_wheel": str(wheel)},
            pip_requirements=model_env.requirements(requirements, f"artifacts/{wheel.name}"),
            signature=mlflow_schema.signature(metadata),
            input_example=mlflow_schema.input_example(metadata),
            registered_model_name=registered_name,
        )
    if registered_name and alias:
        mlflow.MlflowClient().set_registered_model_alias(registered_name, alias, info.registered_model_version)
    run = mlflow.active_run()
    if run is None:
        return info.model_uri
    mlflow.set_tag("nlpkit.predictor_digest", digest)
    uri = f"runs:/{run.info.run_id}/model"
    verify_logged_predictor(uri, predictor_dir)
    return uri


def verify_logged_predictor(model_uri: str, predictor_dir: Path) -> None:
    """Raise NlpkitError unless the predictor inside ``model_uri`` has exactly the files of ``predictor_dir``."""
    import mlflow

    with tempfile.TemporaryDirectory(prefix="nlpkit-verify-") as tmp, _no_progress_bars():
        logged = Path(mlflow.artifacts.download_artifacts(artifact_uri=f"{model_uri}/artifacts/predictor",
                                                          dst_path=tmp))
        got, expected = folder_digest(logged), folder_digest(predictor_dir)
    if got != expected:
        raise NlpkitError(
            f"The predictor logged at {model_uri} is not the one this job saved in {predictor_dir} (sha256 of its "
            f"files {got[:12]}, expected {expected[:12]}). Fix: make sure no other process writes into this "
            "job's output_dir or artifact store location, then rerun."
        )


@contextmanager
def _no_progress_bars() -> Iterator[None]:
    """Keep MLflow's download progress bars out of the job's output while it reads its model back."""
    key = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"
    before = os.environ.get(key)
    os.environ[key] = "false"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = before


def flatten(cfg: DictConfig) -> dict[str, str]:
    """``{"model.C": "0.5", ...}``: stable dotted names; lists as JSON; values cut to MLflow's limit."""
    flat: dict[str, str] = {}

    def walk(node: Any, prefix: str) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, f"{prefix}{key}.")
            if not node and prefix:
                flat[prefix[:-1]] = "{}"
            return
        value = json.dumps(node) if isinstance(node, list) else str(node)
        flat[prefix[:-1]] = value[:MAX_PARAM_VALUE]

    walk(OmegaConf.to_container(cfg, resolve=True, enum_to_str=True), "")
    return flat


def git_commit() -> str:
    """The commit of the launch directory's git checkout, or ``unknown``."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=launch_dir(), capture_output=True, text=True, timeout=5, check=True
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _task(cfg: DictConfig) -> str:
    return str(cfg.task.name)  # a plain string in the schema (task=custom names any task)
