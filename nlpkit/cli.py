"""The ``nlpkit`` command: ``nlpkit predict --model URI FILE...`` (training is ``nlpkit-train``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Iterator

import nlpkit
from nlpkit.errors import DataError, NlpkitError


def main(argv: list[str] | None = None) -> int:
    """Run the ``nlpkit`` command line."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except NlpkitError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nlpkit", description=__doc__)
    parser.add_argument("--version", action="version", version=f"nlpkit {nlpkit.__version__}")
    sub = parser.add_subparsers(dest="command")
    predict = sub.add_parser("predict", help="label texts with a trained predictor")
    predict.add_argument("--model", required=True, help="predictor directory, runs:/<id>/model or models:/<name>/<version>")
    predict.add_argument("files", nargs="+", type=Path, help=".txt files (one document each) or .jsonl files (one per line)")
    predict.add_argument("--text-field", default="text", help="JSONL field holding the text (default: text)")
    predict.add_argument("--target", help="stance target for .txt inputs (JSONL lines carry their own 'target')")
    predict.add_argument("--json", action="store_true", help="print one JSON object per input")
    predict.add_argument("--batch-size", type=int, default=64)
    predict.set_defaults(func=_predict)
    return parser


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
            doc = {"text": path.read_text(encoding="utf-8")}
            if target:
                doc["target"] = target
            yield str(path), doc


def _read_jsonl(path: Path, text_field: str, target: str | None) -> Iterator[tuple[str, dict]]:
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, 1):
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
