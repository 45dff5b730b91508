"""Score a trained predictor on any labelled file: ``nlpkit evaluate`` and ``nlpkit.evaluate_file``.

The file is read with training's own loader (``nlpkit.data.load_labelled``: same formats, column renaming,
text-field joining and label mapping), scored by the predictor, and measured with ``nlpkit.evaluate``: macro-F1
with a percentile-bootstrap 95% interval, accuracy, per-class precision/recall/F1 and the confusion matrix.
Macro-F1 averages over the labels present in the gold data by default (``labels="present"``): a file without
``neutral`` is not charged a 0 for a class it cannot contain. ``labels="all"`` averages over every model label.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from nlpkit.errors import ConfigError, DataError

LABEL_MODES = ("present", "all")


@dataclass
class Evaluation:
    """The result of scoring one predictor on one labelled file."""

    model: str
    data: str
    task: str
    labels: list[str]  # the model's labels: order of the per-class rows and the confusion matrix
    averaged: list[str]  # the labels macro-F1 averages over
    mode: str  # present | all
    n: int
    macro_f1: float
    ci: tuple[float, float]
    accuracy: float
    per_class: list[dict[str, Any]]
    confusion: list[list[int]]
    data_digest: str
    predictor_digest: str
    settings: dict[str, Any] = field(default_factory=dict)
    model_run_id: str | None = None
    gold: list[str] = field(default_factory=list, repr=False)
    predicted: list[str] = field(default_factory=list, repr=False)
    texts: list[str] = field(default_factory=list, repr=False)

    @property
    def absent(self) -> list[str]:
        """Model labels with no gold example in the file."""
        return [row["label"] for row in self.per_class if row["support"] == 0]

    def summary(self) -> dict[str, Any]:
        """Everything but the per-document lists, as JSON-ready values."""
        skip = {"gold", "predicted", "texts"}
        return {k: v for k, v in asdict(self).items() if k not in skip} | {"absent": self.absent}

    def averaging_note(self) -> str:
        """One sentence stating which labels macro-F1 averages over."""
        if self.mode == "all":
            return f"over all {len(self.labels)} model labels (absent ones count 0)"
        note = f"over the {len(self.averaged)} gold-present labels ({', '.join(self.averaged)})"
        return note + (f"; not in the gold labels: {', '.join(self.absent)} (--labels all counts them as 0)"
                       if self.absent else "")

    def format(self) -> str:
        """The printed report: headline with CI, per-class table, confusion matrix."""
        low, high = self.ci
        lines = [f"nlpkit evaluate | model={self.model} task={self.task}",
                 f"data: {self.data} (n={self.n}, digest {self.data_digest})",
                 f"macro-F1 {self.macro_f1:.3f} [95% CI {low:.3f}, {high:.3f}] {self.averaging_note()}",
                 f"accuracy {self.accuracy:.3f}", ""]
        width = max(len("label"), *(len(label) for label in self.labels))
        lines.append(f"{'label':<{width}}  precision  recall     f1  support")
        for row in self.per_class:
            lines.append(f"{row['label']:<{width}}  {row['precision']:9.3f}  {row['recall']:6.3f}  {row['f1']:5.3f}"
                         f"  {row['support']:7d}")
        lines += ["", "confusion matrix (rows: gold, columns: predicted)", _matrix_text(self.labels, self.confusion)]
        return "\n".join(lines)


def evaluate_file(model: Any, data: str | Path, *, text_column: str = "text", label_column: str = "label",
                  label_map: dict[str, str] | str | None = None, target_column: str | None = None,
                  labels: str = "present", drop_unmapped: bool = False, n_resamples: int = 1000, seed: int = 0,
                  tracking_uri: str | None = None) -> Evaluation:
    """Score ``model`` (a Predictor, a directory, ``runs:/``, ``models:/`` or an installed package name) on the
    labelled file ``data``; see the module docstring. ``label_map`` maps gold labels onto the model's (a dict or
    ``"a=b,c=d"``); ``drop_unmapped`` drops rows whose label is still not a model label instead of failing.
    ``tracking_uri`` is the MLflow store MLflow URIs load from (default: $MLFLOW_TRACKING_URI)."""
    from nlpkit.data import dataset_digest, load_labelled, model_inputs
    from nlpkit.predict import Predictor

    mapping = parse_label_map(label_map)
    _check_mode(labels)
    path = _check_path(data)
    name = model if isinstance(model, str) else getattr(model, "path", None) or "predictor"
    predictor = model if isinstance(model, Predictor) else _load(str(model), tracking_uri)
    data_cfg, task_cfg = _configs(predictor, path, text_column, label_column, target_column, mapping, drop_unmapped)
    check = _checker(predictor, {"text": text_column, "label": label_column, "target": target_column},
                     mapping, drop_unmapped)
    ds = load_labelled(data_cfg, task_cfg, check)
    proba = predictor.predict_proba(model_inputs(ds))
    predicted = [predictor.labels[i] for i in proba.argmax(axis=1)]
    settings = {"text_column": text_column, "label_column": label_column, "target_column": target_column,
                "label_map": mapping, "drop_unmapped": drop_unmapped, "n_resamples": n_resamples, "seed": seed}
    return measure(str(name), str(path), predictor, list(ds["label"]), predicted, labels, settings,
                   dataset_digest(ds), list(ds["text"]))


def measure(model: str, data: str, predictor: Any, gold: list[str], predicted: list[str], mode: str,
            settings: dict[str, Any], data_digest: str, texts: list[str]) -> Evaluation:
    """The metrics of ``predicted`` against ``gold`` for ``predictor``'s labels, as an Evaluation."""
    from sklearn.metrics import f1_score

    from nlpkit.evaluate import bootstrap_ci, confusion, evaluate

    labels = predictor.labels
    averaged = labels if mode == "all" else [label for label in labels if label in set(gold)]
    metrics = evaluate(gold, predicted, labels)
    per_class = [{"label": label, "precision": metrics[f"precision/{label}"], "recall": metrics[f"recall/{label}"],
                  "f1": metrics[f"f1/{label}"], "support": int(metrics[f"support/{label}"])} for label in labels]
    macro = float(f1_score(gold, predicted, labels=averaged, average="macro", zero_division=0))
    ci = bootstrap_ci(gold, predicted, averaged, n_resamples=settings["n_resamples"], seed=settings["seed"])
    return Evaluation(model=model, data=data, task=str(predictor.metadata.get("task")), labels=list(labels),
                      averaged=list(averaged), mode=mode, n=len(gold), macro_f1=macro, ci=ci,
                      accuracy=metrics["accuracy"], per_class=per_class,
                      confusion=confusion(gold, predicted, labels).tolist(), data_digest=data_digest,
                      predictor_digest=str(predictor.metadata.get("digest", "")), settings=settings, gold=gold,
                      predicted=predicted, texts=texts)


