"""Optional dependencies (pyproject extras): import them where used, with a message that says what to install."""

from __future__ import annotations

import importlib
from types import ModuleType


class MissingExtra(ImportError):
    """An optional dependency is not installed; the message names the extra that provides it."""


def require(module: str, *, extra: str, needed_for: str) -> ModuleType:
    """Import ``module`` or raise `MissingExtra` naming ``pip install 'vidgate[extra]'``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingExtra(
            f"{needed_for} needs the optional package {module.split('.')[0]!r}: pip install 'vidgate[{extra}]' "
            f"({exc})"
        ) from exc
