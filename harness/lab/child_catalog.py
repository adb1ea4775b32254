"""Runs in a child, inside a guest or beside the host's `harness kernels`: the harness's own
command line (`verify --pcap-dir OUT ...`), with catalog.json written into OUT when it begins
and again when it ends.

`python -m harness.lab.child_catalog OUT ARGS...`. The parent reads catalog.json to tell a
guest that never booted (no file) from one that died in the catalog (no `status`), and to know
how long the guest took to boot (`began_uptime`, the kernel's own clock) and the catalog to run.
The harness's front door is run in this process (runpy), so the guest starts one Python.
"""

from __future__ import annotations

import json
import os
import platform
import runpy
import sys
import time
from pathlib import Path
from typing import Any


def _uptime() -> float:
    try:
        return float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0.0


def _write(path: Path, document: dict[str, Any]) -> None:
    """The file replaced whole, so the parent never reads half of it."""
    partial = path.with_name(f".{path.name}.{os.getpid()}")
    partial.write_text(json.dumps(document, indent=2) + "\n")
    partial.replace(path)


def main(argv: list[str]) -> int:
    out, args = Path(argv[0]), argv[1:]
    out.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    told: dict[str, Any] = {"release": platform.release(), "began_uptime": _uptime(),
                            "argv": args}
    _write(out / "catalog.json", told)
    sys.argv = ["harness", *args]
    status: int = 70
    try:
        runpy.run_module("harness", run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        status = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        told.update(status=status, seconds=round(time.monotonic() - began, 3),
                    ended_uptime=_uptime())
        _write(out / "catalog.json", told)
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
