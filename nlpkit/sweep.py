"""Sweeps as one MLflow tree: a Hydra callback opens a parent run for every multirun, each job becomes
its child (in whatever process or launcher runs it), and the parent gets per-configuration aggregates.

The parent's id is written to ``<sweep dir>/nlpkit_sweep.json``; jobs find it by walking up from their
output directory (MLflow's own nesting only works inside one process). A job whose config is invalid opens
no run: it is recorded in ``<sweep dir>/nlpkit_config_errors.jsonl`` and counted by the parent
(``sweep/n_config_errors`` and the ``config_errors.json`` artifact). When the sweep is interrupted (Ctrl-C,
SIGTERM) the parent and every child still RUNNING end KILLED.
"""

from __future__ import annotations

import atexit
import json
import os
import re
from datetime import datetime
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from nlpkit._version import __version__
from nlpkit.stats import summarize
from nlpkit.sweep_state import (  # noqa: F401  (re-exported: the sweep state lives with tracking)
    CONFIG_ERRORS_FILE, SEED_KEYS, SWEEP_FILE, config_errors, config_key, find_sweep, record_config_error,
)

AGGREGATED = ("test/macro_f1", "test/accuracy", "validation/macro_f1", "test_ood/macro_f1")


class MlflowSweepCallback(Callback):
    """Open the sweep's parent run on multirun start; aggregate the children and close it at the end."""

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if not config.tracking.enabled:
            return
        from nlpkit.console import quiet

        quiet(bool(config.tracking.get("verbose", False)))
        from nlpkit import tracking
        from nlpkit.procs import process_tags
        from nlpkit.store import experiment_id, open_store, resolve_uri
        from nlpkit.tracking_ui import prepare_experiment, swept_keys

        sweep_file = _claim_sweep_dir(Path(str(config.hydra.sweep.dir)))
        uri = resolve_uri(config.tracking.uri)
        client = open_store(uri)
        overrides = [str(o) for o in config.hydra.overrides.task]
        name = config.tracking.experiment or _sweep_experiment(config, overrides)
        experiment = experiment_id(client, name)
        swept = swept_keys(overrides)
        run = client.create_run(experiment, run_name=f"sweep {' '.join(swept) or name} {datetime.now():%m-%d %H:%M}", tags={
            "nlpkit.sweep": "true", "nlpkit.version": __version__,
            "mlflow.source.git.commit": tracking.git_commit(),
            "nlpkit.sweeper": str(config.hydra.sweeper.get("_target_", "")),
            "nlpkit.launcher": str(config.hydra.launcher.get("_target_", "")), **process_tags(),
        })
        prepare_experiment(client, experiment)
        atexit.register(end_interrupted, uri, run.info.run_id)
        client.log_param(run.info.run_id, "sweep.overrides", " ".join(overrides)[: tracking.MAX_PARAM_VALUE])
        info = {"parent_run_id": run.info.run_id, "experiment_id": experiment, "tracking_uri": uri, "swept": swept}
        sweep_file.write_text(json.dumps(info))
        print(f"MLflow sweep parent run: {run.info.run_id} (experiment {name!r}, store: {uri})", flush=True)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        path = Path(str(config.hydra.sweep.dir)) / SWEEP_FILE
        if not config.tracking.enabled or not path.is_file():
            return
        info = json.loads(path.read_text())
        rows = close_parent(info["tracking_uri"], info["parent_run_id"], path.parent)
        print(sweep_summary(info, [r["config"] for r in rows]), flush=True)


def sweep_summary(info: dict[str, Any], configs: list[str]) -> str:
    """What to run next for a finished sweep: its parent run id, ``nlpkit report`` and ``compare --sweep``, the UI."""
    from nlpkit.tracking_ui import view_url

    parent, uri = info["parent_run_id"], info["tracking_uri"]
    a, b = configs[:2] if len(configs) >= 2 else ("A=...", "B=...")
    return "\n".join([
        f"MLflow sweep parent run: {parent}",
        f"aggregate: nlpkit report {parent} --tracking-uri {uri}",
        f"compare two configurations: nlpkit compare --sweep {parent} '{a}' '{b}' --tracking-uri {uri}",
        f"browse: {view_url(uri, info['experiment_id'])} (after: mlflow ui --backend-store-uri {uri})"
        if not uri.startswith("http") else f"browse: {view_url(uri, info['experiment_id'])}",
    ])


