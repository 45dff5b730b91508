"""The ``nlpkit`` command: ``nlpkit predict --model URI FILE...``, ``nlpkit evaluate``, ``nlpkit package`` (training is
``nlpkit-train``)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from nlpkit import extras
from nlpkit._version import __version__
from nlpkit.errors import DataError, NlpkitError, one_line


def main(argv: list[str] | None = None) -> int:
    """Run the ``nlpkit`` command line."""
    parser = _parser()
    args = parser.parse_args(argv)
    from nlpkit.console import quiet

    quiet(args.verbose)  # MLflow's INFO lines, warnings and progress bars only with -v
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except NlpkitError as err:
        if args.debug:
            raise
        print(f"error: {one_line(err)} (--debug shows the traceback)", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nlpkit", description=__doc__)
    parser.add_argument("--version", action="version", version=f"nlpkit {__version__}")
    parser.add_argument("--debug", action="store_true", help="show the full traceback of nlpkit's errors")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show MLflow's INFO lines, warnings and download progress bars (hidden by default)")
    sub = parser.add_subparsers(dest="command")
    predict = sub.add_parser("predict", help="label texts with a trained predictor (streams large files)")
    predict.add_argument("--model", required=True,
                         help="predictor directory, runs:/<id>/model, models:/<name>/<version> or models:/<name>@<alias>")
    predict.add_argument("files", nargs="+", type=Path,
                         help=".txt (one document each), .jsonl (one object per line), .csv/.tsv (header row), .parquet")
    predict.add_argument("--text-field", default="text", help="JSONL field / CSV or Parquet column holding the text (default: text)")
    predict.add_argument("--target", help="stance target for inputs without their own 'target' field")
    predict.add_argument("--id-field", help="field/column whose value identifies each input (default: file:line)")
    predict.add_argument("--output", "-o", type=Path, help="write .jsonl or .parquet (id, label, proba_<label>) instead of stdout")
    predict.add_argument("--json", action="store_true", help="print one JSON object per input (stdout only)")
    predict.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr when writing --output")
    predict.add_argument("--batch-size", type=int, default=64, help="documents held and scored at a time (default: 64)")
    predict.add_argument("--tracking-uri", help="MLflow store that runs:/ and models:/ URIs are read from (default: "
                         "$MLFLOW_TRACKING_URI, else ./mlflow.db if it exists; never created)")
    predict.set_defaults(func=_predict)

    package = sub.add_parser("package", help="build a pip-installable wheel of a predictor (or a ROLE=MODEL bundle)")
    package.add_argument("models", nargs="+", metavar="MODEL",
                         help="predictor directory, runs:/<id>/model, models:/<name>/<version>; or ROLE=MODEL items "
                              "(roles: topic, escalation, stance) for a bundle")
    package.add_argument("--name", required=True, help="distribution name, e.g. conflict-topic-en (module conflict_topic_en)")
    package.add_argument("--version", required=True, dest="package_version", help="PEP 440 version of the package, e.g. 1.0.0")
    package.add_argument("--out", type=Path, default=Path("dist"), help="folder for the wheel (default: dist/)")
    package.set_defaults(func=_package)

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
    report.add_argument("parent", nargs="?", help="the sweep's parent run id (printed by nlpkit-train -m; default: "
                        "the latest sweep of --experiment, or of the store when there is one experiment with sweeps)")
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

    analyze = sub.add_parser("analyze", help="one article, three tasks: topic, escalation (with its driving "
                             "sentences) and stance, as one JSON, from a predictor bundle")
    analyze.add_argument("article", help=".txt (a first line without a final '.', then a blank line: the title), "
                         ".json ({\"title\", \"text\"}), or - for plain text on stdin")
    analyze.add_argument("--bundle", required=True, help="bundle folder (nlpkit.analyze.save_bundle, nlpkit package) "
                         "or the name of an installed bundle package")
    analyze.add_argument("--target", action="append", help="stance target (repeatable; none: stance is empty)")
    analyze.add_argument("--top-sentences", type=int, default=3, help="escalation's driving sentences (default: 3)")
    analyze.add_argument("--pretty", action="store_true", help="indent the JSON")
    analyze.set_defaults(func=_analyze)

    _evaluate_parser(sub)
    prev = sub.add_parser("prevalence", help="share of each class overall and per group (--by), with 95%% CIs, "
                          "by classify-and-count and adjusted quantifiers (cc, pcc, acc, pacc, sld, robust)")
    prev.add_argument("model", help="predictor directory, runs:/<id>/model, models:/<name>/<version> or package name")
    prev.add_argument("--data", required=True, nargs="+", type=Path, help=".jsonl, .csv/.tsv or .parquet (labels not needed)")
    prev.add_argument("--by", help="group column, or COLUMN:month|week|year for ISO dates (e.g. date:month)")
    prev.add_argument("--method", help="comma-separated methods among cc,pcc,acc,pacc,sld,robust (default: all)")
    prev.add_argument("--validation", type=Path, help="labelled file replacing the validation predictions stored "
                      "in the predictor (acc, pacc, sld, robust)")
    prev.add_argument("--label-field", default="label", help="label column of --validation (default: label)")
    prev.add_argument("--text-field", default="text", help="field/column holding the text (default: text)")
    prev.add_argument("--target", help="stance target for inputs without their own 'target' field")
    prev.add_argument("--bootstrap", type=int, default=500, help="bootstrap replicates per estimate (default: 500)")
    prev.add_argument("--seed", type=int, default=0, help="seed of the bootstrap (default: 0)")
    prev.add_argument("--output", "-o", type=Path, help="write the table as .csv or .json")
    prev.add_argument("--plot", type=Path, help="write a PNG of the shares per group with CI bands")
    prev.add_argument("--tracking-uri", help="also log an MLflow run (table, plot) linked to the model's run")
    prev.set_defaults(func=_prevalence)
    return parser


def _evaluate_parser(sub: argparse._SubParsersAction) -> None:
    ev = sub.add_parser("evaluate", help="score a predictor on a labelled file: macro-F1 with a 95%% bootstrap CI, "
                        "accuracy, per-class figures, confusion matrix; logged as an MLflow evaluation run")
    ev.add_argument("model", help="predictor directory, runs:/<id>/model, models:/<name>/<version> or package name")
    ev.add_argument("--data", required=True, type=Path, help="labelled .csv/.tsv, .jsonl/.json or .parquet file")
    ev.add_argument("--text-column", default="text", help="column holding the text (default: text)")
    ev.add_argument("--label-column", default="label", help="column holding the gold label (default: label)")
    ev.add_argument("--target-column", help="stance target column (default: the model's target field)")
    ev.add_argument("--label-map", help="gold labels onto model labels, e.g. conflict=escalatory,cooperation=de_escalatory")
    ev.add_argument("--drop-unmapped", action="store_true", help="drop rows whose label is not a model label")
    ev.add_argument("--labels", choices=["present", "all"], default="present",
                    help="macro-F1 over the labels present in the gold data (default) or over all model labels")
    ev.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples of the CI (default: 1000)")
    ev.add_argument("--tracking-uri", help="MLflow store: log an evaluation run linked to the model's run "
                    "(default: $MLFLOW_TRACKING_URI; MLflow model URIs always log)")
    ev.add_argument("--no-log", action="store_true", help="do not log an MLflow run")
    ev.add_argument("--out", type=Path, help="write evaluation.json, per_class.csv, confusion_matrix.csv, predictions.csv")
    ev.set_defaults(func=_evaluate)


def _evaluate(args: argparse.Namespace) -> int:
    extras.require("train", "nlpkit evaluate")
    from nlpkit import assess

    result = assess.evaluate_file(
        args.model, args.data, text_column=args.text_column, label_column=args.label_column,
        label_map=args.label_map, target_column=args.target_column, labels=args.labels,
        drop_unmapped=args.drop_unmapped, n_resamples=args.bootstrap, tracking_uri=args.tracking_uri,
    )
    print(result.format())
    uri = args.tracking_uri or os.environ.get("MLFLOW_TRACKING_URI")
    if not args.no_log and (uri or args.model.startswith(("runs:/", "models:/"))):
        from nlpkit.assess_tracking import log_evaluation

        run_id = log_evaluation(result, uri)  # also sets result.model_run_id, which --out records
        linked = f"linked to model run {result.model_run_id}" if result.model_run_id else "no model run found"
        print(f"MLflow evaluation run: {run_id} ({linked})")
    elif not args.no_log:
        print("not logged to MLflow (no store: pass --tracking-uri or set MLFLOW_TRACKING_URI to record an evaluation run)")
    if args.out:
        print(f"written: {', '.join(str(p) for p in assess.write(result, args.out))}")
    return 0


def _prevalence(args: argparse.Namespace) -> int:
    extras.require("prevalence", "nlpkit prevalence")
    from nlpkit import prevalence_report as report

    report.check_table_path(args.output)  # before the model loads
    result = report.estimate_prevalence(
        args.model, args.data, by=args.by, methods=args.method, validation=args.validation, label_field=args.label_field,
        text_field=args.text_field, target=args.target, n_bootstrap=args.bootstrap, seed=args.seed,
    )
    print(result.format())
    written = [report.write_table(result, args.output)] if args.output else []
    written += [report.plot(result, args.plot)] if args.plot else []
    if args.tracking_uri:
        print(f"logged as MLflow run {report.log_run(result, args.tracking_uri, written)}")
    return 0


def _analyze(args: argparse.Namespace) -> int:
    import json

    from nlpkit.analyze import Analyzer, read_article

    article = read_article(args.article)  # a bad article fails before the bundle loads
    result = Analyzer.load(args.bundle).analyze(article, args.target, top_sentences=args.top_sentences)
    text = json.dumps(result, indent=2 if args.pretty else None, ensure_ascii=False)
    sys.stdout.buffer.write(f"{text}\n".encode("utf-8"))
    return 0


def _client(uri: str | None) -> Any:
    from nlpkit.store import open_store

    return open_store(_existing_store(uri, "the runs to read"))


def _existing_store(uri: str | None, what: str) -> str:
    """The resolved store URI (``--tracking-uri``, else $MLFLOW_TRACKING_URI, else ./mlflow.db); a sqlite database
    that does not exist is an error: reading commands never create a stray empty store."""
    from nlpkit.store import resolve_uri, sqlite_path

    resolved = resolve_uri(uri)
    path = sqlite_path(resolved)
    if path is not None and not path.is_file():
        env = os.environ.get("MLFLOW_TRACKING_URI")
        given = f"--tracking-uri {uri}" if uri else f"$MLFLOW_TRACKING_URI={env}" if env else "the default store ./mlflow.db"
        raise DataError(f"Expected an MLflow store holding {what}; {given} does not exist ({path}). Fix: pass "
                        "--tracking-uri sqlite:///PATH/mlflow.db (or http://HOST:PORT), or run in the folder you trained from.")
    return resolved


def _runs_clean(args: argparse.Namespace) -> int:
    extras.require("train", "nlpkit runs clean")
    from nlpkit.procs import hostname
    from nlpkit.store import open_store, reap_stale_runs

    uri = _existing_store(args.tracking_uri, "the runs to clean")
    stale = reap_stale_runs(open_store(uri, reap=False), dry_run=args.dry_run)
    verb = "would mark FAILED" if args.dry_run else "marked FAILED"
    for run in stale:
        print(f"{verb} {run.run_id} ({run.experiment}/{run.name}): {run.reason}")
    if not stale:
        print(f"no stale runs of host {hostname()} in {uri}")
    return 0


def _compare(args: argparse.Namespace) -> int:
    extras.require("train", "nlpkit compare")
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
    extras.require("train", "nlpkit report")
    from nlpkit.sweep import aggregate, markdown_table

    keys = tuple(args.metrics)
    client = _client(args.tracking_uri)
    parent = args.parent or _latest_sweep(client, args.experiment)
    print(markdown_table(aggregate(client, parent, keys), keys), end="")
    return 0


def _latest_sweep(client: Any, experiment: str | None) -> str:
    """The latest sweep parent run of ``experiment``; without one, of the store (when all its sweeps are in one
    experiment: otherwise the sweep is ambiguous and the error lists the experiments)."""
    from nlpkit.store import _pages

    experiments = list(_pages(client.search_experiments))
    if experiment is not None:
        experiments = [e for e in experiments if e.name == experiment]
        if not experiments:
            raise DataError(f"No MLflow experiment named {experiment!r} in {client.tracking_uri}. Fix: pass a sweep's "
                            "parent run id (nlpkit-train -m prints it) or one of the store's experiment names.")
    query = "tags.`nlpkit.sweep` = 'true'"
    runs = [r for e in experiments for r in client.search_runs([e.experiment_id], query, max_results=1,
                                                              order_by=["attributes.start_time DESC"])]
    names = sorted({e.name for e in experiments if any(r.info.experiment_id == e.experiment_id for r in runs)})
    if not runs:
        where = f"experiment {experiment!r}" if experiment else f"the store {client.tracking_uri}"
        raise DataError(f"nlpkit report expected a sweep parent run; {where} has none. Fix: run a sweep first "
                        "(nlpkit-train -m ... prints its parent run id), or pass --tracking-uri for another store.")
    if len(names) > 1:
        raise DataError(f"nlpkit report expected one sweep to report; the store has sweeps in {len(names)} experiments "
                        f"({', '.join(names)}). Fix: pass the parent run id or --experiment NAME.")
    return max(runs, key=lambda r: r.info.start_time).info.run_id


def _package(args: argparse.Namespace) -> int:
    from nlpkit.package import package

    print(package(args.models, args.name, args.package_version, args.out))
    return 0


def _predict(args: argparse.Namespace) -> int:
    from nlpkit import batch
    from nlpkit.predict import Predictor

    _use_store(args.model, args.tracking_uri)
    progress = batch.Progress(enabled=args.output is not None and not args.quiet)
    with batch.open_writer(args.output, as_json=args.json) as writer:  # --output is checked before the model loads
        predictor = Predictor.load(args.model)
        writer.start(predictor.labels)
        fields = [*(predictor.metadata.get("text_fields") or []), predictor.metadata.get("target_field") or "target"]
        records = batch.read_inputs(args.files, args.text_field, args.target, args.id_field, fields)
        with progress:
            try:
                batch.score(predictor, records, writer.write, args.batch_size, progress)
            except BrokenPipeError:  # `nlpkit predict ... | head`: the reader has gone; stop without a traceback
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                return 1
    progress.summary(args.output)
    return 0


def _use_store(model: str, tracking_uri: str | None) -> None:
    """Point MLflow at the store that ``runs:/`` and ``models:/`` URIs are read from, without creating one."""
    if model.startswith(("runs:/", "models:/")):
        os.environ["MLFLOW_TRACKING_URI"] = _existing_store(tracking_uri, f"the model {model}")


if __name__ == "__main__":
    sys.exit(main())
