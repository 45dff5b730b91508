"""The model card of a packaged predictor (or bundle), written from what its ``nlpkit.json`` records.

The card is Markdown: the wheel's long description and ``MODEL_CARD.md`` inside the package. It states the
task and labels, the metrics of every evaluated split (with the confidence intervals that ``nlpkit.json``
stores, and a Wilson interval for accuracy computed from the stored accuracy and size), the training data's
digest, the resolved training config, the model kind, the nlpkit versions, intended use and limits, and where
the codebook that defines the labels is.
"""

from __future__ import annotations

import json
import math
from typing import Any

from nlpkit._version import __version__

TASKS = {
    "topic": "the primary subject of a news article",
    "stance": "the stance of a text toward a named target (inputs are (target, text) pairs)",
    "escalation": "whether a text frames events as escalation, de-escalation or neither",
}
SUMMARY_METRICS = ("accuracy", "macro_f1")
CODEBOOK = ("The labels are defined in nlpkit's codebook, installed with nlpkit as `nlpkit/corpus/CODEBOOK.md` "
            "(`python -c \"from importlib.resources import files; print(files('nlpkit.corpus') / 'CODEBOOK.md')\"`).")
LIMITS = """\
- **Intended use**: research on news text about international conflict (measurement, corpus analysis,
  assisting human coders), in the domain and language of the training data, with the codebook's definitions.
- **Not for**: decisions about individuals, automated moderation or targeting, or any use without a human
  checking the outputs; it was not evaluated for them.
- **Limits**: scores come from the held-out splits below and hold for data like the training data; other
  outlets, periods, languages or topics may score lower: evaluate on a labelled sample of your own data first.
  Probabilities are model scores, not calibrated certainties unless the model kind calibrates them. Small
  evaluation splits give wide intervals.
"""


def render(name: str, module: str, version: str, metadata: dict[str, Any]) -> str:
    """The card of a single predictor packaged as ``name`` ``version``."""
    task = str(metadata.get("task", ""))
    head = [f"# {name} {version}", "",
            (f"An nlpkit predictor for **{task}**: {TASKS.get(task, 'see its config below')}. Packaged with "
             f"`nlpkit package` (nlpkit {__version__})."), "", *_usage(name, module, bundle=False)]
    return "\n".join([*head, *predictor_section(metadata, level=2), *_closing(level=2)]) + "\n"


def render_bundle(name: str, module: str, version: str, members: dict[str, dict[str, Any]]) -> str:
    """The card of a bundle packaged as ``name`` ``version``: ``members`` maps each role to its ``nlpkit.json``."""
    rows = [f"| {role} | {m.get('task')} | {m.get('model_kind')} | {_fmt(_metric(m, 'test', 'macro_f1'))} |"
            for role, m in members.items()]
    head = [f"# {name} {version}", "",
            (f"An nlpkit predictor bundle (one predictor per role, run together by `nlpkit analyze`). Packaged "
             f"with `nlpkit package` (nlpkit {__version__})."), "", "| role | task | model kind | test macro-F1 |",
            "|---|---|---|---|", *rows, "", *_usage(name, module, bundle=True)]
    body = [line for role, m in members.items() for line in (f"## Role: {role}", "", *predictor_section(m, level=3))]
    return "\n".join([*head, *body, *_closing(level=2)]) + "\n"


def predictor_section(metadata: dict[str, Any], level: int) -> list[str]:
    """Facts, evaluation and resolved config of one predictor, with headings at ``level``."""
    h = "#" * level
    return [*_facts(metadata), "", f"{h} Evaluation", "", *_evaluation(metadata), "",
            f"{h} Training configuration (resolved)", "", "```json",
            json.dumps(metadata.get("config", {}), indent=2, sort_keys=True, default=str), "```", ""]


