"""Cross-corpus study: train escalation on ConfliBERT's news sentences, score UN-document sentences with
``nlpkit evaluate`` (and the reverse direction), per model family, with 95% bootstrap CIs.

    NLPKIT_BENCHMARK_DATA=/work/shared/datasets python experiments/cross_corpus/run.py --store /tmp/cross_corpus

Every step is the command a user would type (``nlpkit-train``, ``nlpkit evaluate``), run as a subprocess; the
runs go to ``<store>/mlflow.db``. Prints the markdown table of README.md and writes ``results.json`` beside this
file. The data sets are read from $NLPKIT_BENCHMARK_DATA and never copied here.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

from omegaconf import OmegaConf

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
BIN = Path(sys.executable).parent
CONFIGS = ROOT / "experiments" / "benchmarks" / "configs"  # the benchmark data sets' data/ and task/ configs
FAMILIES = ("tfidf_logreg", "tfidf_svm", "embed_logreg")


def data_root() -> Path:
    root = Path(os.environ.get("NLPKIT_BENCHMARK_DATA", ROOT.parent / "shared" / "datasets"))
    if not (root / "un_quadclass" / "en_quadclass.csv").is_file():
        sys.exit(f"error: no benchmark data under {root}; expected un_quadclass/ and conflibert_cameo/. "
                 "Fix: set NLPKIT_BENCHMARK_DATA to the folder holding them.")
    return root


def label_map(config: str, keep_neutral: bool = True) -> str:
    """The ``--label-map`` of a benchmark data config (experiments/benchmarks/configs/data/<config>.yaml), e.g.
    ``verbal_conflict=escalatory,...``; without ``keep_neutral`` the classes mapped to neutral are left out (their
    rows are then dropped)."""
    mapping = OmegaConf.load(CONFIGS / "data" / f"{config}.yaml").label_map
    return ",".join(f"{k}={v}" for k, v in mapping.items() if keep_neutral or v != "neutral")


# The one place that says how a model is trained on a benchmark data set (its data/ and task/ configs).
def train_command(data: str, family: str, store: Path) -> list[str]:
    return [str(BIN / "nlpkit-train"), f"hydra.searchpath=[file://{CONFIGS}]", f"task={data}", f"data={data}",
            f"model={family}", f"tracking.uri=sqlite:///{store}/mlflow.db", "tracking.experiment=cross_corpus",
            f"output_dir={store}/train/{data}-{family}"]


def run(command: list[str]) -> str:
    print("$", " ".join(command[:1] + command[1:]).replace(str(BIN) + "/", ""), file=sys.stderr, flush=True)
    out = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    if out.returncode:
        sys.exit(f"failed ({out.returncode}): {' '.join(command)}\n{out.stderr[-3000:]}")
    return out.stdout


def train(data: str, family: str, store: Path) -> dict:
    """Train; return the run id and the in-domain test macro-F1 with its CI (from the predictor's metadata)."""
    stdout = run(train_command(data, family, store))
    run_id = re.search(r"MLflow run: (\w+)", stdout).group(1)
    meta = json.loads((store / "train" / f"{data}-{family}" / "predictor" / "nlpkit.json").read_text())["metrics"]
    return {"run_id": run_id, "test": [meta["test/macro_f1"], meta["test/macro_f1_ci_low"], meta["test/macro_f1_ci_high"]]}


def evaluate(run_id: str, data: Path, mapping: str, store: Path, name: str, *extra: str) -> dict:
    """``nlpkit evaluate`` on ``data``; return its evaluation.json."""
    out = store / "eval" / name
    run([str(BIN / "nlpkit"), "evaluate", f"runs:/{run_id}/model", "--data", str(data), "--label-column", "label_name",
         "--label-map", mapping, "--tracking-uri", f"sqlite:///{store}/mlflow.db", "--out", str(out), *extra])
    return json.loads((out / "evaluation.json").read_text())


def cell(values: list[float]) -> str:
    return f"{values[0]:.3f} [{values[1]:.3f}, {values[2]:.3f}]"


def study(family: str, store: Path, root: Path, reverse: bool, subset_only: bool) -> dict:
    un = root / "un_quadclass" / "en_quadclass.csv"
    trained = train("conflibert_cameo", family, store)
    result = {"family": family, "cameo_test": trained["test"]}
    subset = label_map("un_quadclass", keep_neutral=False)
    cameo_test = root / "conflibert_cameo" / "test.csv"
    control = evaluate(trained["run_id"], cameo_test, label_map("conflibert_cameo", keep_neutral=False), store,
                       f"{family}-cameo2", "--drop-unmapped")  # in-domain, on the same two labels as "un2"
    result |= {"cameo2": [control["macro_f1"], *control["ci"]], "cameo2_n": control["n"]}
    runs = [("un2", subset, f"{family}-un2", "--drop-unmapped")]
    if not subset_only:
        runs += [("un3", label_map("un_quadclass"), f"{family}-un3"),
                 ("un2_all", subset, f"{family}-un2-all", "--drop-unmapped", "--labels", "all")]
    for key, mapping, name, *extra in runs:
        found = evaluate(trained["run_id"], un, mapping, store, name, *extra)
        result[key] = [found["macro_f1"], *found["ci"]]
        result[f"{key}_n"] = found["n"]
    if reverse:
        back = train("un_quadclass", family, store)
        cameo = evaluate(back["run_id"], cameo_test, label_map("conflibert_cameo"), store, f"{family}-reverse")
        result |= {"un_test": back["test"], "reverse": [cameo["macro_f1"], *cameo["ci"]]}
    return result


def table(results: list[dict]) -> str:
    lines = ["| family | ConfliBERT test (in-domain, 3 classes) | ConfliBERT test, conflict/cooperation only | "
             "UN, conflict/cooperation only (2 present labels) | same, `--labels all` (absent neutral = 0) | "
             "UN, 3 classes (irrelevant = neutral) | UN test (in-domain) | UN-trained on ConfliBERT test |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        keys = ("cameo_test", "cameo2", "un2", "un2_all", "un3", "un_test", "reverse")
        cells = [cell(r[k]) if k in r else "not run" for k in keys]
        lines.append(f"| {r['family']} | {' | '.join(cells)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, required=True, help="folder for mlflow.db, predictors and reports")
    parser.add_argument("--families", nargs="+", default=list(FAMILIES))
    parser.add_argument("--no-reverse", action="store_true", help="skip training on UN and scoring ConfliBERT")
    parser.add_argument("--subset-only", action="store_true",
                        help="score UN only without its 'irrelevant' class (one pass over the UN file, for slow encoders)")
    parser.add_argument("--add", action="store_true", help="keep the other families already in results.json")
    args = parser.parse_args()
    root, store = data_root(), args.store.resolve()
    store.mkdir(parents=True, exist_ok=True)
    path = HERE / "results.json"
    kept = json.loads(path.read_text()) if args.add and path.is_file() else []
    results = [r for r in kept if r["family"] not in args.families]
    for family in args.families:
        results.append(study(family, store, root, not args.no_reverse, args.subset_only))
        path.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))


if __name__ == "__main__":
    main()
