"""Setting a run's sysctls in its own namespaces, and asking first whether this kernel can.

/proc/sys/net shows the network namespace of the thread that opens it, so a file opened by
a thread inside a run's namespace is that namespace's copy of the setting. The question is
asked once, in a namespace made for it: the setting must be there (a setting the kernel
keeps for the whole machine is not shown in a namespace other than the first) and must take
the value.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable, Mapping

from harness.core.errors import LabError
from harness.core.sysctls import sysctl_path, value_text
from harness.lab.netns import Namespace


class SysctlFailed(LabError):
    """A sysctl could not be set in a run's namespace."""


def _write(name: str, value: int | str) -> None:
    with open(sysctl_path(name), "w", encoding="ascii") as file:
        file.write(value_text(value) + "\n")


def _write_all(sysctls: Mapping[str, int | str]) -> None:
    for name, value in sysctls.items():
        try:
            _write(name, value)
        except OSError as exc:
            raise SysctlFailed(_why(name, value, exc)) from None


def _why(name: str, value: int | str, exc: OSError) -> str:
    """One line saying why name = value cannot be set, and what to do."""
    if exc.errno == errno.ENOENT:
        return (f"sysctls: this kernel has no per-namespace setting {name} (it is missing, or "
                "kept for the whole machine, which a run does not change)")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return (f"sysctls: {name} is read-only in a network namespace (the machine keeps one "
                "for all of them)")
    if exc.errno == errno.EINVAL:
        return f"sysctls: the kernel refuses {name} = {value_text(value)!r} (not a value it takes)"
    return f"sysctls: {name} = {value_text(value)!r}: {os.strerror(exc.errno or 0)}"


def apply_sysctls(namespaces: Iterable[Namespace], sysctls: Mapping[str, int | str]) -> None:
    """Set every sysctl in each namespace; SysctlFailed names the first that fails."""
    if not sysctls:
        return
    for ns in namespaces:
        ns.run(lambda: _write_all(sysctls))


_asked: dict[tuple, str | None] = {}


def sysctl_problem(sysctls: Mapping[str, int | str]) -> str | None:
    """Why a run cannot set these sysctls here (one line), None if it can: tried in a
    namespace made for the question (asked once per process for the same settings)."""
    key = tuple(sorted((name, value_text(value)) for name, value in sysctls.items()))
    if not key:
        return None
    if key not in _asked:
        try:
            with Namespace() as ns:
                apply_sysctls([ns], sysctls)
            _asked[key] = None
        except SysctlFailed as exc:
            _asked[key] = str(exc)
    return _asked[key]
