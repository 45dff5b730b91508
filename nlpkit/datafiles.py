"""Local data files: check each one before ``datasets`` reads it, and turn ``datasets``' errors into DataError.

``datasets`` reports a bad file as a ``DatasetGenerationError`` (or a bare ``StopIteration``) several frames
away from the cause. The checks here read the file once, line by line, and name the file, the line (or byte
offset), what was expected, what was found and the fix: a missing path, a directory, an empty or blank file,
bytes that are not UTF-8, a malformed JSON line, a JSON line that is not an object, a CSV row with the wrong
number of fields, a file that is not Parquet.
"""

from __future__ import annotations

import csv
import difflib
import itertools
import json
from pathlib import Path
from typing import Any, Iterator

from nlpkit.errors import DataError, one_line

FILE_FORMATS = {".csv": "csv", ".tsv": "csv", ".json": "json", ".jsonl": "json", ".parquet": "parquet"}


def check_files(files: dict[str, str], key: str) -> str:
    """Check every file of ``files`` (split -> path; ``key`` is the config key that named them) and return
    the ``datasets`` builder that reads them (``csv``, ``json`` or ``parquet``)."""
    for split, path in files.items():
        name = key if key == "data.path" else f"{key}.{split}"
        _check_exists(Path(path), name)
    suffixes = {Path(p).suffix.lower() for p in files.values()}
    formats = {FILE_FORMATS.get(s) for s in suffixes}
    if None in formats or len(formats) != 1:
        odd = [p for p in files.values() if Path(p).suffix.lower() not in FILE_FORMATS] or list(files.values())
        raise DataError(
            f"Cannot read {odd[0]!r}: expected one file format with a suffix among {', '.join(sorted(FILE_FORMATS))}; "
            f"got suffixes {sorted(suffixes)}. Fix: convert the file(s) to CSV, JSONL or Parquet (one format for all splits)."
        )
    for path in files.values():
        _check_content(Path(path))
    return str(formats.pop())


def read_files(builder: str, files: dict[str, str], **kwargs: Any) -> Any:
    """``datasets.load_dataset(builder, data_files=files)``, its errors turned into one-line DataErrors."""
    import datasets

    try:
        return datasets.load_dataset(builder, data_files=files, **kwargs)
    except Exception as err:  # datasets wraps pyarrow/pandas errors in DatasetGenerationError, or not at all
        raise DataError(
            f"datasets could not read {', '.join(files.values())} as {builder.upper()}: {cause(err)}. "
            "Fix: check the file's format (one JSON object per line, or CSV with a header row), or convert it."
        ) from err


def cause(err: BaseException) -> str:
    """The innermost cause's message, on one line."""
    inner = err.__cause__ or err.__context__
    while inner is not None:
        err, inner = inner, inner.__cause__ or inner.__context__
    return one_line(err, 300) or type(err).__name__


def _check_exists(path: Path, key: str) -> None:
    if path.is_dir():
        inside = sorted(p.name for p in path.iterdir() if p.suffix.lower() in FILE_FORMATS)
        disk = (path / "dataset_dict.json").is_file() or (path / "state.json").is_file()
        fix = ("it was written by save_to_disk: use data=disk data.path=..." if disk else
               f"point {key} at a file inside it (found: {inside[:5]})" if inside else
               f"point {key} at a .csv, .jsonl, .json or .parquet file")
        raise DataError(f"{key}={str(path)!r} is a directory; expected a data file. Fix: {fix}.")
    if not path.is_file():
        raise DataError(f"Data file {str(path)!r} ({key}) does not exist. Fix: {_nearby(path, key)}.")


def _nearby(path: Path, key: str) -> str:
    if not path.parent.is_dir():
        return f"check {key}; the folder {str(path.parent)!r} does not exist either"
    names = [p.name for p in path.parent.iterdir()]
    close = difflib.get_close_matches(path.name, names, n=1, cutoff=0.6)
    return f"did you mean {str(path.parent / close[0])!r}?" if close else f"check {key}"


