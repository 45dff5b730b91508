"""Many jobs at once against one store: real `nlpkit-train` processes, a real `mlflow server` backed by a real
PostgreSQL database, and a real parallel (joblib) sweep. Every run must end FINISHED holding its own predictor.

The harness is experiments/reliability/stress.py (the same code measures the figures in its README).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from experiments.reliability.stress import StressResult, run_stress
from conftest import mlflow_server_at


def _assert_all_own(result: StressResult, runs: int) -> None:
    assert result.exit_codes == [0] * len(result.exit_codes), result.problems
    assert (result.finished, result.owned, result.running) == (runs, runs, 0), result.problems
    assert not result.problems


@pytest.fixture
def postgres_server(postgres_uri: str, tmp_path: Path):
    with mlflow_server_at(postgres_uri, tmp_path / "artifacts", workers=4) as url:
        yield url


@pytest.mark.slow  # ~2 min; the parallel sweep below keeps PostgreSQL in the default run
def test_eight_processes_against_mlflow_server_on_postgres(postgres_server: str, tmp_path: Path) -> None:
    _assert_all_own(run_stress(8, tmp_path / "jobs", postgres_server), 8)


def test_parallel_sweep_against_mlflow_server_on_postgres(postgres_server: str, tmp_path: Path) -> None:
    result = run_stress(4, tmp_path / "sweep", postgres_server, sweep=True)
    _assert_all_own(result, 5)  # the parent and its 4 children


def test_tracking_postgres_config_points_at_a_server() -> None:
    from nlpkit import compose

    cfg = compose(["tracking=postgres"])
    assert cfg.tracking.enabled and cfg.tracking.uri.startswith("http://127.0.0.1:")
