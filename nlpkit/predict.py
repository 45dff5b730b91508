"""Predictor: a trained model with its labels and metadata, loadable from a path or an MLflow URI.

    from nlpkit import Predictor
    p = Predictor.load("runs:/<run id>/model")      # or a local directory, or models:/<name>/<version>
    p.labels, p.predict(texts), p.predict_proba(texts)

A saved predictor is a directory with ``nlpkit.json`` (task, label order, metrics, resolved config, nlpkit
version, model kind, and the sha256 of every model file: see nlpkit.predictor_files) and the model files of
its family (plain JSON + NumPy arrays for TF-IDF models, skops for the embed_logreg head, safetensors for
encoders; never pickle), plus ``calibration.json`` when it was trained with ``model.calibration`` (a NumPy-only map
that ``predict_proba`` applies: nlpkit.calibrators). Loading checks the digests before it reads a model file, and a
model from MLflow is downloaded into a temporary folder that is gone once the model is in memory.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from nlpkit import calibrators, installed
from nlpkit import predictor_files as files
from nlpkit.errors import ConfigError, DataError, InputTypeError, ModelLoadError, NlpkitError, one_line
from nlpkit.models import REGISTRY, family_of
from nlpkit.predictor_files import METADATA_FILE

MLFLOW_SCHEMES = ("runs:/", "models:/", "mlflow-artifacts:/", "s3://", "gs://", "wasbs://", "dbfs:/")
# Data files training seals into a predictor beside its model, kept in memory by a load (so a predictor loaded
# from an MLflow URI, whose download is gone, still has them) and written back by save: validation.npz holds the
# validation split's labels and probabilities for ``nlpkit prevalence`` (nlpkit.prevalence_data).
DATA_FILES = ("validation.npz",)
PAIR_FIX = "Fix: pass [(target, text), ...] or dicts with 'target' and 'text'."


class Predictor:
    """A fitted model plus the metadata needed to use it."""

    def __init__(self, model: Any, metadata: dict[str, Any], path: Path | None = None,
                 calibrator: calibrators.Calibrator | None = None, data_files: dict[str, bytes] | None = None) -> None:
        self.model = model
        self.metadata = metadata
        self.path = path
        self.calibrator = calibrator  # post-hoc calibration (model.calibration), sealed in calibration.json
        self.data_files = dict(data_files or {})  # DATA_FILES read at load (sealed), written back by save

    # -- loading and saving -------------------------------------------------------------------------
    @classmethod
    def load(cls, uri: str | os.PathLike, *, verify: bool = True, **options: Any) -> Predictor:
        """Load from a local directory, ``runs:/<id>/model``, ``models:/<name>/<version>``,
        ``models:/<name>@<alias>`` or another MLflow artifact URI. No network is touched beyond the configured
        MLflow store. ``verify=False`` skips the digest check (only for a predictor you trust, e.g. one saved
        before nlpkit sealed predictors: ``.save(new_dir)`` re-seals it).
        ``options`` go to the model family's loader (e.g. a runtime)."""
        if not isinstance(uri, (str, os.PathLike)):
            raise InputTypeError(
                f"Predictor.load expects a path or an MLflow URI (str); got {type(uri).__name__}. "
                "Fix: e.g. Predictor.load('runs:/<run id>/model') or Predictor.load('path/to/predictor')."
            )
        text = os.fspath(uri)
        if not text.startswith(MLFLOW_SCHEMES):
            return cls._load_dir(locate(text), verify, options)
        with tempfile.TemporaryDirectory(prefix="nlpkit-") as tmp:
            predictor = cls._load_dir(locate(text, Path(tmp)), verify, options)
        predictor.path = None  # the download is gone: the model is in memory
        return predictor

    @classmethod
    def _load_dir(cls, directory: Path, verify: bool, options: dict[str, Any]) -> Predictor:
        metadata = files.read_metadata(directory)
        family = _family(directory, metadata["model_kind"])
        if verify:
            files.verify(directory, metadata)
        try:
            model = family.load(directory, **options)
            classes = list(model.classes_)
        except NlpkitError:
            raise
        except Exception as err:  # a model file the family's loader cannot read (only possible unverified)
            raise ModelLoadError(
                f"Could not load the {metadata['model_kind']} model in {directory} ({type(err).__name__}: "
                f"{one_line(err, 300)}); expected the files Predictor.save writes. Fix: get the predictor again."
            ) from err
        files.check_classes(directory, metadata["labels"], classes)
        data = {name: (directory / name).read_bytes() for name in DATA_FILES if (directory / name).is_file()}
        return cls(model, metadata, directory, calibrators.read(directory, metadata["labels"]), data)

    def save(self, directory: str | os.PathLike) -> Path:
        """Write the model and ``nlpkit.json`` (with the sha256 of every model file) into ``directory``.

        ``metadata["files"]`` and ``metadata["digest"]`` then hold the seal (``digest``: one sha256 over all)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        family_of(self.metadata["model_kind"]).save(self.model, directory)
        calibrators.write(self.calibrator, directory)
        for name, data in self.data_files.items():
            (directory / name).write_bytes(data)
        self.metadata = {**self.metadata, **files.seal(directory)}
        (directory / METADATA_FILE).write_text(json.dumps(self.metadata, indent=2, default=str), encoding="utf-8")
        self.path = directory
        return directory

    # -- properties ----------------------------------------------------------------------------------
    @property
    def labels(self) -> list[str]:
        """The label set in the task's order (the column order of ``predict_proba``)."""
        return list(self.metadata["labels"])

    @property
    def task(self) -> str:
        return str(self.metadata.get("task", ""))

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
        """Probabilities, one row per input, columns in the order of ``labels`` (calibrated, if it was trained so)."""
        return self._proba(self.prepare(inputs))

    def in_label_order(self, proba: np.ndarray) -> np.ndarray:
        """Probability columns rearranged from the model's ``classes_`` order to the order of ``labels``."""
        order = [list(self.model.classes_).index(label) for label in self.labels]
        return proba[:, order]

    def predict_batches(self, inputs: Iterable[Any], batch_size: int = 64) -> Iterator[tuple[str, np.ndarray]]:
        """Stream (label, probabilities) over any iterable, holding one batch in memory at a time.

        The iterable is checked now; each item when its batch is read (errors give its position in the stream).
        An empty iterable yields nothing."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ConfigError(f"batch_size must be an int >= 1; got {batch_size!r}. Fix: e.g. batch_size=64.")
        return self._stream(self._iterable(inputs), batch_size)

    def _stream(self, items: Iterable[Any], batch_size: int) -> Iterator[tuple[str, np.ndarray]]:
        batch: list[Any] = []
        for position, item in enumerate(items):
            batch.append(self._one(item, position))
            if len(batch) == batch_size:
                yield from self._labelled(batch)
                batch = []
        if batch:
            yield from self._labelled(batch)

    def _labelled(self, batch: list[Any]) -> Iterator[tuple[str, np.ndarray]]:
        for row in self._proba(batch):
            yield self.labels[int(np.argmax(row))], row

    def calibrated(self, proba: np.ndarray) -> np.ndarray:
        """``proba`` (columns in ``labels`` order) through the predictor's calibrator, if it has one."""
        return proba if self.calibrator is None else self.calibrator.apply(proba)

    def _proba(self, prepared: list[Any]) -> np.ndarray:
        return self.calibrated(self.in_label_order(self.model.predict_proba(prepared)))

    def prepare(self, inputs: Any) -> list[Any]:
        """Turn user input into what the model takes: texts, or (target, text) pairs for stance."""
        items = list(self._iterable(inputs))
        if not items:
            raise InputTypeError(
                f"Expected at least one input, got an empty {type(inputs).__name__}. Fix: pass a non-empty list "
                "(predict_batches accepts an empty stream)."
            )
        return [self._one(item, i) for i, item in enumerate(items)]

    def _iterable(self, inputs: Any) -> Iterable[Any]:
        if isinstance(inputs, (str, bytes, bytearray, dict)):
            raise InputTypeError(
                f"Expected a list of inputs, got a single {type(inputs).__name__}. Fix: wrap it in a list, "
                "e.g. predictor.predict([text])."
            )
        if hasattr(inputs, "to_dict") and hasattr(inputs, "columns"):
            return self._frame_records(inputs)
        if isinstance(inputs, np.ndarray):
            return inputs.tolist()
        if inputs is None or not hasattr(inputs, "__iter__"):
            raise InputTypeError(
                f"Expected a list of inputs (texts, dicts or (target, text) pairs), got {type(inputs).__name__}. "
                "Fix: e.g. predictor.predict(['first text', 'second text'])."
            )
        return inputs

    def _frame_records(self, frame: Any) -> list[dict]:
        columns = [str(c) for c in frame.columns]
        needed = [self._fields()[-1]]
        if self.needs_target and "target" not in columns:
            needed.append(self.metadata["target_field"])
        missing = [c for c in needed if c not in columns]
        if missing:
            raise InputTypeError(
                f"The DataFrame has no column {missing[0]!r}; expected columns {needed}, got {columns[:10]}. "
                f"Fix: rename your column, e.g. frame.rename(columns={{'body': {missing[0]!r}}})."
            )
        return frame.to_dict(orient="records")

    def _one(self, item: Any, position: int) -> Any:
        if isinstance(item, dict):
            return self._from_dict(item, position)
        if self.needs_target:
            return self._pair(item, position)
        if isinstance(item, str):
            return _non_blank(str(item), position, "text")
        raise InputTypeError(
            f"Expected a text (str) or a dict with a {self._fields()[-1]!r} field at position {position}; got "
            f"{type(item).__name__} {item!r:.40}. Fix: pass plain strings."
        )

    def _pair(self, item: Any, position: int) -> tuple[str, str]:
        if isinstance(item, (tuple, list)) and len(item) == 2 and all(isinstance(v, str) for v in item):
            return (_non_blank(str(item[0]), position, "target"), _non_blank(str(item[1]), position, "text"))
        got = f"a {len(item)}-item {type(item).__name__}" if isinstance(item, (tuple, list)) else type(item).__name__
        raise InputTypeError(
            f"This {self.task} predictor needs (target, text) pairs or dicts with 'target' and 'text'; "
            f"got {got} at position {position}. {PAIR_FIX}"
        )

    def _from_dict(self, item: dict, position: int) -> Any:
        text = self._join(item, position)
        if not self.needs_target:
            return text
        field = self.metadata["target_field"]
        target = item.get(field, item.get("target"))
        if not isinstance(target, str):
            raise InputTypeError(
                f"Input {position} has no {field!r}: this {self.task} predictor needs the target of the stance "
                f"(got {type(target).__name__}). {PAIR_FIX}"
            )
        return (_non_blank(target, position, "target"), text)

    def _join(self, item: dict, position: int) -> str:
        fields = self._fields()
        body = fields[-1]
        if not isinstance(item.get(body), str):
            raise InputTypeError(
                f"Input {position} has no text in field {body!r} (got {type(item.get(body)).__name__}; keys "
                f"{sorted(map(str, item))[:8]}). Fix: give each dict a {body!r}."
            )
        _non_blank(item[body], position, f"field {body!r}")
        return "\n\n".join(str(item[f]).strip() for f in fields if isinstance(item.get(f), str) and item[f].strip())

    def _fields(self) -> list[str]:
        return list(self.metadata.get("text_fields") or ["text"])

    def __repr__(self) -> str:
        return f"Predictor(task={self.task!r}, model={self.metadata.get('model_kind')!r}, labels={self.labels})"


