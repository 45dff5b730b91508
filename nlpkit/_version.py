"""nlpkit's version and distribution name, in a module of their own.

pyproject.toml reads ``__version__`` from here (``[tool.setuptools.dynamic]``), and nlpkit's modules import it
from here rather than from the package root, so reading the version never loads the rest of nlpkit.
"""

from __future__ import annotations

__version__ = "0.1.0"

# The name on PyPI (``pip install nlpkit-conflict``); the import package stays ``nlpkit``. PyPI's ``nlpkit`` is an
# unrelated project.
DISTRIBUTION = "nlpkit-conflict"