def _facts(m: dict[str, Any]) -> list[str]:
    dataset = m.get("dataset") or {}
    files = m.get("files") or {}
    rows = [("Task", f"{m.get('task')}: {TASKS.get(str(m.get('task')), '')}".rstrip(": ")),
            ("Labels (column order of `predict_proba`)", ", ".join(f"`{label}`" for label in m.get("labels", []))),
            ("Input fields", ", ".join(m.get("text_fields") or ["text"])
             + (f"; target field `{m['target_field']}`" if m.get("target_field") else "")),
            ("Model kind", f"`{m.get('model_kind')}`"),
            ("Training data", f"`{dataset.get('name')}`, digest `{dataset.get('digest')}`"),
            ("Trained with", f"nlpkit {m.get('nlpkit_version')}, seed {m.get('seed')}, {m.get('created', 'date not recorded')}"),
            ("Seal", f"sha256 `{m.get('digest')}` over {len(files)} file(s), checked on every load")]
    return ["| | |", "|---|---|", *(f"| {key} | {value} |" for key, value in rows)]


def _evaluation(m: dict[str, Any]) -> list[str]:
    metrics = m.get("metrics") or {}
    splits = evaluated_splits(metrics)
    if not splits:
        return ["No evaluation metrics are stored with this predictor."]
    labels = list(m.get("labels", []))
    lines = ["| split | n | accuracy [Wilson 95%] | macro-F1 [bootstrap 95%] |", "|---|---|---|---|"]
    for split in splits:
        n, accuracy = _metric(m, split, "n"), _metric(m, split, "accuracy")
        low, high = _metric(m, split, "macro_f1_ci_low"), _metric(m, split, "macro_f1_ci_high")
        interval = f" [{_fmt(low)}, {_fmt(high)}]" if low is not None and high is not None else " (no interval stored)"
        lines.append(f"| {split} | {_fmt(n, 0)} | {_fmt(accuracy)} {_wilson_text(accuracy, n)} | "
                     f"{_fmt(_metric(m, split, 'macro_f1'))}{interval} |")
    lines += ["", "F1 per label:", "", f"| split | {' | '.join(labels)} |", f"|---|{'---|' * len(labels)}"]
    lines += [f"| {s} | {' | '.join(_fmt(_metric(m, s, f'f1/{label}')) for label in labels)} |" for s in splits]
    return lines + _duplicates(metrics)


def evaluated_splits(metrics: dict[str, Any]) -> list[str]:
    """The splits with a stored macro-F1: validation and test first, then the rest by name."""
    found = {key.split("/")[0] for key in metrics if key.endswith("/macro_f1") and key.count("/") == 1}
    return [s for s in ("validation", "test") if s in found] + sorted(found - {"validation", "test"})


def _metric(m: dict[str, Any], split: str, key: str) -> float | None:
    value = (m.get("metrics") or {}).get(f"{split}/{key}")
    return float(value) if isinstance(value, (int, float)) else None


def wilson(proportion: float, n: float, z: float = 1.959964) -> tuple[float, float]:
    """The Wilson score interval of a proportion observed on ``n`` items (95% by default)."""
    centre = (proportion + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(proportion * (1 - proportion) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def _wilson_text(accuracy: float | None, n: float | None) -> str:
    if accuracy is None or not n:
        return ""
    low, high = wilson(accuracy, n)
    return f"[{low:.3f}, {high:.3f}]"


def _duplicates(metrics: dict[str, Any]) -> list[str]:
    near, exact = metrics.get("data/duplicates_near", 0), metrics.get("data/duplicates_exact", 0)
    kept = (near or 0) + (exact or 0) - (metrics.get("data/duplicates_dropped", 0) or 0)
    if kept <= 0:
        return []
    return ["", (f"Note: {kept:.0f} evaluation document(s) duplicate or nearly duplicate a training document and "
                 "were kept, so these scores may be optimistic.")]


def _usage(name: str, module: str, bundle: bool) -> list[str]:
    if bundle:
        code = [f"analyzer = {module}.load()  # an nlpkit.analyze.Analyzer"]
        cli = f"`nlpkit analyze` with `{name}` as its model (see `nlpkit analyze --help`)"
    else:
        code = [f"predictor = {module}.load()  # an nlpkit.Predictor", 'predictor.predict(["Artillery shelled the town."])']
        cli = f"`nlpkit predict --model {name} news.jsonl`"
    return ["## Use", "", "```python", f"import {module}", "", *code, "```", "",
            f"or {cli}. `{module}.data_path()` is the folder with the predictor files.", ""]


def _closing(level: int) -> list[str]:
    h = "#" * level
    return [f"{h} Intended use and limits", "", LIMITS, f"{h} Codebook", "", CODEBOOK]


def _fmt(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"
