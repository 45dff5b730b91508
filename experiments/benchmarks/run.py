"""Benchmark harness: nlpkit contenders and peers on the same splits and machine, in one run.

    python -m experiments.benchmarks.run --datasets conflibert_cameo fnc1 --seeds 0 1 2
    python -m experiments.benchmarks.run --contenders nlpkit:finetune hf_trainer setfit --subsample 1500

Each data set is a ``data=`` and a ``task=`` config under experiments/benchmarks/configs/ (a Hydra search path:
``contenders.dataset_overrides``); each (data set, contender, seed) job runs in
its own process (worker.py). Rows go to ``OUT/rows.jsonl`` and ``OUT/table.md``; MLflow gets one experiment
per benchmark run, a parent run per data set, a child run per contender and a run per seed under it.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

from experiments.benchmarks import contenders as registry
from experiments.benchmarks import prepare, report
from experiments.benchmarks.mlflow_log import BenchmarkLog
from experiments.benchmarks.scoring import seed_scores, summarise

DATASETS = ("bbc_news", "allsides_topic", "fnc1", "allsides_leaning", "conflibert_cameo", "conflibert_cameo5",
            "un_quadclass")
PREPARED = {"bbc_news": "bbc_news", "fnc1": "fnc1", "allsides_topic": "allsides", "allsides_leaning": "allsides"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command-line options."""
    p = argparse.ArgumentParser(description="nlpkit benchmark harness (see experiments/benchmarks/README.md)")
    p.add_argument("--datasets", nargs="+", default=list(DATASETS), help=f"data sets (experiments/benchmarks/configs/); default {DATASETS}")
    p.add_argument("--contenders", nargs="+", default=list(registry.DEFAULT),
                   help=f"any of {sorted(registry.CONTENDERS)}; default {registry.DEFAULT}")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--subsample", type=int, default=None, help="data.max_rows for every job (drawn before splitting)")
    p.add_argument("--override", nargs="*", default=[], help="extra nlpkit overrides for every job")
    p.add_argument("--data-root", default=None, help="sets $NLPKIT_BENCHMARK_DATA (default ../shared/datasets)")
    p.add_argument("--cache-dir", default=None, help="sets $NLPKIT_BENCHMARK_CACHE (default ~/.cache/nlpkit/benchmarks)")
    p.add_argument("--tracking-uri", default=None, help="MLflow store; default $MLFLOW_TRACKING_URI or ./mlflow.db")
    p.add_argument("--experiment", default=None, help="MLflow experiment; default benchmarks/<timestamp>")
    p.add_argument("--no-tracking", action="store_true", help="log nothing to MLflow")
    p.add_argument("--out", default=None, help="output folder; default <cache>/runs/<timestamp>")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds one job may take before it is stopped")
    return p.parse_args(argv)


def configure(args: argparse.Namespace) -> None:
    """Export the data paths (absolute) so every worker process and every config resolves the same files."""
    os.environ["NLPKIT_BENCHMARK_DATA"] = str(Path(args.data_root).resolve()) if args.data_root else str(prepare.data_root())
    os.environ["NLPKIT_BENCHMARK_CACHE"] = str(Path(args.cache_dir).resolve()) if args.cache_dir else str(prepare.cache_dir())
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    for name in args.contenders:
        registry.get(name)  # fail early on a typo
    unknown = [d for d in args.datasets if not (registry.CONFIGS / "data" / f"{d}.yaml").is_file()]
    if unknown:
        raise SystemExit(f"Unknown data set(s) {unknown}; expected data sets configured under {registry.CONFIGS} such "
                         f"as {list(DATASETS)}.")


