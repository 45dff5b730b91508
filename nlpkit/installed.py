"""Predictors installed as Python packages (built by ``nlpkit package``) and predictor bundles.

A package built by ``nlpkit package`` declares an entry point in the group ``nlpkit_predictors``: its name is
the package's name (``NAME``), its value ``<module>:data_path``, a function returning the folder that holds the
packaged predictor (or bundle). ``Predictor.load("NAME")`` and ``nlpkit predict --model NAME`` find it here.

A *bundle* is a folder with ``nlpkit-bundle.json`` (``{"format": "nlpkit-bundle/1", "members": {role: subfolder}}``)
and one sealed predictor folder per role (``topic``, ``escalation``, ``stance``): what ``nlpkit analyze`` runs.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from nlpkit.errors import ModelLoadError

ENTRY_POINT_GROUP = "nlpkit_predictors"
BUNDLE_FILE = "nlpkit-bundle.json"
BUNDLE_FORMAT = "nlpkit-bundle/1"
ROLES = ("topic", "escalation", "stance")


def normalise(name: str) -> str:
    """A package name compared the way pip compares them (PEP 503: case, ``-``, ``_`` and ``.`` alike)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def names() -> list[str]:
    """The names of the installed predictor packages."""
    from importlib.metadata import entry_points

    return sorted({ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})


def find(name: str) -> Path | None:
    """The data folder of the installed predictor package ``name``, or None when none is installed."""
    from importlib.metadata import entry_points

    wanted = normalise(name)
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if normalise(ep.name) == wanted:
            return Path(ep.load()())
    return None


def is_bundle(directory: Path) -> bool:
    """Whether ``directory`` is a predictor bundle (holds ``nlpkit-bundle.json``)."""
    return (Path(directory) / BUNDLE_FILE).is_file()


def bundle_members(directory: Path) -> dict[str, Path]:
    """``{role: predictor folder}`` of the bundle in ``directory``."""
    path = Path(directory) / BUNDLE_FILE
    try:
        spec = json.loads(path.read_text(encoding="utf-8"))
        members = spec["members"]
        fmt = spec.get("format")
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise ModelLoadError(
            f"{path} is not a readable bundle description ({type(err).__name__}); expected JSON with 'format' and "
            f"'members'. Fix: rebuild the bundle with nlpkit package."
        ) from None
    if fmt != BUNDLE_FORMAT or not isinstance(members, dict):
        raise ModelLoadError(
            f"{path} has format {fmt!r}; expected {BUNDLE_FORMAT!r} with a 'members' object. Fix: rebuild the "
            "bundle with this nlpkit version's nlpkit package."
        )
    out: dict[str, Path] = {}
    for role, sub in members.items():
        folder = (Path(directory) / str(sub)).resolve()
        if Path(directory).resolve() not in folder.parents:
            raise ModelLoadError(f"{path} points role {role!r} outside the bundle ({sub!r}); expected a subfolder. "
                                 "Fix: rebuild the bundle with nlpkit package.")
        out[str(role)] = folder
    return out


def write_bundle(directory: Path, members: dict[str, str]) -> Path:
    """Write ``nlpkit-bundle.json`` for ``{role: subfolder}`` into ``directory`` (the predictors must be there)."""
    path = Path(directory) / BUNDLE_FILE
    path.write_text(json.dumps({"format": BUNDLE_FORMAT, "members": members}, indent=2), encoding="utf-8")
    return path
