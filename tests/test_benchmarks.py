"""The benchmark harness (experiments/benchmarks/): a smoke run on files the test writes itself, the data
preparation, the FNC-1 score, the data= configs, and (when ../shared/datasets is there) the real files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from experiments.benchmarks import contenders, prepare
from experiments.benchmarks.run import PREPARED
from experiments.benchmarks.scoring import fnc_score
from nlpkit import compose, load_data
from nlpkit.config import config_dir, validate

REPO = Path(__file__).resolve().parents[1]
ACTORS = ["Russia", "Ukraine", "Israel", "Iran", "Turkey", "Egypt", "Nigeria", "Syria", "China", "India", "Chad", "Mali"]
CAMEO = {
    "make_a_statement": "A spokesman for {a} said in a statement that officials would comment on the plan later.",
    "verbal_cooperation": "{a} praised the talks, welcomed the envoy and agreed to meet again next month.",
    "material_cooperation": "{a} delivered food aid, released prisoners and lifted the ban on imports.",
    "verbal_conflict": "{a} condemned the decision, rejected the demand and accused its rival of lying.",
    "material_conflict": "{a} troops attacked the town, shelled the border posts and bombed a convoy.",
}
STORIES = ["meteorite crash", "bank robbery", "missing jet", "border shooting", "stolen painting", "zoo escape",
           "oil spill", "bridge collapse", "hacked election", "ghost ship", "cyber attack", "dam burst"]


def write_cameo(folder: Path) -> None:
    """ConfliBERT cameo_class layout: train.csv / test.csv with text, label, label_name."""
    folder.mkdir(parents=True)
    for split, actors in (("train", ACTORS[:10]), ("test", ACTORS[10:] + ACTORS[:3])):
        rows = [{"text": text.format(a=a), "label": i, "label_name": name}
                for i, (name, text) in enumerate(CAMEO.items()) for a in actors]
        pd.DataFrame(rows).to_csv(folder / f"{split}.csv", index=False)


def write_fnc1(folder: Path) -> None:
    """FNC-1 layout: stances (Headline, Body ID, Stance) and bodies (Body ID, articleBody) per split."""
    folder.mkdir(parents=True)
    names = {"train": ("train_stances.csv", "train_bodies.csv"),
             "test": ("competition_test_stances.csv", "competition_test_bodies.csv")}
    for split, stories in (("train", STORIES[:8]), ("test", STORIES[8:])):
        offset = 0 if split == "train" else 100
        bodies = [{"Body ID": offset + i, "articleBody": f"Witnesses describe the {s}. Police say the {s} is real "
                   f"and confirmed; experts studied the {s} all week."} for i, s in enumerate(stories)]
        stances = []
        for i, s in enumerate(stories):
            other = stories[(i + 1) % len(stories)]
            stances += [{"Headline": f"Officials confirm the {s}", "Body ID": offset + i, "Stance": "agree"},
                        {"Headline": f"The {s} was a hoax, officials deny it", "Body ID": offset + i, "Stance": "disagree"},
                        {"Headline": f"Reports say a {s} may have happened", "Body ID": offset + i, "Stance": "discuss"},
                        {"Headline": f"Officials confirm the {other}", "Body ID": offset + i, "Stance": "unrelated"}]
        pd.DataFrame(stances).to_csv(folder / names[split][0], index=False)
        pd.DataFrame(bodies).to_csv(folder / names[split][1], index=False)


def write_bbc(folder: Path) -> None:
    """bbc_news.csv with two duplicate bodies (one differing only in whitespace)."""
    folder.mkdir(parents=True)
    rows = [{"id": f"{c}/{i:03}.txt", "category": c, "title": f"{c} story {i}", "text": f"A {c} report number {i}.",
             "split_conflibert": "train"} for c in ("business", "sport", "tech") for i in range(4)]
    rows += [{**rows[0], "id": "business/dup.txt"}, {**rows[5], "id": "sport/dup.txt", "text": rows[5]["text"] + "  "}]
    pd.DataFrame(rows).to_csv(folder / "bbc_news.csv", index=False)


@pytest.fixture
def bench_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Fake data sets in the shared layout under tmp_path, with the harness's paths pointed at them."""
    data = tmp_path / "data"
    write_cameo(data / "conflibert_cameo")
    write_fnc1(data / "fnc1")
    write_bbc(data / "bbc_news")
    monkeypatch.setenv("NLPKIT_BENCHMARK_DATA", str(data))
    monkeypatch.setenv("NLPKIT_BENCHMARK_CACHE", str(tmp_path / "cache"))
    return tmp_path


