"""Writing what the harness produces: a folder it must be able to write to, a text file."""

from __future__ import annotations

import os
from pathlib import Path

from harness.core.errors import UsageError


def writable_folder(folder: str, what: str) -> None:
    """Make folder if it is missing; UsageError (one line) if it cannot be made or written."""
    path = Path(folder)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{what} {folder}: cannot make it ({exc.strerror}); choose a folder "
                         "you can write to") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise UsageError(f"{what} {folder}: not writable; choose a folder you can write to")


def write_text(path: str | Path, text: str) -> None:
    """Write text to path, making its folder; UsageError (one line) if it cannot be."""
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{path}: cannot write it ({exc.strerror}); "
                         "choose a writable place") from None


def writable_file(path: str, what: str) -> None:
    """UsageError (one line) unless path can be written: its folder made and writable, and
    path itself not a folder. Checked before anything runs."""
    if Path(path).is_dir():
        raise UsageError(f"{what} {path}: is a folder; give the file to write")
    writable_folder(str(Path(path).parent), what)
