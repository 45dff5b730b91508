"""TF-IDF speed, memory and accuracy: nlpkit's default model, the sklearn script and fastText, side by side.

    python -m experiments.benchmarks.tfidf_speed                                  # the issue's four data sets
    python -m experiments.benchmarks.tfidf_speed --datasets allsides_leaning --contenders nlpkit
    python -m experiments.benchmarks.tfidf_speed --profile --datasets bbc_news    # where the time goes

Each (data set, contender) runs in a fresh process that imports numpy, scipy and scikit-learn, reads the same
splits (loaded once by nlpkit's loader from the benchmark configs), fits on train, and predicts the test split
(``PREDICT_REPEATS`` calls after a warm-up on 8 documents, the fastest counted, the same for every contender);
its peak resident set (``ru_maxrss``) and that peak minus the resident set before fitting (``+fit``) are its own.

- ``nlpkit``: ``TfidfClassifier`` with the ``tfidf_logreg`` schema's defaults, saved as arrays and loaded back
  as the prediction runtime loads it (``tfidf_arrays.load``: NumPy and SciPy, no scikit-learn); the test split
  is predicted by that loaded model.
- ``nlpkit_fast``: the ``model=tfidf_fast`` config (``configs/model/tfidf_fast.yaml``: word n-grams only, calibrated
  linear SVM), saved and loaded back the same way: the fast path beside fastText (issue 15, goal 2).
- ``nlpkit_before``: what nlpkit's default was before this change, rebuilt from scikit-learn's vectorizers
  (word 1-2-grams with min_df=1 and character 2-5-grams, 50,000 features each, C=10, balanced).
- ``script``: ``TfidfVectorizer(1-2-grams, sublinear, min_df=2)`` + ``LogisticRegression``, its C chosen on the
  validation split from 0.3/1/3/10/30/100 as a researcher tuning it would (fit = vectorising + all six fits;
  ``final fit`` = vectorising + the chosen C's fit alone).
- ``limit``: the single-core tokenisation limit (lower-case + scikit-learn's token regex, nothing else): how far
  each contender's docs/s is from the least work a bag-of-words model must do.
- ``fasttext``: ``train_supervised`` autotuned on the validation split (``--autotune-seconds``, default 60),
  then the model autotune chose; ``final fit`` retrains with the chosen arguments.

Threads: every process runs with ``OMP_NUM_THREADS``/``OPENBLAS_NUM_THREADS`` = ``--threads`` (default 1),
fastText with ``thread`` = the same.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from experiments.benchmarks.report import load_average
from experiments.benchmarks.worker import peak_mib, reset_peak, rss_mib

DATASETS = ("conflibert_cameo5", "un_quadclass", "bbc_news", "allsides_topic")
CONTENDERS = ("nlpkit", "nlpkit_fast", "nlpkit_before", "script", "fasttext", "limit")
FAST_CONFIG = Path(__file__).resolve().parents[2] / "configs" / "model" / "tfidf_fast.yaml"
GRID = (0.3, 1.0, 3.0, 10.0, 30.0, 100.0)


def macro_f1(y_true: list[str], y_pred: list[str]) -> float:
    from sklearn.metrics import f1_score

    return float(f1_score(y_true, y_pred, average="macro"))


# -- contenders (each runs inside the job process) ---------------------------------------------------------
def fast_config() -> dict[str, Any]:
    """The ``model=tfidf_fast`` config's keys (its YAML less the defaults list; the schema fills in the rest)."""
    import yaml

    config = yaml.safe_load(FAST_CONFIG.read_text(encoding="utf-8"))
    return {k: v for k, v in config.items() if k != "defaults"}


def run_nlpkit(data: dict[str, Any], args: dict[str, Any], config: dict[str, Any] | None = None) -> dict[str, Any]:
    from nlpkit.models import tfidf_arrays
    from nlpkit.models.registry import build_model

    start = time.perf_counter()
    model = build_model(config or {"kind": "tfidf_logreg.v1"}).fit(data["train"][0], data["train"][1])
    fit = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        tfidf_arrays.save(model, Path(tmp))
        loaded = tfidf_arrays.load(Path(tmp))
    predict = _timed_predict(loaded.predict, data["test"][0])
    return {"fit_seconds": fit, **predict, "notes": f"char_ngrams={bool(model.char_ngrams_)}"}


