"""MLflow pyfunc wrapper around a saved nlpkit predictor, logged as a model from code (no pickle).

``mlflow.pyfunc.load_model(uri).predict([...texts...])`` returns labels. Stance models take a DataFrame or
dicts with ``target`` and ``text``.
"""

from __future__ import annotations

import nlpkit  # noqa: F401  first: switches MLflow telemetry off before mlflow is imported
import mlflow
from mlflow.pyfunc import PythonModel


class NlpkitModel(PythonModel):
    def load_context(self, context):  # noqa: ANN001 - MLflow reads hints here; keep none
        from nlpkit.predict import Predictor

        self.predictor = Predictor.load(context.artifacts["predictor"])

    def predict(self, context, model_input, params=None):  # noqa: ANN001 - no hints: MLflow would validate them
        if hasattr(model_input, "columns") and list(model_input.columns) == [0]:
            model_input = list(model_input[0])  # a plain list that MLflow wrapped in a one-column frame
        if hasattr(model_input, "tolist") and not hasattr(model_input, "columns"):
            model_input = model_input.tolist()
        return self.predictor.predict(model_input)


mlflow.models.set_model(NlpkitModel())
