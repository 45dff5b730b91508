"""The columns of nlpkit's MLflow model: its signature, input example, and the frame its ``predict`` returns.

Input: one string column per text field of the task (the last, ``text``, required; the others such as ``title``
optional) and, for stance, the target column first. Output: ``label`` (string) and one ``proba_<label>``
(double) column per class, in the predictor's label order. The same names serve ``mlflow models serve``,
``mlflow.pyfunc.load_model`` and ``mlflow.pyfunc.spark_udf`` (whose struct result type follows the output schema).

Pure functions of the predictor's metadata; mlflow and pandas are imported where they are used.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nlpkit.errors import InputTypeError, NlpkitError, one_line

LABEL_COLUMN = "label"
PROBA_PREFIX = "proba_"
EXAMPLE = {"target": "the ceasefire", "title": "Talks resume in Geneva",
           "text": "Negotiators agreed to extend the ceasefire and reopen the border crossing."}


def input_columns(metadata: dict[str, Any]) -> list[tuple[str, bool]]:
    """``[(column, required), ...]``: required columns first (target for stance, then the body text), then the
    optional extra text fields, so that unnamed Spark UDF arguments map onto the required ones in order."""
    fields = list(metadata.get("text_fields") or ["text"])
    target = metadata.get("target_field")
    required = ([target] if target else []) + [fields[-1]]
    return [(name, True) for name in required] + [(name, False) for name in fields[:-1] if name not in required]


def output_columns(labels: list[str]) -> list[str]:
    """``label`` then ``proba_<label>`` for each label, in order."""
    return [LABEL_COLUMN, *(f"{PROBA_PREFIX}{label}" for label in labels)]


def signature(metadata: dict[str, Any]) -> Any:
    """The ``mlflow.models.ModelSignature`` of a predictor with this metadata."""
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ColSpec, Schema

    inputs = Schema([ColSpec("string", name, required=required) for name, required in input_columns(metadata)])
    labels = list(metadata["labels"])
    outputs = Schema([ColSpec("string", LABEL_COLUMN), *(ColSpec("double", c) for c in output_columns(labels)[1:])])
    return ModelSignature(inputs=inputs, outputs=outputs)


def input_example(metadata: dict[str, Any]) -> Any:
    """A one-row DataFrame with every input column (logged with the model; MLflow checks it predicts)."""
    import pandas as pd

    return pd.DataFrame([{name: EXAMPLE.get(name, EXAMPLE["text"]) for name, _ in input_columns(metadata)}])


def spark_result_type(labels: list[str]) -> str:
    """The Spark DDL struct type of the output, e.g. ``label STRING, `proba_favor` DOUBLE, ...``."""
    columns = output_columns(labels)
    return ", ".join([f"`{columns[0]}` STRING", *(f"`{c}` DOUBLE" for c in columns[1:])])


def predict_frame(predictor: Any, model_input: Any) -> Any:
    """Score ``model_input`` (the DataFrame MLflow passes after checking the signature; also a list) and return
    the output frame. nlpkit's input errors become MLflow's INVALID_PARAMETER_VALUE (HTTP 400 when served)."""
    try:
        proba = np.asarray(predictor.predict_proba(model_input), dtype=float)
    except NlpkitError as err:
        from mlflow.exceptions import MlflowException
        from mlflow.protos.databricks_pb2 import INVALID_PARAMETER_VALUE

        raise MlflowException(one_line(err), error_code=INVALID_PARAMETER_VALUE) from err
    return output_frame(predictor.labels, proba)


def output_frame(labels: list[str], proba: np.ndarray) -> Any:
    """The ``label`` + ``proba_<label>`` DataFrame of probabilities whose columns follow ``labels``."""
    import pandas as pd

    if proba.ndim != 2 or proba.shape[1] != len(labels):
        raise InputTypeError(f"Expected probabilities of shape (n, {len(labels)}); got {proba.shape}. "
                             "Fix: pass predict_proba's output for these labels.")
    columns = output_columns(labels)
    frame = pd.DataFrame(proba, columns=columns[1:])
    frame.insert(0, LABEL_COLUMN, [labels[i] for i in proba.argmax(axis=1)])
    return frame
