"""Calibration: Brier/ECE on known values, the post-hoc calibrators, calibrated predictors saved, sealed and
loaded, reliability diagrams in the output folder and in MLflow, and bad values refused in one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.metrics import brier_score_loss

import nlpkit
from nlpkit import calibrators
from nlpkit.calibration import N_BINS, brier_score, evaluate_calibration, expected_calibration_error, log_loss
from nlpkit.config import compose, validate
from nlpkit.errors import ConfigError, DataError, ModelLoadError
from nlpkit.predict import Predictor
from conftest import ESCALATORY, LABELS, NEUTRAL, file_overrides, tiny_model_overrides, tiny_rows, write_jsonl

ABC = ["a", "b", "c"]
TEXTS = [ESCALATORY[0], NEUTRAL[1], "Talks on a truce resumed after the shelling"]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
METHODS = ("temperature", "isotonic", "sigmoid")


# ---- metrics on hand-made probabilities --------------------------------------------------------------------

HAND_TRUE = ["a", "b", "c", "a"]
HAND_PROBA = np.array([[1.0, 0.0, 0.0],   # right, sure: squared error 0, confidence 1.0 (bin 15)
                       [0.5, 0.5, 0.0],   # tie, argmax a (wrong): 0.25 + 0.25, confidence 0.5 (bin 8)
                       [0.2, 0.1, 0.7],   # right: 0.04 + 0.01 + 0.09, confidence 0.7 (bin 11)
                       [0.7, 0.3, 0.0]])  # right: 0.09 + 0.09, confidence 0.7 (bin 11)


def test_brier_score_on_hand_made_probabilities():
    assert brier_score(HAND_TRUE, HAND_PROBA, ABC) == pytest.approx((0 + 0.5 + 0.14 + 0.18) / 4)
    # the multi-class Brier score is the sum over classes of sklearn's one-vs-rest (binary) Brier loss
    one_vs_rest = sum(brier_score_loss([t == k for t in HAND_TRUE], HAND_PROBA[:, i]) for i, k in enumerate(ABC))
    assert brier_score(HAND_TRUE, HAND_PROBA, ABC) == pytest.approx(one_vs_rest)
    assert brier_score(["a", "b"], [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]], ABC) == pytest.approx(2.0)  # the worst


def test_top_label_ece_on_hand_made_probabilities():
    # bins: {1.0: right} gap 0; {0.5: wrong} gap 0.5; {0.7, 0.7: both right} gap 0.3 -> 1/4*0 + 1/4*0.5 + 2/4*0.3
    assert N_BINS == 15
    assert expected_calibration_error(HAND_TRUE, HAND_PROBA, ABC) == pytest.approx(0.275)
    assert expected_calibration_error(["a"] * 4, [[1.0, 0.0, 0.0]] * 4, ABC) == 0.0  # sure and right
    # 10 documents at confidence 0.8, 8 of them right: perfectly calibrated in its bin
    proba, truth = [[0.8, 0.1, 0.1]] * 10, ["a"] * 8 + ["b"] * 2
    assert expected_calibration_error(truth, proba, ABC) == pytest.approx(0.0, abs=1e-12)
    assert log_loss(truth, proba, ABC) == pytest.approx(-(8 * np.log(0.8) + 2 * np.log(0.1)) / 10)


def test_metrics_refuse_mismatched_shapes_and_unknown_labels():
    with pytest.raises(DataError, match=r"shape \(n documents, 3 labels\).*got shape \(4, 2\) for 4 labels.*Fix"):
        brier_score(HAND_TRUE, HAND_PROBA[:, :2], ABC)
    with pytest.raises(DataError, match=r"got unknown label\(s\) \['z'\].*Fix"):
        expected_calibration_error(["a", "b", "c", "z"], HAND_PROBA, ABC)


# ---- the calibrators on a deliberately over-confident toy model -----------------------------------------------

def overconfident(n: int, seed: int, sharpen: float = 3.0) -> tuple[np.ndarray, list[str]]:
    """Labels drawn from softmax(z); the toy model reports softmax(sharpen * z): right ranking, over-confident."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 1.0, (n, 3))
    true_p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    y = [ABC[rng.choice(3, p=row)] for row in true_p]
    sharp = np.exp(sharpen * z)
    return sharp / sharp.sum(axis=1, keepdims=True), y