def test_smoke_benchmark_runs_every_row_and_logs_nested_mlflow_runs(bench_env: Path):
    uri = f"sqlite:///{bench_env / 'mlflow.db'}"
    cmd = [sys.executable, "-m", "experiments.benchmarks.run", "--datasets", "fnc1",
           "--contenders", "nlpkit:tfidf_logreg", "sklearn_script", "fasttext", "--seeds", "0",
           "--override", "model.char_ngrams=false", "--tracking-uri", uri, "--experiment", "benchmarks/smoke",
           "--out", str(bench_env / "out"), "--timeout", "120"]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300, env=os.environ.copy())
    assert done.returncode == 0, done.stderr[-3000:]
    rows = [json.loads(line) for line in (bench_env / "out" / "rows.jsonl").read_text().splitlines()]
    assert [(r["dataset"], r["contender"]) for r in rows] == [
        ("fnc1", c) for c in ("nlpkit:tfidf_logreg", "sklearn_script", "fasttext")]
    for row in rows:
        if row["contender"] == "fasttext" and "summary" not in row:
            assert "not installed: fasttext" in row["reason"]  # a light install has no fastText: the row says so
            continue
        summary = row["summary"]
        assert 0.0 <= summary["macro_f1_ci_low"] <= summary["macro_f1_mean"] <= summary["macro_f1_ci_high"] <= 1.0
        assert summary["n_test"] == 16 and 0.0 <= summary["fnc_score_mean"] <= 1.0
        assert summary["docs_per_second_mean"] > 0 and summary["peak_rss_mib_mean"] > 50
    assert "| fnc1 | nlpkit:tfidf_logreg `model.char_ngrams=false` | all |" in (bench_env / "out" / "table.md").read_text()
    check_mlflow_layout(uri, ran=sum("summary" in r for r in rows))


def check_mlflow_layout(uri: str, ran: int) -> None:
    """A parent run per data set, a child per contender, a seed run under each child that ran."""
    client = MlflowClient(uri)
    experiment = client.get_experiment_by_name("benchmarks/smoke")
    runs = client.search_runs([experiment.experiment_id], max_results=200)
    by_id = {r.info.run_id: r for r in runs}
    parents = {r.info.run_name for r in runs if "mlflow.parentRunId" not in r.data.tags}
    assert parents == {"fnc1"}
    children = [r for r in runs if by_id.get(r.data.tags.get("mlflow.parentRunId", ""), None) is not None
                and by_id[r.data.tags["mlflow.parentRunId"]].info.run_name in parents]
    assert len(children) == 3
    seeds = [r for r in runs if r.data.tags.get("mlflow.parentRunId") in {c.info.run_id for c in children}]
    assert len(seeds) == ran and all("test/macro_f1" in r.data.metrics for r in seeds)
    nlpkit_runs = [r for r in seeds if "nlpkit.version" in r.data.tags]  # logged by nlpkit.train in the worker
    assert len(nlpkit_runs) == 1


def test_deterministic_contender_runs_once_and_unavailable_one_says_why():
    assert contenders.get("nlpkit:tfidf_logreg").deterministic
    missing = contenders.Contender("nlpkit:nope", contenders.NLPKIT, model="nope", registry_kind="nope.v1")
    assert "not in nlpkit.models.REGISTRY" in contenders.unavailable(missing)
    with pytest.raises(ValueError, match="Available contenders"):
        contenders.get("tfidf")


