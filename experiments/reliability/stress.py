"""Start N `nlpkit-train` processes at once against one MLflow store and check that every job's run ended
FINISHED and holds its own predictor.

    python experiments/reliability/stress.py --jobs 8                        # fresh folder, new sqlite store
    python experiments/reliability/stress.py --jobs 16 --tracking-uri http://127.0.0.1:5000
    python experiments/reliability/stress.py --jobs 4 --sweep                # one joblib sweep of 4 jobs

Each job gets its own ``model.C`` (so the models differ byte for byte) and run name ``stress/job<i>``. A run
"holds its own predictor" when the predictor behind ``runs:/<id>/model`` was trained with that run's ``model.C``
and seed, its file digest equals the run's ``nlpkit.predictor_digest`` tag, and the job's ``config.yaml``
artifact agrees. The tests in tests/test_reliability_stores.py call ``launch`` and ``check`` directly.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
FAST = ["model.char_ngrams=false", "model.max_features=20000"]


@dataclass
class StressResult:
    """What N concurrent jobs left in the store."""

    jobs: int
    exit_codes: list[int]
    statuses: dict[str, str] = field(default_factory=dict)  # run name -> status
    own: dict[str, bool] = field(default_factory=dict)  # run name -> holds its own predictor
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def finished(self) -> int:
        return sum(s == "FINISHED" for s in self.statuses.values())

    @property
    def owned(self) -> int:
        return sum(self.own.values())

    @property
    def running(self) -> int:
        return sum(s == "RUNNING" for s in self.statuses.values())


def job_c(i: int) -> float:
    """The regularisation strength job ``i`` trains with (distinct per job)."""
    return round(0.5 + 0.25 * i, 2)


def train_command(i: int, tracking_uri: str | None, experiment: str) -> list[str]:
    """The `nlpkit-train` command line of job ``i``."""
    exe = str(Path(sys.executable).with_name("nlpkit-train"))
    cmd = [exe, f"seed={i}", f"model.C={job_c(i)}", f"tracking.run_name=stress/job{i}", f"tracking.experiment={experiment}", *FAST]
    return cmd + ([f"tracking.uri={tracking_uri}"] if tracking_uri else [])


def sweep_command(jobs: int, tracking_uri: str | None, experiment: str) -> list[str]:
    """One joblib multirun of ``jobs`` jobs (seed i, model.C job_c(i)) running in parallel."""
    exe = str(Path(sys.executable).with_name("nlpkit-train"))
    values = ",".join(str(job_c(i)) for i in range(jobs))
    cmd = [exe, "-m", "hydra/launcher=joblib", f"hydra.launcher.n_jobs={jobs}", f"model.C={values}",
           f"tracking.experiment={experiment}", *FAST]
    return cmd + ([f"tracking.uri={tracking_uri}"] if tracking_uri else [])


def launch(commands: list[list[str]], cwd: Path, timeout: float = 600) -> list[int]:
    """Start every command at once in ``cwd`` and wait for all of them; return their exit codes."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    logs = cwd / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    procs = []
    for i, cmd in enumerate(commands):
        out = open(logs / f"job{i}.log", "w")  # noqa: SIM115 - closed below, after the process ends
        procs.append((subprocess.Popen(cmd, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT), out))
    codes = []
    deadline = time.monotonic() + timeout
    for proc, out in procs:
        codes.append(proc.wait(timeout=max(1.0, deadline - time.monotonic())))
        out.close()
    return codes


