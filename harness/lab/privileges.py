"""What this process may do: the capabilities a capture run needs, and the tools tests use."""

from __future__ import annotations

import shutil

# Capability bits (linux/capability.h) and why each is needed.
NEEDED = {
    "CAP_SYS_ADMIN": (21, "make a network namespace"),
    "CAP_NET_ADMIN": (12, "bring lo up and size the capture buffer"),
    "CAP_NET_RAW": (13, "open a packet socket for the capture"),
}


def _effective() -> int:
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("CapEff:"):
                return int(line.split()[1], 16)
    return 0


def missing_capabilities() -> list[str]:
    """The capabilities a run needs that this process lacks, by name."""
    have = _effective()
    return [name for name, (bit, _why) in NEEDED.items() if not have & (1 << bit)]


def capture_problem() -> str | None:
    """One line saying why capture runs cannot happen here and what to do; None if they can.

    When a user namespace was tried instead (harness.lab.userns), the line says what blocked it.
    """
    missing = missing_capabilities()
    if not missing:
        return None
    from harness.lab.userns import route_problem  # userns imports this module

    route = route_problem()
    if route:
        return (f"capture runs need {', '.join(missing)} or a user namespace of their own, "
                f"but {route}")
    why = "; ".join(f"{name} to {NEEDED[name][1]}" for name in missing)
    return (f"capture runs need {', '.join(missing)} ({why}); "
            "run as root, e.g. `sudo make test` or `sudo .venv/bin/pytest -m capture`")


def missing_tool(name: str) -> str | None:
    """One line naming a missing command-line tool and how to get it; None if present."""
    if shutil.which(name):
        return None
    return (f"{name} is not installed; `make test` installs it (as root), "
            f"or `apt-get install {name}`")
