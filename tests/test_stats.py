"""Statistics checked against values computed by hand."""

from __future__ import annotations

import numpy as np
import pytest

from nlpkit.stats import bootstrap_differences, compare_predictions, difference_of_means, mcnemar, paired_bootstrap, summarize


def test_summarize_two_values_by_hand():
    s = summarize([0.5, 0.7])
    # sd = sqrt(0.02 / 1) = 0.141421; t(0.975, 1) = 12.7062; half-width = 12.7062 * 0.141421 / sqrt(2) = 1.27062
    assert (s.n, s.mean, s.sd) == (2, pytest.approx(0.6), pytest.approx(0.141421, abs=1e-6))
    assert s.ci_low == pytest.approx(-0.67062, abs=1e-4) and s.ci_high == pytest.approx(1.87062, abs=1e-4)
    assert summarize([0.4]).ci_low == summarize([0.4]).ci_high == 0.4
    with pytest.raises(ValueError, match="at least one value"):
        summarize([])


def test_mcnemar_chi_square_with_continuity_correction_by_hand():
    a = [True] * 10 + [False] * 30 + [True] * 50
    b = [False] * 10 + [True] * 30 + [True] * 50
    only_a, only_b, stat, p, method = mcnemar(a, b)
    # (|10 - 30| - 1)^2 / 40 = 361 / 40 = 9.025; p = P(chi2_1 > 9.025) = 2 * (1 - Phi(3.00416)) = 0.002662
    assert (only_a, only_b, method) == (10, 30, "chi2-cc")
    assert stat == pytest.approx(9.025) and p == pytest.approx(0.002662, abs=2e-6)


def test_mcnemar_exact_binomial_by_hand():
    a = [True] * 2 + [False] * 8 + [True] * 5
    b = [False] * 2 + [True] * 8 + [True] * 5
    _, _, _, p, method = mcnemar(a, b)
    # two-sided binomial, n = 10, k = 2: 2 * (1 + 10 + 45) / 1024 = 0.109375
    assert method == "exact" and p == pytest.approx(0.109375)
    assert mcnemar([True, False], [True, False])[3] == 1.0


def test_paired_bootstrap_point_difference_by_hand():
    y = ["a", "a", "b", "b"]
    pred_a, pred_b = ["a", "b", "b", "b"], ["a", "a", "b", "b"]
    # A: F1(a) = 2/3, F1(b) = 0.8, macro 0.7333; B: 1.0; difference 0.2667
    diff, low, high = paired_bootstrap(y, pred_a, pred_b, ["a", "b"], n_resamples=500)
    assert diff == pytest.approx(0.266667, abs=1e-5) and low <= diff <= high
    same = paired_bootstrap(y, pred_a, pred_a, ["a", "b"], n_resamples=200)
    assert same == (0.0, 0.0, 0.0)
    with pytest.raises(ValueError, match="equal lengths"):
        paired_bootstrap(y, pred_a[:3], pred_b, ["a", "b"])


def loop_paired_bootstrap(y, a, b, labels, n_resamples, seed=0):
    """The per-resample loop nlpkit used before the vectorised version (one f1_score call per model and resample)."""
    from sklearn.metrics import f1_score

    y, a, b = np.asarray(y), np.asarray(a), np.asarray(b)
    rng = np.random.default_rng(seed)
    diffs = np.empty(n_resamples)
    for i in range(n_resamples):
        idx = rng.integers(0, len(y), len(y))
        diffs[i] = (f1_score(y[idx], b[idx], labels=labels, average="macro", zero_division=0)
                    - f1_score(y[idx], a[idx], labels=labels, average="macro", zero_division=0))
    point = (f1_score(y, b, labels=labels, average="macro", zero_division=0)
             - f1_score(y, a, labels=labels, average="macro", zero_division=0))
    return point, float(np.percentile(diffs, 2.5)), float(np.percentile(diffs, 97.5)), diffs


@pytest.mark.parametrize("n", [4, 7, 301])
def test_vectorised_paired_bootstrap_equals_the_loop(n):
    """Same draws, same F1 arithmetic: equal to the old loop on odd and even sizes, with a label that no
    prediction uses, a label absent from both, and a prediction outside the label list."""
    rng = np.random.default_rng(n)
    labels = ["a", "b", "c", "unused"]
    y = rng.choice(["a", "b", "c"], n)
    a = np.where(rng.random(n) < 0.6, y, rng.choice(["a", "b", "other"], n))
    b = np.where(rng.random(n) < 0.7, y, rng.choice(["a", "b"], n))
    point, low, high, _ = loop_paired_bootstrap(y, a, b, labels, 300, seed=3)
    assert paired_bootstrap(y, a, b, labels, n_resamples=300, seed=3) == pytest.approx((point, low, high), abs=1e-12)
    every = bootstrap_differences(y, a, b, labels, 300, 3)  # every resample, not only the CI bounds
    np.testing.assert_allclose(every, loop_paired_bootstrap(y, a, b, labels, 300, seed=3)[3], rtol=0, atol=1e-12)


def test_paired_bootstrap_is_fast():
    """2,000 resamples of 4,000 examples: the loop took ~11 s for the 4 items of a comparison table."""
    import time

    rng = np.random.default_rng(0)
    y = rng.choice(["a", "b", "c"], 4000)
    start = time.perf_counter()
    paired_bootstrap(y, np.roll(y, 1), y, ["a", "b", "c"])
    assert time.perf_counter() - start < 2.0


def test_compare_predictions_combines_both():
    r = compare_predictions(["a", "a", "b", "b"], ["a", "b", "b", "b"], ["a", "a", "b", "b"], ["a", "b"])
    assert r.n == 4 and r.only_a_correct == 0 and r.only_b_correct == 1 and r.mcnemar_p == 1.0
    assert r.metric_b == 1.0 and r.metric_a == pytest.approx(0.733333, abs=1e-5)


def test_difference_of_means_welch_by_hand():
    diff, low, high = difference_of_means([1, 2, 3], [2, 3, 4])
    # se = sqrt(1/3 + 1/3) = 0.816497; dof = 4; t(0.975, 4) = 2.776445; half-width 2.266958
    assert diff == pytest.approx(1.0)
    assert low == pytest.approx(1 - 2.266958, abs=1e-5) and high == pytest.approx(1 + 2.266958, abs=1e-5)
    with pytest.raises(ValueError, match=">= 2 values per group"):
        difference_of_means([1], [2, 3])
