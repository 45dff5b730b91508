"""How good are nlpkit's prevalence estimates? An artificial-prevalence protocol (APP) on held-out data.

    python experiments/prevalence/run.py                       # newswire (embedded) + conflibert_cameo
    python experiments/prevalence/run.py --conflibert /path/to/datasets   # the folder holding conflibert_cameo/

For each data set a TF-IDF + logistic-regression escalation model is trained on its train split (training
stores the validation split's predictions in the predictor, as for any nlpkit model). Its held-out pool
(newswire: ``test`` and, separately, ``test_ood``; conflibert_cameo: ``test``) is then resampled by QuaPy's
``APP`` at every class mix on a 0.1 grid of the simplex (66 mixes), ``--repeats`` samples of ``--sample-size``
documents each. Every method estimates each sample's class shares with a 95% bootstrap CI; the true share
is the sample's own label share. Reported per method: mean absolute error (AE) and relative absolute error
(RAE, QuaPy's, smoothed with eps = 1 / (2 * sample size)) over samples, CI coverage (share of (sample, class)
intervals that contain the truth), joint coverage (all classes of a sample covered) and mean CI width.

conflibert_cameo is read from ``--conflibert`` (default: $NLPKIT_BENCHMARK_DATA, else /work/shared/datasets);
the data is never copied here. Without it that part is skipped with the reason printed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
FAST = ["model=tfidf_logreg", "tracking=off"]


def train_model(name: str, overrides: list[str], scratch: Path) -> Any:
    """Train the data set's model (no tracking) and return ``(predictor, splits, cfg)``."""
    import nlpkit
    from nlpkit.config import compose
    from nlpkit.data import load_data

    cfg = compose([*FAST, *overrides, f"output_dir={scratch / name}"])
    result = nlpkit.train(cfg)
    return result.predictor, load_data(cfg.data, cfg.task), cfg


def cross_fitted_record(predictor: Any, splits: Any, cfg: Any, folds: int) -> Any:
    """A validation record of out-of-fold predictions on train + validation: ``folds`` stratified folds, each
    predicted by the model family (same config) fitted on the others; the training prior stays the stored one."""
    from datasets import concatenate_datasets
    from sklearn.model_selection import StratifiedKFold

    from nlpkit.data import model_inputs
    from nlpkit.models import build_model
    from nlpkit.prevalence import ValidationRecord
    from nlpkit.prevalence_data import read_validation

    labels = predictor.labels
    both = concatenate_datasets([splits["train"], splits["validation"]])
    texts, y = model_inputs(both), np.array([labels.index(v) for v in both["label"]])
    proba = np.zeros((len(y), len(labels)))
    for fit_rows, held in StratifiedKFold(folds, shuffle=True, random_state=cfg.seed).split(np.zeros(len(y)), y):
        model = build_model(cfg.model, cfg.seed).fit([texts[i] for i in fit_rows], [labels[i] for i in y[fit_rows]])
        order = [list(model.classes_).index(label) for label in labels]
        proba[held] = model.predict_proba([texts[i] for i in held])[:, order]
    return ValidationRecord(y, proba, read_validation(predictor).train_counts, tuple(labels))


def app_samples(y: np.ndarray, n_classes: int, sample_size: int, repeats: int, seed: int) -> list[np.ndarray]:
    """Indices of APP samples of the pool with labels ``y`` (QuaPy's protocol, 11 points per class axis)."""
    from quapy.data import LabelledCollection
    from quapy.protocol import APP

    pool = LabelledCollection(np.arange(len(y)).reshape(-1, 1), y, classes=list(range(n_classes)))
    protocol = APP(pool, sample_size=sample_size, n_prevalences=11, repeats=repeats, random_state=seed,
                   return_type="index")
    return [np.asarray(index) for index in protocol()]


def evaluate_pool(predictor: Any, pool: Any, args: argparse.Namespace, cross_fitted: Any = None) -> dict[str, dict[str, float]]:
    """Run every method on every APP sample of ``pool`` (and acc/pacc again with the ``cross_fitted`` record, as
    ``acc+cf`` / ``pacc+cf``); return per-method error and coverage summaries."""
    import quapy as qp

    from nlpkit.data import model_inputs
    from nlpkit.prevalence import METHODS, estimate_groups
    from nlpkit.prevalence_data import read_validation

    labels = predictor.labels
    y = np.array([labels.index(v) for v in pool["label"]])
    proba = predictor.predict_proba(model_inputs(pool))
    samples = app_samples(y, len(labels), args.sample_size, args.repeats, args.seed)
    groups = np.concatenate([[f"s{i:04d}"] * len(ix) for i, ix in enumerate(samples)])
    index = np.concatenate(samples)  # a pool document drawn twice into a sample is one document, twice: copies
    rows = estimate_groups(proba[index], groups, labels, METHODS, read_validation(predictor),
                           n_bootstrap=args.bootstrap, seed=args.seed, copies=index)
    methods = list(METHODS)
    if cross_fitted is not None:
        extra = estimate_groups(proba[index], groups, labels, ["acc", "pacc"], cross_fitted,
                                n_bootstrap=args.bootstrap, seed=args.seed, copies=index)
        rows += [replace(r, method=f"{r.method}+cf") for r in extra]
        methods += ["acc+cf", "pacc+cf"]
    truth = {f"s{i:04d}": np.bincount(y[ix], minlength=len(labels)) / len(ix) for i, ix in enumerate(samples)}
    eps = 1.0 / (2 * args.sample_size)
    summary = {}
    for method in methods:
        per = {g: [r for r in rows if r.method == method and r.group == g] for g in truth}
        est = np.array([[r.estimate for r in per[g]] for g in truth])
        low = np.array([[r.ci_low for r in per[g]] for g in truth])
        high = np.array([[r.ci_high for r in per[g]] for g in truth])
        true = np.array(list(truth.values()))
        inside = (low <= true + 1e-12) & (true - 1e-12 <= high)
        summary[method] = {
            "AE": float(np.mean([qp.error.ae(t, e) for t, e in zip(true, est)])),
            "RAE": float(np.mean([qp.error.rae(t, e, eps=eps) for t, e in zip(true, est)])),
            "coverage": float(inside.mean()), "joint_coverage": float(inside.all(axis=1).mean()),
            "width": float((high - low).mean()), "samples": len(truth), "pool": len(y),
        }
    return summary