def write(result: Evaluation, out: Path) -> list[Path]:
    """``evaluation.json``, ``per_class.csv``, ``confusion_matrix.csv`` and ``predictions.csv`` under ``out``."""
    import pandas as pd

    out.mkdir(parents=True, exist_ok=True)
    paths = [out / name for name in ("evaluation.json", "per_class.csv", "confusion_matrix.csv", "predictions.csv")]
    paths[0].write_text(json.dumps(result.summary(), indent=2) + "\n")
    pd.DataFrame(result.per_class).to_csv(paths[1], index=False)
    pd.DataFrame(result.confusion, index=pd.Index(result.labels, name="gold"), columns=result.labels).to_csv(paths[2])
    pd.DataFrame({"label": result.gold, "predicted": result.predicted, "text": result.texts}).to_csv(paths[3], index=False)
    return paths


def parse_label_map(value: dict[str, str] | str | None) -> dict[str, str]:
    """``{"a": "b"}`` or ``"a=b,c=d"`` as a dict of strings (``None``/``""``: no mapping)."""
    if not value:
        return {}
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    pairs = [item.split("=", 1) for item in str(value).split(",") if item.strip()]
    bad = [("=".join(p)) for p in pairs if len(p) != 2 or not p[0].strip() or not p[1].strip()]
    if bad:
        raise ConfigError(f"--label-map expects GOLD=MODEL pairs separated by commas; got {bad[0]!r} in {value!r}. "
                          "Fix: e.g. --label-map conflict=escalatory,cooperation=de_escalatory.")
    return {k.strip(): v.strip() for k, v in pairs}


