"""What /proc says about processes and namespaces, for the tests that prove nothing leaks."""

from __future__ import annotations

import os


def namespaces_in_use() -> set[int]:
    """Inodes of every network namespace a process or an open descriptor holds now."""
    found: set[int] = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        paths = [f"/proc/{pid}/ns/net"]
        try:
            paths += [f"/proc/{pid}/fd/{fd}" for fd in os.listdir(f"/proc/{pid}/fd")]
        except OSError:
            continue  # it ended while we looked
        for path in paths:
            try:
                if os.readlink(path).startswith("net:["):
                    found.add(os.stat(path).st_ino)
            except OSError:
                continue
    return found