def test_temperature_scaling_lowers_nll_and_ece_of_an_overconfident_model():
    val_p, val_y = overconfident(3000, seed=1)
    test_p, test_y = overconfident(3000, seed=2)
    cal = calibrators.fit("temperature", val_p, val_y, ABC)
    assert cal.params["temperature"] == pytest.approx(3.0, rel=0.15)  # it undoes the sharpening
    after = cal.apply(test_p)
    assert log_loss(test_y, after, ABC) < log_loss(test_y, test_p, ABC) - 0.1
    assert expected_calibration_error(test_y, after, ABC) < expected_calibration_error(test_y, test_p, ABC) / 3
    assert expected_calibration_error(val_y, cal.apply(val_p), ABC) < expected_calibration_error(val_y, val_p, ABC)
    assert (after.argmax(axis=1) == test_p.argmax(axis=1)).all()  # temperature never changes a prediction


@pytest.mark.parametrize("method", METHODS)
def test_every_method_keeps_rows_summing_to_one_and_columns_in_label_order(method):
    val_p, val_y = overconfident(600, seed=3)
    test_p, test_y = overconfident(600, seed=4)
    after = calibrators.fit(method, val_p, val_y, ABC).apply(test_p)
    assert after.shape == test_p.shape and np.all((after >= 0) & (after <= 1))
    np.testing.assert_allclose(after.sum(axis=1), 1.0, atol=1e-12)
    assert brier_score(test_y, after, ABC) < brier_score(test_y, test_p, ABC)
    # the same data with the labels (and probability columns) in another order: the same map, columns permuted
    order = [2, 0, 1]
    permuted = calibrators.fit(method, val_p[:, order], val_y, [ABC[i] for i in order]).apply(test_p[:, order])
    np.testing.assert_allclose(permuted, after[:, order], atol=1e-6)


def test_isotonic_thresholds_interpolate_as_sklearn_predicts():
    from sklearn.isotonic import IsotonicRegression

    val_p, val_y = overconfident(400, seed=5)
    cal = calibrators.fit("isotonic", val_p, val_y, ABC)
    grid = np.linspace(0, 1, 101)
    for k, label in enumerate(ABC):
        iso = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(val_p[:, k], [y == label for y in val_y])
        np.testing.assert_allclose(np.interp(grid, cal.params["x"][k], cal.params["y"][k]), iso.predict(grid), atol=1e-12)


def test_per_class_methods_need_every_label_in_the_validation_split():
    proba = np.array([[0.8, 0.1, 0.1], [0.3, 0.6, 0.1], [0.6, 0.3, 0.1]])
    for method in ("isotonic", "sigmoid"):
        with pytest.raises(DataError, match=rf"model.calibration={method} fits one map per label.*'c': 0.*Fix: use "
                                            r"model.calibration=temperature"):
            calibrators.fit(method, proba, ["a", "b", "a"], ABC)
    assert calibrators.fit("temperature", proba, ["a", "b", "a"], ABC).params["temperature"] > 0
    assert calibrators.fit("none", proba, ["a", "b", "a"], ABC) is None


# ---- a trained predictor: calibrated, saved, sealed, loaded ---------------------------------------------------

