"""embed_logreg's head: C chosen by seeded cross-validation on the training embeddings only, deterministically."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import DE_ESCALATORY, ESCALATORY, NEUTRAL, tiny_model_overrides
from nlpkit import compose
from nlpkit.errors import ConfigError
from nlpkit.models import embed_head
from nlpkit.validation import check_values

TEXTS = ESCALATORY + DE_ESCALATORY + NEUTRAL
LABELS = ["escalatory"] * 4 + ["de_escalatory"] * 4 + ["neutral"] * 4


def noisy(n: int, dims: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Three classes told apart by 3 of ``dims`` dimensions; the rest is noise that a weak penalty overfits."""
    rng = np.random.default_rng(seed)
    y = np.repeat(np.array(["a", "b", "c"]), n // 3)
    X = rng.normal(size=(len(y), dims))
    X[:, :3] += 1.2 * (y[:, None] == np.array(["a", "b", "c"]))
    return X, y


def test_the_choice_is_deterministic_and_sees_only_the_training_data():
    X, y = noisy(90, 200, seed=1)
    first, report = embed_head.fit_head(X, y, C=None, class_weight="balanced")
    again, same = embed_head.fit_head(X.copy(), y.copy(), C=None, class_weight="balanced")
    assert report == same
    assert report["head_C"] in embed_head.C_GRID
    assert set(report) == {"head_C", *(f"head_cv_macro_f1_C{c:g}" for c in embed_head.C_GRID)}
    probe = np.random.default_rng(5).normal(size=(20, 200))
    np.testing.assert_array_equal(first.predict_proba(probe), again.predict_proba(probe))


def test_the_chosen_c_is_the_best_cross_validated_one_and_the_head_is_refitted_on_all_the_data():
    X, y = noisy(90, 200, seed=2)
    head, report = embed_head.fit_head(X, y, C=None, class_weight=None)
    scores = {c: report[f"head_cv_macro_f1_C{c:g}"] for c in embed_head.C_GRID}
    assert report["head_C"] == embed_head.choose_c(scores)
    assert len(set(scores.values())) > 1  # the grid is not flat on this data: the choice means something
    refit = embed_head.make_head(report["head_C"], None, 0).fit(X, y)
    np.testing.assert_array_equal(head.predict_proba(X), refit.predict_proba(X))


def test_ties_go_to_the_smaller_c_and_a_singleton_class_falls_back():
    assert embed_head.choose_c({0.01: 0.8, 0.1: 0.8, 1.0: 0.7}) == 0.01
    assert embed_head.choose_c({0.01: 0.6, 0.1: 0.8, 1.0: 0.8}) == 0.1
    X, y = noisy(9, 5, seed=0)
    y[0] = "lonely"
    _, report = embed_head.fit_head(X, y, C=None, class_weight=None)
    assert report == {"head_C": embed_head.FALLBACK_C}


def test_a_given_c_is_used_as_is():
    X, y = noisy(30, 10, seed=0)
    head, report = embed_head.fit_head(X, y, C=0.5, class_weight="balanced")
    assert report == {"head_C": 0.5} and head[-1].C == 0.5 and head[-1].class_weight == "balanced"


def test_embed_logreg_defaults_to_cross_validated_c(tiny_encoder_dir):
    from nlpkit.models.embed import EmbedLogregClassifier

    overrides = {k: v for k, v in tiny_model_overrides("embed_logreg.v1").items() if k != "C"}
    model = EmbedLogregClassifier(**overrides)
    assert model.C is None
    model.fit(TEXTS, LABELS)
    twin = EmbedLogregClassifier(**overrides).fit(TEXTS, LABELS)
    assert model.fit_report_["head_C"] in embed_head.C_GRID
    assert model.head_[-1].C == model.fit_report_["head_C"]
    assert model.fit_report_ == twin.fit_report_
    np.testing.assert_array_equal(model.predict_proba(TEXTS), twin.predict_proba(TEXTS))


def test_config_default_is_null_and_a_bad_c_is_refused_with_the_fix():
    assert compose(["model=embed_logreg"]).model.C is None
    with pytest.raises(ConfigError, match=r"model\.C must be a float > 0.*got 0.*Fix: e\.g\. model\.C=0\.01"):
        check_values(compose(["model=embed_logreg", "model.C=0"]))
