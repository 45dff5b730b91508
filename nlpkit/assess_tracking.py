"""Record an ``nlpkit evaluate`` result as an MLflow evaluation run linked to the run that trained the model.

The model's run is found from its URI (``runs:/<id>/...``; ``models:/<name>/<version>`` or ``@<alias>`` through
the registry) or else by the predictor's digest (the ``nlpkit.predictor_digest`` tag every training run sets).
The evaluation run lands in that run's experiment (else ``nlpkit-evaluate``), is named
``evaluate/<data>/<model run name>``, carries the tags ``nlpkit.evaluation=true``, ``nlpkit.model_run_id``,
``nlpkit.data_path``, ``nlpkit.data_digest`` and ``nlpkit.model_digest`` (the predictor's seal), logs the data
set as an MLflow input (Dataset column), the metrics under ``eval/`` and the report files as artifacts.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from nlpkit.assess import Evaluation, write

EXPERIMENT = "nlpkit-evaluate"


def model_run(client: Any, model: str, digest: str) -> Any:
    """The MLflow run that trained ``model`` (by URI, else by predictor digest), or None."""
    run_id = _run_id_of_uri(client, model)
    if run_id:
        return client.get_run(run_id)
    if not digest:
        return None
    ids = [e.experiment_id for e in client.search_experiments()]
    runs = client.search_runs(ids, f"tags.`nlpkit.predictor_digest` = '{digest}'", max_results=50,
                              order_by=["attributes.start_time DESC"]) if ids else []
    trained = [r for r in runs if not {"nlpkit.evaluation", "nlpkit.prevalence"} & set(r.data.tags)]
    return trained[0] if trained else None


def log_evaluation(result: Evaluation, tracking_uri: str | None) -> str:
    """Log ``result`` as an evaluation run (see the module docstring); set ``result.model_run_id``; return the
    evaluation run's id."""
    from nlpkit.procs import process_tags
    from nlpkit.store import experiment_id, open_store

    client = open_store(tracking_uri)
    trained = model_run(client, result.model, result.predictor_digest)
    result.model_run_id = trained.info.run_id if trained else None
    experiment = trained.info.experiment_id if trained else experiment_id(client, EXPERIMENT)
    trained_name = trained.info.run_name if trained else Path(result.model).name or result.predictor_digest[:12]
    tags = {"nlpkit.evaluation": "true", "nlpkit.model": result.model[:500], "nlpkit.data_path": result.data[:500],
            "nlpkit.data_digest": result.data_digest, "nlpkit.model_digest": result.predictor_digest,
            "nlpkit.labels_averaged": result.mode, **process_tags(),
            **({"nlpkit.model_run_id": result.model_run_id} if result.model_run_id else {})}
    run = client.create_run(experiment, run_name=f"evaluate/{Path(result.data).stem}/{trained_name}", tags=tags)
    run_id = run.info.run_id
    try:
        _log_contents(client, run_id, result)
    except BaseException:
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, "FINISHED")
    return run_id


def _log_contents(client: Any, run_id: str, result: Evaluation) -> None:
    from mlflow.entities import Dataset, DatasetInput, InputTag, Metric, Param

    params = {f"evaluate.{k}": str(v)[:500] for k, v in result.settings.items()}
    params |= {"evaluate.labels": result.mode, "evaluate.averaged": ",".join(result.averaged)[:500]}
    client.log_batch(run_id, metrics=[Metric(k, v, 0, 0) for k, v in metrics(result).items()],
                     params=[Param(k, v) for k, v in params.items()])
    source = Path(result.data).resolve().as_uri()
    dataset = Dataset(name=Path(result.data).stem, digest=result.data_digest, source_type="local", source=source)
    client.log_inputs(run_id, [DatasetInput(dataset, [InputTag("mlflow.data.context", "evaluation")])])
    with tempfile.TemporaryDirectory(prefix="nlpkit-evaluate-") as tmp:
        for path in write(result, Path(tmp)):
            client.log_artifact(run_id, str(path))


def metrics(result: Evaluation) -> dict[str, float]:
    """The run's metrics: ``eval/macro_f1`` (with ``_ci_low``/``_ci_high``), ``eval/accuracy``, ``eval/n`` and
    ``eval/<precision|recall|f1|support>/<label>``."""
    values = {"eval/macro_f1": result.macro_f1, "eval/macro_f1_ci_low": result.ci[0],
              "eval/macro_f1_ci_high": result.ci[1], "eval/accuracy": result.accuracy, "eval/n": float(result.n)}
    for row in result.per_class:
        for key in ("precision", "recall", "f1", "support"):
            values[f"eval/{key}/{row['label']}"] = float(row[key])
    return values


def _run_id_of_uri(client: Any, model: str) -> str | None:
    if model.startswith("runs:/"):
        return model.removeprefix("runs:/").split("/", 1)[0] or None
    if not model.startswith("models:/"):
        return None
    ref = model.removeprefix("models:/").strip("/")
    if "@" in ref:
        name, alias = ref.split("@", 1)
        return client.get_model_version_by_alias(name, alias).run_id
    name, _, version = ref.partition("/")
    return client.get_model_version(name, version).run_id if version.isdigit() else None
