"""The shipped catalog, once read and checked, kept for the next command, as Python keeps
bytecode: a pickle holding the scenarios together with the bytes of every scenario file they
were read from and a stamp of the loader's own code.

Reading and checking the 49 files costs about 75 ms, half of it tomllib (and importing it);
a command that only lists or plans the catalog starts that much sooner. The kept scenarios
are used only when every file's bytes and the code's stamp (each core module's size and
time) are exactly those they were made from, so a stale answer cannot be read; a cache that
cannot be read or written is simply not used.
`HARNESS_CACHE_DIR` names the folder (by default `$XDG_CACHE_HOME/tcp-close-harness`, or
`~/.cache/tcp-close-harness`).
"""

from __future__ import annotations

import contextlib
import os
import pickle
import sys
from collections.abc import Sequence
from typing import Any

CACHE_ENV = "HARNESS_CACHE_DIR"
_CORE = os.path.dirname(os.path.abspath(__file__))
_NAME = "catalog.pickle"
Files = Sequence[tuple[str, bytes]]


def cache_dir() -> str:
    """Where the cache lives."""
    told = os.environ.get(CACHE_ENV)
    if told:
        return told
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "tcp-close-harness")


def _code_stamp() -> bytes:
    """The loader's code as the key sees it: each core module's name, size and time."""
    parts = [sys.version]
    for name in sorted(os.listdir(_CORE)):
        if name.endswith(".py"):
            info = os.stat(os.path.join(_CORE, name))
            parts.append(f"{name}:{info.st_size}:{info.st_mtime_ns}")
    return "\n".join(parts).encode()


def read(files: Files) -> Any | None:
    """What was kept for exactly these (path, bytes) files and this code, None otherwise."""
    try:
        with open(os.path.join(cache_dir(), _NAME), "rb") as file:
            stamp, kept_files, value = pickle.load(file)
    except Exception:  # missing, unreadable, truncated, from another version: parse instead
        return None
    return value if stamp == _code_stamp() and kept_files == list(files) else None


def write(files: Files, value: Any) -> None:
    """Keep value for these files and this code (atomically, in place of what was kept); a
    folder that cannot be written is left alone."""
    import tempfile  # only a command that had to parse the catalog pays for it

    folder = cache_dir()
    with contextlib.suppress(OSError, pickle.PicklingError):
        os.makedirs(folder, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".catalog-", dir=folder)
        try:
            with os.fdopen(handle, "wb") as file:
                pickle.dump((_code_stamp(), list(files), value), file,
                            protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(temporary, os.path.join(folder, _NAME))
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