def test_fnc_score_follows_the_official_weights():
    gold = ["agree", "unrelated", "discuss", "disagree"]  # best = 1.0 + 0.25 + 1.0 + 1.0
    assert fnc_score(gold, gold) == 1.0
    # agree->discuss: 0.25 (related); unrelated->unrelated: 0.25; discuss->unrelated: 0; disagree->disagree: 1.0
    assert fnc_score(gold, ["discuss", "unrelated", "unrelated", "disagree"]) == pytest.approx(1.5 / 3.25)


def test_prepare_dedupes_bbc_and_joins_fnc1_on_body_id(bench_env: Path):
    bbc = pd.read_csv(prepare.prepare("bbc_news")[0])
    assert len(bbc) == 12 and bbc["text"].is_unique
    train, test = (pd.read_csv(p) for p in prepare.prepare("fnc1"))
    assert (len(train), len(test)) == (32, 16)
    assert train.loc[0, "body"].startswith("Witnesses describe the meteorite crash")
    stamp = (bench_env / "cache" / "fnc1_train.stamp").stat().st_mtime_ns
    prepare.prepare("fnc1")  # inputs unchanged: reused, not rewritten
    assert (bench_env / "cache" / "fnc1_train.stamp").stat().st_mtime_ns == stamp


def _load(name: str):
    cfg = validate(compose(contenders.dataset_overrides(name)))
    return load_data(cfg.data, cfg.task)


def test_cameo_configs_map_pentaclass_to_escalation_or_keep_it(bench_env: Path):
    three, five = _load("conflibert_cameo")["test"], _load("conflibert_cameo5")["test"]
    assert len(three) == len(five) == 25 and set(five["label"]) == set(CAMEO)
    mapping = {"make_a_statement": "neutral", "verbal_cooperation": "de_escalatory",
               "material_cooperation": "de_escalatory", "verbal_conflict": "escalatory", "material_conflict": "escalatory"}
    assert three["label"] == [mapping[label] for label in five["label"]]