def run_worker(job: dict[str, Any], timeout: float) -> tuple[dict[str, Any] | None, str | None]:
    """Run one job in a fresh process; return (result, None) or (None, why it failed)."""
    folder = Path(job["dir"])
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "job.json").write_text(json.dumps(job))
    cmd = [sys.executable, "-m", "experiments.benchmarks.worker", str(folder / "job.json")]
    try:
        done = subprocess.run(cmd, cwd=prepare.REPO, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None, f"stopped after the {timeout:.0f} s job time limit"
    (folder / "worker.log").write_text(done.stdout + done.stderr)
    if done.returncode != 0:
        last = [line for line in done.stderr.strip().splitlines() if line.strip()][-1:] or ["no output"]
        return None, f"worker failed (exit {done.returncode}): {last[0][:300]}"
    return json.loads((folder / "result.json").read_text()), None


def run_contender(args: argparse.Namespace, log: BenchmarkLog | None, parent: str | None, dataset: str,
                  contender: registry.Contender, out: Path) -> dict[str, Any]:
    """All seeds of one contender on one data set: a summary row (or the reason it did not run)."""
    row: dict[str, Any] = {"dataset": dataset, "contender": contender.name, "subsample": args.subsample,
                           "overrides": args.override if contender.kind == registry.NLPKIT
                           else registry.data_only(args.override), "deterministic": contender.deterministic,
                           "load_avg": report.load_average()}
    reason = registry.unavailable(contender)
    if reason:
        return {**row, "reason": reason}
    child = log.start(contender.name, parent) if log else None
    results, failure = [], None
    for seed in args.seeds[:1] if contender.deterministic else args.seeds:
        result, failure = run_worker(_job(args, log, dataset, contender, seed, out), args.timeout)
        if result is None:
            break
        results.append(result)
        if log:
            _log_seed(log, child, contender, seed, result, dataset)
    row["load_avg"] += f" → {report.load_average()}"
    if results:
        row["summary"] = summarise(results, dataset)
    if failure:
        row["reason"] = failure
    if log:
        log.log(child, metrics=row.get("summary"), params={"dataset": dataset, "subsample": args.subsample},
                tags={"benchmark.reason": failure or "", "benchmark.load_avg": row["load_avg"]})
        log.end(child, ok=bool(results))
    return row


def _job(args: argparse.Namespace, log: BenchmarkLog | None, dataset: str, contender: registry.Contender,
         seed: int, out: Path) -> dict[str, Any]:
    overrides = ([f"data.max_rows={args.subsample}"] if args.subsample else []) + list(args.override)
    return {
        "dataset": dataset, "contender": contender.name, "seed": seed, "overrides": overrides,
        "dir": str(out / "jobs" / dataset / contender.name.replace(":", "_") / f"seed{seed}"),
        "tracking_uri": log.uri if log else None, "experiment": log.experiment if log else None,
        "run_name": f"{dataset}/{contender.name}/seed{seed}",
    }


def _log_seed(log: BenchmarkLog, child: str | None, contender: registry.Contender, seed: int,
              result: dict[str, Any], dataset: str) -> None:
    scores = {f"test/{k}": v for k, v in seed_scores(result, dataset).items()}
    if result.get("run_id"):  # nlpkit logged its own run in the worker: nest it and add the harness figures
        log.adopt(result["run_id"], child)
        log.log(result["run_id"], metrics=scores)
        return
    run = log.start(f"{dataset}/{contender.name}/seed{seed}", child)
    log.log(run, metrics=scores, params={"seed": seed, "contender": contender.name, **contender.params})
    log.end(run)


def run(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Every data set x contender; return the rows (also written to ``OUT/rows.jsonl``)."""
    configure(args)
    stamp = datetime.now().strftime("%Y-%m-%d_%H-%M-%S")
    out = Path(args.out or prepare.cache_dir() / "runs" / stamp).resolve()
    out.mkdir(parents=True, exist_ok=True)
    experiment = args.experiment or f"benchmarks/{stamp}"
    log = None if args.no_tracking else BenchmarkLog(_tracking_uri(args), experiment, str(out / "mlartifacts"))
    command = "python -m experiments.benchmarks.run " + shlex.join(sys.argv[1:])
    (out / "machine.json").write_text(json.dumps({**report.machine(), "command": command}, indent=1))
    rows = []
    for dataset in args.datasets:
        rows += run_dataset(args, log, dataset, out, command)
    (out / "table.md").write_text(report.table(rows) + "\n")
    return rows


def run_dataset(args: argparse.Namespace, log: BenchmarkLog | None, dataset: str, out: Path,
                command: str) -> list[dict[str, Any]]:
    """One parent run: prepare the data set's derived files, then every contender."""
    if dataset in PREPARED:
        prepare.prepare(PREPARED[dataset])
    parent = log.start(dataset, tags={"benchmark.command": command, **_machine_tags()}) if log else None
    rows = []
    for name in args.contenders:
        start = time.perf_counter()
        row = run_contender(args, log, parent, dataset, registry.get(name), out)
        rows.append({**row, "command": command, "seconds": time.perf_counter() - start})
        with (out / "rows.jsonl").open("a") as sink:
            sink.write(json.dumps(rows[-1]) + "\n")
        print(report.row_line(rows[-1]), flush=True)
    if log:
        log.end(parent)
    return rows


def _machine_tags() -> dict[str, str]:
    return {f"machine.{k}": str(v) for k, v in report.machine().items()}


def _tracking_uri(args: argparse.Namespace) -> str:
    from nlpkit.tracking import resolve_uri

    return resolve_uri(args.tracking_uri)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and print the table."""
    print(report.HEADER + "\n" + report.RULE, flush=True)
    run(parse_args(argv))


if __name__ == "__main__":
    main()
