"""What a person sees in the MLflow UI: the experiment's view, run names, the Dataset column.

* MLflow 3.17's UI opens every experiment in its GenAI view (traces) unless the address says
  ``workflowType=machine_learning`` or the person has clicked "Model training" once in that browser (it ignores
  the experiment tag ``mlflow.experimentKind`` there; earlier 3.x releases read it). So every address nlpkit
  prints or logs carries that parameter and goes to the runs tab, and every experiment nlpkit logs into is still
  tagged ``mlflow.experimentKind=custom_model_development`` (what it is; a kind the user set is left as it is).
* MLflow's compare page (select runs, then Compare) plots the first metric the runs share, in the order they
  were logged: nlpkit logs the headline metric ``test/macro_f1`` first (``headline_first``). The experiment's
  primary metric (tag ``mlflow.experiment.primaryMetric.name``, read by the chart view) is set to it too.
* MLflow's runs table shows no metric column until a person picks one. The UI restores a saved view from an experiment tag
  ``mlflow.sharedViewState.<key>`` when the page is opened with ``?viewStateShareKey=<key>``: nlpkit writes
  one (key ``nlpkit``: newest runs first, which keeps sweeps as parent/child trees, the headline metrics as
  columns beside the Dataset column) and links it
  from the experiment's description; ``view_url`` gives the address. (A shared view cannot expand a tree: the
  UI leaves ``runsExpanded`` out of shared views, so a sweep's children show after a click on its ``+``.)
* Run names put what tells runs apart first (``run_name``); datasets are logged with ``mlflow.log_input``
  (``log_datasets``) so the runs table's Dataset column shows name, digest and source.
"""

from __future__ import annotations

import json
import random
from functools import partial
import time
import warnings
from pathlib import Path
from typing import Any, Callable

from omegaconf import DictConfig

KIND_TAG = "mlflow.experimentKind"
MODEL_TRAINING = "custom_model_development"
VIEW_KEY = "nlpkit"
VIEW_TAG = f"mlflow.sharedViewState.{VIEW_KEY}"
PRIMARY_TAG = "mlflow.experiment.primaryMetric.name"
NOTE_TAG = "mlflow.note.content"
HEADLINE = "test/macro_f1"
SHOWN_METRICS = (HEADLINE, "test/macro_f1_ci_low", "test/macro_f1_ci_high", "validation/macro_f1")
LOCAL_UI = "http://127.0.0.1:5000"
# Overrides already said by the run name's data/model/seed parts, or that never tell runs apart.
_UNNAMED = ("seed", "data", "data.name", "data.path", "data.source", "model", "task", "output_dir", "experiment")
_UNNAMED_GROUPS = ("tracking", "hydra", "task", "runtime", "data.files", "data.columns", "data.label_map")


def prepare_experiment(client: Any, experiment_id: str) -> None:
    """Tag the experiment as model training and store nlpkit's saved view (see module doc)."""
    tags = client.get_experiment(experiment_id).tags
    for key, value in ((KIND_TAG, MODEL_TRAINING), (PRIMARY_TAG, HEADLINE), (NOTE_TAG, _note(experiment_id))):
        if key not in tags:
            racing(partial(client.set_experiment_tag, experiment_id, key, value))
    view = json.dumps(saved_view())
    if tags.get(VIEW_TAG) != view:
        racing(partial(client.set_experiment_tag, experiment_id, VIEW_TAG, view))


_RACE_MARKS = ("UniqueViolation", "UNIQUE constraint failed", "duplicate key value", "IntegrityError")


def racing(call: Callable[[], Any], attempts: int = 6) -> Any:
    """``call()``, retried when another job inserted the same row at the same moment: jobs starting together
    tag one experiment and log one data set (MLflow inserts a tag or a dataset row when it finds none, so two
    inserts can collide; the retry finds the row and updates or reuses it). Other errors pass through."""
    from mlflow.exceptions import MlflowException

    for attempt in range(attempts):
        try:
            return call()
        except MlflowException as err:
            if attempt == attempts - 1 or not any(mark in str(err) for mark in _RACE_MARKS):
                raise
            time.sleep(random.uniform(0.05, 0.2) * 2**attempt)
    return None


def headline_first(metrics: dict[str, float]) -> dict[str, float]:
    """``metrics`` with the headline metrics first: MLflow returns a run's metrics in the order they were first
    logged, and its compare page (``#/compare-runs``) plots the first one the runs share."""
    return {**{key: metrics[key] for key in SHOWN_METRICS if key in metrics}, **metrics}


def saved_view() -> dict[str, Any]:
    """The view behind ``?viewStateShareKey=nlpkit``: search facets and UI state in the UI's own keys."""
    return {
        "searchFilter": "", "orderByKey": "attributes.start_time", "orderByAsc": False,
        "selectedColumns": [_column("attributes", "Dataset")] + [_column("metrics", key) for key in SHOWN_METRICS],
    }


def view_url(tracking_uri: str, experiment_id: str) -> str:
    """Where the experiment's saved view opens: on the tracking server itself, or on ``mlflow ui``'s default
    address for a local store."""
    base = tracking_uri.rstrip("/") if tracking_uri.startswith(("http://", "https://")) else LOCAL_UI
    return f"{base}/{view_path(experiment_id)}"