def close_parent(uri: str, parent_id: str, sweep_dir: Path | None = None) -> list[dict[str, Any]]:
    """Aggregate the parent's children onto it (metrics + table artifacts) and end it FINISHED."""
    from nlpkit.store import open_store

    rows = log_aggregate(uri, parent_id, sweep_dir)
    open_store(uri).set_terminated(parent_id, "FINISHED")
    return rows


def log_aggregate(uri: str, parent_id: str, sweep_dir: Path | None = None) -> list[dict[str, Any]]:
    """Log the per-configuration aggregate of the parent's children as its metrics and table artifacts.

    ``sweep/n_jobs`` counts every job: runs that finished, runs that failed (``sweep/n_failed``) and jobs
    whose config was invalid, which opened no run (``sweep/n_config_errors``, read from ``sweep_dir``).
    """
    from nlpkit.store import open_store

    client = open_store(uri, reap=False)
    rows = aggregate(client, parent_id)
    errors = config_errors(sweep_dir) if sweep_dir else []
    metrics = {f"{slug(r['config'])}/{key}": value for r in rows for key, value in r["metrics"].items()}
    metrics["sweep/n_jobs"] = float(sum(r["n_ok"] + r["n_failed"] for r in rows) + len(errors))
    metrics["sweep/n_failed"] = float(sum(r["n_failed"] for r in rows))
    metrics["sweep/n_config_errors"] = float(len(errors))
    for key, value in metrics.items():
        client.log_metric(parent_id, key, value)
    client.log_text(parent_id, markdown_table(rows) + _errors_section(errors), "aggregate.md")
    client.log_text(parent_id, json.dumps(rows, indent=2), "aggregate.json")
    if errors:
        client.log_text(parent_id, json.dumps(errors, indent=2), "config_errors.json")
    return rows


def _errors_section(errors: list[dict[str, Any]]) -> str:
    if not errors:
        return ""
    lines = ["", f"{len(errors)} job(s) had an invalid config and opened no run:", ""]
    return "\n".join(lines + [f"- `{' '.join(e['overrides'])}`: {e['error']}" for e in errors]) + "\n"


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
                                       f"{key}/ci_high": s.ci_high, f"{key}/n": float(s.n),
                                       f"{key}/distinct": float(s.distinct)})
        row["seed_effect"] = seed_effect(row["metrics"], metric_keys)
        rows.append(row)
    return rows


def seed_effect(metrics: dict[str, float], keys: tuple[str, ...]) -> str:
    """``none`` when several seeds gave identical values of every metric (the seed changed neither the model
    nor the split), ``yes`` when some metric varied, ``n/a`` with fewer than two seeds."""
    counts = [(metrics[f"{k}/n"], metrics.get(f"{k}/distinct", 2.0)) for k in keys if f"{k}/n" in metrics]
    if not counts or max(n for n, _ in counts) < 2:
        return "n/a"
    return "none" if all(d == 1 for _, d in counts) else "yes"


