"""Prevalence estimation: synthetic classifiers with known confusion rates and samples with known class mixes,
the validation record sealed by training, and ``nlpkit prevalence`` end to end (table, plot, MLflow run)."""

from __future__ import annotations

import csv
import json
import re
import shlex
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("quapy", reason="nlpkit prevalence needs `pip install -e .[prevalence]`")

from conftest import file_overrides, readme_command, tiny_rows, train_tiny_predictor, write_jsonl  # noqa: E402
from nlpkit.cli import main as cli_main  # noqa: E402
from nlpkit.errors import ConfigError, DataError  # noqa: E402
from nlpkit.predict import Predictor  # noqa: E402
from nlpkit.prevalence import ValidationRecord, estimate, estimate_groups, quantifier  # noqa: E402
from nlpkit.prevalence_data import VALIDATION_FILE, read_validation  # noqa: E402

LABELS = ["escalatory", "de_escalatory", "neutral"]
# P(looks like i | true j): escalatory is often mistaken for neutral, the others rarely (uneven errors)
CONFUSION = np.array([[0.70, 0.05, 0.10],
                      [0.05, 0.85, 0.05],
                      [0.25, 0.10, 0.85]])


def synthetic(mix: list[float], n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` documents drawn at class mix ``mix``: true labels and the probabilities of a classifier that sees
    only which class a document 'looks like' (class i with probability CONFUSION[i, true]) and outputs the
    calibrated posterior P(true | looks like i) under a uniform training prior."""
    y = rng.choice(3, size=n, p=mix)
    looks = np.array([rng.choice(3, p=CONFUSION[:, j]) for j in y])
    posterior = CONFUSION / CONFUSION.sum(axis=1, keepdims=True)
    return y, posterior[looks]


def validation_record(rng: np.random.Generator, n: int = 900) -> ValidationRecord:
    y, proba = synthetic([1 / 3] * 3, n, rng)
    return ValidationRecord(y, proba, np.bincount(y, minlength=3), tuple(LABELS))


# -- the estimators on synthetic data --------------------------------------------------------------------------
def test_acc_inverts_the_validation_confusion_rates_by_hand():
    # validation: 10 per class; true 0 predicted 0 eight times, 1 twice; true 1 predicted 1 seven times, 0 three times
    y_val = np.array([0] * 10 + [1] * 10)
    pred_val = np.array([0] * 8 + [1] * 2 + [1] * 7 + [0] * 3)
    record = ValidationRecord(y_val, np.eye(2)[pred_val], np.array([10, 10]), ("a", "b"))
    # test: 60% predicted a. M = [[0.8, 0.3], [0.2, 0.7]]; p = M^-1 q = [0.6, 0.4] solved: 0.8p + 0.3(1-p) = 0.6 -> p = 0.6
    test = np.eye(2)[[0] * 60 + [1] * 40]
    point = quantifier("acc", 2, record).aggregate(test.argmax(axis=1))
    assert point == pytest.approx([0.6, 0.4])
    test = np.eye(2)[[0] * 45 + [1] * 55]  # 0.8p + 0.3(1-p) = 0.45 -> p = 0.3
    assert quantifier("acc", 2, record).aggregate(test.argmax(axis=1)) == pytest.approx([0.3, 0.7])
    assert quantifier("cc", 2).aggregate(test.argmax(axis=1)) == pytest.approx([0.45, 0.55])


@pytest.mark.parametrize("method", ["acc", "pacc", "sld", "robust"])
def test_adjusted_methods_recover_shifted_shares_better_than_cc(method):
    rng = np.random.default_rng(1)
    record = validation_record(rng)
    errors = {"cc": [], method: []}
    for mix in ([0.7, 0.2, 0.1], [0.1, 0.2, 0.7], [0.5, 0.45, 0.05], [0.05, 0.15, 0.8]):
        y, proba = synthetic(mix, 1500, rng)
        truth = np.bincount(y, minlength=3) / len(y)
        for name in errors:
            point, _, _ = estimate(proba, LABELS, name, record, n_bootstrap=20)
            errors[name].append(np.abs(point - truth).mean())
    assert np.mean(errors[method]) < 0.5 * np.mean(errors["cc"]), errors
    assert np.mean(errors[method]) < 0.03, errors


def test_pacc_interval_covers_the_true_share_in_most_samples():
    rng = np.random.default_rng(2)
    record = validation_record(rng, n=600)
    covered, cc_covered = [], []
    for _ in range(15):
        mix = rng.dirichlet([1.0, 1.0, 1.0])
        y, proba = synthetic(list(mix), 300, rng)
        truth = np.bincount(y, minlength=3) / len(y)
        for name, hits in (("pacc", covered), ("cc", cc_covered)):
            _, low, high = estimate(proba, LABELS, name, record, n_bootstrap=200, seed=int(rng.integers(1 << 30)))
            hits.extend((low <= truth) & (truth <= high))
    assert np.mean(covered) >= 0.85, np.mean(covered)
    assert np.mean(cc_covered) < np.mean(covered)  # CC's interval is around a biased estimate


def test_groups_each_get_their_own_estimate_and_all_rows_are_consistent():
    rng = np.random.default_rng(3)
    record = validation_record(rng, n=600)
    parts = [synthetic(mix, 400, rng) for mix in ([0.8, 0.1, 0.1], [0.1, 0.1, 0.8])]
    proba = np.vstack([p for _, p in parts])
    groups = ["2024-01"] * 400 + ["2024-02"] * 400
    rows = estimate_groups(proba, groups, LABELS, ["cc", "sld"], record, n_bootstrap=50)
    assert {(r.group, r.n) for r in rows} == {("all", 800), ("2024-01", 400), ("2024-02", 400)}
    for group in ("all", "2024-01", "2024-02"):
        for method in ("cc", "sld"):
            shares = [r for r in rows if r.group == group and r.method == method]
            assert sum(r.estimate for r in shares) == pytest.approx(1.0, abs=1e-6)
            assert all(0 <= r.ci_low <= r.estimate <= r.ci_high <= 1 for r in shares)
    sld = {r.group: r.estimate for r in rows if r.method == "sld" and r.label == "escalatory"}
    assert sld["2024-01"] > 0.65 and sld["2024-02"] < 0.25


def test_interval_endpoints_are_whole_documents_so_an_absent_class_can_be_covered():
    # SLD's EM is stopped after a tolerance, so for a class absent from the sample it returns a small positive share
    # and a percentile interval that excludes 0; the truth of n documents is k/n, so endpoints round to multiples of 1/n
    rng = np.random.default_rng(5)
    record = validation_record(rng, n=600)
    _, proba = synthetic([0.6, 0.4, 0.0], 100, rng)
    point, low, high = estimate(proba, LABELS, "sld", record, n_bootstrap=100)
    assert 0 < point[2] < 0.005 and low[2] == 0.0  # the absent class: estimate off 0, interval reaches it
    for bound in (low, high):
        np.testing.assert_allclose(bound * 100, np.round(bound * 100), atol=1e-9)  # k / 100 documents
    assert np.all(low <= point) and np.all(point <= high)


def test_copies_of_a_document_are_resampled_together():
    # 100 distinct documents, then each listed 4 times: the copies carry no new information, so the interval must
    # not shrink to half its width (what a bootstrap treating 400 independent documents would give)
    rng = np.random.default_rng(6)
    _, proba = synthetic([0.5, 0.3, 0.2], 100, rng)
    widths = {}
    texts = [f"document {i}" for i in range(100)]
    for copies in (1, 4):
        _, low, high = estimate(np.repeat(proba, copies, axis=0), LABELS, "pcc", n_bootstrap=400, seed=1,
                                copies=np.repeat(texts, copies))
        widths[copies] = high - low
    assert np.all(widths[4] > 0.8 * widths[1]), widths
    _, low, high = estimate(np.repeat(proba, 4, axis=0), LABELS, "pcc", n_bootstrap=400, seed=1)  # no keys: 400
    assert np.all(high - low < 0.7 * widths[1])  # documents taken as independent, the usual sqrt(n) narrowing


def test_robust_keeps_sld_estimate_and_spans_sld_and_pacc_intervals():
    rng = np.random.default_rng(7)
    record = validation_record(rng, n=300)
    _, proba = synthetic([0.2, 0.3, 0.5], 200, rng)
    rows = estimate_groups(proba, None, LABELS, ["sld", "pacc", "robust"], record, n_bootstrap=100)
    by = {m: np.array([[r.estimate, r.ci_low, r.ci_high] for r in rows if r.method == m]) for m in ("sld", "pacc", "robust")}
    np.testing.assert_array_equal(by["robust"][:, 0], by["sld"][:, 0])
    np.testing.assert_array_equal(by["robust"][:, 1], np.minimum(by["sld"][:, 1], by["pacc"][:, 1]))
    np.testing.assert_array_equal(by["robust"][:, 2], np.maximum(by["sld"][:, 2], by["pacc"][:, 2]))


def test_robust_covers_when_posteriors_are_miscalibrated():
    # the classifier's posteriors are flattened (under-confident, as a small TF-IDF model's are): SLD's interval,
    # which trusts them, misses the truth; PACC's error rates come from the same classifier's validation outputs
    rng = np.random.default_rng(8)

    def flatten(p: np.ndarray) -> np.ndarray:
        return (p ** 0.5) / (p ** 0.5).sum(axis=1, keepdims=True)

    y_val, p_val = synthetic([1 / 3] * 3, 300, rng)
    record = ValidationRecord(y_val, flatten(p_val), np.bincount(y_val, minlength=3), tuple(LABELS))
    hits = {"sld": [], "robust": []}
    for mix in ([0.8, 0.1, 0.1], [0.1, 0.8, 0.1], [0.1, 0.1, 0.8], [0.5, 0.0, 0.5], [0.6, 0.3, 0.1]):
        y, proba = synthetic(mix, 300, rng)
        truth = np.bincount(y, minlength=3) / len(y)
        rows = estimate_groups(flatten(proba), None, LABELS, ["sld", "robust"], record, n_bootstrap=100)
        for method, hit in hits.items():
            low, high = (np.array([getattr(r, k) for r in rows if r.method == method]) for k in ("ci_low", "ci_high"))
            hit.extend((low <= truth + 1e-9) & (truth <= high + 1e-9))
    assert np.mean(hits["robust"]) >= 0.9 and np.mean(hits["sld"]) < 0.8, {m: np.mean(h) for m, h in hits.items()}


def test_api_errors_are_one_line():
    rng = np.random.default_rng(4)
    _, proba = synthetic([1 / 3] * 3, 50, rng)
    with pytest.raises(ConfigError, match=r"Unknown prevalence method 'emq'; expected some of cc, pcc, acc, pacc, sld"):
        estimate(proba, LABELS, "emq")
    with pytest.raises(DataError, match=r"Methods acc need the model's validation predictions .* Fix: pass --validation"):
        estimate(proba, LABELS, "acc", None)
    with pytest.raises(DataError, match=r"Expected probabilities of shape \(documents >= 1, 3 labels\); got shape \(50, 2\)"):
        estimate(proba[:, :2], LABELS, "cc")


# -- training stores the validation record; the CLI end to end -------------------------------------------------
@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return train_tiny_predictor(tmp_path_factory.mktemp("prevalence"))


@pytest.fixture(scope="module")
def dated(tmp_path_factory) -> Path:
    rows = tiny_rows()
    for i, row in enumerate(rows):
        row["date"] = f"2024-{1 + i % 3:02d}-{10 + i % 9}"
        del row["label"]
    return write_jsonl(tmp_path_factory.mktemp("data") / "dated.jsonl", rows)


def test_training_seals_the_validation_predictions_into_the_predictor(model_dir):
    meta = json.loads((model_dir / "nlpkit.json").read_text())
    assert VALIDATION_FILE in meta["files"]
    record = read_validation(Predictor.load(model_dir))
    with open(model_dir.parent / "predictions" / "validation.csv") as handle:
        table = list(csv.DictReader(handle))
    assert [LABELS[i] for i in record.labels] == [row["label"] for row in table]
    assert record.proba[:, 0] == pytest.approx([float(row["p_escalatory"]) for row in table])
    assert len(table) == meta["metrics"]["validation/n"]
    assert record.train_counts.sum() == len(tiny_rows()) - meta["metrics"]["validation/n"] - meta["metrics"]["test/n"]


def test_calibrated_predictor_seals_out_of_fold_calibrated_validation_probabilities(tmp_path):
    import nlpkit
    from nlpkit.config import compose

    data = write_jsonl(tmp_path / "tiny.jsonl", tiny_rows())
    result = nlpkit.train(compose([*file_overrides(data), "tracking=off", "model.calibration=isotonic",
                                   f"output_dir={tmp_path / 'run'}"]))
    predictor = Predictor.load(result.predictor_dir)
    record = read_validation(predictor)
    with open(result.output_dir / "predictions" / "validation.csv") as handle:
        table = list(csv.DictReader(handle))
    in_sample = np.array([[float(row[f"p_{label}"]) for label in LABELS] for row in table])  # the fitted map's output
    assert [LABELS[i] for i in record.labels] == [row["label"] for row in table]
    np.testing.assert_allclose(record.proba.sum(axis=1), 1.0, atol=1e-9)
    assert np.abs(record.proba - in_sample).max() > 0.05  # not the map that saw these labels


def test_cli_by_month_writes_table_and_plot(model_dir, dated, tmp_path, capsys, monkeypatch):
    """The README's command as written, with this module's predictor for path/to/predictor."""
    table, png = tmp_path / "prevalence.csv", tmp_path / "prevalence.png"
    (tmp_path / "articles.jsonl").write_text(dated.read_text())
    monkeypatch.chdir(tmp_path)
    command = readme_command("nlpkit prevalence path/to/predictor").replace("path/to/predictor", str(model_dir))
    code = cli_main(shlex.split(command)[1:])
    assert code == 0, capsys.readouterr().err
    with open(table) as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["group", "method", "class", "estimate", "ci_low", "ci_high", "n"]
    assert {r["group"] for r in rows} == {"all", "2024-01", "2024-02", "2024-03"}
    assert len(rows) == 4 * 6 * 3 and {r["method"] for r in rows} == {"cc", "pcc", "acc", "pacc", "sld", "robust"}
    assert {r["n"] for r in rows if r["group"] != "all"} == {"12"}
    cc = Predictor.load(model_dir).predict([json.loads(line) for line in dated.read_text().splitlines()])
    overall = {r["class"]: float(r["estimate"]) for r in rows if r["group"] == "all" and r["method"] == "cc"}
    assert overall == {label: pytest.approx(cc.count(label) / len(cc)) for label in LABELS}
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "2024-02" in capsys.readouterr().out


def test_cli_method_robust_cc_as_in_the_readme(model_dir, dated, tmp_path, capsys):
    table = tmp_path / "prevalence.csv"
    assert cli_main(["prevalence", str(model_dir), "--data", str(dated), "--by", "date:month", "--method", "robust,cc",
                     "--bootstrap", "50", "--output", str(table)]) == 0
    with open(table) as handle:
        rows = list(csv.DictReader(handle))
    assert {r["method"] for r in rows} == {"robust", "cc"} and len(rows) == 4 * 2 * 3
    assert all(float(r["ci_low"]) <= float(r["estimate"]) <= float(r["ci_high"]) for r in rows)
    for r in rows:  # endpoints are whole documents of the group
        n = int(r["n"])
        assert float(r["ci_low"]) * n == pytest.approx(round(float(r["ci_low"]) * n), abs=1e-6) or \
            float(r["ci_low"]) == pytest.approx(float(r["estimate"]))


def test_python_api_by_source_matches_the_cli_table(model_dir, dated, tmp_path, capsys):
    import nlpkit

    result = nlpkit.estimate_prevalence(model_dir, dated, by="source", methods="cc,sld", n_bootstrap=40, seed=3)
    assert {r.group for r in result.rows} == {"all", *(f"outlet{i}" for i in range(6))}
    assert cli_main(["prevalence", str(model_dir), "--data", str(dated), "--by", "source", "--method", "cc,sld",
                     "--bootstrap", "40", "--seed", "3", "--output", str(tmp_path / "t.json")]) == 0
    assert json.loads((tmp_path / "t.json").read_text()) == result.records()


def test_cli_logs_a_run_linked_to_the_model_run(tmp_path, make_cfg, tracking_uri, dated, capsys):
    import nlpkit
    from nlpkit.store import open_store

    data = write_jsonl(tmp_path / "tiny.jsonl", tiny_rows())
    trained = nlpkit.train(make_cfg(*file_overrides(data)))
    out = tmp_path / "prev.json"
    assert cli_main(["prevalence", f"runs:/{trained.run_id}/model", "--data", str(dated), "--method", "pcc,pacc",
                     "--validation", str(data), "--bootstrap", "30", "--output", str(out),
                     "--tracking-uri", tracking_uri]) == 0
    run_id = capsys.readouterr().out.strip().splitlines()[-1].split()[-1]
    client = open_store(tracking_uri)
    run = client.get_run(run_id)
    assert run.data.tags["nlpkit.model_run_id"] == trained.run_id
    assert run.info.experiment_id == client.get_run(trained.run_id).info.experiment_id
    assert run.data.tags["nlpkit.predictor_digest"] == trained.predictor.metadata["digest"]
    assert [a.path for a in client.list_artifacts(run_id)] == ["prev.json"]
    table = json.loads(out.read_text())
    pacc = sum(r["estimate"] for r in table if r["method"] == "pacc" and r["group"] == "all")
    assert pacc == pytest.approx(1.0) and run.data.metrics["prevalence/pacc/neutral"] == pytest.approx(
        next(r["estimate"] for r in table if r["method"] == "pacc" and r["class"] == "neutral"))
    # a second estimate from the predictor's folder is found by its digest, which the first prevalence run
    # carries too: it must link to the training run, not to that prevalence run
    assert cli_main(["prevalence", str(trained.predictor_dir), "--data", str(dated), "--method", "cc",
                     "--bootstrap", "20", "--tracking-uri", tracking_uri]) == 0
    second = client.get_run(capsys.readouterr().out.strip().splitlines()[-1].split()[-1])
    assert second.info.run_id != run_id and second.data.tags["nlpkit.model_run_id"] == trained.run_id


def test_predictor_without_validation_record_cc_works_acc_needs_validation_file(model_dir, dated, tmp_path, capsys):
    loaded = Predictor.load(model_dir)
    kept = loaded.save(tmp_path / "kept")  # a re-save keeps the sealed validation record
    assert (kept / VALIDATION_FILE).read_bytes() == (model_dir / VALIDATION_FILE).read_bytes()
    loaded.data_files.clear()  # as a predictor trained without a validation split
    bare = loaded.save(tmp_path / "bare")
    assert not (bare / VALIDATION_FILE).exists()
    assert cli_main(["prevalence", str(bare), "--data", str(dated), "--method", "cc", "--bootstrap", "20"]) == 0
    assert cli_main(["prevalence", str(bare), "--data", str(dated), "--method", "acc", "--bootstrap", "20"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Methods acc need the model's validation predictions" in err
    labelled = write_jsonl(tmp_path / "val.jsonl", tiny_rows(1))
    assert cli_main(["prevalence", str(bare), "--data", str(dated), "--method", "acc", "--bootstrap", "20",
                     "--validation", str(labelled)]) == 0


@pytest.mark.parametrize("args, pattern", [
    (["--by", "region"], r"has no 'region' value; expected one in every row to group by"),
    (["--by", "date:quarter"], r"--by 'date:quarter': expected COLUMN or COLUMN:PERIOD with PERIOD one of month"),
    (["--by", "source:month"], r"source='outlet0' is not an ISO date; expected e.g. 2024-03-17"),
    (["--method", "cc,median"], r"Unknown prevalence method 'median'; expected some of cc, pcc, acc, pacc, sld"),
    (["--output", "table.txt"], r"--output '.*table.txt': expected a .csv or .json file"),
    (["--text-field", "body"], r"has no string field 'body'"),
    (["--validation", "VAL", "--label-field", "source"], r"has source='outlet0'; expected one of the predictor's labels"),
])
def test_bad_input_gives_one_line(args, pattern, model_dir, dated, tmp_path, capsys):
    args = [str(write_jsonl(tmp_path / "val.jsonl", tiny_rows(1))) if a == "VAL" else a for a in args]
    assert cli_main(["prevalence", str(model_dir), "--data", str(dated), "--bootstrap", "20", *args]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert re.search(pattern, err), err


@pytest.mark.slow
def test_experiment_smoke(tmp_path, capsys):
    """experiments/prevalence/run.py end to end with tiny settings (conflibert_cameo absent: skipped, said so)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("prevalence_run", Path(__file__).parents[1] / "experiments/prevalence/run.py")
    run = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run)
    assert run.main(["--sample-size", "30", "--bootstrap", "20", "--no-plots", "--out", str(tmp_path),
                     "--conflibert", str(tmp_path / "absent")]) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert set(results) == {"newswire test", "newswire test_ood"}
    assert all(0 <= m["coverage"] <= 1 and m["samples"] == 66 for pool in results.values() for m in pool.values())
    assert "conflibert_cameo skipped" in capsys.readouterr().err
