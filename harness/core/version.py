"""Which harness this is: the installed package's version, as results and pcaps record it."""

from __future__ import annotations

import functools
import importlib.metadata
import platform

PACKAGE = "tcp-close-harness"


@functools.cache
def version() -> str:
    """`0.1.0`: the installed package's version (`unknown` when it is not installed)."""
    try:
        return importlib.metadata.version(PACKAGE)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def described() -> str:
    """`tcp-close-harness 0.1.0 (Python 3.11.7)`: what `harness --version` prints."""
    return f"{PACKAGE} {version()} (Python {platform.python_version()})"
