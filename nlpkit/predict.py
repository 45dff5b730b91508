"""Predictor: a trained model with its labels and metadata, loadable from a path or an MLflow URI.

    from nlpkit import Predictor
    p = Predictor.load("runs:/<run id>/model")      # or a local directory, or models:/<name>/<version>
    p.labels, p.predict(texts), p.predict_proba(texts)

A saved predictor is a directory with ``nlpkit.json`` (task, label order, metrics, resolved config, nlpkit
version, model kind) and the model files of its family (skops for scikit-learn; never pickle).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from nlpkit.errors import InputTypeError, ModelLoadError
from nlpkit.models import family_of

METADATA_FILE = "nlpkit.json"
MLFLOW_SCHEMES = ("runs:/", "models:/", "mlflow-artifacts:/", "s3://", "gs://", "wasbs://", "dbfs:/")


class Predictor:
    """A fitted model plus the metadata needed to use it."""

    def __init__(self, model: Any, metadata: dict[str, Any], path: Path | None = None) -> None:
        self.model = model
        self.metadata = metadata
        self.path = path

    # -- loading and saving -------------------------------------------------------------------------
    @classmethod
    def load(cls, uri: str | os.PathLike, **options: Any) -> Predictor:
        """Load from a local directory, ``runs:/<id>/model``, ``models:/<name>/<version>`` or another
        MLflow artifact URI. No network is touched beyond the configured MLflow store. ``options`` go to
        the model family's loader (e.g. an inference runtime)."""
        directory = _find_predictor_dir(_localise(str(uri)))
        metadata = json.loads((directory / METADATA_FILE).read_text())
        model = family_of(metadata["model_kind"]).load(directory, **options)
        return cls(model, metadata, directory)

    def save(self, directory: str | os.PathLike) -> Path:
        """Write the model and ``nlpkit.json`` into ``directory``; return its path."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        family_of(self.metadata["model_kind"]).save(self.model, directory)
        (directory / METADATA_FILE).write_text(json.dumps(self.metadata, indent=2, default=str))
        self.path = directory
        return directory

    # -- properties ----------------------------------------------------------------------------------
    @property
    def labels(self) -> list[str]:
        """The label set in the task's order (the column order of ``predict_proba``)."""
        return list(self.metadata["labels"])

    @property
    def task(self) -> str:
        return self.metadata["task"]

    @property
    def metrics(self) -> dict[str, float]:
        return dict(self.metadata.get("metrics", {}))

    @property
    def needs_target(self) -> bool:
        return bool(self.metadata.get("target_field"))

    # -- prediction ----------------------------------------------------------------------------------
    def predict(self, inputs: Any) -> list[str]:
        """The predicted label of each input (texts; dicts with text fields; (target, text) for stance)."""
        proba = self.predict_proba(inputs)
        return [self.labels[i] for i in np.argmax(proba, axis=1)]

    def predict_proba(self, inputs: Any) -> np.ndarray:
        """Probabilities, one row per input, columns in the order of ``labels``."""
        return self.in_label_order(self.model.predict_proba(self.prepare(inputs)))

    def in_label_order(self, proba: np.ndarray) -> np.ndarray:
        """Probability columns rearranged from the model's ``classes_`` order to the order of ``labels``."""
        order = [list(self.model.classes_).index(label) for label in self.labels]
        return proba[:, order]

    def predict_batches(self, inputs: Iterable[Any], batch_size: int = 64) -> Iterator[tuple[str, np.ndarray]]:
        """Stream (label, probabilities) over any iterable, holding one batch in memory at a time."""
        batch: list[Any] = []
        for item in inputs:
            batch.append(item)
            if len(batch) == batch_size:
                yield from self._labelled(batch)
                batch = []
        if batch:
            yield from self._labelled(batch)

    def _labelled(self, batch: list[Any]) -> Iterator[tuple[str, np.ndarray]]:
        proba = self.predict_proba(batch)
        for row in proba:
            yield self.labels[int(np.argmax(row))], row

    def prepare(self, inputs: Any) -> list[Any]:
        """Turn user input into what the model takes: texts, or (target, text) pairs for stance."""
        if isinstance(inputs, (str, bytes, dict)):
            raise InputTypeError(
                f"Expected a list of inputs, got a single {type(inputs).__name__}. Fix: wrap it in a list, "
                "e.g. predictor.predict([text])."
            )
        if hasattr(inputs, "to_dict") and hasattr(inputs, "columns"):
            inputs = inputs.to_dict(orient="records")
        items = list(inputs)
        if not items:
            raise InputTypeError("Expected at least one input, got an empty list.")
        return [self._one(item, i) for i, item in enumerate(items)]

    def _one(self, item: Any, position: int) -> Any:
        target_field = self.metadata.get("target_field")
        if isinstance(item, dict):
            text = self._join(item, position)
            if not target_field:
                return text
            target = item.get(target_field, item.get("target"))
            if not isinstance(target, str) or not target.strip():
                raise InputTypeError(
                    f"Input {position} has no {target_field!r}: this {self.task} predictor needs the target of the "
                    "stance. Fix: pass {'target': ..., 'text': ...} or (target, text) pairs."
                )
            return (target, text)
        if target_field:
            if isinstance(item, (tuple, list)) and len(item) == 2 and all(isinstance(v, str) for v in item):
                return (item[0], item[1])
            raise InputTypeError(
                f"This {self.task} predictor needs (target, text) pairs or dicts with 'target' and 'text'; "
                f"got {type(item).__name__} at position {position}. Fix: pass [(target, text), ...]."
            )
        if isinstance(item, str):
            return item
        raise InputTypeError(
            f"Expected a text (str) or a dict with a 'text' field at position {position}; got {type(item).__name__}."
        )

    def _join(self, item: dict, position: int) -> str:
        fields = list(self.metadata.get("text_fields", ["text"]))
        body = fields[-1]
        if not isinstance(item.get(body), str) or not item[body].strip():
            raise InputTypeError(f"Input {position} has no text in field {body!r}. Fix: give each dict a {body!r}.")
        return "\n\n".join(str(item[f]).strip() for f in fields if isinstance(item.get(f), str) and item[f].strip())

    def __repr__(self) -> str:
        return f"Predictor(task={self.task!r}, model={self.metadata.get('model_kind')!r}, labels={self.labels})"


def _localise(uri: str) -> Path:
    if uri.startswith(MLFLOW_SCHEMES):
        import mlflow

        try:
            return Path(mlflow.artifacts.download_artifacts(artifact_uri=uri, dst_path=tempfile.mkdtemp(prefix="nlpkit-")))
        except Exception as err:  # MLflow raises several types for a missing run/model/artifact
            raise ModelLoadError(
                f"Could not fetch {uri!r} from the MLflow store at {mlflow.get_tracking_uri()}: {err}. "
                "Fix: check the run id / model name and MLFLOW_TRACKING_URI."
            ) from err
    path = Path(uri).expanduser()
    if not path.exists():
        raise ModelLoadError(
            f"No predictor at {uri!r}: expected a local directory, runs:/<run id>/model or models:/<name>/<version>."
        )
    return path


def _find_predictor_dir(path: Path) -> Path:
    for candidate in (path, path / "artifacts" / "predictor", path / "predictor"):
        if (candidate / METADATA_FILE).is_file():
            return candidate
    raise ModelLoadError(
        f"{path} is not an nlpkit predictor: no {METADATA_FILE} in it (nor in artifacts/predictor/). "
        "Fix: point to a directory saved by nlpkit or to an MLflow model logged by nlpkit-train."
    )
