"""MLflow pyfunc wrapper around a saved nlpkit predictor, logged as a model from code (no pickle).

``predict`` takes a DataFrame with a ``text`` column (stance: ``target`` and ``text``; optional extra text
fields such as ``title``) and returns a DataFrame with ``label`` and one ``proba_<label>`` column per class, in
label order (``nlpkit.mlflow_schema``). The same model serves ``mlflow.pyfunc.load_model``, ``mlflow models
serve`` and ``mlflow.pyfunc.spark_udf``.
"""

from __future__ import annotations

import nlpkit  # noqa: F401  first: switches MLflow telemetry off before mlflow is imported
import mlflow
import pandas as pd
from mlflow.pyfunc import PythonModel


class NlpkitModel(PythonModel):
    def load_context(self, context):  # noqa: ANN001 - MLflow reads hints here; keep none
        from nlpkit.predict import Predictor

        self.predictor = Predictor.load(context.artifacts["predictor"])

    def predict(self, context, model_input: pd.DataFrame, params=None) -> pd.DataFrame:  # noqa: ANN001
        # MLflow infers no schema from a DataFrame hint: the logged signature checks the input (and it asks no hints).
        from nlpkit.mlflow_schema import predict_frame

        return predict_frame(self.predictor, model_input)


mlflow.models.set_model(NlpkitModel())