def check(tracking_uri: str, experiment: str, expected_names: list[str], result: StressResult) -> StressResult:
    """Fill ``result`` with each expected run's status and whether it holds its own predictor."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    found = client.get_experiment_by_name(experiment)
    runs = client.search_runs([found.experiment_id], max_results=1000) if found else []
    by_name: dict[str, list[Any]] = {}
    for run in runs:
        by_name.setdefault(run.info.run_name, []).append(run)
    for name in expected_names:
        matches = by_name.get(name, [])
        if len(matches) != 1:
            result.problems.append(f"{name}: {len(matches)} runs with this name (expected 1)")
            result.statuses[name], result.own[name] = "MISSING", False
            continue
        run = matches[0]
        result.statuses[name] = run.info.status
        result.own[name] = _owns_predictor(tracking_uri, run, result.problems)
    result.problems += [f"{r.info.run_name} ({r.info.run_id}) still RUNNING" for r in runs if r.info.status == "RUNNING"]
    return result


def _owns_predictor(tracking_uri: str, run: Any, problems: list[str]) -> bool:
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    name, params = run.info.run_name, run.data.params
    with tempfile.TemporaryDirectory() as tmp:
        try:
            local = Path(mlflow.artifacts.download_artifacts(f"runs:/{run.info.run_id}/model", dst_path=tmp))
            config_yaml = Path(mlflow.artifacts.download_artifacts(run_id=run.info.run_id, artifact_path="config.yaml",
                                                                   dst_path=tmp)).read_text()
        except Exception as err:  # noqa: BLE001 - any failure to fetch means the run does not hold its model
            problems.append(f"{name}: cannot fetch its model ({type(err).__name__}: {err})")
            return False
        predictor = next(local.rglob("nlpkit.json")).parent
        meta = json.loads((predictor / "nlpkit.json").read_text())
        checks = {
            "model.C": float(meta["config"]["model"]["C"]) == float(params.get("model.C", "nan")),
            "seed": str(meta["seed"]) == params.get("seed"),
            "config.yaml": f"C: {float(params.get('model.C', 'nan'))}" in config_yaml,
            "digest": digest_of(predictor) == run.data.tags.get("nlpkit.predictor_digest"),
        }
    bad = [k for k, ok in checks.items() if not ok]
    if bad:
        problems.append(f"{name}: predictor does not match its run on {', '.join(bad)}")
    return not bad


def digest_of(directory: Path) -> str:
    """The digest nlpkit seals a predictor with (its model files, nlpkit.json excluded)."""
    from nlpkit.predictor_files import seal

    return seal(directory)["digest"]


def run_stress(jobs: int, folder: Path, tracking_uri: str | None, sweep: bool = False) -> StressResult:
    """Launch ``jobs`` independent processes (or one parallel sweep of ``jobs`` jobs) in ``folder``; check."""
    experiment = f"stress-{os.getpid()}-{int(time.time())}"
    folder.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    if sweep:
        codes = launch([sweep_command(jobs, tracking_uri, experiment)], folder)
    else:
        codes = launch([train_command(i, tracking_uri, experiment) for i in range(jobs)], folder)
    result = StressResult(jobs, codes, seconds=time.perf_counter() - start)
    for i, code in enumerate(codes):  # why a job failed: the last lines of its console
        if code != 0:
            tail = (folder / "logs" / f"job{i}.log").read_text(errors="replace").strip().splitlines()[-3:]
            result.problems.append(f"job{i} exited {code}: {' | '.join(tail)}")
    uri = tracking_uri or f"sqlite:///{folder.resolve() / 'mlflow.db'}"
    if sweep:
        return _check_sweep(uri, experiment, jobs, result)
    return check(uri, experiment, [f"stress/job{i}" for i in range(jobs)], result)


def _check_sweep(uri: str, experiment: str, jobs: int, result: StressResult) -> StressResult:
    """A sweep's children share a run name, so they are checked one by one by run id."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(uri)
    found = client.get_experiment_by_name(experiment)
    runs = client.search_runs([found.experiment_id], max_results=1000) if found else []
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    parents = [r for r in runs if r.data.tags.get("nlpkit.sweep") == "true"]
    if len(children) != jobs or len(parents) != 1:
        result.problems.append(f"expected 1 parent and {jobs} children, found {len(parents)} and {len(children)}")
    for run in parents + children:
        key = f"{run.info.run_name} ({run.info.run_id[:8]})"
        result.statuses[key] = run.info.status
        result.own[key] = run in parents or _owns_predictor(uri, run, result.problems)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--tracking-uri", help="default: a new sqlite store in a fresh folder")
    parser.add_argument("--sweep", action="store_true", help="one joblib multirun of --jobs parallel jobs")
    parser.add_argument("--folder", type=Path, help="working folder (default: a fresh temporary one)")
    args = parser.parse_args()
    folder = args.folder or Path(tempfile.mkdtemp(prefix="nlpkit-stress-"))
    load = os.getloadavg()[0]
    result = run_stress(args.jobs, folder, args.tracking_uri, args.sweep)
    store = args.tracking_uri or "new sqlite store"
    print("| jobs | store | mode | exit 0 | FINISHED | own predictor | RUNNING left | wall s | load before |")
    print("|---:|---|---|---:|---:|---:|---:|---:|---:|")
    print(f"| {args.jobs} | {store} | {'sweep' if args.sweep else 'processes'} | {result.exit_codes.count(0)}/{len(result.exit_codes)} "
          f"| {result.finished}/{len(result.statuses)} | {result.owned}/{len(result.own)} | {result.running} "
          f"| {result.seconds:.0f} | {load:.2f} |")
    for problem in result.problems:
        print("problem:", problem)
    print(f"logs: {folder / 'logs'}")


if __name__ == "__main__":
    main()
