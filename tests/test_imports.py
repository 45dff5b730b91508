"""nlpkit's import graph (tests/import_graph.py, read with ``ast``): no cycles, and the prediction runtime
(``nlpkit.predict``, ``nlpkit.models*``) never reaches MLflow, Hydra, the training stack or training code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import import_graph
import pytest

RUNTIME_ROOTS = ("nlpkit.predict", "nlpkit.models")
HEAVY = ("mlflow", "hydra", "omegaconf", "datasets", "pandas", "matplotlib")
TRAINING = ("nlpkit.train", "nlpkit.tracking", "nlpkit.sweep", "nlpkit.sweep_state", "nlpkit.config", "nlpkit.data",
            "nlpkit.evaluate", "nlpkit.splits", "nlpkit.validation", "nlpkit.cli", "nlpkit.compare")


@pytest.fixture(scope="module")
def graph() -> dict[str, import_graph.Module]:
    return import_graph.build()


def runtime_modules(graph: dict[str, import_graph.Module]) -> list[str]:
    return sorted(n for n in graph if n == "nlpkit.predict" or n == "nlpkit.models" or n.startswith("nlpkit.models."))


def test_no_import_cycles(graph: dict[str, import_graph.Module]) -> None:
    assert import_graph.cycles(graph) == []


def test_runtime_modules_import_no_training_stack(graph: dict[str, import_graph.Module]) -> None:
    """Not even inside a function: a model family or the predictor that needs MLflow or Hydra is a design error."""
    offending = {name: sorted(graph[name].imports & {*HEAVY, *TRAINING})
                 for name in runtime_modules(graph) if graph[name].imports & {*HEAVY, *TRAINING}}
    assert offending == {}


def test_runtime_import_closure_is_light(graph: dict[str, import_graph.Module]) -> None:
    """What ``import nlpkit.predict`` runs, module level through every nlpkit module it reaches."""
    reached = import_graph.reachable(graph, "nlpkit.predict")
    assert "nlpkit.models.tfidf_family" in reached  # the registry entries load with the runtime
    assert reached & {*HEAVY, *TRAINING, "sklearn", "torch", "transformers"} == set()


def test_models_never_import_mlflow_at_run_time() -> None:
    """The same rule, observed: importing the runtime and every family module loads no tracking or training
    module (a fresh interpreter; the registry's builders import estimators only when called)."""
    families = ["nlpkit.models.tfidf_family", "nlpkit.models.encoder_family", "nlpkit.models.blend_family"]
    code = ("import sys, nlpkit.predict, " + ", ".join(families) + "\n"
            f"print(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r} or m in {TRAINING!r}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=120)
    assert out.stdout.strip() == "[]", out.stderr[-2000:]


def test_graph_finds_a_cycle_and_a_forbidden_import(tmp_path: Path) -> None:
    """The checker itself: a two-module cycle through a lazy import, and an import under TYPE_CHECKING
    that is not an edge."""
    pkg = tmp_path / "nlpkit"
    (pkg / "models").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "models" / "__init__.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                                                "    from nlpkit import train\n")
    (pkg / "train.py").write_text("from nlpkit import tracking\n")
    (pkg / "tracking.py").write_text("def f():\n    import mlflow\n    from nlpkit.train import x\n")
    graph = import_graph.build(pkg)
    assert import_graph.cycles(graph) == [["nlpkit.tracking", "nlpkit.train"]]
    assert graph["nlpkit.tracking"].lazy == {"mlflow", "nlpkit.train"}
    assert graph["nlpkit.models"].imports == {"typing"}  # not nlpkit.train


def test_import_graph_command_prints_no_cycle() -> None:
    """The command CONTRIBUTING.md shows: ``python tests/import_graph.py``."""
    script = Path(import_graph.__file__)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout[-2000:]
    assert "0 import cycle(s)" in out.stdout
    assert "nlpkit.train -> " in out.stdout
