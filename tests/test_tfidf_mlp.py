"""tfidf_mlp.v1: its pair features on handmade (headline, body) pairs, plain-array save/load, bad input, training
through nlpkit-train's config, loading without scikit-learn, and a benchmark smoke row (the FNC-1 harness)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import write_jsonl
from nlpkit import compose
from nlpkit.errors import ConfigError, DataError, InputTypeError, ModelLoadError
from nlpkit.models import build_model, family_of
from nlpkit.models.tfidf_mlp_arrays import ARRAYS_FILE, SPEC_FILE

REPO = Path(__file__).resolve().parents[1]
BODY_CRASH = ("A meteorite crashed into a field near Lima on Sunday. Police confirmed the meteorite crash and "
              "scientists collected fragments of the rock.")
BODY_ROBBERY = "Two men robbed a bank in Ohio and escaped in a stolen van; the bank robbery is under investigation."
# (headline, body, stance): agree / disagree / discuss for the body's story, unrelated for the other story
PAIRS = [
    ("Police confirm meteorite crash near Lima", BODY_CRASH, "agree"),
    ("Meteorite crash near Lima was a hoax, police deny it", BODY_CRASH, "disagree"),
    ("Reports say a meteorite may have crashed near Lima", BODY_CRASH, "discuss"),
    ("Bank robbers escape in stolen van in Ohio", BODY_CRASH, "unrelated"),
    ("Police confirm bank robbery in Ohio", BODY_ROBBERY, "agree"),
    ("Ohio bank robbery was a hoax, police deny it", BODY_ROBBERY, "disagree"),
    ("Reports say a bank may have been robbed in Ohio", BODY_ROBBERY, "discuss"),
    ("Meteorite crashes into field near Lima", BODY_ROBBERY, "unrelated"),
]
X = [(h, b) for h, b, _ in PAIRS]
Y = [s for _, _, s in PAIRS]


def fit(**params):
    return build_model({"kind": "tfidf_mlp.v1", "epochs": 300, "learning_rate": 1e-2, **params}).fit(X, Y)


def test_similarities_tell_related_from_unrelated_headlines():
    model = fit()
    sims = model.features_.transform(X).toarray()[:, -3:]  # cosine(text), cosine(lead), share of headline terms
    related, unrelated = [0, 1, 2, 4, 5, 6], [3, 7]
    assert sims[related, 0].min() > sims[unrelated, 0].max()
    assert sims[related, 2].min() > sims[unrelated, 2].max() and sims[unrelated, 2].max() < 0.5
    crash_lead = model.features_.transform([("meteorite crash", "Nothing happened. " * 40 + "A meteorite crash.")])
    assert crash_lead.toarray()[0, -2] == 0.0 and crash_lead.toarray()[0, -3] > 0  # beyond the lead: text only


def test_equal_texts_give_equal_rows_however_batched():
    model = fit()
    batch = model.features_.transform(X).toarray()
    one_by_one = np.vstack([model.features_.transform([x]).toarray() for x in X])
    np.testing.assert_array_equal(batch, one_by_one)
    assert model.features_.width == batch.shape[1] == 2 * model.features_.vectorizer.width + 3


def test_learns_the_handmade_pairs_and_predicts_the_same_after_loading(tmp_path: Path):
    model = fit()
    assert list(model.predict(X)) == Y and model.fit_report_["epochs"] == 300.0
    assert [row["epoch"] for row in model.training_curves()["curve/"]] == list(range(1, 301))
    family_of("tfidf_mlp.v1").save(model, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [SPEC_FILE, ARRAYS_FILE]  # plain arrays, no pickle
    loaded = family_of("tfidf_mlp.v1").load(tmp_path)
    np.testing.assert_array_equal(loaded.predict_proba(X), model.predict_proba(X))
    new = [("Police deny the Ohio bank robbery", BODY_ROBBERY), ("Lima meteorite", BODY_ROBBERY)]
    np.testing.assert_array_equal(loaded.predict_proba(new), model.predict_proba(new))
    (tmp_path / "again").mkdir()
    family_of("tfidf_mlp.v1").save(loaded, tmp_path / "again")  # a loaded model saves back to the same bytes
    assert (tmp_path / "again" / ARRAYS_FILE).read_bytes() == (tmp_path / ARRAYS_FILE).read_bytes()


def test_two_classes_use_a_logistic_output(tmp_path: Path):
    labels = ["related" if s != "unrelated" else "unrelated" for s in Y]
    model = build_model({"kind": "tfidf_mlp.v1", "epochs": 200, "learning_rate": 1e-2}).fit(X, labels)
    assert model.network_.output_weights.shape[1] == 1 and list(model.predict(X)) == labels
    family_of("tfidf_mlp.v1").save(model, tmp_path)
    np.testing.assert_array_equal(family_of("tfidf_mlp.v1").load(tmp_path).predict_proba(X), model.predict_proba(X))


def test_gate_decides_its_label_from_the_similarities_and_the_network_the_rest(tmp_path: Path):
    model = fit(gate_label="unrelated")
    assert list(model.network_classes_) == ["agree", "disagree", "discuss"] and list(model.classes_) == sorted(set(Y))
    gate = model.gate_.proba(model.features_.transform(X))
    related, unrelated = [0, 1, 2, 4, 5, 6], [3, 7]
    assert gate[unrelated].min() > gate[related].max()
    proba = model.predict_proba(X)
    np.testing.assert_allclose(proba[:, list(model.classes_).index("unrelated")], gate)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    network = model.network_.proba(model.features_.transform(X))  # the network alone: the three related labels
    assert [model.network_classes_[i] for i in network.argmax(axis=1)[related]] == [Y[i] for i in related]
    family_of("tfidf_mlp.v1").save(model, tmp_path)
    assert json.loads((tmp_path / SPEC_FILE).read_text())["gate_label"] == "unrelated"
    np.testing.assert_array_equal(family_of("tfidf_mlp.v1").load(tmp_path).predict_proba(X), proba)


def test_gate_needs_pairs_and_one_of_the_labels():
    with pytest.raises(ConfigError, match="model.gate_label='unrelated' .* needs \\(target, text\\) pairs; got plain "
                                          "texts. Fix: model.gate_label=null"):
        build_model({"kind": "tfidf_mlp.v1", "gate_label": "unrelated"}).fit([b for _, b in X], Y)
    with pytest.raises(DataError, match="model.gate_label must be one of the training labels.*got 'none' with labels "
                                        "\\['agree', 'disagree', 'discuss', 'unrelated'\\]. Fix: "):
        build_model({"kind": "tfidf_mlp.v1", "gate_label": "none"}).fit(X, Y)


@pytest.mark.parametrize("params, message", [
    ({"stop_words": "french"}, r"model.stop_words must be one of \('english', None\); got 'french'. Fix: "),
    ({"hidden_units": 0}, r"model.hidden_units must be an integer >= 1; got 0. Fix: e.g. model.hidden_units=100"),
    ({"epochs": 2.5}, r"model.epochs must be an integer >= 1; got 2.5. Fix: "),
    ({"alpha": -1.0}, r"model.alpha must be a float >= 0; got -1.0. Fix: e.g. model.alpha=0.001"),
    ({"learning_rate": 0.0}, r"model.learning_rate must be a float > 0; got 0.0. Fix: "),
])
def test_bad_parameters_are_one_line_config_errors(params, message):
    with pytest.raises(ConfigError, match=message) as caught:
        build_model({"kind": "tfidf_mlp.v1", **params}).fit(X, Y)
    assert "\n" not in str(caught.value)


def test_bad_input_is_one_line():
    with pytest.raises(DataError, match="X has 8 items but y has 7 labels"):
        build_model({"kind": "tfidf_mlp.v1"}).fit(X, Y[:-1])
    with pytest.raises(InputTypeError, match=r"Expected \(target, text\) pairs.*Fix: pass \[\(target, text\)"):
        fit().predict([b for _, b in X])


def _saved(tmp_path: Path) -> Path:
    family_of("tfidf_mlp.v1").save(fit(epochs=5), tmp_path)
    return tmp_path


def test_tampered_or_missing_files_are_refused(tmp_path: Path):
    folder = _saved(tmp_path)
    spec = json.loads((folder / SPEC_FILE).read_text())
    (folder / SPEC_FILE).write_text(json.dumps({**spec, "format": "nlpkit-tfidf-mlp/9"}))
    with pytest.raises(ModelLoadError, match="has format 'nlpkit-tfidf-mlp/9'; expected 'nlpkit-tfidf-mlp/1'. Fix: "):
        family_of("tfidf_mlp.v1").load(folder)
    (folder / SPEC_FILE).write_text(json.dumps({**spec, "pairs": False}))  # features 2x+3 narrower than the weights
    with pytest.raises(ModelLoadError, match="inconsistent TF-IDF \\+ MLP model.*features are .* wide"):
        family_of("tfidf_mlp.v1").load(folder)
    (folder / ARRAYS_FILE).write_bytes(b"not a zip")
    (folder / SPEC_FILE).write_text(json.dumps(spec))
    with pytest.raises(ModelLoadError, match="is not a plain-array archive"):
        family_of("tfidf_mlp.v1").load(folder)
    (folder / ARRAYS_FILE).unlink()
    with pytest.raises(ModelLoadError, match=f"No {ARRAYS_FILE} in .*Fix: copy the whole predictor"):
        family_of("tfidf_mlp.v1").load(folder)
    with pytest.raises(ConfigError, match="Load options \\(runtime='onnx'\\)"):
        family_of("tfidf_mlp.v1").load(folder, runtime="onnx")


def test_object_arrays_are_refused_without_unpickling(tmp_path: Path):
    folder = _saved(tmp_path)
    np.savez(folder / ARRAYS_FILE, **{"mlp.hidden_bias": np.array([object()], dtype=object)})
    with pytest.raises(ModelLoadError, match="is not a plain-array archive"):
        family_of("tfidf_mlp.v1").load(folder)


def stance_rows() -> list[dict]:
    """The handmade pairs, three copies each (a suffix keeps them distinct), in nlpkit's stance file layout."""
    return [{"id": f"{i}-{c}", "target": h, "text": f"{b} (copy {c})", "stance": s}
            for c in range(3) for i, (h, b, s) in enumerate(PAIRS)]


