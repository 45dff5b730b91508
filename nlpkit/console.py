"""A quiet console by default: MLflow's INFO lines, its warnings and its "Downloading artifacts" progress bars
are kept out of nlpkit's commands (``nlpkit -v ...`` and ``nlpkit-train tracking.verbose=true`` bring them
back). Only the commands call ``quiet``: a notebook that calls ``nlpkit.train`` keeps its own logging setup.
"""

from __future__ import annotations

import logging
import os
import warnings

# Loggers whose INFO lines are MLflow's chatter: run/experiment links, table creation, schema migration.
CHATTY_LOGGERS = ("mlflow", "alembic", "urllib3", "git", "databricks")
# Modules whose warnings (deprecations, pip/environment inference, signature hints) are not the user's to act on.
NOISY_MODULES = r"(mlflow|alembic|pydantic|sqlalchemy|google|opentelemetry|databricks)(\..*)?$"
PROGRESS_ENV = "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR"


def quiet(verbose: bool = False) -> None:
    """Silence MLflow's INFO logging, warnings and progress bars unless ``verbose`` (an explicit
    ``MLFLOW_LOGGING_LEVEL`` is respected either way)."""
    level = os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "INFO" if verbose else "ERROR")  # read on mlflow's import
    os.environ[PROGRESS_ENV] = "true" if verbose else "false"
    for name in CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(level.upper())
    if not verbose:
        warnings.filterwarnings("ignore", module=NOISY_MODULES)
        warnings.filterwarnings("ignore", category=FutureWarning)
