"""Score a Spark DataFrame of articles with a logged nlpkit model through ``mlflow.pyfunc.spark_udf`` (local[2]).

Needs the ``spark`` extra (pyspark) and Java 17. Without them the test is skipped on a developer's machine and
fails under CI (``CI=true``, as ``.ci/run`` runs), which installs both.
"""

from __future__ import annotations

import os
import shutil
import sys
from importlib.util import find_spec
from typing import Iterator

import mlflow
import numpy as np
import pytest

from conftest import train_tiny_tracked
from nlpkit.mlflow_schema import output_columns, spark_result_type

ARTICLES = [(1, "Night of shelling", "Artillery shelled the border town overnight."),
            (2, None, "Negotiators welcomed progress in the ceasefire talks."),
            (3, "Budget week", "Parliament will debate the budget on Tuesday."),
            (4, None, "Missiles struck the port as threats mounted.")]


def _needs(what: str) -> None:
    reason = f"the Spark test needs {what}"
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI installs it (.ci/run)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def spark() -> Iterator[object]:
    if find_spec("pyspark") is None:
        _needs('pyspark: pip install -e ".[spark]"')
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        _needs("Java 17: apt-get install -y openjdk-17-jre-headless")
    from pyspark.sql import SparkSession

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PYSPARK_PYTHON", sys.executable)  # Spark's Python workers run this venv's interpreter
        patch.setenv("PYSPARK_DRIVER_PYTHON", sys.executable)
        session = (SparkSession.builder.master("local[2]").appName("nlpkit-test-spark")
                   .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2").getOrCreate())
        session.sparkContext.setLogLevel("ERROR")
        yield session
        session.stop()


def test_spark_udf_scores_articles_like_the_predictor(spark, tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = train_tiny_tracked(tmp_path, uri, "tracking.registered_model_name=nlpkit-escalation",
                                "tracking.registered_model_alias=champion")
    mlflow.set_tracking_uri(uri)
    labels = result.predictor.labels
    frame = spark.createDataFrame(ARTICLES, "id INT, title STRING, text STRING").repartition(2)
    score = mlflow.pyfunc.spark_udf(spark, "models:/nlpkit-escalation@champion", env_manager="local",
                                    result_type=spark_result_type(labels))
    rows = frame.withColumn("prediction", score("text", "title")).select("id", "prediction.*").orderBy("id").collect()

    inputs = [{"text": text} if title is None else {"title": title, "text": text} for _, title, text in ARTICLES]
    assert [row["id"] for row in rows] == [1, 2, 3, 4]
    assert list(rows[0].asDict()) == ["id", *output_columns(labels)]
    assert [row["label"] for row in rows] == result.predictor.predict(inputs)
    got = np.array([[row[c] for c in output_columns(labels)[1:]] for row in rows])
    np.testing.assert_allclose(got, result.predictor.predict_proba(inputs), rtol=0, atol=1e-12)


def test_spark_udf_infers_the_struct_result_type_from_the_signature(spark, tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    result = train_tiny_tracked(tmp_path, uri, stance=True)
    mlflow.set_tracking_uri(uri)
    score = mlflow.pyfunc.spark_udf(spark, result.model_uri, env_manager="local")  # no result_type
    frame = spark.createDataFrame([("the truce", text) for _, _, text in ARTICLES], "target STRING, text STRING")
    rows = frame.select(score("target", "text").alias("p")).select("p.*").collect()
    assert list(rows[0].asDict()) == output_columns(result.predictor.labels)
    pairs = [("the truce", text) for _, _, text in ARTICLES]
    assert [row["label"] for row in rows] == result.predictor.predict(pairs)