def test_trains_through_the_config_tree_and_the_predictor_loads_without_scikit_learn(tmp_path: Path):
    import nlpkit

    data = write_jsonl(tmp_path / "pairs.jsonl", stance_rows())
    cfg = compose(["data=file", f"data.path={data}", "data.split.dedupe=keep", "task=stance",
                   "task.labels=[agree,disagree,discuss,unrelated]", "model=tfidf_mlp", "model.epochs=300",
                   "model.learning_rate=0.01", "tracking=off", f"output_dir={tmp_path / 'run'}"])
    result = nlpkit.train(cfg)
    probe = [[h, b] for h, b in X]
    code = ("import json, sys; from nlpkit.predict import Predictor; p = Predictor.load(sys.argv[1]); "
            "out = p.predict_proba([tuple(x) for x in json.loads(sys.argv[2])]).tolist(); "
            "print(json.dumps([out, 'sklearn' in sys.modules, p.metadata['model_kind']]))")
    done = subprocess.run([sys.executable, "-c", code, str(result.predictor_dir), json.dumps(probe)],
                          capture_output=True, text=True, timeout=120, env=os.environ.copy())
    assert done.returncode == 0, done.stderr[-2000:]
    proba, imported_sklearn, kind = json.loads(done.stdout)
    assert kind == "tfidf_mlp.v1" and not imported_sklearn
    np.testing.assert_array_equal(np.asarray(proba), result.predictor.predict_proba(X))


