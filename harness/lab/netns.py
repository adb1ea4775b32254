"""Anonymous network namespaces held by a file descriptor, and running code inside them.

A namespace is made by a short-lived thread that unshares CLONE_NEWNET, brings `lo` up and
opens its nsfs file. The namespace then lives exactly as long as that descriptor and the
processes and sockets inside it: there is no name under /run/netns to leak, so a crash or a
SIGKILL of the harness cannot leave one behind.
"""

from __future__ import annotations

import ctypes
import fcntl
import os
import signal
import socket
import struct
import threading
from collections.abc import Callable
from typing import TypeVar

from harness.core.errors import LabError

CLONE_NEWNET = 0x40000000
_SIOCGIFFLAGS = 0x8913
_SIOCSIFFLAGS = 0x8914
_IFF_UP = 0x1
_IFREQ = "16sH14x"

_libc = ctypes.CDLL(None, use_errno=True)
T = TypeVar("T")


class NamespaceError(LabError):
    """A namespace could not be made or entered."""


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise NamespaceError(f"{what} failed: {os.strerror(err)} (errno {err})")


def setns(fd: int) -> None:
    """Move the calling thread into the network namespace behind fd."""
    _check(_libc.setns(fd, CLONE_NEWNET), "setns(CLONE_NEWNET)")


PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    """Have the kernel SIGKILL this process when its parent (pid `parent`) dies; exit now if
    it died before the request took effect. For the processes the harness starts."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)


def join_for_life(netns_fd: int, parent: int) -> None:
    """In a process the harness started: die with the harness, then move into the namespace
    behind netns_fd (and close it)."""
    die_with_parent(parent)
    setns(netns_fd)
    os.close(netns_fd)


def _bring_up(ifname: str) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        req = struct.pack(_IFREQ, ifname.encode(), 0)
        flags = struct.unpack(_IFREQ, fcntl.ioctl(s, _SIOCGIFFLAGS, req))[1]
        fcntl.ioctl(s, _SIOCSIFFLAGS, struct.pack(_IFREQ, ifname.encode(), flags | _IFF_UP))


def _in_thread(fn: Callable[[], T]) -> T:
    """Run fn in a fresh thread and return its result (or raise its exception)."""
    box: dict[str, object] = {}

    def body() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed back to the caller below
            box["error"] = exc

    worker = threading.Thread(target=body, name="netns-worker")
    worker.start()
    worker.join()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    return box["value"]  # type: ignore[return-value]


class Namespace:
    """A fresh network namespace with `lo` up (127.0.0.1 and ::1), owned by this object."""

    def __init__(self) -> None:
        self.fd: int = _in_thread(self._create)
        self._closed = False

    @staticmethod
    def _create() -> int:
        _check(_libc.unshare(CLONE_NEWNET), "unshare(CLONE_NEWNET)")
        fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            _bring_up("lo")
        except BaseException:
            os.close(fd)
            raise
        return fd

    @property
    def inode(self) -> int:
        """The namespace's inode number, as `ip netns identify` / `lsns` show it."""
        return os.fstat(self.fd).st_ino

    def run(self, fn: Callable[[], T]) -> T:
        """Call fn in a thread inside this namespace; sockets it opens stay bound here."""

        def inside() -> T:
            setns(self.fd)
            return fn()

        return _in_thread(inside)

    def close(self) -> None:
        """Drop our hold; the namespace vanishes once nothing else is inside it."""
        if not self._closed:
            self._closed = True
            os.close(self.fd)

    def __enter__(self) -> Namespace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