def markdown(results: dict[str, dict[str, dict[str, float]]]) -> str:
    """One table: data set / pool, method, AE, RAE, coverage, joint coverage, CI width."""
    lines = ["| data (pool) | method | AE | RAE | 95% CI coverage | joint coverage | mean CI width |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for pool, methods in results.items():
        for method, m in methods.items():
            lines.append(f"| {pool} (n={m['pool']}, {m['samples']} samples) | {method} | {m['AE']:.3f} | {m['RAE']:.3f} | "
                         f"{m['coverage']:.3f} | {m['joint_coverage']:.3f} | {m['width']:.3f} |")
    return "\n".join(lines) + "\n"


def conflibert_dir(option: str | None) -> Path | None:
    root = Path(option or os.environ.get("NLPKIT_BENCHMARK_DATA") or "/work/shared/datasets")
    return root if (root / "conflibert_cameo" / "train.csv").is_file() else None


def monthly_series(predictor: Any, out: Path, scratch: Path) -> list[str]:
    """The README's series: held-out newswire documents (test + test_ood) by month and by year, via the CLI."""
    from nlpkit.cli import main as cli_main
    from nlpkit.corpus import corpus_path

    data = scratch / "newswire_heldout.jsonl"
    rows = [json.loads(line) for line in corpus_path("newswire").read_text(encoding="utf-8").splitlines()]
    keep = ("id", "title", "text", "date", "source")
    data.write_text("".join(json.dumps({k: r[k] for k in keep}) + "\n" for r in rows if r["split"] in ("test", "test_ood")))
    commands = []
    for period in ("month", "year"):
        argv = ["prevalence", str(predictor.path), "--data", str(data), "--by", f"date:{period}", "--method",
                "cc,robust", "--output", str(out / f"newswire_{period}.csv"), "--plot", str(out / f"newswire_{period}.png")]
        commands.append("nlpkit " + " ".join(argv))
        assert cli_main(argv) == 0
    return commands


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--conflibert", help="folder holding conflibert_cameo/ (default: $NLPKIT_BENCHMARK_DATA)")
    parser.add_argument("--sample-size", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=1, help="samples per class mix (default: 1)")
    parser.add_argument("--bootstrap", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cross-fit", type=int, default=5, help="folds of the cross-fitted record (0: skip acc+cf, pacc+cf)")
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--no-plots", action="store_true", help="skip the monthly series (tests)")
    args = parser.parse_args(argv)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    start, results = time.perf_counter(), {}
    with tempfile.TemporaryDirectory(prefix="nlpkit-prevalence-") as tmp:
        scratch = Path(tmp)
        predictor, splits, cfg = train_model("newswire", ["data=newswire", "task=escalation"], scratch)
        record = cross_fitted_record(predictor, splits, cfg, args.cross_fit) if args.cross_fit else None
        for pool in ("test", "test_ood"):
            results[f"newswire {pool}"] = evaluate_pool(predictor, splits[pool], args, record)
        if not args.no_plots:
            print("\n".join(monthly_series(predictor, args.out, scratch)))
        found = conflibert_dir(args.conflibert)
        if found is None:
            print(f"conflibert_cameo skipped: no conflibert_cameo/train.csv under {args.conflibert or '$NLPKIT_BENCHMARK_DATA'}"
                  " (pass --conflibert DIR)", file=sys.stderr)
        else:
            os.environ["NLPKIT_BENCHMARK_DATA"] = str(found)
            configs = Path(__file__).resolve().parents[1] / "benchmarks" / "configs"  # the benchmark data sets' configs
            overrides = [f"hydra.searchpath=[file://{configs}]", "task=conflibert_cameo", "data=conflibert_cameo"]
            predictor, splits, cfg = train_model("conflibert", overrides, scratch)
            record = cross_fitted_record(predictor, splits, cfg, args.cross_fit) if args.cross_fit else None
            results["conflibert_cameo test"] = evaluate_pool(predictor, splits["test"], args, record)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    table = markdown(results)
    (args.out / "results.md").write_text(table)
    print(table + f"\n{time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