def _non_blank(value: str, position: int, what: str) -> str:
    """``value``, unless it is empty or whitespace only (refused as training refuses such rows)."""
    if not value.strip():
        raise DataError(
            f"Input {position} has an empty {what} ({value!r:.20}); expected some text, as in training, which "
            "refuses empty rows. Fix: drop or fill empty inputs before predicting."
        )
    return value


def _family(directory: Path, kind: Any) -> Any:
    if kind not in REGISTRY:
        raise ModelLoadError(
            f"{directory / METADATA_FILE} names an unknown model_kind {kind!r}; expected one of {sorted(REGISTRY)}. "
            "Fix: load it with the nlpkit version that saved it (see its nlpkit_version) or upgrade nlpkit."
        )
    return REGISTRY[kind]


def locate(uri: str, scratch: Path | None = None) -> Path:
    """The predictor directory that ``uri`` names: a local path, an installed predictor package's name, or an
    MLflow URI (downloaded under ``scratch``, which it needs). Its files are not checked yet (``Predictor.load``
    does that)."""
    if uri.startswith(MLFLOW_SCHEMES):
        if scratch is None:
            raise ConfigError(f"locate({uri!r}) needs a scratch folder for the download; got None. Fix: pass one.")
        return files.find_predictor_dir(_download(uri, scratch))
    path = _local(uri)
    if installed.is_bundle(path):
        raise ModelLoadError(
            f"{uri!r} is a predictor bundle ({installed.BUNDLE_FILE}: one predictor per role), not a single predictor; "
            f"expected a predictor directory. Fix: use nlpkit.analyze.Analyzer.load({uri!r}) or nlpkit analyze for a bundle."
        )
    return files.find_predictor_dir(path)


def _local(uri: str) -> Path:
    path = Path(uri).expanduser()
    if path.exists():
        return path
    found = installed.find(uri)
    if found is not None:
        return found
    names = installed.names()
    raise ModelLoadError(
        f"No predictor at {uri!r}: the path does not exist; expected a local directory, runs:/<run id>/model, "
        "models:/<name>/<version> or the name of an installed predictor package (installed: "
        f"{', '.join(names) if names else 'none'}). Fix: check the path, or pip install the predictor's wheel "
        "(built by nlpkit package)."
    )


def _download(uri: str, destination: Path) -> Path:
    from nlpkit.store import download_artifacts  # MLflow lives with the tracking code, imported only here

    return download_artifacts(uri, destination)
