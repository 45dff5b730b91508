"""``nlpkit package``: turn a trained predictor (or a bundle of them) into a pip-installable wheel.

    nlpkit package runs:/<run id>/model --name conflict-escalation-en --version 1.0.0          # one predictor
    nlpkit package topic=DIR escalation=DIR stance=DIR --name conflict-analysis-en --version 1.0.0   # a bundle

The wheel holds a package named after ``--name`` (``conflict_escalation_en``) with ``load(**options)``,
``data_path()`` and ``__version__``; the sealed predictor files (or bundle: ``nlpkit.installed``) as package data;
a model card (``MODEL_CARD.md`` and the wheel's long description); a dependency on the nlpkit release line that
packaged it (plus the extra its model family needs at run time); and an entry point in the group
``nlpkit_predictors``, through which ``Predictor.load(NAME)`` and ``nlpkit predict --model NAME`` find it.
Every predictor is loaded (its seal checked) before it is copied, and the copy is checked again.
"""

from __future__ import annotations

import keyword
import os
import re
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nlpkit import installed, model_card, wheel
from nlpkit import predictor_files as files
from nlpkit._version import DISTRIBUTION, __version__
from nlpkit.errors import ConfigError
from nlpkit.models import family_of

NAME_PATTERN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?$")  # a PEP 508 project name
ROLE_ARGUMENT = re.compile(r"^([A-Za-z_]\w*)=(.+)$")
RESERVED = frozenset({"nlpkit", "nlpkit_conflict"})
INIT = '''"""{name} {version}: {what}, packaged by ``nlpkit package`` (nlpkit {nlpkit}). See MODEL_CARD.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

__version__ = {version!r}
NAME = {name!r}


def data_path() -> Path:
    """The folder holding the packaged {short} (sealed: nlpkit checks every file when it loads them)."""
    return Path(__file__).resolve().parent / "data"


def load(**options: Any) -> Any:
    """The packaged {short}, loaded by ``{loader}.load``; ``options`` go to it (e.g. ``runtime="onnx"``)."""
    from {loader_module} import {loader}

    return {loader}.load(data_path(), **options)
'''


def package(models: Sequence[str], name: str, version: str, out: str | os.PathLike = "dist") -> Path:
    """Build the wheel of ``models`` (one URI, or ``ROLE=URI`` items for a bundle) into ``out``; return its path."""
    module = check_name(name)
    version = check_version(version)
    members = parse_models(models)
    target = _target(Path(out), wheel.WheelSpec(name=name, version=version, summary="", description=""))
    with tempfile.TemporaryDirectory(prefix="nlpkit-package-") as tmp:
        data, scratch = Path(tmp) / "data", Path(tmp) / "downloads"
        metadata: dict[Any, dict[str, Any]]
        if None in members:
            metadata = {None: stage(members[None], data, scratch)}
            card = model_card.render(name, module, version, metadata[None])
        else:
            roles = {str(role): uri for role, uri in members.items()}
            metadata = {role: stage(uri, data / role, scratch / role, role) for role, uri in roles.items()}
            installed.write_bundle(data, {role: role for role in roles})
            card = model_card.render_bundle(name, module, version, metadata)
        spec = _spec(name, module, version, metadata, card)
        contents: dict[str, Path | bytes] = {f"{module}/__init__.py": _init(name, version, metadata).encode("utf-8"),
                    f"{module}/MODEL_CARD.md": card.encode("utf-8"),
                    **{f"{module}/data/{rel}": path for rel, path in _tree(data).items()}}
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".part")
        wheel.write(partial, spec, contents)
    os.replace(partial, target)
    return target


def check_name(name: Any) -> str:
    """The module name for distribution ``name`` (``conflict-topic-en`` -> ``conflict_topic_en``), or a ConfigError."""
    if not isinstance(name, str) or not NAME_PATTERN.match(name):
        raise ConfigError(
            f"--name must be a PEP 508 project name (letters, digits and '-', '_' or '.' inside); got {name!r}. "
            "Fix: e.g. --name conflict-topic-en."
        )
    module = installed.normalise(name).replace("-", "_")
    if not module.isidentifier() or keyword.iskeyword(module):
        raise ConfigError(
            f"--name {name!r} gives the module name {module!r}, which is not a Python identifier; expected a name "
            "that starts with a letter and is not a Python keyword. Fix: e.g. --name conflict-topic-en."
        )
    if module in RESERVED or module in sys.stdlib_module_names:
        raise ConfigError(
            f"--name {name!r} gives the module name {module!r}, which would shadow "
            f"{'nlpkit' if module in RESERVED else 'a standard-library module'}; expected a name of its own. "
            "Fix: e.g. --name conflict-topic-en."
        )
    return module


def check_version(version: Any) -> str:
    """``version`` normalised per PEP 440 (``1.0.0``, ``2.1rc1``, ``0.3.dev2``), or a ConfigError."""
    from packaging.version import InvalidVersion, Version

    try:
        if isinstance(version, str) and version == version.strip():
            return str(Version(version))
    except InvalidVersion:
        pass
    raise ConfigError(
        f"--version must be a PEP 440 version; got {version!r}. Fix: e.g. --version 1.0.0 (or 1.0.0rc1, 1.0.0.dev1)."
    )


