"""Prevalence estimation end to end: ``estimate_prevalence(model, data, by=...)`` and its outputs.

The result is a table with the columns ``group, method, class, estimate, ci_low, ci_high, n`` (written as CSV
or JSON), a PNG of the shares over the groups with CI bands (``--by date:month`` gives a monthly series), and
optionally an MLflow run linked to the run that trained the model (same experiment, tag
``nlpkit.model_run_id``; found through the predictor's digest, which training tags its run with).
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from nlpkit.errors import ConfigError, DataError
from nlpkit.prevalence import Estimate, ValidationRecord, check_methods, estimate_groups

COLUMNS = ("group", "method", "class", "estimate", "ci_low", "ci_high", "n")
TABLE_SUFFIXES = (".csv", ".json")


@dataclass
class PrevalenceResult:
    """Prevalence rows plus what produced them (for the outputs and the MLflow run)."""

    rows: list[Estimate]
    labels: list[str]
    by: str | None = None
    model: str = ""
    digest: str = ""
    settings: dict[str, Any] = field(default_factory=dict)

    def records(self) -> list[dict[str, Any]]:
        """The rows as dicts with the table's column names (``class`` for the label)."""
        return [{"group": r.group, "method": r.method, "class": r.label, "estimate": r.estimate,
                 "ci_low": r.ci_low, "ci_high": r.ci_high, "n": r.n} for r in self.rows]

    def to_frame(self) -> Any:
        """The table as a pandas DataFrame."""
        import pandas as pd

        return pd.DataFrame(self.records(), columns=list(COLUMNS))

    def format(self) -> str:
        """A plain-text table (one line per group, method and class)."""
        lines = [f"{'group':<12}{'method':<7}{'class':<16}{'estimate':>9}{'95% CI':>18}{'n':>7}"]
        for r in self.rows:
            lines.append(f"{r.group:<12}{r.method:<7}{r.label:<16}{r.estimate:>9.3f}   [{r.ci_low:.3f}, {r.ci_high:.3f}]{r.n:>7}")
        return "\n".join(lines)


def estimate_prevalence(model: Any, data: str | Path | Sequence[str | Path], *, by: str | None = None,
                        methods: Sequence[str] | str | None = None, validation: str | Path | None = None,
                        label_field: str = "label", text_field: str = "text", target: str | None = None,
                        n_bootstrap: int = 500, confidence: float = 0.95, seed: int = 0) -> PrevalenceResult:
    """Estimate class shares in ``data`` (files as for ``nlpkit predict``) overall and per ``by`` group.

    ``model``: a Predictor or anything ``Predictor.load`` accepts. ``validation``: a labelled file that
    replaces the validation predictions stored in the predictor (needed by acc/pacc/sld for predictors
    without them). See ``nlpkit.prevalence`` for the methods and what the intervals cover."""
    from nlpkit.predict import Predictor
    from nlpkit.prevalence_data import read_documents, read_validation, validation_from_file

    methods = check_methods(methods)
    files = [Path(data)] if isinstance(data, (str, Path)) else [Path(p) for p in data]
    source = str(model) if not isinstance(model, Predictor) else str(model.path or "")
    predictor = model if isinstance(model, Predictor) else Predictor.load(model)
    record: ValidationRecord | None = (validation_from_file(predictor, Path(validation), label_field, text_field, target)
                                       if validation else read_validation(predictor))
    docs, groups = read_documents(files, text_field, target, by, predictor=predictor)
    proba = predictor.predict_proba(docs)
    fields = [*(predictor.metadata.get("text_fields") or [text_field]), predictor.metadata.get("target_field") or "target"]
    copies = [tuple(str(doc.get(f, "")) for f in fields) for doc in docs]  # the same text: resampled together
    rows = estimate_groups(proba, groups, predictor.labels, methods, record, n_bootstrap=n_bootstrap,
                           confidence=confidence, seed=seed, copies=copies)
    settings = {"methods": ",".join(methods), "by": by or "", "n_bootstrap": n_bootstrap, "confidence": confidence,
                "seed": seed, "validation": str(validation) if validation else "stored" if record else "none",
                "data": ",".join(map(str, files))}
    return PrevalenceResult(rows, predictor.labels, by, source, str(predictor.metadata.get("digest", "")), settings)