def _check_content(path: Path) -> None:
    suffix = path.suffix.lower()
    if path.stat().st_size == 0:
        raise DataError(f"{path} is empty (0 bytes); expected a header row or records. Fix: point to the right file.")
    if suffix == ".parquet":
        _check_parquet(path)
        return
    if not _has_a_record(path):
        raise DataError(f"{path} holds only whitespace; expected records. Fix: point to the right file or fill it in.")
    lines = _decoded_lines(path)  # streamed, as in _has_a_record: a large file is never held in memory here
    first = next(lines)
    lines = itertools.chain([first], lines)
    if suffix == ".json" and first[1].lstrip().startswith("["):
        _check_json_array(path, "".join(text for _, text in lines))
    elif suffix in (".json", ".jsonl"):
        for number, text in lines:
            _check_json_line(path, number, text)
    else:
        _check_csv(path, (text for _, text in lines), "\t" if suffix == ".tsv" else ",")


def _has_a_record(path: Path) -> bool:
    """Whether ``path`` holds a non-blank line; every line is decoded, so bytes that are not UTF-8 fail first."""
    found = False
    for _, text in _decoded_lines(path):
        found = found or bool(text.strip())
    return found


def _decoded_lines(path: Path) -> Iterator[tuple[int, str]]:
    offset = 0
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, 1):
            try:
                text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as err:
                bad = raw[err.start:err.start + 1].hex()
                raise DataError(
                    f"{path}:{number}: byte 0x{bad} at byte offset {offset + err.start} is not valid UTF-8; expected "
                    "UTF-8 text. Fix: re-encode the file as UTF-8, e.g. `iconv -f latin1 -t utf-8 in > out`."
                ) from None
            offset += len(raw)
            yield number, text


def _check_json_line(path: Path, number: int, text: str) -> None:
    if not text.strip():
        return
    try:
        row = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(
            f"{path}:{number}: not valid JSON ({err.msg} at column {err.colno}); expected one JSON object per line. "
            f"Fix: repair or remove line {number}."
        ) from None
    if not isinstance(row, dict):
        raise DataError(
            f"{path}:{number}: a JSON {type(row).__name__} where a JSON object was expected (one object per line, "
            f'e.g. {{"text": "...", "label": "..."}}). Fix: write each record as an object.'
        )


def _check_json_array(path: Path, text: str) -> None:
    try:
        rows = json.loads(text)
    except json.JSONDecodeError as err:
        raise DataError(
            f"{path}:{err.lineno}: not valid JSON ({err.msg} at column {err.colno}); expected a JSON array of "
            "objects. Fix: repair the file, or write it as JSON Lines (one object per line, .jsonl)."
        ) from None
    if not rows:
        raise DataError(f"{path} is an empty JSON array; expected records. Fix: point to the right file.")
    bad = next((i for i, r in enumerate(rows) if not isinstance(r, dict)), None)
    if bad is not None:
        raise DataError(
            f"{path}: element {bad} of the JSON array is a {type(rows[bad]).__name__}; expected objects "
            f'like {{"text": "...", "label": "..."}}. Fix: make every element an object.'
        )


def _check_csv(path: Path, lines: Iterator[str], delimiter: str) -> None:
    reader = csv.reader(lines, delimiter=delimiter)
    try:
        header = next(row for row in reader if row)
        width, rows = len(header), 0
        for row in reader:
            if row and len(row) != width:
                raise DataError(
                    f"{path}:{reader.line_num}: {len(row)} fields where the header has {width} "
                    f"({', '.join(header)}). Fix: quote fields that contain '{delimiter}' or fix that row."
                )
            rows += bool(row)
    except csv.Error as err:
        raise DataError(f"{path}:{reader.line_num}: unreadable CSV ({err}). Fix: check the quoting on that line.") from None
    if not rows:
        raise DataError(f"{path} has a header ({', '.join(header)}) but no data rows. Fix: point to the right file.")


def _check_parquet(path: Path) -> None:
    with path.open("rb") as handle:
        head = handle.read(4)
        handle.seek(max(path.stat().st_size - 4, 0))
        tail = handle.read(4)
    if head != b"PAR1" or tail != b"PAR1":
        raise DataError(
            f"{path} is not a Parquet file (no PAR1 magic bytes); expected Parquet for a .parquet suffix. "
            "Fix: rename it to its real format (.csv, .jsonl) or re-export it as Parquet."
        )
