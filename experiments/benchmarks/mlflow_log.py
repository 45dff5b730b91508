"""MLflow layout of a benchmark: one experiment per benchmark run, a parent run per data set, a child run per
contender (the summary over seeds) and, under it, one run per seed.

nlpkit contenders log their seed runs themselves (``nlpkit.train`` in the worker process); the harness adopts
them by setting ``mlflow.parentRunId``, which is how MLflow nests runs across processes. Peer seed runs are
created here from the worker's results. Everything goes through ``MlflowClient``: no global active run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlflow.entities import Metric, Param, RunTag
from mlflow.tracking import MlflowClient

PARENT_TAG = "mlflow.parentRunId"


class BenchmarkLog:
    """Runs of one benchmark experiment."""

    def __init__(self, uri: str, experiment: str, artifacts: str | None = None) -> None:
        """Open (or create, with its artifacts under the ``artifacts`` folder) the experiment in store ``uri``."""
        self.uri, self.experiment = uri, experiment
        self.client = MlflowClient(uri)
        found = self.client.get_experiment_by_name(experiment)
        location = Path(artifacts).resolve().as_uri() if artifacts else None
        self.experiment_id = found.experiment_id if found else self.client.create_experiment(experiment, location)

    def start(self, name: str, parent: str | None = None, tags: dict[str, str] | None = None) -> str:
        """Create a run (a child of ``parent`` when given) and return its id."""
        tags = {"mlflow.runName": name, **(tags or {}), **({PARENT_TAG: parent} if parent else {})}
        return self.client.create_run(self.experiment_id, tags=tags, run_name=name).info.run_id

    def log(self, run_id: str, metrics: dict[str, float] | None = None, params: dict[str, Any] | None = None,
            tags: dict[str, str] | None = None) -> None:
        """Metrics, params and tags in one batch."""
        import time

        now = int(time.time() * 1000)
        self.client.log_batch(
            run_id,
            metrics=[Metric(k, float(v), now, 0) for k, v in (metrics or {}).items()],
            params=[Param(k, str(v)[:6000]) for k, v in (params or {}).items()],
            tags=[RunTag(k, str(v)[:5000]) for k, v in (tags or {}).items()],
        )

    def adopt(self, run_id: str, parent: str) -> None:
        """Nest an existing run (e.g. one that ``nlpkit.train`` logged in a worker) under ``parent``."""
        self.client.set_tag(run_id, PARENT_TAG, parent)

    def end(self, run_id: str, ok: bool = True) -> None:
        """Mark the run FINISHED or FAILED."""
        self.client.set_terminated(run_id, "FINISHED" if ok else "FAILED")

    def artifact(self, run_id: str, path: str) -> None:
        """Attach a local file to the run."""
        self.client.log_artifact(run_id, path)
