"""Save and load scikit-learn models with skops (no pickle); loading never runs code from the file.

skops trusts every scikit-learn estimator and numpy ufunc by default, ``FunctionTransformer`` included, so a
file can make ``predict`` call any trusted function. nlpkit therefore audits every node of a file itself before
skops builds anything: each node's loader must be in ``ALLOWED_LOADERS`` (no function, method, partial or
reduce nodes) and each type in ``ALLOWED_TYPES`` (a class stored as a value: ``ALLOWED_TYPE_VALUES``), the
exact types the skops-saved families write (TF-IDF models, the embed_logreg head, the blend's TF-IDF member).
The archive is checked from its zip directory first:

* ``MAX_FILE_BYTES`` (2 GiB): the largest ``model.skops`` read at all;
* ``MAX_UNPACKED_BYTES`` (2 GiB): the most its members may unpack to in total;
* ``MAX_RATIO`` (200): the most they may unpack to per stored byte once over ``RATIO_FREE_BYTES`` (16 MiB);
  nlpkit's own files unpack to 4-6x (the most repetitive member, ``schema.json``, to ~50x).
"""

from __future__ import annotations

import io
import json
import zipfile
import zlib
from pathlib import Path
from typing import Any

from nlpkit.errors import ConfigError, ModelLoadError, one_line

FILENAME = "model.skops"
MAX_FILE_BYTES = 2 << 30
MAX_UNPACKED_BYTES = 2 << 30
MAX_RATIO = 200
RATIO_FREE_BYTES = 16 << 20
ALLOWED_LOADERS = frozenset({
    "CachedNode", "DictNode", "JsonNode", "ListNode", "NdArrayNode", "ObjectNode", "SliceNode", "TupleNode",
    "TypeNode",
})
ALLOWED_TYPES = frozenset({
    # containers and JSON values
    "builtins.dict", "builtins.list", "builtins.slice", "builtins.str", "builtins.tuple",
    # arrays and numeric scalars (data: loaded with numpy's allow_pickle=False)
    "numpy.ndarray", "numpy.float64", "numpy.float32", "numpy.int64", "numpy.int32",
    # nlpkit's TF-IDF estimators
    "nlpkit.models.tfidf.TfidfClassifier", "nlpkit.models.tfidf.Vectorizer", "nlpkit.models.tfidf.PairSimilarity",
    # the scikit-learn estimators they and the embed_logreg head are made of
    "sklearn.pipeline.FeatureUnion", "sklearn.pipeline.Pipeline",
    "sklearn.compose._column_transformer.ColumnTransformer",
    "sklearn.feature_extraction.text.TfidfTransformer",
    "sklearn.linear_model._logistic.LogisticRegression",
    "sklearn.svm._classes.LinearSVC",
    "sklearn.calibration.CalibratedClassifierCV", "sklearn.calibration._CalibratedClassifier",
    "sklearn.calibration._SigmoidCalibration",
    "sklearn.preprocessing._data.StandardScaler",
})
# A TypeNode stands for a class object (a dict's key type, a vectorizer's dtype): only these plain data types.
ALLOWED_TYPE_VALUES = frozenset({"builtins.str", "builtins.int", "numpy.float64", "numpy.float32", "numpy.int64",
                                 "numpy.int32"})
FIX = "Fix: load only predictors saved by nlpkit, from a source you trust; get this one again from its source."


def save(model: Any, directory: Path) -> None:
    """Write ``model`` to ``directory/model.skops``."""
    import skops.io as sio

    sio.dump(model, Path(directory) / FILENAME, compression=zipfile.ZIP_DEFLATED, compresslevel=6)


def load(directory: Path, **options: Any) -> Any:
    """Load a model saved by ``save``, refusing oversized archives and any node outside the allow-lists.

    Load options such as ``runtime="onnx"`` are refused (``refuse_options``)."""
    import skops.io as sio

    refuse_options(options)
    path = Path(directory) / FILENAME
    data = read_checked(path)
    audit(path, data)
    try:
        return sio.loads(data, trusted=sorted(ALLOWED_TYPES))
    except Exception as err:  # a well-formed zip whose schema or arrays skops cannot read
        raise ModelLoadError(
            f"{path} could not be read by skops ({type(err).__name__}: {one_line(err, 200)}); "
            f"expected a model file written by nlpkit. {FIX}"
        ) from None


def refuse_options(options: dict[str, Any]) -> None:
    """Refuse load options (``runtime=...``): TF-IDF models have one runtime, so options are an error, not ignored."""
    if options:
        given = ", ".join(f"{k}={v!r}" for k, v in options.items())
        raise ConfigError(
            f"Load options ({given}) apply to the encoder families (embed_logreg, finetune) only; this predictor "
            "is a TF-IDF model, which has one runtime. Fix: call Predictor.load(uri) without them."
        )


def read_checked(path: Path) -> bytes:
    """The bytes of ``path`` once its size and its zip directory are within the limits (module docstring)."""
    if not path.is_file():
        raise ModelLoadError(
            f"No {FILENAME} in {path.parent}; expected a predictor saved by nlpkit. "
            "Fix: copy the whole predictor directory again."
        )
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise ModelLoadError(f"{path} is {size} bytes; expected at most {MAX_FILE_BYTES} (MAX_FILE_BYTES). {FIX}")
    data = path.read_bytes()
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError) as err:
        raise ModelLoadError(
            f"{path} is not a skops zip archive ({one_line(err, 120)}); expected a model file "
            f"written by nlpkit, got {size} bytes starting {data[:8]!r}. {FIX}"
        ) from None
    if unpacked > MAX_UNPACKED_BYTES or (unpacked > RATIO_FREE_BYTES and unpacked > MAX_RATIO * max(size, 1)):
        raise ModelLoadError(
            f"{path} would unpack {size} bytes into {unpacked}; expected at most {MAX_UNPACKED_BYTES} in all and "
            f"{MAX_RATIO}x its size (a zip bomb?). {FIX}"
        )
    return data


def audit(path: Path, data: bytes) -> None:
    """Refuse ``data`` unless every node of its skops schema has an allowed loader and type."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            schema = json.loads(archive.read("schema.json"))
        found = node_types(schema)
    except (KeyError, ValueError, RecursionError, NotImplementedError, EOFError, zlib.error, zipfile.BadZipFile) as err:
        raise ModelLoadError(
            f"{path} has no readable skops schema ({type(err).__name__}); expected a model file written by "
            f"nlpkit. {FIX}"
        ) from None
    refused = sorted({f"{name} ({loader})" for loader, name in found if not _allowed(loader, name)})
    if refused:
        raise ModelLoadError(
            f"{path} contains types nlpkit does not trust: {refused[:8]}{' …' if len(refused) > 8 else ''}; expected "
            f"only the types of nlpkit's models (nlpkit.models.tfidf_io.ALLOWED_TYPES), never functions. {FIX}"
        )


def _allowed(loader: str, name: str) -> bool:
    if loader == "TypeNode":
        return name in ALLOWED_TYPE_VALUES
    return loader in ALLOWED_LOADERS and name in ALLOWED_TYPES


def node_types(schema: Any) -> set[tuple[str, str]]:
    """``{(loader, "module.Class")}`` of every node of a skops schema, however deeply nested."""
    found: set[tuple[str, str]] = set()
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if "__loader__" in node or "__class__" in node or "__module__" in node:
                found.add((str(node.get("__loader__")), f"{node.get('__module__')}.{node.get('__class__')}"))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return found