# -- outputs ---------------------------------------------------------------------------------------------------
def check_table_path(path: Path | None) -> None:
    """Refuse an output path whose suffix is neither .csv nor .json before any work is done."""
    if path is not None and Path(path).suffix.lower() not in TABLE_SUFFIXES:
        raise ConfigError(f"--output {str(path)!r}: expected a .csv or .json file; got suffix {Path(path).suffix!r}. "
                          "Fix: e.g. --output prevalence.csv.")


def write_table(result: PrevalenceResult, path: Path) -> Path:
    """Write the table as CSV (one row per group, method and class) or JSON (a list of those rows)."""
    path = Path(path)
    check_table_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".json":
        path.write_text(json.dumps(result.records(), indent=1) + "\n", encoding="utf-8")
        return path
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(COLUMNS))
        writer.writeheader()
        writer.writerows(result.records())
    return path


def plot(result: PrevalenceResult, path: Path, label: str | None = None, methods: Sequence[str] | None = None) -> Path:
    """Plot the share of ``label`` (default: every class, one panel each) over the groups, one line with a CI
    band per method. Groups are sorted, so ``--by date:month`` gives a time series."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = sorted({r.group for r in result.rows if r.group != "all"}) or ["all"]
    shown = [label] if label else result.labels
    if label and label not in result.labels:
        raise DataError(f"plot label {label!r} is not a class; expected one of {result.labels}. Fix: pick one of them.")
    methods = list(methods or dict.fromkeys(r.method for r in result.rows))
    fig, axes = plt.subplots(len(shown), 1, figsize=(min(16.0, max(8.0, 0.2 * len(groups) + 3)), 2.4 * len(shown) + 0.8),
                             sharex=True, squeeze=False)
    for ax, name in zip(axes[:, 0], shown):
        for method in methods:
            _band(ax, result.rows, groups, name, method)
        ax.set_ylabel(f"share {name}", fontsize=9)
        ax.tick_params(labelsize=8)
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8, ncol=len(methods))
    step = max(1, len(groups) // 40)  # at most ~40 tick labels
    axes[-1, 0].set_xticks(range(0, len(groups), step), groups[::step], rotation=60, ha="right", fontsize=7)
    axes[0, 0].set_title(f"Estimated prevalence by {result.by or 'collection'} (bands: 95% bootstrap CI)", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _band(ax: Any, rows: list[Estimate], groups: list[str], label: str, method: str) -> None:
    found = {r.group: r for r in rows if r.label == label and r.method == method}
    xs = [i for i, g in enumerate(groups) if g in found]
    ys = [found[groups[i]] for i in xs]
    line = ax.plot(xs, [r.estimate for r in ys], marker="o", markersize=3, label=method)[0]
    ax.fill_between(xs, [r.ci_low for r in ys], [r.ci_high for r in ys], alpha=0.15, color=line.get_color())


def log_run(result: PrevalenceResult, tracking_uri: str | None, artifacts: Sequence[Path]) -> str:
    """Record the estimate as an MLflow run in the experiment of the run that trained the model (found by the
    predictor's digest; else the experiment ``nlpkit-prevalence``), tagged with that run's id and the digest;
    the table and plot are its artifacts and the overall estimates its metrics. Returns the run id."""
    from nlpkit.assess_tracking import model_run as find_model_run
    from nlpkit.procs import process_tags
    from nlpkit.store import experiment_id as named_experiment
    from nlpkit.store import open_store

    client = open_store(tracking_uri)
    model_run = find_model_run(client, result.model, result.digest)  # the training run, never a prevalence run
    experiment_id = model_run.info.experiment_id if model_run else named_experiment(client, "nlpkit-prevalence")
    tags = {"nlpkit.prevalence": "true", "nlpkit.predictor_digest": result.digest, "nlpkit.model": result.model[:500],
            **({"nlpkit.model_run_id": model_run.info.run_id} if model_run else {}), **process_tags()}
    run = client.create_run(experiment_id, run_name=f"prevalence/{result.by or 'all'}", tags=tags)
    run_id = run.info.run_id
    try:
        for key, value in result.settings.items():
            client.log_param(run_id, f"prevalence.{key}", str(value)[:500])
        for r in result.rows:
            if r.group == "all":
                client.log_metric(run_id, f"prevalence/{r.method}/{r.label}", r.estimate)
        for path in artifacts:
            client.log_artifact(run_id, str(path))
    except Exception:
        client.set_terminated(run_id, "FAILED")
        raise
    client.set_terminated(run_id, "FINISHED")
    return run_id
