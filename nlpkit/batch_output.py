"""Where ``nlpkit predict`` writes: stdout (tab-separated or JSON lines), or ``--output`` ``.jsonl``/``.parquet``.

A file is written incrementally into ``<name>.partial`` next to it and renamed when every document is scored,
so a failed run never leaves a truncated file under the final name. Columns: ``id``, ``label`` and one
``proba_<label>`` per class in the predictor's label order. Parquet rows are grouped into row groups of at most
``ROW_GROUP`` rows (not one per batch: each row group adds footer metadata that the writer keeps in memory).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import IO, Any

import numpy as np

from nlpkit.errors import DataError, MissingExtraError
from nlpkit.extras import install_hint

OUTPUTS = (".jsonl", ".parquet")
ROW_GROUP = 65_536


def import_pyarrow(purpose: str) -> ModuleType:
    """``pyarrow`` with its ``parquet`` module loaded, or a one-line error naming the install command."""
    try:
        import pyarrow
        import pyarrow.parquet  # loads pyarrow.parquet as an attribute
    except ImportError:
        raise MissingExtraError(
            f"{purpose} needs pyarrow; expected it installed, got no pyarrow in {sys.prefix}. "
            f"Fix: {install_hint('batch')} (or pip install pyarrow)."
        ) from None
    return pyarrow


class Writer:
    """Stdout writer (the default); ``open_writer`` returns the file writers. Use as a context manager."""

    def __init__(self, as_json: bool = False) -> None:
        self.as_json = as_json
        self.labels: list[str] = []

    def start(self, labels: Sequence[str]) -> None:
        """Fix the label order (the probability columns) before the first ``write``."""
        self.labels = list(labels)

    def write(self, ids: list[str], labels: list[str], proba: np.ndarray) -> None:
        """Write one batch: ids, predicted labels and probabilities (columns in ``start``'s label order)."""
        lines = []
        for ident, label, row in zip(ids, labels, proba):
            probs = {lab: round(float(p), 4) for lab, p in zip(self.labels, row)}
            if self.as_json:
                lines.append(json.dumps({"input": ident, "label": label, "probabilities": probs}))
            else:
                lines.append(f"{ident}\t{label}\t" + " ".join(f"{lab}={p:.3f}" for lab, p in probs.items()))
        sys.stdout.write("".join(line + "\n" for line in lines))

    def finish(self) -> None:
        sys.stdout.flush()

    def abort(self) -> None:
        """Called instead of ``finish`` when scoring failed."""

    def __enter__(self) -> Writer:
        return self

    def __exit__(self, kind: object, *_: object) -> None:
        self.finish() if kind is None else self.abort()


class _FileWriter(Writer):
    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self.partial = path.with_name(path.name + ".partial")
        try:
            self.handle: IO[bytes] = open(self.partial, "wb")
        except OSError as err:
            raise DataError(
                f"Cannot write --output {str(path)!r}: {err.strerror or err}; expected a writable file path. "
                "Fix: create the folder or pick another path."
            ) from None

    def columns(self, ids: list[str], labels: list[str], proba: np.ndarray) -> dict[str, Any]:
        cols: dict[str, Any] = {"id": ids, "label": labels}
        cols.update({f"proba_{lab}": proba[:, i] for i, lab in enumerate(self.labels)})
        return cols

    def finish(self) -> None:
        self.handle.close()
        os.replace(self.partial, self.path)

    def abort(self) -> None:
        self.handle.close()
        self.partial.unlink(missing_ok=True)


class _JsonlWriter(_FileWriter):
    def write(self, ids: list[str], labels: list[str], proba: np.ndarray) -> None:
        names = ["id", "label", *(f"proba_{lab}" for lab in self.labels)]
        rows = (dict(zip(names, (ident, label, *map(float, row)))) for ident, label, row in zip(ids, labels, proba))
        self.handle.write("".join(json.dumps(r) + "\n" for r in rows).encode("utf-8"))


class _ParquetWriter(_FileWriter):
    def __init__(self, path: Path) -> None:
        self.pa = import_pyarrow(f"Writing {path}")
        super().__init__(path)
        self.pending: list[Any] = []
        self.rows = 0
        self.writer: Any = None

    def start(self, labels: Sequence[str]) -> None:
        super().start(labels)
        pa = self.pa
        fields = [pa.field("id", pa.string()), pa.field("label", pa.string())]
        self.schema = pa.schema(fields + [pa.field(f"proba_{lab}", pa.float64()) for lab in self.labels])
        self.writer = pa.parquet.ParquetWriter(self.handle, self.schema)

    def write(self, ids: list[str], labels: list[str], proba: np.ndarray) -> None:
        self.pending.append(self.pa.record_batch(self.columns(ids, labels, proba), schema=self.schema))
        self.rows += len(ids)
        if self.rows >= ROW_GROUP:
            table = self.pa.Table.from_batches(self.pending)
            full = self.rows - self.rows % ROW_GROUP
            self.writer.write_table(table.slice(0, full), row_group_size=ROW_GROUP)
            self.pending, self.rows = table.slice(full).to_batches(), self.rows - full

    def _flush(self) -> None:
        if self.rows:
            self.writer.write_table(self.pa.Table.from_batches(self.pending, schema=self.schema))
        self.pending, self.rows = [], 0

    def finish(self) -> None:
        if self.writer is None:
            self.start(self.labels)
        self._flush()
        self.writer.close()
        super().finish()

    def abort(self) -> None:
        if self.writer is not None:
            self.writer.close()
        super().abort()


def open_writer(output: Path | None, as_json: bool = False) -> Writer:
    """The writer for ``--output`` (checked now: extension and a writable path), or stdout's when None."""
    if output is None:
        return Writer(as_json)
    suffix = output.suffix.lower()
    if suffix not in OUTPUTS:
        raise DataError(
            f"--output {str(output)!r} has an unsupported extension {suffix or '(none)'!r}; expected one of "
            f"{', '.join(OUTPUTS)}. Fix: e.g. --output predictions.parquet."
        )
    return _ParquetWriter(output) if suffix == ".parquet" else _JsonlWriter(output)


class Progress:
    """Documents done and docs/s on stderr: a tqdm bar when tqdm is installed, else a line every ``every_s``."""

    def __init__(self, enabled: bool, every_s: float = 10.0) -> None:
        self.enabled, self.every_s = enabled, every_s
        self.done, self.started = 0, time.monotonic()
        self.last = self.started
        self.bar: Any = None

    def __call__(self, count: int) -> None:
        self.done += count
        if self.bar is not None:
            self.bar.update(count)
        elif self.enabled and time.monotonic() - self.last >= self.every_s:
            self.last = time.monotonic()
            print(f"nlpkit predict: {self.line()}", file=sys.stderr, flush=True)

    def line(self) -> str:
        """``N docs in T s (R docs/s)`` so far."""
        seconds = max(time.monotonic() - self.started, 1e-9)
        return f"{self.done:,} docs in {seconds:.1f} s ({self.done / seconds:,.0f} docs/s)"

    def __enter__(self) -> Progress:
        self.started = self.last = time.monotonic()
        if self.enabled:
            try:
                from tqdm import tqdm
            except ImportError:
                return self
            self.bar = tqdm(unit=" docs", unit_scale=True, file=sys.stderr, desc="nlpkit predict", mininterval=1.0)
        return self

    def __exit__(self, *_: object) -> None:
        if self.bar is not None:
            self.bar.close()

    def summary(self, output: Path | None) -> None:
        """One line on stderr once all is written (when enabled)."""
        if self.enabled:
            print(f"nlpkit predict: wrote {self.line()} to {output}", file=sys.stderr, flush=True)