def before_vectorizers() -> tuple[Any, Any]:
    """nlpkit's previous default features: scikit-learn word 1-2-grams (min_df=1) and char_wb 2-5-grams."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    return (TfidfVectorizer(ngram_range=(1, 2), max_features=50000, sublinear_tf=True, strip_accents="unicode"),
            TfidfVectorizer(analyzer="char_wb", ngram_range=(2, 5), min_df=2, max_features=50000, sublinear_tf=True))


def run_before(data: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, make_pipeline

    word, char = before_vectorizers()
    features = FeatureUnion([("word", word), ("char", char)])
    model = make_pipeline(features, LogisticRegression(C=10.0, class_weight="balanced", max_iter=3000))
    start = time.perf_counter()
    model.fit(data["train"][0], data["train"][1])
    return {"fit_seconds": time.perf_counter() - start, **_timed_predict(model.predict, data["test"][0])}


def run_script(data: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    from sklearn.linear_model import LogisticRegression

    from experiments.benchmarks import peer_sklearn

    start = time.perf_counter()
    vectorizer = peer_sklearn.vectorizer()
    X = vectorizer.fit_transform(data["train"][0])
    vectorise = time.perf_counter() - start
    V = vectorizer.transform(data["validation"][0])
    best: tuple[float, float, Any, float] = (-1.0, 0.0, None, 0.0)
    for C in GRID:
        t = time.perf_counter()
        lr = LogisticRegression(C=C, max_iter=1000).fit(X, data["train"][1])
        seconds = time.perf_counter() - t
        score = macro_f1(data["validation"][1], list(lr.predict(V)))
        if score > best[0]:
            best = (score, C, lr, seconds)
    fit = time.perf_counter() - start
    chosen = best[2]

    def predict(texts: list[str]) -> Any:
        return chosen.predict(vectorizer.transform(texts))

    return {"fit_seconds": fit, "final_fit_seconds": vectorise + best[3], **_timed_predict(predict, data["test"][0]),
            "notes": f"C={best[1]:g} (validation macro-F1 {best[0]:.3f})"}


def run_fasttext(data: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    import fasttext

    from experiments.benchmarks.peers import FastTextPeer

    clean = FastTextPeer._clean
    with tempfile.TemporaryDirectory() as tmp:
        paths = {}
        for split in ("train", "validation"):
            paths[split] = Path(tmp) / f"{split}.txt"
            texts, labels = data[split]
            paths[split].write_text("".join(f"__label__{y} {clean(t)}\n" for t, y in zip(texts, labels)), encoding="utf-8")
        start = time.perf_counter()
        model = fasttext.train_supervised(input=str(paths["train"]), autotuneValidationFile=str(paths["validation"]),
                                          autotuneDuration=args["autotune_seconds"], thread=args["threads"], verbose=0)
        fit = time.perf_counter() - start
        chosen = model.f.getArgs()
        params = {"epoch": chosen.epoch, "lr": chosen.lr, "wordNgrams": chosen.wordNgrams, "dim": chosen.dim,
                  "minn": chosen.minn, "maxn": chosen.maxn, "bucket": chosen.bucket, "minCount": chosen.minCount,
                  "loss": str(chosen.loss).rsplit(".", 1)[-1]}
        start = time.perf_counter()
        fasttext.train_supervised(input=str(paths["train"]), thread=args["threads"], verbose=0, seed=0,
                                  **{k: v for k, v in params.items() if k != "loss"})
        final = time.perf_counter() - start

    def predict(texts: list[str]) -> list[str]:
        labels, _ = model.predict([clean(t) for t in texts], k=1)
        return [found[0].removeprefix("__label__") for found in labels]

    notes = ", ".join(f"{k}={v}" for k, v in params.items())
    return {"fit_seconds": fit, "final_fit_seconds": final, **_timed_predict(predict, data["test"][0]), "notes": notes}


PREDICT_REPEATS = 3  # docs/s is the fastest of these calls over the test split: one call is a few ms on sentences


def _timed_predict(predict: Any, texts: list[str]) -> dict[str, Any]:
    predict(texts[:8])  # warm: first-call costs (lazy tables, imports) are not throughput
    timings, labels = [], []
    for _ in range(PREDICT_REPEATS):
        start = time.perf_counter()
        labels = [str(y) for y in predict(texts)]
        timings.append(time.perf_counter() - start)
    seconds = min(timings)
    return {"y_pred": labels, "predict_seconds": seconds, "docs_per_second": len(texts) / seconds}


def run_limit(data: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    """The single-core tokenisation limit: lower-casing and finding the words (scikit-learn's token pattern), the
    least any bag-of-words model does per document; no features, no classifier."""
    from nlpkit.models.ngrams import TOKEN

    def tokenise(texts: list[str]) -> list[str]:
        return [str(len(TOKEN.findall(t.lower()))) for t in texts]

    return {"fit_seconds": 0.0, **_timed_predict(tokenise, data["test"][0]), "notes": "upper bound on docs/s"}


def run_fast(data: dict[str, Any], args: dict[str, Any]) -> dict[str, Any]:
    return run_nlpkit(data, args, fast_config())


RUNNERS = {"nlpkit": run_nlpkit, "nlpkit_fast": run_fast, "nlpkit_before": run_before, "script": run_script,
           "fasttext": run_fasttext,
           "limit": run_limit}


def job_main(path: str) -> None:
    """Inside the job process: read the splits, run one contender, write its result beside the job file."""
    import numpy  # noqa: F401  (the same base imports for every contender, before the baseline)
    import scipy.sparse  # noqa: F401
    import sklearn.linear_model  # noqa: F401

    job = json.loads(Path(path).read_text())
    data = {k: tuple(v) for k, v in json.loads(Path(job["data"]).read_text()).items()}
    reset_peak()
    base = rss_mib()
    out = RUNNERS[job["contender"]](data, job)
    out["peak_rss_mib"], out["added_rss_mib"] = peak_mib(), peak_mib() - base
    predicted = out.pop("y_pred")
    out["macro_f1"] = macro_f1(data["test"][1], predicted) if job["contender"] != "limit" else float("nan")
    Path(path).with_name(f"{job['contender']}.result.json").write_text(json.dumps(out))


# -- where the time goes ----------------------------------------------------------------------------------
def _clock(step: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    out = step()
    return time.perf_counter() - start, out


def profile(dataset: str, data: dict[str, Any]) -> list[str]:
    """Seconds per phase of fitting (train split) and predicting (test split), before and after this change."""
    from sklearn.linear_model import LogisticRegression

    import numpy as np
    import scipy.sparse as sp

    from nlpkit.models import tfidf_arrays
    from nlpkit.models.registry import build_model
    from nlpkit.models.tfidf import default_ngram_max, use_char_ngrams

    (X, y), (T, _) = data["train"], data["test"]
    rows = [f"| {dataset} | phase | before (scikit-learn vectorizers, old defaults) | after (nlpkit defaults) |",
            "|---|---|---:|---:|"]
    old_word, old_char = before_vectorizers()
    before = {"fit: word n-grams": _clock(lambda: old_word.fit_transform(X)),
              "fit: char n-grams": _clock(lambda: old_char.fit_transform(X))}
    A = sp.hstack([before["fit: word n-grams"][1], before["fit: char n-grams"][1]]).tocsr()
    before["fit: logistic regression"] = _clock(lambda: LogisticRegression(C=10.0, class_weight="balanced",
                                                                           max_iter=3000).fit(A, y))
    before["predict: word n-grams"] = _clock(lambda: old_word.transform(T))
    before["predict: char n-grams"] = _clock(lambda: old_char.transform(T))
    lr = before["fit: logistic regression"][1]
    B = sp.hstack([before["predict: word n-grams"][1], before["predict: char n-grams"][1]]).tocsr()
    before["predict: classifier"] = _clock(lambda: lr.predict_proba(B))
    model = build_model({"kind": "tfidf_logreg.v1"})
    model.pairs_, model.char_ngrams_, model.ngram_max_ = False, use_char_ngrams(list(X)), default_ngram_max(list(X))
    features = model._features()
    after = {}
    for name, vectorizer in features.transformer_list:
        after[f"fit: {name} n-grams"] = _clock(lambda v=vectorizer: v.fit_transform(X))
    A = sp.hstack([after[f"fit: {name} n-grams"][1] for name, _ in features.transformer_list]).tocsr()
    after["fit: logistic regression"] = _clock(lambda: model._classifier(np.asarray(y)).fit(A, y))
    model.features_, model.classifier_ = features, after["fit: logistic regression"][1]
    model.classes_ = model.classifier_.classes_
    with tempfile.TemporaryDirectory() as tmp:
        tfidf_arrays.save(model, Path(tmp))
        loaded = tfidf_arrays.load(Path(tmp))
    shared: dict = {}  # the word tokens, found once for the blocks that read them (as loaded.features does)
    after["predict: word tokens"] = _clock(lambda: loaded.blocks_[0].vectorizer.tokens(list(T), shared))
    for block, (name, _) in zip(loaded.blocks_, features.transformer_list):
        after[f"predict: {name} n-grams"] = _clock(lambda b=block: b.transform(T, shared))
    F = loaded.features(T)
    after["predict: classifier"] = _clock(lambda: loaded.classifier_.proba(F))
    for phase in sorted(before.keys() | after.keys(), key=lambda k: (not k.startswith("fit"), k)):
        b = f"{before[phase][0]:.3f}" if phase in before else "–"
        a = f"{after[phase][0]:.3f}" if phase in after else "– (off)"
        rows.append(f"| | {phase} | {b} | {a} |")
    return rows


# -- the driver --------------------------------------------------------------------------------------------
def write_splits(dataset: str, path: Path) -> dict[str, int]:
    """The data set's splits as nlpkit loads them (benchmark configs), written as JSON lists of texts and labels."""
    from experiments.benchmarks.worker import load_splits
    from nlpkit.data import model_inputs

    splits, _ = load_splits({"dataset": dataset, "overrides": []})
    data = {}
    for name in ("train", "validation", "test"):
        texts = [t if isinstance(t, str) else " ".join(t) for t in model_inputs(splits[name])]
        data[name] = [texts, [str(y) for y in splits[name]["label"]]]
    path.write_text(json.dumps(data))
    return {name: len(v[0]) for name, v in data.items()}


def run_job(dataset: str, contender: str, data: Path, args: argparse.Namespace) -> dict[str, Any]:
    job = data.with_name(f"{dataset}.{contender}.job.json")
    job.write_text(json.dumps({"contender": contender, "data": str(data), "threads": args.threads,
                               "autotune_seconds": args.autotune_seconds}))
    env = {**os.environ, "OMP_NUM_THREADS": str(args.threads), "OPENBLAS_NUM_THREADS": str(args.threads),
           "MKL_NUM_THREADS": str(args.threads), "PYTHONPATH": os.pathsep.join([str(Path.cwd()), os.environ.get("PYTHONPATH", "")])}
    before = load_average()
    proc = subprocess.run([sys.executable, "-m", "experiments.benchmarks.tfidf_speed", "--job", str(job)], env=env,
                          capture_output=True, text=True, timeout=args.timeout)
    result_file = job.with_name(f"{contender}.result.json")
    if proc.returncode != 0 or not result_file.is_file():
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return {"error": f"exit {proc.returncode}: {tail[0][:200]}", "load": f"{before} → {load_average()}"}
    result = json.loads(result_file.read_text())
    result_file.unlink()
    return {**result, "load": f"{before} → {load_average()}"}


HEADER = ("| data set | contender | test macro-F1 | fit s | final fit s | predict docs/s | peak RSS MiB (+fit) "
          "| notes | load avg before → after |\n|---|---|---:|---:|---:|---:|---:|---|---|")


def line(dataset: str, contender: str, r: dict[str, Any]) -> str:
    if "error" in r:
        return f"| {dataset} | {contender} | – | – | – | – | – | did not finish: {r['error']} | {r['load']} |"
    final = f"{r['final_fit_seconds']:.2f}" if "final_fit_seconds" in r else "–"
    return (f"| {dataset} | {contender} | {r['macro_f1']:.3f} | {r['fit_seconds']:.2f} | {final} "
            f"| {r['docs_per_second']:,.0f} | {r['peak_rss_mib']:.0f} (+{r['added_rss_mib']:.0f}) "
            f"| {r.get('notes', '')} | {r['load']} |")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--datasets", nargs="+", default=list(DATASETS))
    p.add_argument("--contenders", nargs="+", default=list(CONTENDERS), choices=CONTENDERS)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--autotune-seconds", type=int, default=60)
    p.add_argument("--timeout", type=float, default=3600)
    p.add_argument("--out", default="tfidf_speed.md", help="markdown table written here too")
    p.add_argument("--profile", action="store_true", help="seconds per phase, before and after, in this process")
    p.add_argument("--job", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.job:
        return job_main(args.job)
    if args.profile:
        return print_profiles(args)
    lines = [f"uptime before: {load_average()}; threads per process: {args.threads}", "", HEADER]
    print("\n".join(lines), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        for dataset in args.datasets:
            data = Path(tmp) / f"{dataset}.json"
            sizes = write_splits(dataset, data)
            for contender in args.contenders:
                row = line(f"{dataset} ({sizes['train']}/{sizes['validation']}/{sizes['test']})", contender,
                           run_job(dataset, contender, data, args))
                lines.append(row)
                print(row, flush=True)
    Path(args.out).write_text("\n".join(lines) + "\n")


def print_profiles(args: argparse.Namespace) -> None:
    """The phase tables of ``--profile`` (one process, threads as set in the environment)."""
    lines = [f"uptime before: {load_average()}", ""]
    with tempfile.TemporaryDirectory() as tmp:
        for dataset in args.datasets:
            path = Path(tmp) / f"{dataset}.json"
            write_splits(dataset, path)
            data = {k: tuple(v) for k, v in json.loads(path.read_text()).items()}
            lines += [*profile(dataset, data), ""]
            print("\n".join(profile_tail(lines)), flush=True)
    lines.append(f"uptime after: {load_average()}")
    Path(args.out).write_text("\n".join(lines) + "\n")
    print(lines[-1])


def profile_tail(lines: list[str]) -> list[str]:
    """The last table of ``lines`` (for printing as it comes)."""
    start = max(i for i, line in enumerate(lines) if line.startswith("|---")) - 1
    return lines[start:]


if __name__ == "__main__":
    main()
