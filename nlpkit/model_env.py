"""What a logged MLflow model needs to run outside the training environment: nlpkit's own wheel and the
pip requirements that resolve from PyPI plus that wheel.

nlpkit's distribution (``nlpkit-conflict``) may not be on the package index the model is served from, so a
``nlpkit-conflict==X`` line could not be installed. Instead the model carries a wheel of nlpkit's Python modules
(``artifacts/<wheel>``), written here from the imported package with the standard library alone (so it works
from an installed wheel, an editable install or a checkout, without a build backend or network), and
``requirements.txt`` names it by that path. MLflow installs a model's requirements from inside the model folder
(``--env-manager virtualenv`` / ``uv``), as does ``cd MODEL && pip install -r requirements.txt``.

The other requirements are only what prediction needs, pinned to this environment's versions: MLflow (its
scoring server), nlpkit's runtime dependencies and the model family's (``Family.requirements``). No training
stack (Hydra, ``datasets``, matplotlib) is listed.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from nlpkit._version import DISTRIBUTION, __version__
from nlpkit.errors import MissingExtraError

PACKAGE = "nlpkit"


def wheel_name() -> str:
    """``nlpkit_conflict-<version>-py3-none-any.whl`` (PEP 427 file name)."""
    from nlpkit import wheel

    return wheel.filename(_spec())


def build_wheel(directory: Path) -> Path:
    """Write nlpkit's wheel (its ``.py`` modules; no corpus, no configs) into ``directory``; return its path.

    Written by ``nlpkit.wheel`` (the writer ``nlpkit package`` uses): sorted entries, fixed timestamps, so the
    same modules give the same wheel, byte for byte."""
    from nlpkit import wheel

    directory.mkdir(parents=True, exist_ok=True)
    root = Path(str(__import__(PACKAGE).__file__)).resolve().parent
    files: dict[str, Path | bytes] = {f"{PACKAGE}/{p.relative_to(root).as_posix()}": p for p in _modules(root)}
    return wheel.write(directory / wheel_name(), _spec(), files)


def _spec() -> Any:
    from nlpkit import wheel

    return wheel.WheelSpec(name=DISTRIBUTION, version=__version__, top_level=(PACKAGE,),
                           summary="nlpkit's prediction runtime, carried inside an MLflow model",
                           description="nlpkit's Python modules, for the MLflow model that carries them.\n",
                           requires=tuple(_runtime_lines()))


def requirements(family_packages: tuple[str, ...], wheel_path: str) -> list[str]:
    """The model's pip requirements: ``mlflow``, nlpkit's runtime dependencies and ``family_packages``, each
    pinned to the installed version, then ``wheel_path`` (nlpkit's wheel, relative to the model folder)."""
    names = dict.fromkeys(["mlflow", *runtime_dependencies(), *family_packages])
    return [f"{name}=={_installed(name)}" for name in names] + [wheel_path]


def runtime_dependencies() -> list[str]:
    """The names of nlpkit's runtime dependencies (``[project] dependencies``, no extras)."""
    return [re.split(r"[<>=!~ ;\[]", line, maxsplit=1)[0] for line in _runtime_lines()]


def _runtime_lines() -> list[str]:
    try:
        lines = metadata.requires(DISTRIBUTION) or []
    except metadata.PackageNotFoundError:
        lines = _pyproject_dependencies()
    return [line for line in lines if "extra ==" not in line]


def _pyproject_dependencies() -> list[str]:
    """``[project] dependencies`` of the checkout nlpkit is imported from (nlpkit not installed, e.g. PYTHONPATH)."""
    pyproject = Path(str(__import__(PACKAGE).__file__)).resolve().parent.parent / "pyproject.toml"
    if not pyproject.is_file() or sys.version_info < (3, 11):  # tomllib: Python 3.11+
        raise MissingExtraError(
            f"Logging a model needs {DISTRIBUTION}'s metadata; expected it installed or a checkout with "
            f"pyproject.toml, got neither ({pyproject}). Fix: pip install -e . (or pip install {DISTRIBUTION})."
        )
    import tomllib

    return list(tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"])


def _installed(name: str) -> str:
    try:
        return metadata.version(name).split("+")[0]  # 2.13.0+cpu -> 2.13.0 (what the index offers)
    except metadata.PackageNotFoundError:
        raise MissingExtraError(
            f"The model needs {name!r} at prediction time; expected it installed here to pin its version, got "
            f"none. Fix: pip install {name} (or the extra of this model family), then train again."
        ) from None


def _modules(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)
