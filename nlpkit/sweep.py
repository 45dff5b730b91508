"""Sweeps as one MLflow tree: a Hydra callback opens a parent run for every multirun, each job becomes
its child (in whatever process or launcher runs it), and the parent gets per-configuration aggregates.

The parent's id is written to ``<sweep dir>/nlpkit_sweep.json``; jobs find it by walking up from their
output directory (MLflow's own nesting only works inside one process).
"""

from __future__ import annotations

import atexit
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

import nlpkit
from nlpkit.stats import summarize

SWEEP_FILE = "nlpkit_sweep.json"
AGGREGATED = ("test/macro_f1", "test/accuracy", "validation/macro_f1", "test_ood/macro_f1")
SEED_KEYS = ("seed",)


class MlflowSweepCallback(Callback):
    """Open the sweep's parent run on multirun start; aggregate the children and close it at the end."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if not config.tracking.enabled:
            return
        from mlflow.tracking import MlflowClient

        from nlpkit import tracking

        uri = tracking.resolve_uri(config.tracking.uri)
        client = MlflowClient(uri)
        overrides = [str(o) for o in config.hydra.overrides.task]
        name = config.tracking.experiment or _sweep_experiment(config, overrides)
        experiment = client.get_experiment_by_name(name)
        experiment_id = experiment.experiment_id if experiment else client.create_experiment(name)
        run = client.create_run(experiment_id, run_name=f"sweep/{name}/{datetime.now():%Y-%m-%d_%H-%M-%S}", tags={
            "nlpkit.sweep": "true", "nlpkit.version": nlpkit.__version__,
            "mlflow.source.git.commit": tracking.git_commit(),
            "nlpkit.sweeper": str(config.hydra.sweeper.get("_target_", "")),
            "nlpkit.launcher": str(config.hydra.launcher.get("_target_", "")),
        })
        client.log_param(run.info.run_id, "sweep.overrides", " ".join(overrides)[: tracking.MAX_PARAM_VALUE])
        sweep_dir = Path(str(config.hydra.sweep.dir))
        sweep_dir.mkdir(parents=True, exist_ok=True)
        info = {"parent_run_id": run.info.run_id, "experiment_id": experiment_id, "tracking_uri": uri}
        (sweep_dir / SWEEP_FILE).write_text(json.dumps(info))
        atexit.register(_kill_if_running, uri, run.info.run_id)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        path = Path(str(config.hydra.sweep.dir)) / SWEEP_FILE
        if not config.tracking.enabled or not path.is_file():
            return
        info = json.loads(path.read_text())
        close_parent(info["tracking_uri"], info["parent_run_id"])


def close_parent(uri: str, parent_id: str) -> list[dict[str, Any]]:
    """Aggregate the parent's children onto it (metrics + table artifacts) and end it FINISHED."""
    from mlflow.tracking import MlflowClient

    rows = log_aggregate(uri, parent_id)
    MlflowClient(uri).set_terminated(parent_id, "FINISHED")
    return rows


