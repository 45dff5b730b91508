"""Post-hoc calibration of a predictor's probabilities (``model.calibration=temperature|isotonic|sigmoid``).

A calibrator is fitted once, at training time, on the validation split's probabilities (scipy / scikit-learn are
imported then, inside the fit functions), and stored as plain numbers in the predictor's sealed
``calibration.json``. Applying it needs NumPy only, so a TF-IDF predictor still loads without scikit-learn:

- ``temperature``: one scalar ``T``; ``softmax(log p / T)`` (Guo et al. 2017). Keeps every argmax.
- ``sigmoid``: per class ``k`` a Platt map ``1 / (1 + exp(-(a_k p_k + b_k)))`` of that class's probability, then
  rows renormalised to sum to 1 (what sklearn's ``CalibratedClassifierCV(method="sigmoid")`` does one-vs-rest).
- ``isotonic``: per class a monotone step function fitted by isotonic regression, stored as its thresholds and
  applied by piecewise-linear interpolation (``np.interp``, clipped at the ends), then rows renormalised (a
  row that maps to all zeros becomes uniform).

Columns are in the predictor's label order, which ``calibration.json`` records and loading checks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from nlpkit.errors import ConfigError, DataError, ModelLoadError, one_line

CALIBRATION_FILE = "calibration.json"
METHODS = ("none", "temperature", "isotonic", "sigmoid")
EPS = 1e-12
PARAM_KEYS = {"temperature": ("temperature",), "sigmoid": ("a", "b"), "isotonic": ("x", "y")}


@dataclass(frozen=True)
class Calibrator:
    """A fitted calibration map for probabilities whose columns follow ``labels``."""

    method: str
    labels: list[str]
    params: dict[str, Any]
    fitted_on: dict[str, Any] = field(default_factory=dict)  # split name, documents, whether held out

    def apply(self, proba: np.ndarray) -> np.ndarray:
        """Calibrated probabilities: same shape, rows summing to 1, columns still in ``labels`` order."""
        proba = np.asarray(proba, dtype=float)
        if self.method == "temperature":
            return _softmax(np.log(np.clip(proba, EPS, 1.0)) / float(self.params["temperature"]))
        if self.method == "sigmoid":
            a, b = np.asarray(self.params["a"]), np.asarray(self.params["b"])
            return _normalised(1.0 / (1.0 + np.exp(-(a * proba + b))))
        columns = [np.interp(proba[:, k], x, y) for k, (x, y) in enumerate(zip(self.params["x"], self.params["y"]))]
        return _normalised(np.stack(columns, axis=1))

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "labels": list(self.labels), "params": self.params, "fitted_on": self.fitted_on}


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def _normalised(scores: np.ndarray) -> np.ndarray:
    totals = scores.sum(axis=1, keepdims=True)
    uniform = np.full_like(scores, 1.0 / scores.shape[1])
    return np.where(totals > 0, scores / np.where(totals > 0, totals, 1.0), uniform)


# ---- fitting (training time only: imports scipy / scikit-learn) ------------------------------------------

def fit(method: str, proba: np.ndarray, y_true: Sequence[str], labels: Sequence[str],
        fitted_on: dict[str, Any] | None = None) -> Calibrator | None:
    """Fit ``method`` on probabilities ``proba`` (columns in ``labels`` order) and the true labels; None for 'none'."""
    from nlpkit.calibration import one_hot

    if method not in METHODS:
        raise ConfigError(f"Calibration method must be one of {', '.join(METHODS)}; got {method!r}. Fix: pick one of them.")
    if method == "none":
        return None
    proba, truth = np.asarray(proba, dtype=float), one_hot(y_true, labels)
    _check_fittable(method, truth, labels)
    fitters = {"temperature": _fit_temperature, "sigmoid": _fit_sigmoid, "isotonic": _fit_isotonic}
    return Calibrator(method, list(labels), fitters[method](proba, truth), dict(fitted_on or {}))


def cross_fitted(method: str, proba: np.ndarray, y_true: Sequence[str], labels: Sequence[str],
                 folds: int = 5, seed: int = 0) -> np.ndarray | None:
    """Out-of-fold calibrated probabilities of the split the calibrator is fitted on: each of ``folds`` stratified
    folds is calibrated by a map fitted on the other folds, so no document's probabilities come from a map that
    saw its label (what ``nlpkit prevalence`` needs to estimate error rates). None when a fold could not be
    fitted (a label with fewer documents than folds, or one missing from a fold's complement)."""
    from sklearn.model_selection import StratifiedKFold

    proba, y = np.asarray(proba, dtype=float), np.asarray(list(y_true))
    smallest = min(int((y == label).sum()) for label in labels)
    k = min(folds, smallest)
    if k < 2:
        return None
    out = np.empty_like(proba)
    for fit_rows, held_rows in StratifiedKFold(k, shuffle=True, random_state=seed).split(proba, y):
        try:
            calibrator = fit(method, proba[fit_rows], y[fit_rows], labels)
        except DataError:
            return None
        out[held_rows] = proba[held_rows] if calibrator is None else calibrator.apply(proba[held_rows])
    return out


def _check_fittable(method: str, truth: np.ndarray, labels: Sequence[str]) -> None:
    if len(truth) < 2:
        raise DataError(
            f"model.calibration={method} is fitted on the validation split, which needs at least 2 documents; got "
            f"{len(truth)}. Fix: enlarge the validation split (data.split.validation_size) or use model.calibration=none."
        )
    counts = truth.sum(axis=0)
    one_sided = [label for label, c in zip(labels, counts) if c == 0 or c == len(truth)]
    if method != "temperature" and one_sided:
        raise DataError(
            f"model.calibration={method} fits one map per label and needs every label among the validation "
            f"documents, and not only it; got {dict(zip(labels, counts.astype(int).tolist()))}. Fix: use "
            "model.calibration=temperature (one parameter), or a larger, stratified validation split."
        )


def _fit_temperature(proba: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    """The ``T`` in [0.05, 20] that minimises the validation negative log-likelihood of ``softmax(log p / T)``."""
    from scipy.optimize import minimize_scalar

    logp = np.log(np.clip(proba, EPS, 1.0))

    def nll(log_t: float) -> float:
        scaled = logp / np.exp(log_t)
        shifted = scaled - scaled.max(axis=1, keepdims=True)
        log_norm = np.log(np.exp(shifted).sum(axis=1))
        return float(-np.mean(np.sum(shifted * truth, axis=1) - log_norm))

    best = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded", options={"xatol": 1e-6})
    return {"temperature": float(np.exp(best.x))}


def _fit_sigmoid(proba: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    """Per class, an unpenalised logistic regression of "is class k" on ``p_k`` (Platt scaling)."""
    from sklearn.linear_model import LogisticRegression

    a, b = [], []
    for k in range(truth.shape[1]):
        platt = LogisticRegression(C=np.inf, max_iter=1000).fit(proba[:, [k]], truth[:, k].astype(int))
        a.append(float(platt.coef_[0, 0]))
        b.append(float(platt.intercept_[0]))
    return {"a": a, "b": b}


def _fit_isotonic(proba: np.ndarray, truth: np.ndarray) -> dict[str, Any]:
    """Per class, an isotonic regression of "is class k" on ``p_k``, kept as its thresholds."""
    from sklearn.isotonic import IsotonicRegression

    xs, ys = [], []
    for k in range(truth.shape[1]):
        iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(proba[:, k], truth[:, k])
        xs.append([float(v) for v in iso.X_thresholds_])
        ys.append([float(v) for v in iso.y_thresholds_])
    return {"x": xs, "y": ys}


# ---- the sealed file (read at load time: NumPy and json only) --------------------------------------------

def write(calibrator: Calibrator | None, directory: Path) -> None:
    """Write ``calibration.json`` into a predictor directory (before it is sealed); remove a stale one if None."""
    path = Path(directory) / CALIBRATION_FILE
    if calibrator is None:
        path.unlink(missing_ok=True)
        return
    path.write_text(json.dumps(calibrator.to_json(), indent=1), encoding="utf-8")


def read(directory: Path, labels: Sequence[str]) -> Calibrator | None:
    """The predictor's calibrator, or None when it has no ``calibration.json``; a malformed file is refused."""
    path = Path(directory) / CALIBRATION_FILE
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        calibrator = Calibrator(data["method"], list(data["labels"]), dict(data["params"]), dict(data.get("fitted_on", {})))
        problem = _problem(calibrator, list(labels))
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        problem = f"it is not a calibration object ({type(err).__name__}: {one_line(err, 120)})"
    if problem:
        raise ModelLoadError(
            f"{path} is malformed: {problem}; expected the calibration map that training wrote for labels {list(labels)}. "
            "Fix: get the predictor again from its source (or retrain it with model.calibration=...)."
        )
    return calibrator


def _problem(calibrator: Calibrator, labels: list[str]) -> str:
    """What is wrong with a loaded calibrator, or '' when it can be applied to ``labels``-ordered probabilities."""
    if calibrator.method not in PARAM_KEYS:
        return f"method {calibrator.method!r} is not one of {sorted(PARAM_KEYS)}"
    if calibrator.labels != labels:
        return f"its labels {calibrator.labels} differ from the predictor's {labels}"
    params = {key: calibrator.params.get(key) for key in PARAM_KEYS[calibrator.method]}
    if calibrator.method == "temperature":
        t = params["temperature"]
        ok = isinstance(t, (int, float)) and not isinstance(t, bool) and np.isfinite(t) and t > 0
        return "" if ok else f"temperature must be a finite number > 0, got {t!r}"
    for key, values in params.items():
        if not isinstance(values, list) or len(values) != len(labels):
            return f"'{key}' must hold one entry per label ({len(labels)}), got {values!r:.80}"
    lists: dict[str, list[Any]] = {key: list(values) for key, values in params.items() if isinstance(values, list)}
    if calibrator.method == "isotonic":
        return _isotonic_problem(lists["x"], lists["y"])
    return "" if np.all(np.isfinite(np.asarray(lists["a"] + lists["b"], dtype=float))) else "a/b must be finite"


def _isotonic_problem(xs: list, ys: list) -> str:
    for x, y in zip(xs, ys):
        x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
        if x.ndim != 1 or x.shape != y.shape or len(x) == 0 or np.any(np.diff(x) < 0) or not np.all(np.isfinite(x)):
            return "isotonic thresholds x must be non-empty increasing lists of numbers matching y"
        if np.any(np.diff(y) < 0) or np.any((y < 0) | (y > 1)):
            return "isotonic values y must be non-decreasing and within [0, 1]"
    return ""
