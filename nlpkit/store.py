"""Opening MLflow stores: the one place nlpkit opens a store, so every command gets the same guarantees.

* A sqlite store's first use (table creation and schema migration) is serialised with a file lock next to
  the database (``<db>.lock``), so any number of processes may start together on a new store.
* Runs left RUNNING by a process that is gone (``kill -9``, the OOM killer, a crash of the interpreter) are
  marked FAILED with the tag ``nlpkit.error`` saying why. Only runs that this host started are judged (see
  ``nlpkit.procs``); runs of other hosts are never touched.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from nlpkit.errors import ConfigError, ModelLoadError, NlpkitError, one_line
from nlpkit.procs import hostname, why_gone

LOCK_TIMEOUT_S = 300.0
_READY: set[str] = set()  # URIs whose schema this process has already made sure of


def launch_dir() -> Path:
    """The directory the user launched from (Hydra may have changed the working directory)."""
    from hydra.core.hydra_config import HydraConfig

    if HydraConfig.initialized():
        return Path(HydraConfig.get().runtime.cwd)
    return Path.cwd()


def resolve_uri(configured: str | None) -> str:
    """Configured URI, else $MLFLOW_TRACKING_URI, else ``sqlite:///<launch dir>/mlflow.db`` (absolute)."""
    uri = configured or os.environ.get("MLFLOW_TRACKING_URI") or "sqlite:///mlflow.db"
    if uri.startswith("sqlite:///") and not uri.startswith("sqlite:////"):
        path = Path(uri.removeprefix("sqlite:///"))
        uri = f"sqlite:///{(launch_dir() / path).resolve()}"
    elif "://" not in uri and not uri.startswith("databricks"):
        raise ConfigError(
            f"Tracking URI {uri!r} is a bare path; MLflow 3's file store is in maintenance mode. "
            f"Fix: use sqlite:///{Path(uri).resolve()}/mlflow.db or an http(s):// server URI."
        )
    return uri


def open_store(uri: str | None = None, *, reap: bool = True) -> Any:
    """An ``MlflowClient`` for ``uri`` (resolved with ``resolve_uri``) whose schema is ready.

    With ``reap`` (the default) the runs this host left RUNNING with no live process are marked FAILED
    first (``reap_stale_runs``).
    """
    from mlflow.tracking import MlflowClient

    resolved = resolve_uri(uri)
    if resolved not in _READY:
        with _first_use_lock(resolved):
            MlflowClient(resolved).search_experiments(max_results=1)  # creates / migrates the tables
        _READY.add(resolved)
    client = MlflowClient(resolved)
    if reap:
        reap_stale_runs(client)
    return client


def experiment_id(client: Any, name: str) -> str:
    """The id of the active experiment called ``name``, created if missing; safe when many processes race.

    (``mlflow.set_experiment(name)`` is not: the process that loses the creation race returns early without
    making the experiment active, and its run lands in the Default experiment.)
    """
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(name)
    if found is None:
        try:
            return client.create_experiment(name)
        except MlflowException as err:
            if err.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            found = client.get_experiment_by_name(name)
    if found.lifecycle_stage != "active":
        raise ConfigError(
            f"MLflow experiment {name!r} is deleted; expected an active experiment to log into. Fix: restore it "
            f"(mlflow experiments restore --experiment-id {found.experiment_id}) or set tracking.experiment=NEW_NAME."
        )
    return found.experiment_id


def sqlite_path(uri: str) -> Path | None:
    """The database file of a ``sqlite:///`` URI; None for other stores and in-memory databases."""
    if not uri.startswith("sqlite:///"):
        return None
    path = uri.removeprefix("sqlite:///").split("?", 1)[0]
    return Path(path) if path and path != ":memory:" else None


@contextmanager
def _first_use_lock(uri: str) -> Iterator[None]:
    from filelock import FileLock, Timeout

    path = sqlite_path(uri)
    if path is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        lock = FileLock(f"{path}.lock", timeout=LOCK_TIMEOUT_S)
        lock.acquire()
    except Timeout:
        raise NlpkitError(
            f"Could not lock {path}.lock within {LOCK_TIMEOUT_S:.0f} s; expected the process creating the "
            f"MLflow tables to finish. Fix: check for a hung process holding {path}.lock, then retry."
        ) from None
    try:
        yield
    finally:
        lock.release()


@dataclass(frozen=True)
class StaleRun:
    """A RUNNING run whose process is gone."""

    run_id: str
    name: str
    experiment: str
    reason: str


def reap_stale_runs(client: Any, dry_run: bool = False) -> list[StaleRun]:
    """Mark FAILED every RUNNING run started on this host whose process is gone; return them.

    Each gets the tag ``nlpkit.error`` (why, and when it was detected). With ``dry_run`` nothing changes.
    A run that ended between the search and the update is left as it ended.
    """
    stale = []
    for run, experiment in _running_runs(client):
        reason = why_gone(run.data.tags)
        if reason is None:
            continue
        if dry_run or _mark_failed(client, run.info.run_id, reason):
            stale.append(StaleRun(run.info.run_id, run.info.run_name or "", experiment, reason))
    return stale


def _mark_failed(client: Any, run_id: str, reason: str) -> bool:
    if client.get_run(run_id).info.status != "RUNNING":  # its process is gone, so this cannot change later
        return False
    when = datetime.now(timezone.utc).isoformat(timespec="seconds")
    client.set_tag(run_id, "nlpkit.error", f"{reason}; marked FAILED at {when} by nlpkit (pid {os.getpid()})")
    client.set_terminated(run_id, "FAILED")
    return True


def _running_runs(client: Any) -> Iterator[tuple[Any, str]]:
    experiments = {e.experiment_id: e.name for e in _pages(client.search_experiments)}
    ids = sorted(experiments)
    query = f"attributes.status = 'RUNNING' and tags.`nlpkit.host` = '{hostname()}'"
    for start in range(0, len(ids), 100):
        for run in _pages(client.search_runs, ids[start:start + 100], query):
            yield run, experiments.get(run.info.experiment_id, run.info.experiment_id)


def _pages(search: Any, *args: Any) -> Iterator[Any]:
    token = None
    while True:
        page = search(*args, max_results=1000, page_token=token)
        yield from page
        token = page.token
        if not token:
            return


def download_artifacts(uri: str, destination: Path) -> Path:
    """Fetch a predictor from an MLflow URI (``runs:/...``, ``models:/...``) into ``destination``; one-line errors
    when MLflow is not installed or the URI names nothing."""
    from nlpkit import extras

    if extras.missing("mlflow"):
        raise ModelLoadError(
            f"Loading {uri!r} needs MLflow, which this install lacks (expected the 'mlflow' extra for MLflow URIs, "
            f"got a runtime-only install). Fix: {extras.install_hint('mlflow')}, or load a local predictor directory."
        )
    import mlflow

    try:
        return Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=str(destination)))
    except Exception as err:  # MLflow raises several types for a missing run/model/artifact
        raise ModelLoadError(
            f"Could not fetch {uri!r} from the MLflow store at {mlflow.get_tracking_uri()}: {one_line(err, 300)}. "
            "Expected an existing run id or registered model. Fix: check the run id / model name and "
            "MLFLOW_TRACKING_URI."
        ) from err
