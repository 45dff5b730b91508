"""Compare two runs (paired, on the same test examples) or two seed groups of a sweep, from MLflow alone:
every run stores its test predictions as an artifact, so nothing is retrained."""

from __future__ import annotations

import json
import math
import tempfile
from dataclasses import asdict
from typing import Any

import pandas as pd

from nlpkit.errors import DataError
from nlpkit.stats import compare_predictions, difference_of_means, summarize


def predictions(client: Any, run_id: str, split: str = "test") -> pd.DataFrame:
    """The ``predictions/<split>.csv`` artifact of a run."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(run_id, f"predictions/{split}.csv", tmp)
        except Exception as err:  # MLflow raises several types for a missing run or artifact
            raise DataError(
                f"Run {run_id!r} has no predictions/{split}.csv artifact ({err}). Fix: compare runs made by "
                "nlpkit-train, on a split they evaluated (see --split)."
            ) from err
        return pd.read_csv(path, dtype={"id": str, "label": str, "predicted": str}, keep_default_na=False)


def compare_runs(client: Any, run_a: str, run_b: str, split: str = "test") -> dict[str, Any]:
    """Paired bootstrap CI of the macro-F1 difference (B - A) and McNemar's test over the split."""
    a, b = predictions(client, run_a, split), predictions(client, run_b, split)
    if sorted(a["id"]) != sorted(b["id"]):
        raise DataError(
            f"Runs {run_a} and {run_b} were evaluated on different {split} examples ({len(a)} vs {len(b)} rows, "
            "ids differ); a paired comparison needs the same examples. Fix: compare runs with the same data "
            "and split settings, or compare seed groups (difference of means)."
        )
    merged = a.merge(b, on="id", suffixes=("_a", "_b"))
    if not (merged["label_a"] == merged["label_b"]).all():
        raise DataError(f"Runs {run_a} and {run_b} disagree on the gold labels of the same ids. Fix: same data.")
    labels = sorted(set(merged["label_a"]))
    result = compare_predictions(merged["label_a"], merged["predicted_a"], merged["predicted_b"], labels)
    return {"kind": "paired", "a": run_a, "b": run_b, "split": split, **asdict(result)}


def compare_groups(client: Any, parent_id: str, config_a: str, config_b: str, metric: str = "test/macro_f1") -> dict[str, Any]:
    """Difference of the seed-group means (B - A) of ``metric`` inside a sweep, with a Welch CI."""
    values = {name: _group_values(client, parent_id, name, metric) for name in (config_a, config_b)}
    diff, low, high = difference_of_means(values[config_a], values[config_b])
    sa, sb = summarize(values[config_a]), summarize(values[config_b])
    return {"kind": "seed_groups", "a": config_a, "b": config_b, "metric": metric, "n_a": sa.n, "n_b": sb.n,
            "mean_a": sa.mean, "mean_b": sb.mean, "sd_a": sa.sd, "sd_b": sb.sd, "diff": diff, "ci_low": low,
            "ci_high": high, "distinct_a": sa.distinct, "distinct_b": sb.distinct,
            "seed_effect": "none" if sa.all_identical and sb.all_identical else "yes"}


def run_in_group(client: Any, parent_id: str, selector: str, seed: int) -> str:
    """The id of the FINISHED run with ``seed`` in the sweep configuration that ``selector`` picks."""
    runs = [c for c in _group_runs(client, parent_id, selector) if c.data.params.get("seed") == str(seed)]
    if len(runs) != 1:
        raise DataError(f"{selector!r} has {len(runs)} finished runs with seed={seed} in sweep {parent_id}; expected one.")
    return runs[0].info.run_id


def _group_values(client: Any, parent_id: str, selector: str, metric: str) -> list[float]:
    return [c.data.metrics[metric] for c in _group_runs(client, parent_id, selector) if metric in c.data.metrics]


def _group_runs(client: Any, parent_id: str, selector: str) -> list[Any]:
    parent = client.get_run(parent_id)
    children = client.search_runs([parent.info.experiment_id], f"tags.mlflow.parentRunId = '{parent_id}'",
                                  max_results=5000)
    from nlpkit.sweep import varying_keys

    child_keys = varying_keys([json.loads(c.data.tags.get("nlpkit.overrides", "[]")) for c in children])
    keys = sorted(set(child_keys))
    wanted = set(selector.split())
    matching = [k for k in keys if wanted <= set(k.split())]
    if len(matching) != 1:
        raise DataError(
            f"{selector!r} matches {len(matching)} configurations of sweep {parent_id}; expected exactly one. "
            f"Configurations: {keys}. Fix: give enough overrides to pick one (e.g. 'model=tfidf_svm')."
        )
    return [c for c, k in zip(children, child_keys) if k == matching[0] and c.info.status == "FINISHED"]


def format_comparison(result: dict[str, Any]) -> str:
    """Human-readable lines for a comparison result."""
    if result["kind"] == "paired":
        r = result
        return "\n".join([
            f"paired comparison on {r['n']} {r['split']} examples: B={r['b']} vs A={r['a']}",
            f"macro-F1  A={r['metric_a']:.4f}  B={r['metric_b']:.4f}  B-A={r['diff']:+.4f} "
            f"(95% paired bootstrap CI [{r['ci_low']:+.4f}, {r['ci_high']:+.4f}])",
            f"McNemar ({r['mcnemar_method']}): only A right {r['only_a_correct']}, only B right "
            f"{r['only_b_correct']}, statistic {r['mcnemar_statistic']:.3f}, p = {r['mcnemar_p']:.4f}",
        ])
    r = result
    lines = [
        f"seed groups ({r['metric']}): B='{r['b']}' vs A='{r['a']}'",
        f"A: mean {r['mean_a']:.4f} ± {r['sd_a']:.4f} (n={r['n_a']})   B: mean {r['mean_b']:.4f} ± {r['sd_b']:.4f} (n={r['n_b']})",
    ]
    if r.get("seed_effect") == "none" or math.isnan(r["ci_low"]):
        return "\n".join(lines + [
            f"B-A = {r['diff']:+.4f} (95% Welch CI n/a: all seeds identical in both groups)",
            "warning: every seed gave the same result in each group, so the seed changes neither the model nor the "
            "split and there is no seed variance to test. For a seed study let the seed drive the split too "
            "(data.split.seed=${seed}), or compare two runs on the same test set (nlpkit compare RUN_A RUN_B).",
        ])
    return "\n".join(lines + [f"B-A = {r['diff']:+.4f} (95% Welch CI [{r['ci_low']:+.4f}, {r['ci_high']:+.4f}])"])


def log_comparison(client: Any, experiment_id: str, result: dict[str, Any]) -> str:
    """Record a comparison as its own MLflow run (metrics + the text report); return the run id."""
    from nlpkit.procs import process_tags

    run = client.create_run(experiment_id, run_name=f"compare/{result['a']}-vs-{result['b']}"[:250],
                            tags={"nlpkit.comparison": result["kind"], **process_tags()})
    for key in ("diff", "ci_low", "ci_high", "mcnemar_p", "mcnemar_statistic", "metric_a", "metric_b", "mean_a", "mean_b"):
        if key in result:
            client.log_metric(run.info.run_id, f"compare/{key}", float(result[key]))
    client.log_param(run.info.run_id, "compare.a", str(result["a"])[:500])
    client.log_param(run.info.run_id, "compare.b", str(result["b"])[:500])
    client.log_text(run.info.run_id, format_comparison(result) + "\n", "comparison.txt")
    client.set_terminated(run.info.run_id, "FINISHED")
    return run.info.run_id