@pytest.fixture(scope="module")
def calibrated_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A tiny TF-IDF escalation model trained once per method (no tracking), each with its calibrator."""
    folder = tmp_path_factory.mktemp("calibrated")
    data = write_jsonl(folder / "tiny.jsonl", tiny_rows())
    return {method: nlpkit.train(compose([*file_overrides(data), "tracking=off", f"output_dir={folder / method}",
                                          f"model.calibration={method}"]))
            for method in ("none", *METHODS)}


@pytest.mark.parametrize("method", METHODS)
def test_calibrated_predictor_saves_and_loads_identical_probabilities(calibrated_runs, method):
    result, plain = calibrated_runs[method], calibrated_runs["none"]
    assert result.predictor.calibrator.method == method and plain.predictor.calibrator is None
    assert (result.predictor_dir / calibrators.CALIBRATION_FILE).is_file()
    assert not (plain.predictor_dir / calibrators.CALIBRATION_FILE).exists()
    assert "calibration.json" in json.loads((result.predictor_dir / "nlpkit.json").read_text())["files"]
    loaded = Predictor.load(result.predictor_dir)
    np.testing.assert_array_equal(loaded.predict_proba(TEXTS), result.predictor.predict_proba(TEXTS))
    # the same model underneath (same seed and data), with the stored map applied on top of its probabilities
    raw = Predictor.load(plain.predictor_dir).predict_proba(TEXTS)
    np.testing.assert_allclose(loaded.predict_proba(TEXTS), loaded.calibrator.apply(raw), atol=1e-12)
    assert not np.allclose(loaded.predict_proba(TEXTS), raw)
    streamed = np.array([row for _, row in loaded.predict_batches(iter(TEXTS), batch_size=2)])
    np.testing.assert_allclose(streamed, loaded.predict_proba(TEXTS), atol=1e-12)  # batch consumers too


def test_calibration_file_is_sealed(calibrated_runs, tmp_path):
    import shutil

    copy = Path(shutil.copytree(calibrated_runs["temperature"].predictor_dir, tmp_path / "p"))
    state = json.loads((copy / "calibration.json").read_text())
    state["params"]["temperature"] = 1.0
    (copy / "calibration.json").write_text(json.dumps(state))
    with pytest.raises(ModelLoadError, match=r"Predictor file 'calibration.json' .* was changed: expected sha256"):
        Predictor.load(copy)
    (copy / "calibration.json").unlink()
    with pytest.raises(ModelLoadError, match=r"Predictor file 'calibration.json' is missing"):
        Predictor.load(copy)
    plain = Path(shutil.copytree(calibrated_runs["none"].predictor_dir, tmp_path / "plain"))
    (plain / "calibration.json").write_text(json.dumps(state))  # a calibrator slipped into an uncalibrated one
    with pytest.raises(ModelLoadError, match=r"Unexpected file 'calibration.json'"):
        Predictor.load(plain)


@pytest.mark.parametrize("edit, problem", [
    (lambda s: {**s, "method": "platt"}, r"method 'platt' is not one of"),
    (lambda s: {**s, "labels": s["labels"][::-1]}, r"its labels .* differ from the predictor's"),
    (lambda s: {**s, "params": {"temperature": -2}}, r"temperature must be a finite number > 0, got -2"),
    (lambda s: [1, 2], r"it is not a calibration object"),
])
def test_unverified_malformed_calibration_is_refused_in_one_line(calibrated_runs, tmp_path, edit, problem):
    import shutil

    copy = Path(shutil.copytree(calibrated_runs["temperature"].predictor_dir, tmp_path / "p"))
    path = copy / "calibration.json"
    path.write_text(json.dumps(edit(json.loads(path.read_text()))))
    with pytest.raises(ModelLoadError, match=rf"calibration.json is malformed: {problem}.*Fix: get the predictor") as err:
        Predictor.load(copy, verify=False)
    assert "\n" not in str(err.value)


def test_calibrated_tfidf_predictor_predicts_without_scikit_learn(calibrated_runs):
    code = (f"import sys, json; from nlpkit.predict import Predictor\n"
            f"p = Predictor.load({str(calibrated_runs['isotonic'].predictor_dir)!r})\n"
            f"print(json.dumps({{'proba': p.predict_proba({TEXTS!r}).tolist(), 'sklearn': 'sklearn' in sys.modules}}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    found = json.loads(out.stdout.strip().splitlines()[-1])
    assert found["sklearn"] is False
    np.testing.assert_allclose(found["proba"], calibrated_runs["isotonic"].predictor.predict_proba(TEXTS), atol=1e-12)


# ---- metrics and reliability diagrams of a tracked run (real sqlite MLflow store) ------------------------------

def test_reliability_pngs_and_calibration_metrics_in_the_output_folder_and_mlflow(make_cfg, tiny_file, tracking_uri):
    import pandas as pd
    from mlflow.tracking import MlflowClient

    result = nlpkit.train(make_cfg(*file_overrides(tiny_file), "model.calibration=sigmoid", "tracking.log_model=false"))
    splits = [name for name in result.sizes if name != "train"]
    assert splits == ["validation", "test"]
    pngs = [f"reliability_{s}.png" for s in splits] + ["reliability_validation_uncalibrated.png"]
    for name in pngs:
        assert (result.output_dir / "plots" / name).read_bytes()[:8] == PNG_MAGIC
    client = MlflowClient(tracking_uri)
    logged = {Path(f.path).name for f in client.list_artifacts(result.run_id, "plots")}
    assert set(pngs) <= logged
    metrics = client.get_run(result.run_id).data.metrics
    for split in splits:  # the logged values are those of the saved (calibrated) probabilities
        frame = pd.read_csv(result.output_dir / "predictions" / f"{split}.csv")
        proba = frame[[f"p_{label}" for label in LABELS]].to_numpy()
        assert metrics[f"{split}/brier"] == pytest.approx(brier_score(list(frame.label), proba, LABELS))
        assert metrics[f"{split}/ece"] == pytest.approx(expected_calibration_error(list(frame.label), proba, LABELS))
    assert metrics["validation/brier_uncalibrated"] > metrics["validation/brier"]


def test_evaluate_calibration_writes_the_named_png(tmp_path):
    metrics = evaluate_calibration(tmp_path, "test_ood", HAND_TRUE, HAND_PROBA, ABC)
    assert metrics == {"brier": pytest.approx(0.205), "ece": pytest.approx(0.275)}
    assert (tmp_path / "plots" / "reliability_test_ood.png").read_bytes()[:8] == PNG_MAGIC


# ---- an encoder family: finetune with refit calibrates on its held-out validation probabilities ---------------

def test_finetune_refit_is_calibrated_on_its_heldout_validation_probabilities(tiny_encoder_dir, tmp_path):
    data = write_jsonl(tmp_path / "tiny.jsonl", tiny_rows())
    tiny = {**tiny_model_overrides("finetune.v1"), "epochs": 4, "early_stopping": False, "refit": True}
    overrides = [f"model.{k}={v}" for k, v in tiny.items()]
    cfg = compose(["data=file", f"data.path={data}", "data.columns.escalation=label", "data.split.dedupe=keep",
                   "model=finetune", *overrides, "model.calibration=temperature", "tracking=off",
                   f"output_dir={tmp_path / 'run'}"])
    result = nlpkit.train(cfg)
    calibrator = result.predictor.calibrator
    assert calibrator.fitted_on == {"split": "validation", "n": result.sizes["validation"], "heldout": True}
    heldout = result.predictor.in_label_order(result.predictor.model.heldout_validation_proba_)
    from nlpkit.data import load_data

    split_labels = list(load_data(cfg.data, cfg.task)["validation"]["label"])
    expected = calibrators.fit("temperature", heldout, split_labels, result.predictor.labels)
    assert calibrator.params["temperature"] == pytest.approx(expected.params["temperature"])
    loaded = Predictor.load(result.predictor_dir)
    np.testing.assert_allclose(loaded.predict_proba(TEXTS), result.predictor.predict_proba(TEXTS), atol=1e-6)
    assert {"validation/brier_uncalibrated", "test/brier", "test/ece"} <= set(result.metrics)


# ---- bad values: one line, what was expected, what was got, the fix ---------------------------------------------

@pytest.mark.parametrize("overrides, message", [
    (["model.calibration=isotonc"], r"^model\.calibration must be one of none, temperature, isotonic, sigmoid; got "
                                    r"'isotonc'\. Fix: did you mean model\.calibration=isotonic\?$"),
    (["model=embed_logreg", "model.calibration=platt"], r"model\.calibration must be one of .*got 'platt'"),
    (["model=finetune_tfidf", "model.tfidf.calibration=sigmoid"],
     r"^model\.tfidf\.calibration must be none \(a blend is calibrated as a whole\); got 'sigmoid'\. "
     r"Fix: set model\.calibration=sigmoid instead\.$"),
])
def test_bad_calibration_config_is_one_line(overrides, message):
    with pytest.raises(ConfigError, match=message) as err:
        validate(compose(overrides))
    assert "\n" not in str(err.value)


def test_nlpkit_train_refuses_a_bad_method_in_one_line(tmp_path):
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    out = subprocess.run([str(Path(sys.executable).parent / "nlpkit-train"), "model.calibration=temprature",
                          "tracking=off", f"output_dir={tmp_path / 'o'}"], cwd=tmp_path, env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 1
    errors = [line for line in out.stderr.splitlines() if line.startswith("error: ")]
    assert errors == ["error: model.calibration must be one of none, temperature, isotonic, sigmoid; got 'temprature'. "
                      "Fix: did you mean model.calibration=temperature?"], out.stderr[-2000:]


# ---- the README section's commands ------------------------------------------------------------------------------

README_COMMAND = "nlpkit-train model=tfidf_svm model.calibration=temperature"


def test_readme_command_logs_calibration_metrics_plots_and_a_calibrated_model(tmp_path):
    """README, "Calibrated probabilities": the command as a user runs it (store: ./mlflow.db), then the Python lines
    (the whole corpus and a logged model: 16 s measured on 2 cores, 75 s while three other jobs shared them)."""
    import shlex

    from mlflow.tracking import MlflowClient

    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}
    env.pop("MLFLOW_TRACKING_URI", None)
    command = [str(Path(sys.executable).parent / "nlpkit-train"), *shlex.split(README_COMMAND)[1:]]
    out = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    run = client.search_runs([client.get_experiment_by_name("escalation").experiment_id])[0]
    assert {"validation/brier_uncalibrated", "validation/ece_uncalibrated", "test/brier", "test/ece",
            "test_ood/brier", "test_ood/ece"} <= set(run.data.metrics)
    plots = {Path(f.path).name for f in client.list_artifacts(run.info.run_id, "plots")}
    assert {"reliability_validation.png", "reliability_test.png", "reliability_test_ood.png"} <= plots
    import mlflow

    mlflow.set_tracking_uri(uri)
    predictor = Predictor.load(f"runs:/{run.info.run_id}/model")  # the README's Python lines
    assert predictor.calibrator.method == "temperature"
    proba = predictor.predict_proba(["Artillery shelled the border town overnight"])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)


def test_cross_fitted_calibration_is_out_of_fold_and_none_when_a_label_is_too_rare():
    val_p, val_y = overconfident(300, seed=7)
    in_sample = calibrators.fit("isotonic", val_p, val_y, ABC).apply(val_p)
    out_of_fold = calibrators.cross_fitted("isotonic", val_p, val_y, ABC)
    np.testing.assert_allclose(out_of_fold.sum(axis=1), 1.0, atol=1e-12)
    # an isotonic map partly memorises the labels it was fitted on: in sample it scores better than out of fold
    assert brier_score(val_y, in_sample, ABC) < brier_score(val_y, out_of_fold, ABC)
    assert np.abs(out_of_fold - in_sample).max() > 0.01
    assert calibrators.cross_fitted("temperature", val_p[:3], ["a", "b", "c"], ABC) is None  # one document per label