# -- the benchmark harness: the nlpkit:tfidf_mlp row and the autotuned fastText peer -------------------------
from test_benchmarks import bench_env  # noqa: E402,F401  (the fake FNC-1 files and the harness's paths)


def test_smoke_benchmark_row_of_the_fnc1_tfidf_mlp_on_the_full_training_split(bench_env: Path):  # noqa: F811 (the imported fixture)
    cmd = [sys.executable, "-m", "experiments.benchmarks.run", "--datasets", "fnc1", "--contenders", "nlpkit:tfidf_mlp_fnc1",
           "--seeds", "0", "--override", "data.split.validation_size=0", "model.epochs=100",
           "--no-tracking", "--out", str(bench_env / "out"), "--timeout", "120"]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300, env=os.environ.copy())
    assert done.returncode == 0, done.stderr[-3000:]
    (row,) = [json.loads(line) for line in (bench_env / "out" / "rows.jsonl").read_text().splitlines()]
    summary = row["summary"]
    assert summary["seeds"] == 1.0 and summary["n_train"] == 32 and summary["n_test"] == 16  # all 32 pairs train
    assert 0.0 <= summary["fnc_score_mean"] <= 1.0 and summary["docs_per_second_mean"] > 0
    assert "| fnc1 | nlpkit:tfidf_mlp_fnc1 `data.split.validation_size=0 model.epochs=100` | all |" in (
        bench_env / "out" / "table.md").read_text()