def view_path(experiment_id: str) -> str:
    """The saved view's address inside the UI (``#/...``), on the model-training side and its runs tab."""
    return f"#/experiments/{experiment_id}/runs?workflowType=machine_learning&viewStateShareKey={VIEW_KEY}"


def browse_line(tracking_uri: str, run_id: str) -> str:
    """How to see a run's experiment in the UI: the saved view's address (after ``mlflow ui`` for a local store)."""
    from mlflow.tracking import MlflowClient

    url = view_url(tracking_uri, MlflowClient(tracking_uri).get_run(run_id).info.experiment_id)
    if tracking_uri.startswith(("http://", "https://")):
        return f"browse: {url}"
    return f"browse: mlflow ui --backend-store-uri {tracking_uri}, then open {url}"


def _note(experiment_id: str) -> str:
    return (f"Logged by nlpkit. [Open the nlpkit view]({view_path(experiment_id)}): the dataset and the headline "
            f"metrics (`{HEADLINE}` with its 95% CI, `validation/macro_f1`) as columns, sweeps as parent/child trees. "
            f"Runs list `{HEADLINE}` first, so Compare plots it.")


def _column(kind: str, key: str) -> str:
    return f"{kind}.`{key}`"


def run_name(cfg: DictConfig, overrides: list[str], varying: list[str] | None) -> str:
    """A short name whose first part tells the run apart: outside a sweep ``<data>/<model>[/<overrides>]/s<seed>``;
    in a sweep the swept overrides and the seed first: ``<swept>/s<seed>/<data>[/<model>]``."""
    data, model, seed = data_label(cfg.data), cfg.model.kind.split(".")[0], f"s{cfg.seed}"
    if varying is None:
        extra = [_short(o) for o in overrides if _named(_key(o))][:3]
        return "/".join([data, model, *extra, seed])
    swept = [_short(o) for o in overrides if _key(o) in varying and _key(o) != "seed"]
    context = [data] + ([] if "model" in varying else [model])
    return "/".join([*swept, seed, *(c for c in context if c not in swept)])


def data_label(data: DictConfig) -> str:
    """The data set's name, or for a generic source (``data=file``/``hub``/``disk``) the file's or dataset's name."""
    if data.name not in ("file", "hub", "disk"):
        return str(data.name)
    where = source_of(data)
    return Path(where.removeprefix("hub:")).stem if where else str(data.name)


def source_of(data: DictConfig) -> str:
    """Where the data comes from: the embedded corpus's file, the (training) file, the saved folder, ``hub:NAME``."""
    source = getattr(data.source, "value", data.source)
    if source == "embedded":
        from nlpkit.corpus import corpus_path

        return str(corpus_path(data.name))
    path = data.path or (dict(data.files).get("train") or next(iter(dict(data.files).values())) if data.files else "")
    return f"hub:{path}" if source == "hub" else str(path or "")


def swept_keys(overrides: list[str]) -> list[str]:
    """The keys a multirun's command-line overrides sweep (``a=1,2``, ``range(...)``, ``choice(...)``, ``glob(...)``)."""
    functions = ("range(", "choice(", "glob(", "interval(", "tag(")
    return [_key(o) for o in overrides if "=" in o and ("," in o.split("=", 1)[1] or o.split("=", 1)[1].startswith(functions))]


def _named(key: str) -> bool:
    return key not in _UNNAMED and not key.startswith(tuple(f"{g}." for g in _UNNAMED_GROUPS)) and key not in _UNNAMED_GROUPS


def _key(override: str) -> str:
    return override.split("=", 1)[0].lstrip("+~")


def _short(override: str) -> str:
    """``model.C=2`` -> ``C=2``; ``model=tfidf_svm`` -> ``tfidf_svm`` (a config group says its option alone)."""
    key, _, value = override.partition("=")
    key = key.lstrip("+~")
    if key in ("model", "data", "task"):
        return value[:24]
    return f"{key.rsplit('.', 1)[-1]}={value}"[:24]


def log_datasets(splits: Any, name: str, source: str, digests: dict[str, str]) -> None:
    """One ``mlflow.log_input`` per split (context = the split), so the runs table's Dataset column shows the
    data set's name and digest and the run page its source."""
    import mlflow
    from mlflow.data.meta_dataset import MetaDataset

    data_source = dataset_source(source)
    for split in splits:
        dataset = MetaDataset(data_source, name=name, digest=digests[split])  # type: ignore[abstract]  # (MLflow's stubs)
        racing(partial(mlflow.log_input, dataset, context=split))


def dataset_source(where: str) -> Any:
    """An MLflow DatasetSource for where the data came from: ``hub:NAME`` or a local path (a file, a folder)."""
    if where.startswith("hub:"):
        from mlflow.data.huggingface_dataset_source import HuggingFaceDatasetSource

        return HuggingFaceDatasetSource(path=where.removeprefix("hub:"))
    from mlflow.data.dataset_source_registry import resolve_dataset_source

    with warnings.catch_warnings():  # MLflow registers its local source twice and warns that it picked one
        warnings.simplefilter("ignore")
        return resolve_dataset_source(str(Path(where).resolve()))
