"""Per-run sysctls as values: a scenario's `sysctls` table, checked for what can be told
without a kernel (a network setting's name, a value a file under /proc/sys can take).

Only settings under `net.` qualify: each network namespace has its own copy of (most of)
them, so a run can change them in its namespaces and leave the machine's as they were.
Whether this kernel has the setting, and per namespace, is the lab's question
(harness.lab.sysctl), asked before any run starts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from harness.core.errors import UserError, quoted
from harness.core.values import FrozenMap

_NAME = re.compile(r"net(\.[A-Za-z0-9_-]+)+")
#: The longest value written: a few numbers, as tcp_rmem takes ("4096 131072 6291456").
MAX_VALUE = 200


class SysctlError(UserError, ValueError):
    """A sysctl a run cannot set; the message names it and what to write."""


def sysctl_path(name: str) -> str:
    """Where a setting lives: net.ipv4.tcp_fin_timeout → /proc/sys/net/ipv4/tcp_fin_timeout."""
    return "/proc/sys/" + name.replace(".", "/")


def value_text(value: int | str) -> str:
    """The value as the setting's file takes it."""
    return str(value)


def parse_sysctls(raw: Any) -> FrozenMap:
    """A `sysctls` table (name → whole number or text), each name a network setting;
    SysctlError names the first that is not."""
    if not isinstance(raw, Mapping):
        raise SysctlError('sysctls must be a table such as { "net.ipv4.tcp_fin_timeout" = 1 }')
    for name, value in raw.items():
        _check(name, value)
    return FrozenMap(dict(raw))


def _check(name: str, value: Any) -> None:
    if not _NAME.fullmatch(name):
        raise SysctlError(f"sysctls: {quoted(name)} is not a network setting; a run sets only "
                          "net.* sysctls (dotted, such as net.ipv4.tcp_fin_timeout), which each "
                          "network namespace has its own copy of")
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise SysctlError(f"sysctls: {name} must be a whole number or a string, not "
                          f"{quoted(value)}")
    text = value_text(value)
    if not text.strip() or len(text) > MAX_VALUE or any(c in text for c in "\n\r\0"):
        raise SysctlError(f"sysctls: {name} = {quoted(value)}: write the value as `sysctl` "
                          f"takes it, on one line, at most {MAX_VALUE} characters")


def describe(sysctls: Mapping[str, int | str]) -> str:
    """`net.ipv4.tcp_fin_timeout=1, net.ipv4.tcp_rfc1337=1`, for stories and comments."""
    return ", ".join(f"{name}={value_text(value)}" for name, value in sysctls.items())
