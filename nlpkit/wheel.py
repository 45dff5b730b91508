"""Write a pure-Python wheel with ``zipfile`` alone: offline, no build tools (used by ``nlpkit package``).

A wheel is a zip archive holding the package's files and a ``<dist>-<version>.dist-info`` folder with
``METADATA`` (core metadata 2.1, the long description as its body), ``WHEEL``, ``entry_points.txt``,
``top_level.txt`` and ``RECORD`` (each file's urlsafe-base64 sha256 and size). The archive is reproducible:
entries are sorted and stamped with a fixed time, so the same inputs give byte-identical wheels.
"""

from __future__ import annotations

import base64
import hashlib
import io
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

from nlpkit._version import __version__

EPOCH = (1980, 1, 1, 0, 0, 0)  # the earliest time a zip entry can hold
CHUNK = 1 << 20


@dataclass(frozen=True)
class WheelSpec:
    """What goes into the wheel's ``.dist-info``: core metadata and the entry points."""

    name: str  # the distribution name as given (a valid PEP 508 name)
    version: str  # a normalised PEP 440 version
    summary: str
    description: str  # Markdown: the long description (PyPI's project page)
    requires: tuple[str, ...] = ()
    requires_python: str = ">=3.10"
    entry_points: dict[str, dict[str, str]] = field(default_factory=dict)  # group -> {name: "module:attr"}
    top_level: tuple[str, ...] = ()


def filename(spec: WheelSpec) -> str:
    """The wheel's file name: ``<name>-<version>-py3-none-any.whl`` with the name normalised for file names."""
    return f"{re.sub(r'[-_.]+', '_', spec.name).lower()}-{spec.version.replace('-', '_')}-py3-none-any.whl"


def write(path: Path, spec: WheelSpec, files: dict[str, Path | bytes]) -> Path:
    """Write the wheel to ``path``: ``files`` maps archive paths (posix) to a file on disk or the bytes to store."""
    dist_info = filename(spec).split("-py3-")[0] + ".dist-info"
    record: list[str] = []
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for arcname in sorted(files):
            record.append(_add(archive, arcname, files[arcname]))
        for name, data in _dist_info(spec).items():
            record.append(_add(archive, f"{dist_info}/{name}", data.encode("utf-8")))
        record.append(f"{dist_info}/RECORD,,")
        _add(archive, f"{dist_info}/RECORD", "".join(line + "\n" for line in record).encode("utf-8"))
    return path


def _add(archive: zipfile.ZipFile, arcname: str, source: Path | bytes) -> str:
    """Store one entry; return its RECORD line."""
    info = zipfile.ZipInfo(arcname, date_time=EPOCH)
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    digest, size = hashlib.sha256(), 0
    with archive.open(info, "w") as out, _reader(source) as handle:
        for block in iter(lambda: handle.read(CHUNK), b""):
            digest.update(block)
            size += len(block)
            out.write(block)
    encoded = base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode("ascii")
    return f"{arcname},sha256={encoded},{size}"


def _reader(source: Path | bytes) -> io.BufferedIOBase:
    return io.BytesIO(source) if isinstance(source, bytes) else Path(source).open("rb")


def _dist_info(spec: WheelSpec) -> dict[str, str]:
    files = {"METADATA": _metadata(spec), "WHEEL": _wheel(), "top_level.txt": "".join(f"{m}\n" for m in spec.top_level)}
    if spec.entry_points:
        files["entry_points.txt"] = "".join(
            f"[{group}]\n" + "".join(f"{name} = {target}\n" for name, target in points.items()) + "\n"
            for group, points in spec.entry_points.items()
        )
    return files


def _metadata(spec: WheelSpec) -> str:
    headers = [("Metadata-Version", "2.1"), ("Name", spec.name), ("Version", spec.version),
               ("Summary", " ".join(spec.summary.split())), ("Requires-Python", spec.requires_python),
               *(("Requires-Dist", requirement) for requirement in spec.requires),
               ("Description-Content-Type", "text/markdown; charset=UTF-8")]
    return "".join(f"{key}: {value}\n" for key, value in headers) + "\n" + spec.description


def _wheel() -> str:
    return f"Wheel-Version: 1.0\nGenerator: nlpkit {__version__}\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