def test_autotuned_fasttext_holds_out_whole_bodies():
    from experiments.benchmarks.peers import FastTextAutotunePeer

    texts = X * 4
    held = FastTextAutotunePeer(validation_share=0.5)._held_out(texts, seed=0)
    held_bodies = {b for (_, b), h in zip(texts, held) if h}
    assert held_bodies in ({BODY_ROBBERY}, {BODY_CRASH})  # one of the two bodies, with all of its pairs
    assert not held_bodies & {b for (_, b), h in zip(texts, held) if not h}


@pytest.mark.slow  # autotune's trials are random: a 2 s budget took 2 s alone, minutes beside other jobs
def test_autotuned_fasttext_refits_on_everything_with_its_choice():
    pytest.importorskip("fasttext", reason="the fastText peer needs `pip install fasttext-numpy2-wheel`")
    from experiments.benchmarks.peers import FastTextAutotunePeer

    peer = FastTextAutotunePeer(autotune_seconds=2, validation_share=0.5, threads=1).fit(X * 4, Y * 4, seed=0)
    assert set(peer.chosen_) >= {"epoch", "lr", "wordNgrams", "dim", "loss"} and len(peer.predict(X)) == len(X)


def test_the_fnc1_page_command_composes_from_the_checkout(monkeypatch: pytest.MonkeyPatch):
    """The nlpkit-train command experiments/stance/FNC1.md shows, with its relative search path, from the root."""
    import shlex

    from nlpkit.config import validate

    command = "nlpkit-train hydra.searchpath=[file://experiments/benchmarks/configs] experiment=fnc1_mlp seed=0"
    assert command in (REPO / "experiments" / "stance" / "FNC1.md").read_text()
    monkeypatch.chdir(REPO)
    cfg = validate(compose(shlex.split(command)[1:]))
    assert (cfg.data.name, cfg.task.target_field, cfg.model.kind, cfg.data.split.validation_size) == (
        "fnc1", "target", "tfidf_mlp.v1", 0.0)
    assert cfg.model.hidden_units == 100 and cfg.model.max_features == 5000 and cfg.model.gate_label == "unrelated"
    assert cfg.model.pair_overlap is True and cfg.model.sentence_encoder == "all-MiniLM-L6-v2"
    # the harness's contender for it is the same model
    from experiments.benchmarks.contenders import get

    contender = get("nlpkit:tfidf_mlp_fnc1")
    row = validate(compose(["data=fnc1", "task=fnc1", f"model={contender.model}", *contender.overrides,
                            "hydra.searchpath=[file://experiments/benchmarks/configs]"]))
    assert row.model == cfg.model


def test_fnc1_validation_story_split_holds_out_unseen_headlines_and_bodies(bench_env: Path):  # noqa: F811 (the imported fixture)
    import pandas as pd

    from experiments.benchmarks import prepare
    from experiments.stance.fnc1_validation import split

    train = pd.read_csv(prepare.prepare("fnc1")[0])  # 8 stories of 4 pairs (one unrelated pair each)
    fit_part, valid = split(train, "story")
    assert len(valid) == 4 and valid["body_id"].nunique() == 1  # one story of the 8: its body's pairs
    related = valid[valid["stance"] != "unrelated"]  # an unrelated pair borrows another story's headline
    assert not set(valid["body"]) & set(fit_part["body"]) and not set(related["headline"]) & set(fit_part["headline"])
    by_body = split(train, "body")
    assert len(by_body[1]) == 4 and not set(by_body[1]["body_id"]) & set(by_body[0]["body_id"])