def markdown_table(rows: list[dict[str, Any]], keys: tuple[str, ...] = ("test/macro_f1", "test/accuracy")) -> str:
    """The aggregate as a markdown table: mean ± sd [95% CI] per metric, with job counts and the number of
    distinct results among the seeds (of the first metric); a metric on which every seed agreed shows
    "n/a: all seeds identical" instead of a zero-width CI, and a warning line under the table says why."""
    head = ("| configuration | jobs ok | jobs failed | " + " | ".join(f"{k} mean ± sd [95% CI]" for k in keys)
            + " | distinct results |")
    lines = [head, "|---|---:|---:|" + "---:|" * len(keys) + "---:|"]
    warnings = []
    for r in rows:
        m = r["metrics"]
        cells = [_cell(m, k) for k in keys]
        distinct = f"{m[keys[0] + '/distinct']:.0f} of {m[keys[0] + '/n']:.0f}" if f"{keys[0]}/distinct" in m else "n/a"
        lines.append(f"| {r['config']} | {r['n_ok']} | {r['n_failed']} | " + " | ".join(cells) + f" | {distinct} |")
        if seed_effect(m, keys) == "none":
            warnings.append(
                f"warning: {r['config']}: all {m[keys[0] + '/n']:.0f} seeds gave identical results, so the seed changes "
                "neither the model nor the split and sd/CI say nothing about variance. For a seed study, let the "
                "seed drive the split too: data.split.seed=${seed}.")
    return "\n".join(lines) + "\n" + "".join(f"\n{w}\n" for w in warnings)


def _cell(m: dict[str, float], k: str) -> str:
    if f"{k}/mean" not in m:
        return "n/a"
    if m.get(f"{k}/n", 0) >= 2 and m.get(f"{k}/distinct") == 1:
        return f"{m[k + '/mean']:.3f} (n/a: all seeds identical)"
    return f"{m[k + '/mean']:.3f} ± {m[k + '/sd']:.3f} [{m[k + '/ci_low']:.3f}, {m[k + '/ci_high']:.3f}]"


def varying_keys(overrides: list[list[str]]) -> list[str]:
    """Each job's configuration key: its overrides without the seed and without the overrides that every
    job shares (so the key names only what the sweep varies)."""
    common = set.intersection(*(set(o) for o in overrides)) if overrides else set()
    return [config_key([o for o in job if o not in common]) for job in overrides]


def slug(config_key: str) -> str:
    """A metric-name-safe form of a configuration key (MLflow allows [A-Za-z0-9_-. ] and / as separator)."""
    return re.sub(r"[^A-Za-z0-9_\-.]", "-", config_key.replace("=", "-").replace(" ", ".")) or "default"


def _claim_sweep_dir(sweep_dir: Path) -> Path:
    """Create ``<sweep_dir>/nlpkit_sweep.json`` atomically (empty until the parent run exists); refuse a
    folder that another sweep already claimed."""
    from nlpkit.errors import ConfigError

    sweep_dir.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(sweep_dir / SWEEP_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644))
    except FileExistsError:
        raise ConfigError(
            f"hydra.sweep.dir={str(sweep_dir)!r} already belongs to another sweep (it holds {SWEEP_FILE}); expected "
            "a folder no other sweep has claimed. Fix: leave hydra.sweep.dir unset (unique per sweep) or pick a new one."
        ) from None
    return sweep_dir / SWEEP_FILE


def _sweep_experiment(config: DictConfig, overrides: list[str]) -> str:
    swept_task = any(o.startswith("task=") and "," in o for o in overrides)
    return "sweeps" if swept_task else str(config.task.name)


def end_interrupted(uri: str, parent_id: str) -> None:
    """At exit of the launching process: if the sweep did not finish (Ctrl-C, SIGTERM, a crash of the
    launcher), end every child still RUNNING and then the parent KILLED. Launchers stop their workers
    before this runs (joblib/loky kills them without running their Python handlers)."""
    from nlpkit.store import open_store

    client = open_store(uri, reap=False)
    parent = client.get_run(parent_id)
    if parent.info.status != "RUNNING":
        return
    query = f"tags.mlflow.parentRunId = '{parent_id}' and attributes.status = 'RUNNING'"
    for child in client.search_runs([parent.info.experiment_id], query, max_results=5000):
        _kill(client, child.info.run_id, "the sweep was interrupted while this job ran")
    _kill(client, parent_id, "the sweep was interrupted (Ctrl-C, SIGTERM or a crash of the launcher)")


def _kill(client: Any, run_id: str, why: str) -> None:
    client.set_tag(run_id, "nlpkit.error", f"interrupted: {why}")
    client.set_terminated(run_id, "KILLED")