def _check_mode(mode: str) -> None:
    if mode not in LABEL_MODES:
        raise ConfigError(f"--labels must be one of {list(LABEL_MODES)}; got {mode!r}. Fix: --labels present "
                          "(macro-F1 over the labels in the gold data) or --labels all (over every model label).")


def _check_path(data: str | Path) -> Path:
    path = Path(data).expanduser()
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "does not exist"
        raise DataError(f"--data {str(data)!r} {what}; expected a labelled .csv, .tsv, .jsonl, .json or .parquet "
                        "file. Fix: check the path.")
    return path


def _load(model: str, tracking_uri: str | None) -> Any:
    from nlpkit.predict import MLFLOW_SCHEMES, Predictor

    if model.startswith(MLFLOW_SCHEMES) and tracking_uri:
        import mlflow

        from nlpkit.store import resolve_uri

        mlflow.set_tracking_uri(resolve_uri(tracking_uri))
    return Predictor.load(model)


def _configs(predictor: Any, path: Path, text_column: str, label_column: str, target_column: str | None,
             mapping: dict[str, str], drop_unmapped: bool) -> tuple[Any, Any]:
    from omegaconf import OmegaConf

    meta = predictor.metadata
    text_fields = list(meta.get("text_fields") or ["text"])
    target_field = meta.get("target_field")
    columns = {"label": label_column, text_fields[-1]: text_column}
    if target_field:
        columns[target_field] = target_column or target_field
    data_cfg = OmegaConf.create({
        "name": path.stem, "source": "file", "path": str(path), "files": {}, "hub_config": None, "columns": columns,
        "label_map": mapping, "drop_unmapped": drop_unmapped, "max_rows": None, "split": {"column": "split"},
    })
    task_cfg = OmegaConf.create({"name": str(meta.get("task")), "label_column": "label", "labels": predictor.labels,
                                 "text_fields": text_fields, "target_field": target_field})
    return data_cfg, task_cfg


def _checker(predictor: Any, columns: dict[str, str | None], mapping: dict[str, str],
             drop_unmapped: bool) -> Callable[[Any, str], None]:
    """The check ``load_labelled`` runs on the rows as read: columns present, gold labels known to the model."""
    allowed = predictor.labels
    if predictor.needs_target:
        columns["target"] = columns["target"] or predictor.metadata.get("target_field") or "target"
    else:
        columns.pop("target")

    def check(ds: Any, where: str) -> None:
        for role, column in columns.items():
            if column not in ds.column_names:
                raise DataError(f"{where} has no {role} column {column!r}; columns found: {ds.column_names}. "
                                f"Fix: name the {role} column with --{role}-column <column>.")
        _check_labels([v for v in ds[columns["label"]] if v is not None], mapping, allowed, drop_unmapped, where)

    return check


def _check_labels(values: Sequence[Any], mapping: dict[str, str], allowed: list[str], drop_unmapped: bool,
                  where: str) -> None:
    bad_targets = sorted(set(mapping.values()) - set(allowed))
    if bad_targets:
        raise DataError(f"--label-map maps onto {bad_targets}, which are not the model's labels {allowed}. "
                        f"Fix: map each gold label onto one of {allowed}.")
    unknown = sorted({mapping.get(str(v), str(v)) for v in values} - set(allowed))
    if unknown and not drop_unmapped:
        example = ",".join(f"{u}=<label>" for u in unknown[:3])
        raise DataError(f"{where}: gold label(s) {unknown} are not among the model's labels {allowed}. "
                        f"Fix: map them with --label-map {example} (or drop those rows with --drop-unmapped).")


def _matrix_text(labels: list[str], matrix: list[list[int]]) -> str:
    width = max(len(label) for label in labels) + 2
    rows = ["".rjust(width) + "".join(label.rjust(width) for label in labels)]
    rows += [label.rjust(width) + "".join(str(v).rjust(width) for v in row) for label, row in zip(labels, matrix)]
    return "\n".join(rows)
