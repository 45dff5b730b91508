"""One benchmark job (data set x contender x seed) in its own process, so its peak memory is its own.

    python -m experiments.benchmarks.worker JOB.json      # writes result.json beside JOB.json

Both kinds of contender see the same splits: the worker composes nlpkit's config for the data set and loads
it with ``nlpkit.load_data``; an nlpkit contender then trains through ``nlpkit.train(nlpkit.compose([...]))``
(which loads the same config again, as a user's run would), a peer fits on the loaded splits.
Memory: the peak resident set of this process from the end of imports and data loading on (``VmHWM`` after
``reset_peak``; the whole process's ``ru_maxrss`` where the peak cannot be reset), and that peak minus the
resident set at that point (what fitting and predicting added on top). Before 2026-12-07 the peak also held
the transient peak of loading the data, which made ``+fit`` on large data sets look larger than it was.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

from experiments.benchmarks import contenders as registry


def rss_mib() -> float:
    """The current resident set of this process, MiB (Linux /proc)."""
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * resource.getpagesize() / 2**20


def peak_mib() -> float:
    """The peak resident set since start or since ``reset_peak`` (VmHWM), MiB; ``ru_maxrss`` where unavailable."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak() -> None:
    """Forget the peak so far (Linux: ``clear_refs`` 5), so that reading the splits does not count as fitting."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass


def load_splits(job: dict[str, Any]) -> Any:
    """The data set's splits, exactly as nlpkit loads them for this job's overrides (model.* ones aside)."""
    from nlpkit import compose, load_data
    from nlpkit.config import validate

    cfg = validate(compose([*registry.dataset_overrides(job["dataset"]), "tracking=off",
                            *registry.data_only(job["overrides"])]))
    return load_data(cfg.data, cfg.task), list(cfg.task.labels)


def warm_imports(contender: registry.Contender) -> None:
    """Import what the contender's code imports, so the memory it adds counts fitting, not importing."""
    from importlib import import_module

    extra = ("mlflow", "skops.io", "nlpkit.train") if contender.kind == registry.NLPKIT else ()
    for name in (*contender.packages, *extra):
        import_module(name)


def run_nlpkit(contender: registry.Contender, job: dict[str, Any], test_inputs: list) -> dict[str, Any]:
    """Train through nlpkit's public API (logged to the benchmark's MLflow experiment), then time prediction."""
    from nlpkit import compose, train

    overrides = [
        *registry.dataset_overrides(job["dataset"]), f"model={contender.model}", f"seed={job['seed']}",
        f"output_dir={Path(job['dir']) / 'nlpkit'}", *contender.overrides, *job["overrides"],
    ]
    if job.get("tracking_uri"):
        overrides += [f"tracking.uri={job['tracking_uri']}", f"tracking.experiment={job['experiment']}",
                      f"tracking.run_name={job['run_name']}", "tracking.log_model=false"]
    else:
        overrides.append("tracking=off")
    start = time.perf_counter()
    result = train(compose(overrides))
    wall = time.perf_counter() - start
    start = time.perf_counter()
    y_pred = result.predictor.predict(test_inputs)
    return {"y_pred": [str(y) for y in y_pred], "fit_seconds": result.fit_seconds,
            "predict_seconds": time.perf_counter() - start, "train_call_seconds": wall, "run_id": result.run_id}


def run_peer(contender: registry.Contender, job: dict[str, Any], splits: Any, test_inputs: list) -> dict[str, Any]:
    """Fit the peer on the train split and predict the test split, timing each."""
    from nlpkit.data import model_inputs

    fit, predict = registry.build_peer(contender)
    train_inputs, train_labels = model_inputs(splits["train"]), list(splits["train"]["label"])
    start = time.perf_counter()
    model = fit(train_inputs, train_labels, job["seed"])
    fit_seconds = time.perf_counter() - start
    start = time.perf_counter()
    y_pred = predict(model, test_inputs)
    return {"y_pred": [str(y) for y in y_pred], "fit_seconds": fit_seconds,
            "predict_seconds": time.perf_counter() - start, "run_id": None}


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    """Load the splits, run the contender, and return predictions, timings and memory."""
    from nlpkit.data import model_inputs

    contender = registry.get(job["contender"])
    splits, labels = load_splits(job)
    test_inputs = model_inputs(splits["test"])
    warm_imports(contender)
    reset_peak()
    base = rss_mib()
    if contender.kind == registry.NLPKIT:
        out = run_nlpkit(contender, job, test_inputs)
    else:
        out = run_peer(contender, job, splits, test_inputs)
    peak = peak_mib()
    return {
        **out, "labels": labels, "y_true": list(splits["test"]["label"]),
        "sizes": {name: len(part) for name, part in splits.items()},
        "peak_rss_mib": peak, "base_rss_mib": base, "added_rss_mib": max(peak - base, 0.0),
    }


def main(argv: list[str] | None = None) -> None:
    """Run the job described by the JSON file given as the only argument; write ``result.json`` beside it."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        raise SystemExit("usage: python -m experiments.benchmarks.worker JOB.json")
    path = Path(args[0])
    result = run_job(json.loads(path.read_text()))
    path.with_name("result.json").write_text(json.dumps(result))


if __name__ == "__main__":
    main()
