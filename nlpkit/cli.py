"""The ``nlpkit`` command: ``nlpkit predict --model URI FILE...`` (training is ``nlpkit-train``)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Iterator

import nlpkit
from nlpkit.errors import DataError, NlpkitError


def main(argv: list[str] | None = None) -> int:
    """Run the ``nlpkit`` command line."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # keep the output a clean table
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except NlpkitError as err:
        if args.debug:
            raise
        print(f"error: {' '.join(str(err).split())} (--debug shows the traceback)", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nlpkit", description=__doc__)
    parser.add_argument("--version", action="version", version=f"nlpkit {nlpkit.__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of nlpkit's errors")
    sub = parser.add_subparsers(dest="command")
    predict = sub.add_parser("predict", help="label texts with a trained predictor")
    predict.add_argument("--model", required=True, help="predictor directory, runs:/<id>/model or models:/<name>/<version>")
    predict.add_argument("files", nargs="+", type=Path, help=".txt files (one document each) or .jsonl files (one per line)")
    predict.add_argument("--text-field", default="text", help="JSONL field holding the text (default: text)")
    predict.add_argument("--target", help="stance target for .txt inputs (JSONL lines carry their own 'target')")
    predict.add_argument("--json", action="store_true", help="print one JSON object per input")
    predict.add_argument("--batch-size", type=int, default=64)
    predict.set_defaults(func=_predict)

    compare = sub.add_parser("compare", help="compare two runs (paired) or two seed groups of a sweep")
    compare.add_argument("a", help="run id, or with --sweep: overrides selecting a configuration (e.g. 'model=tfidf_logreg')")
    compare.add_argument("b", help="run id, or with --sweep: overrides selecting the other configuration")
    compare.add_argument("--sweep", help="parent run id of a sweep: compare seed groups inside it")
    compare.add_argument("--seed", type=int, help="with --sweep: compare the two configurations' runs of this seed, paired")
    compare.add_argument("--split", default="test", help="split whose predictions are compared (default: test)")
    compare.add_argument("--log", action="store_true", help="also record the comparison as an MLflow run")
    compare.add_argument("--tracking-uri", help="MLflow store (default: $MLFLOW_TRACKING_URI or ./mlflow.db)")
    compare.set_defaults(func=_compare)

    report = sub.add_parser("report", help="print a sweep's per-configuration aggregate table from MLflow")
    report.add_argument("parent", nargs="?", help="the sweep's parent run id (default: the latest sweep of --experiment)")
    report.add_argument("--experiment", help="MLflow experiment whose latest sweep to report")
    report.add_argument("--metrics", nargs="+", default=["test/macro_f1", "test/accuracy"])
    report.add_argument("--tracking-uri", help="MLflow store (default: $MLFLOW_TRACKING_URI or ./mlflow.db)")
    report.set_defaults(func=_report)

    runs = sub.add_parser("runs", help="look after the MLflow runs of this host")
    runs_sub = runs.add_subparsers(dest="runs_command", required=True)
    clean = runs_sub.add_parser("clean", help="mark FAILED the RUNNING runs whose process on this host is gone")
    clean.add_argument("--tracking-uri", help="MLflow store (default: $MLFLOW_TRACKING_URI or ./mlflow.db)")
    clean.add_argument("--dry-run", action="store_true", help="only print what would be marked FAILED")
    clean.set_defaults(func=_runs_clean)
    return parser


def _client(uri: str | None) -> object:
    from nlpkit.store import open_store

    return open_store(uri)


def _runs_clean(args: argparse.Namespace) -> int:
    from nlpkit.procs import hostname
    from nlpkit.store import open_store, reap_stale_runs, resolve_uri

    uri = resolve_uri(args.tracking_uri)
    stale = reap_stale_runs(open_store(uri, reap=False), dry_run=args.dry_run)
    verb = "would mark FAILED" if args.dry_run else "marked FAILED"
    for run in stale:
        print(f"{verb} {run.run_id} ({run.experiment}/{run.name}): {run.reason}")
    if not stale:
        print(f"no stale runs of host {hostname()} in {uri}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    from nlpkit import compare

    client = _client(args.tracking_uri)
    if args.sweep and args.seed is not None:
        run_a, run_b = (compare.run_in_group(client, args.sweep, sel, args.seed) for sel in (args.a, args.b))
        result = compare.compare_runs(client, run_a, run_b, args.split)
        experiment_id = client.get_run(args.sweep).info.experiment_id
    elif args.sweep:
        result = compare.compare_groups(client, args.sweep, args.a, args.b, metric=f"{args.split}/macro_f1")
        experiment_id = client.get_run(args.sweep).info.experiment_id
    else:
        result = compare.compare_runs(client, args.a, args.b, args.split)
        experiment_id = client.get_run(args.a).info.experiment_id
    print(compare.format_comparison(result))
    if args.log:
        print(f"logged as MLflow run {compare.log_comparison(client, experiment_id, result)}")
    return 0


def _report(args: argparse.Namespace) -> int:
    from nlpkit.sweep import aggregate, markdown_table

    keys = tuple(args.metrics)
    client = _client(args.tracking_uri)
    parent = args.parent or _latest_sweep(client, args.experiment)
    print(markdown_table(aggregate(client, parent, keys), keys), end="")
    return 0


def _latest_sweep(client: object, experiment: str | None) -> str:
    found = client.get_experiment_by_name(experiment) if experiment else None
    if found is None:
        raise DataError(f"No MLflow experiment named {experiment!r}. Fix: pass a sweep's parent run id or --experiment NAME.")
    runs = client.search_runs([found.experiment_id], "tags.`nlpkit.sweep` = 'true'", order_by=["attributes.start_time DESC"],
                              max_results=1)
    if not runs:
        raise DataError(f"Experiment {experiment!r} has no sweep parent run. Fix: run the sweep first.")
    return runs[0].info.run_id


def _predict(args: argparse.Namespace) -> int:
    from nlpkit.predict import Predictor

    predictor = Predictor.load(args.model)
    items = list(_read_inputs(args.files, args.text_field, args.target))
    names = [name for name, _ in items]
    results = predictor.predict_batches((doc for _, doc in items), batch_size=args.batch_size)
    for name, (label, proba) in zip(names, results):
        probs = {lab: round(float(p), 4) for lab, p in zip(predictor.labels, proba)}
        if args.json:
            print(json.dumps({"input": name, "label": label, "probabilities": probs}))
        else:
            print(f"{name}\t{label}\t" + " ".join(f"{lab}={p:.3f}" for lab, p in probs.items()))
    return 0


def _read_inputs(files: list[Path], text_field: str, target: str | None) -> Iterator[tuple[str, dict]]:
    for path in files:
        if not path.is_file():
            raise DataError(f"Input file {str(path)!r} does not exist. Fix: check the path.")
        if path.suffix.lower() == ".jsonl":
            yield from _read_jsonl(path, text_field, target)
        else:
            doc = {"text": _read_text(path)}
            if target:
                doc["target"] = target
            yield str(path), doc


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise DataError(
            f"{path} is not UTF-8 text: byte 0x{err.object[err.start]:02x} at offset {err.start}. "
            f"Fix: re-encode it, e.g. iconv -f latin1 -t utf-8 {path} > {path.stem}.utf8{path.suffix}."
        ) from None


def _decode_line(raw: bytes, path: Path, number: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise DataError(
            f"{path}:{number} is not UTF-8: byte 0x{raw[err.start]:02x} at column {err.start + 1}. "
            "Fix: re-encode the file as UTF-8 (e.g. with iconv)."
        ) from None


def _read_jsonl(path: Path, text_field: str, target: str | None) -> Iterator[tuple[str, dict]]:
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, 1):
            line = _decode_line(raw, path, number)
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise DataError(f"{path}:{number} is not valid JSON ({err.msg}). Fix: one JSON object per line.") from None
            if not isinstance(row, dict) or not isinstance(row.get(text_field), str):
                raise DataError(
                    f"{path}:{number} has no string field {text_field!r}; expected objects like "
                    f'{{"{text_field}": "..."}}. Fix: use --text-field to name your field.'
                )
            doc = {**row, "text": row[text_field]}
            if target and "target" not in doc:
                doc["target"] = target
            yield f"{path}:{number}", doc


if __name__ == "__main__":
    sys.exit(main())