def parse_models(models: Sequence[str]) -> dict[str | None, str]:
    """``{None: uri}`` for one predictor, or ``{role: uri}`` for a bundle (``ROLE=URI`` items; roles: ``ROLES``)."""
    models = list(models)
    if not models or not all(isinstance(m, str) and m for m in models):
        raise ConfigError(
            f"nlpkit package expects a MODEL (predictor directory, runs:/<id>/model or models:/<name>/<version>) or "
            f"ROLE=MODEL items; got {models!r}. Fix: e.g. nlpkit package runs:/<run id>/model --name NAME --version 1.0.0."
        )
    pairs = [_role(m) for m in models]
    if len(models) == 1 and pairs[0] is None:
        return {None: models[0]}
    if any(pair is None for pair in pairs):
        plain = models[pairs.index(None)]
        raise ConfigError(
            f"Several models make a bundle, so each needs a role; got {plain!r} without one. Fix: write "
            f"ROLE=MODEL with a role of {list(installed.ROLES)}, e.g. topic={plain}."
        )
    return _roles([pair for pair in pairs if pair is not None])


def _role(item: str) -> tuple[str, str] | None:
    match = ROLE_ARGUMENT.match(item)
    return None if match is None or Path(item).exists() else (match.group(1), match.group(2))


def _roles(pairs: list[tuple[str, str]]) -> dict[str | None, str]:
    out: dict[str | None, str] = {}
    for role, uri in pairs:
        if role not in installed.ROLES:
            raise ConfigError(
                f"Unknown bundle role {role!r} in {role}={uri}; expected one of {list(installed.ROLES)}. "
                f"Fix: e.g. topic={uri}."
            )
        if role in out:
            raise ConfigError(f"Role {role!r} is given twice ({out[role]} and {uri}); expected each role once. "
                              "Fix: keep one model per role.")
        out[role] = uri
    return out


def stage(uri: str, destination: Path, scratch: Path, role: str | None = None) -> dict[str, Any]:
    """Load the predictor at ``uri`` (checking its seal), copy its sealed files to ``destination``, check the copy
    and return its ``nlpkit.json``; with a bundle ``role``, refuse a predictor of another task."""
    from nlpkit.predict import Predictor, locate

    scratch.mkdir(parents=True, exist_ok=True)
    source = locate(uri, scratch)
    predictor = Predictor.load(source)
    if role is not None and predictor.task != role:
        raise ConfigError(
            f"Bundle role {role!r} needs a {role} predictor; got {uri!r}, whose task is {predictor.task!r}. "
            f"Fix: pass it as {predictor.task}=MODEL, or give the {role} role a {role} predictor."
        )
    return files.copy_sealed(source, destination)


def requirement(metadata: dict[Any, dict[str, Any]]) -> str:
    """The dependency on nlpkit: ``nlpkit-conflict[EXTRAS]>=V,<X.(Y+1)`` where ``V`` is the packaging version.

    The lower bound is the release that loaded and packaged the predictor; the upper bound keeps the minor line,
    within which nlpkit keeps its predictor format and loaders (a new minor release may change them)."""
    from packaging.version import Version

    major, minor = (*Version(__version__).release, 0)[:2]
    extras = sorted({e for m in metadata.values()
                     if (e := family_of(m["model_kind"]).runtime_needs((m.get("config") or {}).get("model"))[1])})
    return f"{DISTRIBUTION}{'[' + ','.join(extras) + ']' if extras else ''}>={__version__},<{major}.{minor + 1}"


def _spec(name: str, module: str, version: str, metadata: dict[Any, dict[str, Any]], card: str) -> wheel.WheelSpec:
    what = _what(metadata)
    return wheel.WheelSpec(
        name=name, version=version, summary=f"{what}, packaged by nlpkit package", description=card,
        requires=(requirement(metadata),), entry_points={installed.ENTRY_POINT_GROUP: {name: f"{module}:data_path"}},
        top_level=(module,),
    )


def _what(metadata: dict[Any, dict[str, Any]]) -> str:
    if None in metadata:
        task, kind = metadata[None].get("task"), metadata[None]["model_kind"]
        return f"An nlpkit {task} predictor ({kind})" if task else f"An nlpkit predictor ({kind})"
    return f"An nlpkit predictor bundle ({', '.join(str(role) for role in metadata)})"


def _init(name: str, version: str, metadata: dict[Any, dict[str, Any]]) -> str:
    bundle = None not in metadata
    return INIT.format(name=name, version=version, what=_what(metadata), nlpkit=__version__,
                       short="bundle" if bundle else "predictor", loader="Analyzer" if bundle else "Predictor",
                       loader_module="nlpkit.analyze" if bundle else "nlpkit.predict")


def _tree(root: Path) -> dict[str, Path]:
    return {path.relative_to(root).as_posix(): path for path in sorted(root.rglob("*")) if path.is_file()}


def _target(out: Path, spec: wheel.WheelSpec) -> Path:
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {str(out)!r} is a file; expected a directory for the wheel. Fix: pass a directory.")
    target = out / wheel.filename(spec)
    if target.exists():
        raise ConfigError(
            f"{target} already exists; expected a new file (nlpkit package never overwrites a wheel). Fix: delete "
            "it, bump --version, or pass another --out."
        )
    return target
