"""The socket calls of the peer agent that take the kernel's names (harness.core.socket_names)
or that Python's socket module does not offer: options set and read back by name, TCP_INFO
read into our words, poll() by event names, and connect() with AF_UNSPEC through ctypes.

Each raises OSError as the system call failed, as the socket module's calls do."""

from __future__ import annotations

import ctypes
import errno
import math
import os
import select
import socket
import struct
from typing import Any

from harness.core.socket_names import (
    LEVELS,
    OPTIONS,
    POLL_EVENTS,
    TCP_INFO_FIELDS,
    TCP_INFO_SIZE,
    Reads,
    bits,
    revents_names,
)
from harness.core.vocabulary import TCP_STATES

_TCP_INFO = 11  # linux/tcp.h
# struct sockaddr with sa_family AF_UNSPEC: connect() with it dissolves the association
_UNSPEC = struct.pack("=H14x", socket.AF_UNSPEC)


def read_option(sock: socket.socket, name: str) -> int | str:
    """getsockopt() of an integer option by name: its value, or for SO_ERROR the errno name
    (0 when there is none)."""
    option = OPTIONS[name]
    value = sock.getsockopt(LEVELS[option.level], option.number)
    if option.reads is Reads.ERRNO and value:
        return errno.errorcode.get(value, str(value))
    return value


def set_option(sock: socket.socket, name: str, value: int) -> dict[str, Any]:
    """setsockopt() of an integer option by name; what getsockopt() reads back afterwards as
    {"effective": ...}, also on the OSError when the kernel refused it (`harness_info`)."""
    option = OPTIONS[name]
    try:
        sock.setsockopt(LEVELS[option.level], option.number, value)
    except OSError as exc:
        exc.harness_info = _read_back(sock, name)  # type: ignore[attr-defined]
        raise
    return _read_back(sock, name)


def _read_back(sock: socket.socket, name: str) -> dict[str, Any]:
    """{"effective": the option's value now}, or nothing when it cannot be read."""
    try:
        return {"effective": read_option(sock, name)}
    except OSError:
        return {}


def tcp_info(sock: socket.socket) -> dict[str, Any]:
    """The fields of struct tcp_info the harness reads, the state by ss's name."""
    raw = sock.getsockopt(socket.IPPROTO_TCP, _TCP_INFO, TCP_INFO_SIZE)
    found: dict[str, Any] = {}
    for name, form, offset in TCP_INFO_FIELDS:
        (found[name],) = struct.unpack_from(f"={form}", raw, offset)
    state = found["state"]
    found["state"] = TCP_STATES[state] if 0 < state < len(TCP_STATES) else f"STATE-{state}"
    return found


def poll(sock: socket.socket, events: list[str], timeout: float) -> tuple[int, list[str]]:
    """poll() of one socket for the named events, at most timeout seconds: how many
    descriptors are ready (0 or 1) and the names of the events that came."""
    poller = select.poll()
    poller.register(sock.fileno(), bits(events, POLL_EVENTS))
    ready = poller.poll(math.ceil(timeout * 1000))
    return len(ready), revents_names(ready[0][1] if ready else 0)


def disconnect(sock: socket.socket) -> None:
    """connect() with AF_UNSPEC (Python's connect() takes no such address)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.connect(sock.fileno(), ctypes.c_char_p(_UNSPEC), len(_UNSPEC)) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
