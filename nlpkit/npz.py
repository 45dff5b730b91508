"""Plain-array archives (``.npz``) that nlpkit seals into predictors: written reproducibly, read without pickle.

``to_bytes`` writes NumPy's ``.npz`` format (a zip of ``.npy`` members) with the members in name order and a
fixed timestamp, so the same arrays always give the same bytes (and a predictor the same digest). ``load``
reads with ``allow_pickle=False``: numeric and fixed-width string arrays only, an object array is refused.
Callers bound ``unpacked_size`` before they ``load``. Used by ``models/tfidf_arrays`` (``tfidf.npz``) and
``prevalence_data`` (``validation.npz``).
"""

from __future__ import annotations

import io
import zipfile

import numpy as np

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
