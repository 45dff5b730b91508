"""Plain-array archives (``.npz``) that nlpkit seals into predictors: written reproducibly, read without pickle.

``to_bytes`` writes NumPy's ``.npz`` format (a zip of ``.npy`` members) with the members in name order and a
fixed timestamp, so the same arrays always give the same bytes (and a predictor the same digest). ``load``
reads with ``allow_pickle=False``: numeric and fixed-width string arrays only, an object array is refused.
Callers bound ``unpacked_size`` before they ``load`` (``read_sealed`` does both for a predictor's file). Used by
``models/tfidf_arrays`` (``tfidf.npz``), ``models/tfidf_mlp_arrays`` (``mlp.npz``) and
``prevalence_data`` (``validation.npz``).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

from nlpkit.errors import ModelLoadError, one_line

FIXED_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can hold


def to_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """``arrays`` as the bytes of an ``.npz`` (deflated, members in name order, fixed timestamps)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(arrays):
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.asarray(arrays[name]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=FIXED_TIME)
            archive.writestr(info, buffer.getvalue(), compress_type=zipfile.ZIP_DEFLATED, compresslevel=6)
    return out.getvalue()


def unpacked_size(data: bytes) -> int:
    """How many bytes the archive's members unpack to, from its zip directory (nothing is decompressed)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return sum(info.file_size for info in archive.infolist())


def load(data: bytes) -> dict[str, np.ndarray]:
    """``{name: array}`` of the archive, read without pickle (an object array raises ``ValueError``)."""
    with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
        return {name: arrays[name] for name in arrays.files}


def read_sealed(path: Path, beside: str, max_bytes: int, fix: str) -> dict[str, np.ndarray]:
    """A predictor's archive at ``path`` (next to its ``beside`` description), unpacking at most ``max_bytes``.

    Every failure is one ``ModelLoadError`` line naming the file, what was expected and ``fix``.
    """
    if not path.is_file():
        raise ModelLoadError(f"No {path.name} in {path.parent}; expected it beside {beside}. Fix: copy the "
                             "whole predictor directory again.")
    data = path.read_bytes()
    try:
        unpacked = unpacked_size(data)
        if unpacked > max_bytes:
            raise ModelLoadError(f"{path} would unpack to {unpacked} bytes; expected at most {max_bytes}. {fix}")
        return load(data)
    except ModelLoadError:
        raise
    except Exception as err:  # not a zip, a member that is not .npy, or an object array (refused: pickle)
        raise ModelLoadError(f"{path} is not a plain-array archive ({type(err).__name__}: {one_line(err, 160)}); "
                             f"expected numeric and string arrays written by nlpkit. {fix}") from None
