"""Runs in a child, inside a guest or beside the host's `harness kernels`: one or more passes
of the harness's own command line (`verify --pcap-dir DIR ...`), each with its own
environment, with catalog.json written into OUT when it begins, after each pass, and at the
end.

`python -m harness.lab.child_catalog OUT PASSES_JSON`, PASSES_JSON a list of `{"name": ...,
"argv": [...], "env": {...}}`. The parent reads catalog.json to tell a guest that never booted
(no file) from one that died in the catalog (no `status`), and to know how long the guest
took to boot (`began_uptime`, the kernel's own clock) and each pass to run. The harness's
front door is run in this process (runpy), so the guest starts one Python.
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


def _harness(argv: list[str], env: dict[str, str]) -> int:
    """The harness's command line run here, with env added to the environment; its status."""
    saved = {name: os.environ.get(name) for name in env}
    os.environ.update(env)
    sys.argv = ["harness", *argv]
    try:
        runpy.run_module("harness", run_name="__main__", alter_sys=True)
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    return 0


def _worst(statuses: list[int]) -> int:
    """0 when every pass passed, 1 when some run did not pass, else the first other status."""
    odd = [s for s in statuses if s not in (0, 1)]
    return odd[0] if odd else max(statuses, default=0)


def main(argv: list[str]) -> int:
    out, passes = Path(argv[0]), json.loads(argv[1])
    out.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    told: dict[str, Any] = {"release": platform.release(), "began_uptime": _uptime(),
                            "passes": []}
    _write(out / "catalog.json", told)
    statuses: list[int] = []
    try:
        for one in passes:
            start = time.monotonic()
            status = 70
            try:
                status = _harness(list(one["argv"]), dict(one.get("env", {})))
            finally:
                statuses.append(status)
                told["passes"].append({"name": one["name"], "status": status,
                                       "seconds": round(time.monotonic() - start, 3)})
                _write(out / "catalog.json", told)
    finally:
        told.update(status=_worst(statuses) if len(statuses) == len(passes) else 70,
                    seconds=round(time.monotonic() - began, 3), ended_uptime=_uptime())
        _write(out / "catalog.json", told)
    return told["status"]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