def test_prepare_names_the_missing_input(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("NLPKIT_BENCHMARK_DATA", str(tmp_path / "nowhere"))
    monkeypatch.setenv("NLPKIT_BENCHMARK_CACHE", str(tmp_path / "cache"))
    with pytest.raises(FileNotFoundError, match="Fix: set NLPKIT_BENCHMARK_DATA"):
        prepare.prepare("fnc1")


@pytest.mark.parametrize("name", ["bbc_news", "allsides_topic", "allsides_leaning", "fnc1", "conflibert_cameo",
                                  "conflibert_cameo5", "un_quadclass"])
def test_benchmark_data_configs_compose_and_validate(name: str):
    cfg = validate(compose(contenders.dataset_overrides(name)))
    assert cfg.data.name == name and cfg.data.source.value == "file"
    assert len(cfg.task.labels) >= 3 and (cfg.task.target_field == "target") == (name == "fnc1")
    default_task = validate(compose([contenders.SEARCHPATH, f"data={name}"])).task  # the data config sets no task
    assert default_task == validate(compose([])).task


def test_benchmark_configs_are_not_in_the_wheel_config_tree():
    shipped = {p.stem for p in (Path(config_dir()) / "data").glob("*.yaml")}
    assert shipped == {"disk", "file", "hub", "newswire"}
    assert {p.stem for p in (contenders.CONFIGS / "data").glob("*.yaml")} == set(REAL_SIZES) | {"allsides_topic"}
    assert {p.stem for p in (contenders.CONFIGS / "task").glob("*.yaml")} == set(REAL_SIZES) | {"allsides_topic"}


def test_readme_benchmark_command_composes_from_the_checkout(monkeypatch: pytest.MonkeyPatch):
    """The command experiments/benchmarks/README.md shows, with its relative search path, from the repository root."""
    import shlex

    command = "nlpkit-train hydra.searchpath=[file://experiments/benchmarks/configs] task=fnc1 data=fnc1 model=tfidf_svm"
    assert command in (contenders.CONFIGS.parent / "README.md").read_text()
    monkeypatch.chdir(contenders.CONFIGS.parent.parent.parent)
    cfg = validate(compose(shlex.split(command)[1:]))
    assert (cfg.data.name, cfg.task.name, cfg.task.target_field, cfg.model.kind) == ("fnc1", "stance", "target",
                                                                                             "tfidf_svm.v1")


REAL = Path(os.environ.get("NLPKIT_BENCHMARK_DATA") or prepare.DEFAULT_DATA)
# data set -> (n train + validation, n test) as the data sets' NOTES.md give them (bbc: 2,088 after dedup)
REAL_SIZES = {"conflibert_cameo": (1349, 451), "conflibert_cameo5": (1349, 451), "un_quadclass": (4783, 1196),
              "bbc_news": (1670, 418), "fnc1": (49972, 25413), "allsides_leaning": (28946, 1300)}
SLOW = {"fnc1", "allsides_leaning"}


@pytest.mark.skipif(not REAL.is_dir(), reason=f"public benchmark data not found at {REAL} (set NLPKIT_BENCHMARK_DATA)")
@pytest.mark.parametrize("name", [pytest.param(n, marks=[pytest.mark.slow] if n in SLOW else []) for n in REAL_SIZES])
def test_real_benchmark_files_load_with_the_documented_sizes(name: str, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("NLPKIT_BENCHMARK_DATA", str(REAL.resolve()))
    if name in PREPARED:
        prepare.prepare(PREPARED[name])
    cfg = validate(compose(contenders.dataset_overrides(name)))
    splits = load_data(cfg.data, cfg.task)
    assert (len(splits["train"]) + len(splits["validation"]), len(splits["test"])) == REAL_SIZES[name]
    assert set(splits["test"]["label"]) == set(cfg.task.labels)


def test_tfidf_speed_jobs_run_in_their_own_processes(tmp_path: Path):
    """The TF-IDF speed benchmark's jobs (nlpkit's default model through the saved arrays, the tuned script, the
    tokenisation limit) run as separate processes on the same splits and report scores, speed and memory."""
    import argparse

    from conftest import tiny_rows
    from experiments.benchmarks import tfidf_speed

    rows = tiny_rows(copies=4)
    split = {"train": rows[::2], "validation": rows[1::4], "test": rows[3::4]}
    data = tmp_path / "tiny.json"
    data.write_text(json.dumps({k: [[r["text"] for r in v], [r["label"] for r in v]] for k, v in split.items()}))
    args = argparse.Namespace(threads=1, autotune_seconds=5, timeout=300)
    results = {c: tfidf_speed.run_job("tiny", c, data, args) for c in ("nlpkit", "nlpkit_fast", "script", "limit")}
    assert results["nlpkit"]["notes"] == "char_ngrams=True"  # a few hundred characters: character n-grams on
    assert results["nlpkit_fast"]["notes"] == "char_ngrams=False"  # model=tfidf_fast: word n-grams only
    assert results["script"]["notes"].startswith("C=")
    for name, result in results.items():
        assert "error" not in result, (name, result)
        assert result["docs_per_second"] > 0 and result["peak_rss_mib"] >= result["added_rss_mib"] >= 0
    assert 0.0 <= results["nlpkit"]["macro_f1"] <= 1.0
    line = tfidf_speed.line("tiny", "nlpkit", results["nlpkit"])
    assert line.startswith("| tiny | nlpkit | ") and line.count("|") == 10


def test_worker_peak_forgets_data_loading_after_reset() -> None:
    """The worker's memory peak starts after data loading: a transient allocation before ``reset_peak`` no
    longer counts, one after it does (Linux ``VmHWM``, reset through ``clear_refs``)."""
    import numpy as np

    from experiments.benchmarks.worker import peak_mib, reset_peak, rss_mib

    transient = np.ones(300 * 2**20 // 8)  # 300 MiB touched, then freed: the "data loading" peak
    del transient
    before = peak_mib()
    reset_peak()
    after_reset = peak_mib()
    assert after_reset < before - 200, (before, after_reset)
    assert after_reset <= rss_mib() + 5
    fitted = np.ones(100 * 2**20 // 8)  # a 100 MiB "fit" after the reset is counted
    assert peak_mib() >= after_reset + 90
    del fitted
