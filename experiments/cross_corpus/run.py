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
FAMILIES = ("tfidf_logreg", "tfidf_svm", "embed_logreg")


def data_root() -> Path:
    root = Path(os.environ.get("NLPKIT_BENCHMARK_DATA", ROOT.parent / "shared" / "datasets"))
    if not (root / "un_quadclass" / "en_quadclass.csv").is_file():
        sys.exit(f"error: no benchmark data under {root}; expected un_quadclass/ and conflibert_cameo/. "
                 "Fix: set NLPKIT_BENCHMARK_DATA to the folder holding them.")
    return root


def label_map(config: str, keep_neutral: bool = True) -> str:
    """The ``--label-map`` of a data config (configs/data/<config>.yaml), e.g. ``verbal_conflict=escalatory,...``;
    without ``keep_neutral`` the classes mapped to neutral are left out (their rows are then dropped)."""
    mapping = OmegaConf.load(ROOT / "configs" / "data" / f"{config}.yaml").data.label_map
    return ",".join(f"{k}={v}" for k, v in mapping.items() if keep_neutral or v != "neutral")


# The one place that says how a model is trained on a benchmark data set (configs/data/<name>.yaml today).
def train_command(data: str, family: str, store: Path) -> list[str]:
    return [str(BIN / "nlpkit-train"), f"data={data}", f"model={family}", f"tracking.uri=sqlite:///{store}/mlflow.db",
            "tracking.experiment=cross_corpus", f"output_dir={store}/train/{data}-{family}"]


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


def study(family: str, store: Path, root: Path, reverse: bool) -> dict:
    un = root / "un_quadclass" / "en_quadclass.csv"
    trained = train("conflibert_cameo", family, store)
    result = {"family": family, "cameo_test": trained["test"]}
    three = evaluate(trained["run_id"], un, label_map("un_quadclass"), store, f"{family}-un3")
    quad = evaluate(trained["run_id"], un, label_map("un_quadclass", keep_neutral=False), store, f"{family}-un2",
                    "--drop-unmapped")
    quad_all = evaluate(trained["run_id"], un, label_map("un_quadclass", keep_neutral=False), store,
                        f"{family}-un2-all", "--drop-unmapped", "--labels", "all")
    for key, found in (("un3", three), ("un2", quad), ("un2_all", quad_all)):
        result[key] = [found["macro_f1"], *found["ci"]]
        result[f"{key}_n"] = found["n"]
    if reverse:
        back = train("un_quadclass", family, store)
        cameo = evaluate(back["run_id"], root / "conflibert_cameo" / "test.csv", label_map("conflibert_cameo"), store,
                         f"{family}-reverse")
        result |= {"un_test": back["test"], "reverse": [cameo["macro_f1"], *cameo["ci"]]}
    return result


def table(results: list[dict]) -> str:
    lines = ["| family | ConfliBERT test (in-domain) | UN, 3 classes (irrelevant = neutral) | UN, conflict/cooperation "
             "only (2 present labels) | same, `--labels all` (absent neutral = 0) | UN test (in-domain) | "
             "UN-trained on ConfliBERT test |", "|---|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        reverse = [cell(r[k]) if k in r else "not run" for k in ("un_test", "reverse")]
        lines.append(f"| {r['family']} | {cell(r['cameo_test'])} | {cell(r['un3'])} | {cell(r['un2'])} | "
                     f"{cell(r['un2_all'])} | {' | '.join(reverse)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, required=True, help="folder for mlflow.db, predictors and reports")
    parser.add_argument("--families", nargs="+", default=list(FAMILIES))
    parser.add_argument("--no-reverse", action="store_true", help="skip training on UN and scoring ConfliBERT")
    args = parser.parse_args()
    root, store = data_root(), args.store.resolve()
    store.mkdir(parents=True, exist_ok=True)
    results = []
    for family in args.families:
        results.append(study(family, store, root, not args.no_reverse))
        (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))


if __name__ == "__main__":
    main()