def log_aggregate(uri: str, parent_id: str) -> list[dict[str, Any]]:
    """Log the per-configuration aggregate of the parent's children as its metrics and table artifacts."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    rows = aggregate(client, parent_id)
    metrics = {f"{slug(r['config'])}/{key}": value for r in rows for key, value in r["metrics"].items()}
    metrics["sweep/n_jobs"] = float(sum(r["n_ok"] + r["n_failed"] for r in rows))
    metrics["sweep/n_failed"] = float(sum(r["n_failed"] for r in rows))
    for key, value in metrics.items():
        client.log_metric(parent_id, key, value)
    client.log_text(parent_id, markdown_table(rows), "aggregate.md")
    client.log_text(parent_id, json.dumps(rows, indent=2), "aggregate.json")
    return rows


def aggregate(client: Any, parent_id: str, metric_keys: tuple[str, ...] = AGGREGATED) -> list[dict[str, Any]]:
    """One row per configuration (child runs grouped by overrides minus the seed): mean, sd and 95% CI of
    each metric over the FINISHED children, and how many children did not finish."""
    parent = client.get_run(parent_id)
    children = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent_id}'",
                                  max_results=5000)
    keys = varying_keys([json.loads(c.data.tags.get("nlpkit.overrides", "[]")) for c in children])
    groups: dict[str, list[Any]] = {}
    for child, key in zip(children, keys):
        groups.setdefault(key, []).append(child)
    rows = []
    for config, runs in sorted(groups.items()):
        done = [r for r in runs if r.info.status == "FINISHED"]
        row: dict[str, Any] = {"config": config, "n_ok": len(done), "n_failed": len(runs) - len(done),
                               "failed_runs": [r.info.run_id for r in runs if r.info.status != "FINISHED"],
                               "metrics": {}}
        for key in metric_keys:
            values = [r.data.metrics[key] for r in done if key in r.data.metrics]
            if values:
                s = summarize(values)
                row["metrics"].update({f"{key}/mean": s.mean, f"{key}/sd": s.sd, f"{key}/ci_low": s.ci_low,
                                       f"{key}/ci_high": s.ci_high, f"{key}/n": float(s.n)})
        rows.append(row)
    return rows


def markdown_table(rows: list[dict[str, Any]], keys: tuple[str, ...] = ("test/macro_f1", "test/accuracy")) -> str:
    """The aggregate as a markdown table: mean ± sd [95% CI] per metric, with job counts."""
    head = "| configuration | jobs ok | jobs failed | " + " | ".join(f"{k} mean ± sd [95% CI]" for k in keys) + " |"
    lines = [head, "|---|---:|---:|" + "---:|" * len(keys)]
    for r in rows:
        cells = []
        for k in keys:
            m = r["metrics"]
            cells.append(f"{m[k + '/mean']:.3f} ± {m[k + '/sd']:.3f} [{m[k + '/ci_low']:.3f}, {m[k + '/ci_high']:.3f}]"
                         if f"{k}/mean" in m else "n/a")
        lines.append(f"| {r['config']} | {r['n_ok']} | {r['n_failed']} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def varying_keys(overrides: list[list[str]]) -> list[str]:
    """Each job's configuration key: its overrides without the seed and without the overrides that every
    job shares (so the key names only what the sweep varies)."""
    common = set.intersection(*(set(o) for o in overrides)) if overrides else set()
    return [config_key([o for o in job if o not in common]) for job in overrides]


def slug(config_key: str) -> str:
    """A metric-name-safe form of a configuration key (MLflow allows [A-Za-z0-9_-. ] and / as separator)."""
    return re.sub(r"[^A-Za-z0-9_\-.]", "-", config_key.replace("=", "-").replace(" ", ".")) or "default"


def config_key(overrides: list[str]) -> str:
    """The job's overrides without the seed: the configuration its seeds are grouped under."""
    kept = sorted(o for o in overrides if o.split("=", 1)[0].lstrip("+~") not in SEED_KEYS)
    return " ".join(kept) or "(default)"


def find_sweep(output_dir: Path, levels: int = 4) -> dict[str, Any] | None:
    """The sweep info written by the callback, found in ``output_dir`` or one of its parents."""
    for directory in [output_dir, *output_dir.parents][: levels + 1]:
        if (directory / SWEEP_FILE).is_file():
            return json.loads((directory / SWEEP_FILE).read_text())
    return None


def _sweep_experiment(config: DictConfig, overrides: list[str]) -> str:
    swept_task = any(o.startswith("task=") and "," in o for o in overrides)
    name = config.task.name
    return "sweeps" if swept_task else (name.value if hasattr(name, "value") else str(name))


def _kill_if_running(uri: str, run_id: str) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    if client.get_run(run_id).info.status == "RUNNING":
        client.set_terminated(run_id, "KILLED")
